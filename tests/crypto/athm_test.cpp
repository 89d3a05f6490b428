// ATHM round trips over every bucket count and bucket, and one named negative
// test per malformation of each input: suites, requests, responses, tokens,
// token keys, private keys and client contexts. All randomness comes from
// seeded ChaCha20 streams, so every failure reproduces.
#include "crypto/athm.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto/group.h"
#include "crypto/scalar.h"
#include "support/chacha_random.h"
#include "support/hex.h"

using athm::errc;
using athm::point;
using athm::scalar;
using athm::testing::chacha_random;
using athm::testing::failing_random;
using athm::testing::from_hex;
using athm::testing::to_hex;

namespace {

using bytes = std::vector<uint8_t>;
using suite_ptr = std::shared_ptr<const athm::suite>;

constexpr char kOrderHex[] =
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
constexpr std::string_view kDeployment = "athm-test";

// Response layout: U || V || ts || C || e_0..e_{n-1} || a_0..a_{n-1} || a_d || a_rho || a_w.
constexpr size_t kOffU = 0;
constexpr size_t kOffV = 33;
constexpr size_t kOffTs = 66;
constexpr size_t kOffC = 98;
constexpr size_t off_e(uint32_t i) { return 131 + 32 * size_t{i}; }
constexpr size_t off_a(uint32_t n, uint32_t i) { return 131 + 32 * size_t{n} + 32 * size_t{i}; }
constexpr size_t off_a_d(uint32_t n) { return 131 + 64 * size_t{n}; }
constexpr size_t off_a_rho(uint32_t n) { return 163 + 64 * size_t{n}; }
constexpr size_t off_a_w(uint32_t n) { return 195 + 64 * size_t{n}; }

// Token layout: t || P || Q. Token key: Z || C_x || C_y || e || a_z.
// Private key: x || y || z || r_x || r_y.
constexpr size_t kTokT = 0, kTokP = 32, kTokQ = 65;
constexpr size_t kKeyZ = 0, kKeyCx = 33, kKeyCy = 66, kKeyE = 99, kKeyAz = 131;
constexpr size_t kPrivX = 0, kPrivY = 32, kPrivZ = 64, kPrivRx = 96, kPrivRy = 128;

suite_ptr make_suite(uint32_t n, std::string_view id = kDeployment) {
  auto s = athm::suite::create(n, id);
  REQUIRE(s.ok());
  return *s;
}

athm::private_key make_key(const suite_ptr& s, uint64_t seed) {
  chacha_random rng(seed);
  auto k = athm::private_key::generate(s, rng);
  REQUIRE(k.ok());
  return std::move(*k);
}

// The client's view of the key: parsed from the published 163 bytes.
athm::public_key client_view(const athm::private_key& k) {
  auto pk = athm::public_key::from_token_key(k.public_part().params_ptr(),
                                             k.public_part().token_key());
  REQUIRE(pk.ok());
  return *pk;
}

struct issuance {
  athm::client_context ctx;
  bytes response;
};

issuance issue(const athm::private_key& k, const athm::public_key& pk, uint32_t bucket,
               athm::random_source& rng) {
  auto ctx = athm::token_request(pk, rng);
  REQUIRE(ctx.ok());
  auto resp = k.token_response(ctx->request(), bucket, rng);
  REQUIRE(resp.ok());
  return {std::move(*ctx), std::move(*resp)};
}

athm::token_bytes make_token(const athm::private_key& k, uint32_t bucket, uint64_t seed) {
  chacha_random rng(seed);
  const athm::public_key pk = client_view(k);
  issuance is = issue(k, pk, bucket, rng);
  auto tok = athm::finalize_token(pk, is.ctx, is.response, rng);
  REQUIRE(tok.ok());
  return *tok;
}

template <class T>
errc error_of(const athm::result<T>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error();
}

bytes to_vec(std::span<const uint8_t> in) { return {in.begin(), in.end()}; }

bytes flipped(std::span<const uint8_t> in, size_t byte, uint8_t mask = 0x01) {
  bytes out = to_vec(in);
  out.at(byte) ^= mask;
  return out;
}

bytes replaced(std::span<const uint8_t> in, size_t off, std::span<const uint8_t> with) {
  bytes out = to_vec(in);
  REQUIRE(off + with.size() <= out.size());
  std::copy(with.begin(), with.end(), out.begin() + off);
  return out;
}

bytes swapped(std::span<const uint8_t> in, size_t a, size_t b, size_t len) {
  bytes out = to_vec(in);
  std::swap_ranges(out.begin() + a, out.begin() + a + len, out.begin() + b);
  return out;
}

bytes order_bytes() { return from_hex(kOrderHex); }
bytes all_ff(size_t n) { return bytes(n, 0xff); }

// Element malformations.
athm::element_bytes identity_element() { return {}; }
athm::element_bytes x_above_p_element() {
  athm::element_bytes e;
  e.fill(0xff);
  e[0] = 0x02;
  return e;
}
athm::element_bytes off_curve_element() {
  // With prefix 02 and x < p, decoding fails only when x is off the curve.
  athm::element_bytes e{};
  e[0] = 0x02;
  for (uint8_t x = 0; x < 100; ++x) {
    e[32] = x;
    if (!point::decode(e).ok()) {
      return e;
    }
  }
  FAIL("no off-curve x below 100");
  return e;
}
athm::element_bytes uncompressed_prefix_element(std::span<const uint8_t> valid) {
  athm::element_bytes e;
  std::copy(valid.begin(), valid.begin() + 33, e.begin());
  e[0] = 0x04;
  return e;
}

// Offsets of every field of a response for n buckets, with a name and kind.
struct field {
  std::string name;
  size_t off;
  bool is_point;
};

std::vector<field> response_fields(uint32_t n) {
  std::vector<field> f = {{"U", kOffU, true}, {"V", kOffV, true}, {"ts", kOffTs, false},
                          {"C", kOffC, true}};
  for (uint32_t i = 0; i < n; ++i) {
    f.push_back({"e_" + std::to_string(i), off_e(i), false});
  }
  for (uint32_t i = 0; i < n; ++i) {
    f.push_back({"a_" + std::to_string(i), off_a(n, i), false});
  }
  f.push_back({"a_d", off_a_d(n), false});
  f.push_back({"a_rho", off_a_rho(n), false});
  f.push_back({"a_w", off_a_w(n), false});
  return f;
}

// Longest DST is "HashToScalar-" || context || "TokenResponseProof" with
// context = "ATHMV1-P256-" || n || "-" || deployment id.
size_t max_deployment_id_len(uint32_t n) {
  const size_t fixed = std::string("HashToScalar-").size() + std::string("ATHMV1-P256-").size() +
                       std::to_string(n).size() + 1 + std::string("TokenResponseProof").size();
  return athm::kMaxDstBytes - fixed;
}

// A source that serves |budget| bytes from a seeded stream, then fails.
class budget_random final : public athm::random_source {
 public:
  budget_random(uint64_t seed, size_t budget) : inner_(seed), budget_(budget) {}
  bool fill(std::span<uint8_t> out) noexcept override {
    if (out.size() > budget_) {
      return false;
    }
    budget_ -= out.size();
    return inner_.fill(out);
  }

 private:
  chacha_random inner_;
  size_t budget_;
};

// A source that always returns the same byte.
class constant_random final : public athm::random_source {
 public:
  explicit constant_random(uint8_t b) : b_(b) {}
  bool fill(std::span<uint8_t> out) noexcept override {
    std::fill(out.begin(), out.end(), b_);
    return true;
  }

 private:
  uint8_t b_;
};

}  // namespace

// ================================================================ suite

TEST_CASE("suite::create: bucket count range", "[athm][suite]") {
  SECTION("n = 0 is rejected") {
    CHECK(error_of(athm::suite::create(0, kDeployment)) == errc::bad_params);
  }
  SECTION("n = kMaxBuckets + 1 is rejected") {
    CHECK(error_of(athm::suite::create(athm::kMaxBuckets + 1, kDeployment)) == errc::bad_params);
  }
  SECTION("n = UINT32_MAX is rejected") {
    CHECK(error_of(athm::suite::create(0xffffffffu, kDeployment)) == errc::bad_params);
  }
  SECTION("n = 1, 2, 64, 256 are accepted") {
    for (uint32_t n : {1u, 2u, 64u, 256u}) {
      CAPTURE(n);
      auto s = athm::suite::create(n, kDeployment);
      REQUIRE(s.ok());
      CHECK((*s)->n_buckets() == n);
      CHECK((*s)->deployment_id() == kDeployment);
      CHECK((*s)->context() == "ATHMV1-P256-" + std::to_string(n) + "-athm-test");
      CHECK((*s)->response_size() == 227 + 64 * size_t{n});
      CHECK((*s)->response_size() == athm::response_bytes(n));
    }
  }
}

TEST_CASE("suite::create: deployment id length boundary", "[athm][suite]") {
  CHECK(max_deployment_id_len(4) == 210);
  CHECK(max_deployment_id_len(64) == 209);
  CHECK(max_deployment_id_len(256) == 208);
  for (uint32_t n : {4u, 64u, 256u}) {
    CAPTURE(n);
    const size_t max = max_deployment_id_len(n);
    const std::string at_limit(max, 'd');
    auto ok = athm::suite::create(n, at_limit);
    REQUIRE(ok.ok());
    CHECK(13 + (*ok)->context().size() + 18 == 255);
    auto too_long = athm::suite::create(n, std::string(max + 1, 'd'));
    CHECK(error_of(too_long) == errc::bad_params);
    CHECK(error_of(athm::suite::create(n, std::string(1000, 'd'))) == errc::bad_params);
  }
}

TEST_CASE("suite at the 255-byte DST limit issues and verifies tokens", "[athm][suite]") {
  suite_ptr s = make_suite(4, std::string(max_deployment_id_len(4), 'x'));
  athm::private_key k = make_key(s, 0x255);
  auto tok = make_token(k, 3, 0x2551);
  auto b = k.verify_token(tok);
  REQUIRE(b.ok());
  CHECK(*b == 3);
}

TEST_CASE("suite::create: empty deployment id and context format", "[athm][suite]") {
  suite_ptr s = make_suite(4, "");
  CHECK(s->context() == "ATHMV1-P256-4-");
  CHECK(s->deployment_id().empty());
  athm::private_key k = make_key(s, 0xe);
  auto b = k.verify_token(make_token(k, 1, 0xe1));
  REQUIRE(b.ok());
  CHECK(*b == 1);
  CHECK(make_suite(16, "example_deployment_id")->context() ==
        "ATHMV1-P256-16-example_deployment_id");
}

TEST_CASE("generator H depends on n and the deployment id only", "[athm][suite]") {
  const auto h_a4 = make_suite(4, "a")->generator_h();
  CHECK(make_suite(4, "a")->generator_h() == h_a4);  // deterministic
  CHECK(make_suite(4, "b")->generator_h() != h_a4);
  CHECK(make_suite(5, "a")->generator_h() != h_a4);
  CHECK(h_a4 != point::generator().encode());
  auto h = point::decode(h_a4);
  REQUIRE(h.ok());  // a valid, non-identity point
}

// ================================================================ round trips

TEST_CASE("round trip for every bucket, n in {1, 2, 3, 4, 8, 16}", "[athm][roundtrip]") {
  for (uint32_t n : {1u, 2u, 3u, 4u, 8u, 16u}) {
    suite_ptr s = make_suite(n);
    athm::private_key k = make_key(s, 1000 + n);
    const athm::public_key pk = client_view(k);
    CHECK(pk.bytes() == k.public_part().bytes());
    CHECK(pk.id() == k.public_part().id());
    chacha_random rng(2000 + n);
    for (uint32_t bucket = 0; bucket < n; ++bucket) {
      CAPTURE(n, bucket);
      issuance is = issue(k, pk, bucket, rng);
      REQUIRE(is.response.size() == athm::response_bytes(n));
      REQUIRE(athm::verify_issuance_proof_public(pk, is.ctx.request(), is.response).ok());
      auto tok = athm::finalize_token(pk, is.ctx, is.response, rng);
      REQUIRE(tok.ok());
      auto b = k.verify_token(*tok);
      REQUIRE(b.ok());
      CHECK(*b == bucket);
    }
  }
}

TEST_CASE("round trip for n = 64 on a few buckets", "[athm][roundtrip]") {
  suite_ptr s = make_suite(64);
  athm::private_key k = make_key(s, 64);
  const athm::public_key pk = client_view(k);
  chacha_random rng(6464);
  for (uint32_t bucket : {0u, 1u, 37u, 63u}) {
    CAPTURE(bucket);
    issuance is = issue(k, pk, bucket, rng);
    auto tok = athm::finalize_token(pk, is.ctx, is.response, rng);
    REQUIRE(tok.ok());
    auto b = k.verify_token(*tok);
    REQUIRE(b.ok());
    CHECK(*b == bucket);
  }
}

TEST_CASE("token fields: t = tc + ts and T = r*G + tc*Z", "[athm][roundtrip]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 77);
  const athm::public_key pk = client_view(k);
  chacha_random rng(78);
  issuance is = issue(k, pk, 2, rng);
  auto tok = athm::finalize_token(pk, is.ctx, is.response, rng);
  REQUIRE(tok.ok());
  const auto ctx_bytes = is.ctx.to_bytes();
  auto r = scalar::from_bytes(std::span<const uint8_t, 32>(ctx_bytes.data(), 32));
  auto tc = scalar::from_bytes(std::span<const uint8_t, 32>(ctx_bytes.data() + 32, 32));
  auto ts = scalar::from_bytes(std::span<const uint8_t, 32>(is.response.data() + kOffTs, 32));
  REQUIRE(r.ok());
  REQUIRE(tc.ok());
  REQUIRE(ts.ok());
  CHECK(to_hex((*tc + *ts).to_bytes()) == to_hex(std::span(*tok).first(32)));
  auto z = point::decode(std::span(pk.bytes()).first(33));
  REQUIRE(z.ok());
  CHECK(z->mul2_ct(*r, *tc).encode() == is.ctx.request());
}

TEST_CASE("issuance is randomized: two responses to one request differ", "[athm][roundtrip]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 90);
  const athm::public_key pk = client_view(k);
  chacha_random rng(91);
  auto ctx = athm::token_request(pk, rng);
  REQUIRE(ctx.ok());
  auto r1 = k.token_response(ctx->request(), 1, rng);
  auto r2 = k.token_response(ctx->request(), 1, rng);
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  CHECK(*r1 != *r2);
  CHECK(athm::verify_issuance_proof_public(pk, ctx->request(), *r1).ok());
  CHECK(athm::verify_issuance_proof_public(pk, ctx->request(), *r2).ok());
  // The same seed reproduces the same response.
  chacha_random a(5), b(5);
  auto d1 = k.token_response(ctx->request(), 3, a);
  auto d2 = k.token_response(ctx->request(), 3, b);
  REQUIRE(d1.ok());
  REQUIRE(d2.ok());
  CHECK(*d1 == *d2);
}

// ================================================================ token_response

TEST_CASE("token_response rejects bad input", "[athm][response]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 11);
  const athm::public_key pk = client_view(k);
  chacha_random rng(12);
  auto ctx = athm::token_request(pk, rng);
  REQUIRE(ctx.ok());
  const auto& req = ctx->request();

  SECTION("bucket = n") { CHECK(error_of(k.token_response(req, 4, rng)) == errc::bad_bucket); }
  SECTION("bucket = n + 1 and UINT32_MAX") {
    CHECK(error_of(k.token_response(req, 5, rng)) == errc::bad_bucket);
    CHECK(error_of(k.token_response(req, 0xffffffffu, rng)) == errc::bad_bucket);
  }
  SECTION("request truncated to 32 bytes") {
    CHECK(error_of(k.token_response(std::span(req).first(32), 0, rng)) == errc::bad_length);
  }
  SECTION("request with an extra byte (34)") {
    bytes v = to_vec(req);
    v.push_back(0);
    CHECK(error_of(k.token_response(v, 0, rng)) == errc::bad_length);
  }
  SECTION("empty request") { CHECK(error_of(k.token_response({}, 0, rng)) == errc::bad_length); }
  SECTION("request is the identity (33 zero bytes)") {
    CHECK(error_of(k.token_response(identity_element(), 0, rng)) == errc::bad_point);
  }
  SECTION("request off the curve") {
    CHECK(error_of(k.token_response(off_curve_element(), 0, rng)) == errc::bad_point);
  }
  SECTION("request with x >= p") {
    CHECK(error_of(k.token_response(x_above_p_element(), 0, rng)) == errc::bad_point);
  }
  SECTION("request with prefix 04") {
    CHECK(error_of(k.token_response(uncompressed_prefix_element(req), 0, rng)) ==
          errc::bad_point);
  }
  SECTION("failing random source") {
    failing_random bad;
    CHECK(error_of(k.token_response(req, 0, bad)) == errc::rng_failure);
  }
  SECTION("random source failing part-way through the draws") {
    // ts, d, 4 e_i, 4 a_i, r_mu, r_d, r_rho, r_w, mu: 15 scalars.
    for (size_t scalars = 0; scalars < 15; ++scalars) {
      CAPTURE(scalars);
      budget_random partial(13, 32 * scalars + 5);
      CHECK(error_of(k.token_response(req, 1, partial)) == errc::rng_failure);
    }
    budget_random enough(13, 32 * 15);
    CHECK(k.token_response(req, 1, enough).ok());
  }
  SECTION("random source stuck at 0xff (every draw >= n)") {
    constant_random stuck(0xff);
    CHECK(error_of(k.token_response(req, 0, stuck)) == errc::rng_failure);
  }
}

// ================================================================ issuance proof

TEST_CASE("verify_issuance_proof_public / finalize_token: tampered fields", "[athm][proof]") {
  constexpr uint32_t n = 4;
  suite_ptr s = make_suite(n);
  athm::private_key k = make_key(s, 21);
  const athm::public_key pk = client_view(k);
  chacha_random rng(22);
  issuance is = issue(k, pk, 2, rng);
  const auto& req = is.ctx.request();
  REQUIRE(athm::verify_issuance_proof_public(pk, req, is.response).ok());

  // Both entry points must reject with the same error.
  auto check_rejected = [&](const bytes& bad, std::initializer_list<errc> allowed) {
    auto v = athm::verify_issuance_proof_public(pk, req, bad);
    REQUIRE_FALSE(v.ok());
    CHECK(std::find(allowed.begin(), allowed.end(), v.error()) != allowed.end());
    chacha_random frng(23);
    auto f = athm::finalize_token(pk, is.ctx, bad, frng);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error() == v.error());
  };

  for (const field& f : response_fields(n)) {
    DYNAMIC_SECTION("field " << f.name) {
      CAPTURE(f.name, f.off);
      if (f.is_point) {
        // Flipping the prefix gives the negated point: a valid encoding.
        check_rejected(flipped(is.response, f.off, 0x01), {errc::proof_invalid});
        // Flipping a bit of x: off the curve or another point.
        check_rejected(flipped(is.response, f.off + 32, 0x01),
                       {errc::bad_point, errc::proof_invalid});
        check_rejected(flipped(is.response, f.off + 1, 0x80),
                       {errc::bad_point, errc::proof_invalid});
        check_rejected(replaced(is.response, f.off, identity_element()), {errc::bad_point});
        check_rejected(replaced(is.response, f.off, off_curve_element()), {errc::bad_point});
        check_rejected(replaced(is.response, f.off, x_above_p_element()), {errc::bad_point});
        check_rejected(replaced(is.response, f.off,
                                uncompressed_prefix_element(std::span(is.response).subspan(f.off))),
                       {errc::bad_point});
      } else {
        check_rejected(flipped(is.response, f.off + 31, 0x01), {errc::proof_invalid});
        check_rejected(flipped(is.response, f.off + 16, 0x10), {errc::proof_invalid});
        check_rejected(replaced(is.response, f.off, order_bytes()), {errc::bad_scalar});
        check_rejected(replaced(is.response, f.off, all_ff(32)), {errc::bad_scalar});
        check_rejected(replaced(is.response, f.off, bytes(32, 0)), {errc::proof_invalid});
      }
    }
  }
}

TEST_CASE("issuance proof: every single-bit flip is rejected (n = 2)", "[athm][proof]") {
  constexpr uint32_t n = 2;
  suite_ptr s = make_suite(n);
  athm::private_key k = make_key(s, 31);
  const athm::public_key pk = client_view(k);
  chacha_random rng(32);
  issuance is = issue(k, pk, 1, rng);
  REQUIRE(athm::verify_issuance_proof_public(pk, is.ctx.request(), is.response).ok());
  for (size_t i = 0; i < is.response.size(); ++i) {
    const uint8_t mask = static_cast<uint8_t>(1u << (i % 8));
    CAPTURE(i, int{mask});
    REQUIRE_FALSE(athm::verify_issuance_proof_public(pk, is.ctx.request(),
                                                     flipped(is.response, i, mask))
                      .ok());
  }
}

TEST_CASE("issuance proof: slot swaps and substitutions", "[athm][proof]") {
  constexpr uint32_t n = 4;
  suite_ptr s = make_suite(n);
  athm::private_key k = make_key(s, 41);
  const athm::public_key pk = client_view(k);
  chacha_random rng(42);
  issuance is = issue(k, pk, 1, rng);
  const auto& req = is.ctx.request();

  SECTION("swap (e_1, a_1) with (e_2, a_2)") {
    bytes v = swapped(is.response, off_e(1), off_e(2), 32);
    v = swapped(v, off_a(n, 1), off_a(n, 2), 32);
    CHECK(error_of(athm::verify_issuance_proof_public(pk, req, v)) == errc::proof_invalid);
  }
  SECTION("swap U and V") {
    bytes v = swapped(is.response, kOffU, kOffV, 33);
    CHECK(error_of(athm::verify_issuance_proof_public(pk, req, v)) == errc::proof_invalid);
  }
  SECTION("move challenge weight between slots (e_0 + d, e_3 - d)") {
    auto e0 = scalar::from_bytes(std::span<const uint8_t, 32>(is.response.data() + off_e(0), 32));
    auto e3 = scalar::from_bytes(std::span<const uint8_t, 32>(is.response.data() + off_e(3), 32));
    REQUIRE(e0.ok());
    REQUIRE(e3.ok());
    const scalar d = scalar::from_u64(1);
    bytes v = replaced(is.response, off_e(0), (*e0 + d).to_bytes());
    v = replaced(v, off_e(3), (*e3 - d).to_bytes());
    CHECK(error_of(athm::verify_issuance_proof_public(pk, req, v)) == errc::proof_invalid);
  }
  SECTION("response for a different request") {
    auto other = athm::token_request(pk, rng);
    REQUIRE(other.ok());
    CHECK(error_of(athm::verify_issuance_proof_public(pk, other->request(), is.response)) ==
          errc::proof_invalid);
    CHECK(error_of(athm::finalize_token(pk, *other, is.response, rng)) == errc::proof_invalid);
  }
  SECTION("response under another key") {
    athm::private_key k2 = make_key(s, 43);
    auto resp2 = k2.token_response(req, 1, rng);
    REQUIRE(resp2.ok());
    CHECK(error_of(athm::verify_issuance_proof_public(pk, req, *resp2)) == errc::proof_invalid);
    CHECK(error_of(athm::finalize_token(pk, is.ctx, *resp2, rng)) == errc::proof_invalid);
  }
  SECTION("response under the same scalars in another deployment (other H, other DST)") {
    suite_ptr other = make_suite(n, "another-deployment");
    athm::private_key twin = make_key(other, 41);  // same seed: same x, y, z, r_x, r_y
    auto resp = twin.token_response(req, 1, rng);
    REQUIRE(resp.ok());
    CHECK(error_of(athm::verify_issuance_proof_public(pk, req, *resp)) == errc::proof_invalid);
  }
  SECTION("request point tampered") {
    CHECK(error_of(athm::verify_issuance_proof_public(pk, flipped(req, 0, 0x01), is.response)) ==
          errc::proof_invalid);
    CHECK(error_of(athm::verify_issuance_proof_public(pk, identity_element(), is.response)) ==
          errc::bad_point);
    CHECK(error_of(athm::verify_issuance_proof_public(pk, std::span(req).first(32),
                                                      is.response)) == errc::bad_length);
  }
}

TEST_CASE("issuance proof: response sizes", "[athm][proof]") {
  suite_ptr s4 = make_suite(4);
  suite_ptr s3 = make_suite(3);
  athm::private_key k4 = make_key(s4, 51);
  athm::private_key k3 = make_key(s3, 52);
  const athm::public_key pk4 = client_view(k4);
  const athm::public_key pk3 = client_view(k3);
  chacha_random rng(53);
  issuance is4 = issue(k4, pk4, 0, rng);
  issuance is3 = issue(k3, pk3, 0, rng);

  SECTION("n = 3 response given to an n = 4 key") {
    REQUIRE(is3.response.size() == athm::response_bytes(3));
    CHECK(error_of(athm::verify_issuance_proof_public(pk4, is4.ctx.request(), is3.response)) ==
          errc::bad_length);
    CHECK(error_of(athm::finalize_token(pk4, is4.ctx, is3.response, rng)) == errc::bad_length);
  }
  SECTION("n = 4 response given to an n = 3 key") {
    CHECK(error_of(athm::verify_issuance_proof_public(pk3, is3.ctx.request(), is4.response)) ==
          errc::bad_length);
  }
  SECTION("truncated by one byte") {
    const bytes v(is4.response.begin(), is4.response.end() - 1);
    CHECK(error_of(athm::verify_issuance_proof_public(pk4, is4.ctx.request(), v)) ==
          errc::bad_length);
    CHECK(error_of(athm::finalize_token(pk4, is4.ctx, v, rng)) == errc::bad_length);
  }
  SECTION("one extra byte") {
    bytes v = is4.response;
    v.push_back(0);
    CHECK(error_of(athm::verify_issuance_proof_public(pk4, is4.ctx.request(), v)) ==
          errc::bad_length);
    CHECK(error_of(athm::finalize_token(pk4, is4.ctx, v, rng)) == errc::bad_length);
  }
  SECTION("empty") {
    CHECK(error_of(athm::verify_issuance_proof_public(pk4, is4.ctx.request(), {})) ==
          errc::bad_length);
  }
  SECTION("finalize with a failing random source after a valid proof") {
    failing_random bad;
    CHECK(error_of(athm::finalize_token(pk4, is4.ctx, is4.response, bad)) == errc::rng_failure);
  }
}

// ================================================================ verify_token

TEST_CASE("verify_token rejects malformed and invalid tokens", "[athm][token]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 61);
  const athm::token_bytes tok = make_token(k, 2, 62);
  REQUIRE(k.verify_token(tok).ok());
  REQUIRE(*k.verify_token(tok) == 2);

  SECTION("truncated (97 bytes)") {
    CHECK(error_of(k.verify_token(std::span(tok).first(97))) == errc::bad_length);
  }
  SECTION("extra byte (99 bytes)") {
    bytes v = to_vec(tok);
    v.push_back(0);
    CHECK(error_of(k.verify_token(v)) == errc::bad_length);
  }
  SECTION("empty") { CHECK(error_of(k.verify_token({})) == errc::bad_length); }
  SECTION("t = n") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokT, order_bytes()))) == errc::bad_scalar);
  }
  SECTION("t = 2^256 - 1") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokT, all_ff(32)))) == errc::bad_scalar);
  }
  SECTION("P is the identity") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokP, identity_element()))) == errc::bad_point);
  }
  SECTION("Q is the identity") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokQ, identity_element()))) == errc::bad_point);
  }
  SECTION("P off the curve") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokP, off_curve_element()))) == errc::bad_point);
  }
  SECTION("Q off the curve") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokQ, off_curve_element()))) == errc::bad_point);
  }
  SECTION("P with x >= p") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokP, x_above_p_element()))) == errc::bad_point);
  }
  SECTION("Q with prefix 04") {
    CHECK(error_of(k.verify_token(replaced(
              tok, kTokQ, uncompressed_prefix_element(std::span(tok).subspan(kTokQ))))) ==
          errc::bad_point);
  }
  SECTION("tampered t (one bit)") {
    CHECK(error_of(k.verify_token(flipped(tok, 31, 0x01))) == errc::token_invalid);
    CHECK(error_of(k.verify_token(flipped(tok, 0, 0x01))) == errc::token_invalid);
  }
  SECTION("t = 0") {
    CHECK(error_of(k.verify_token(replaced(tok, kTokT, bytes(32, 0)))) == errc::token_invalid);
  }
  SECTION("P and Q swapped") {
    CHECK(error_of(k.verify_token(swapped(tok, kTokP, kTokQ, 33))) == errc::token_invalid);
  }
  SECTION("Q replaced by P") {
    bytes v = replaced(tok, kTokQ, std::span(tok).subspan(kTokP, 33));
    CHECK(error_of(k.verify_token(v)) == errc::token_invalid);
  }
  SECTION("only Q negated") {
    CHECK(error_of(k.verify_token(flipped(tok, kTokQ, 0x01))) == errc::token_invalid);
  }
  SECTION("only P negated") {
    CHECK(error_of(k.verify_token(flipped(tok, kTokP, 0x01))) == errc::token_invalid);
  }
  SECTION("Q moved to the next bucket (Q + y*P needs y; Q + P is not it)") {
    auto p = point::decode(std::span(tok).subspan(kTokP, 33));
    auto q = point::decode(std::span(tok).subspan(kTokQ, 33));
    REQUIRE(p.ok());
    REQUIRE(q.ok());
    CHECK(error_of(k.verify_token(replaced(tok, kTokQ, (*q + *p).encode()))) ==
          errc::token_invalid);
  }
  SECTION("token from another key of the same suite") {
    athm::private_key other = make_key(s, 63);
    CHECK(error_of(other.verify_token(tok)) == errc::token_invalid);
    CHECK(error_of(k.verify_token(make_token(other, 2, 64))) == errc::token_invalid);
  }
  SECTION("token from a key of another deployment id (same n)") {
    athm::private_key other = make_key(make_suite(4, "another-deployment"), 65);
    CHECK(error_of(k.verify_token(make_token(other, 2, 66))) == errc::token_invalid);
  }
  SECTION("token from a key with another n") {
    athm::private_key other = make_key(make_suite(8), 67);
    CHECK(error_of(k.verify_token(make_token(other, 6, 68))) == errc::token_invalid);
    CHECK(error_of(k.verify_token(make_token(other, 2, 69))) == errc::token_invalid);
  }
}

TEST_CASE("n = 4 key rejects a bucket-6 token from an n = 8 key with the same scalars",
          "[athm][token]") {
  // Same seed, so the same x, y, z: only the bucket range differs. A bucket
  // beyond n must not match (no wrap-around), while a bucket inside the range
  // of both verifies under either.
  athm::private_key k4 = make_key(make_suite(4), 70);
  athm::private_key k8 = make_key(make_suite(8), 70);
  REQUIRE(k4.to_bytes() == k8.to_bytes());
  const auto tok6 = make_token(k8, 6, 71);
  REQUIRE(*k8.verify_token(tok6) == 6);
  CHECK(error_of(k4.verify_token(tok6)) == errc::token_invalid);
  const auto tok4 = make_token(k8, 4, 72);
  CHECK(error_of(k4.verify_token(tok4)) == errc::token_invalid);
  const auto tok3 = make_token(k8, 3, 73);
  auto b = k4.verify_token(tok3);
  REQUIRE(b.ok());
  CHECK(*b == 3);
}

TEST_CASE("tokens bind to the private scalars, not to the deployment id", "[athm][token]") {
  // VerifyToken uses only x, y and z. The same scalars under another
  // deployment id (a situation KeyGen never produces, since every key draws
  // fresh scalars) accept each other's tokens; their key ids differ, so the
  // Privacy Pass layer still tells them apart.
  athm::private_key a = make_key(make_suite(4, "deployment-a"), 74);
  athm::private_key b = make_key(make_suite(4, "deployment-b"), 74);
  REQUIRE(a.to_bytes() == b.to_bytes());
  CHECK(a.public_part().id() != b.public_part().id());
  auto bucket = a.verify_token(make_token(b, 1, 75));
  REQUIRE(bucket.ok());
  CHECK(*bucket == 1);
}

TEST_CASE("re-randomized token (t, cP, cQ) verifies with the same bucket", "[athm][token]") {
  suite_ptr s = make_suite(8);
  athm::private_key k = make_key(s, 81);
  chacha_random rng(82);
  for (uint32_t bucket : {0u, 5u, 7u}) {
    const athm::token_bytes tok = make_token(k, bucket, 83 + bucket);
    auto p = point::decode(std::span(tok).subspan(kTokP, 33));
    auto q = point::decode(std::span(tok).subspan(kTokQ, 33));
    REQUIRE(p.ok());
    REQUIRE(q.ok());
    auto c = athm::random_nonzero_scalar(rng);
    REQUIRE(c.ok());
    bytes rr = replaced(tok, kTokP, p->mul_ct(*c).encode());
    rr = replaced(rr, kTokQ, q->mul_ct(*c).encode());
    CAPTURE(bucket);
    auto b = k.verify_token(rr);
    REQUIRE(b.ok());
    CHECK(*b == bucket);
    // Scaling only one of them breaks it.
    bytes half = replaced(tok, kTokP, p->mul_ct(*c).encode());
    CHECK(error_of(k.verify_token(half)) == errc::token_invalid);
  }
}

TEST_CASE("verify_token with n = 1", "[athm][token]") {
  athm::private_key k = make_key(make_suite(1), 91);
  const auto tok = make_token(k, 0, 92);
  auto b = k.verify_token(tok);
  REQUIRE(b.ok());
  CHECK(*b == 0);
  CHECK(error_of(k.verify_token(flipped(tok, 31))) == errc::token_invalid);
}

// ================================================================ public_key

TEST_CASE("public_key::from_token_key rejects bad keys", "[athm][pubkey]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 101);
  athm::private_key other = make_key(s, 102);
  const auto& tk = k.public_part().token_key();
  const auto& tk2 = other.public_part().token_key();
  REQUIRE(athm::public_key::from_token_key(s, tk).ok());

  auto parse = [&](std::span<const uint8_t> in, const suite_ptr& su) {
    return athm::public_key::from_token_key(su, in);
  };

  SECTION("wrong lengths: 0, 99, 162, 164") {
    CHECK(error_of(parse({}, s)) == errc::bad_length);
    CHECK(error_of(parse(std::span(tk).first(99), s)) == errc::bad_length);
    CHECK(error_of(parse(std::span(tk).first(162), s)) == errc::bad_length);
    bytes v = to_vec(tk);
    v.push_back(0);
    CHECK(error_of(parse(v, s)) == errc::bad_length);
  }
  SECTION("tampered proof e") {
    CHECK(error_of(parse(flipped(tk, kKeyE + 31), s)) == errc::proof_invalid);
  }
  SECTION("tampered proof a_z") {
    CHECK(error_of(parse(flipped(tk, kKeyAz + 31), s)) == errc::proof_invalid);
    CHECK(error_of(parse(flipped(tk, kKeyAz + 7, 0x40), s)) == errc::proof_invalid);
  }
  SECTION("e >= n and a_z >= n") {
    CHECK(error_of(parse(replaced(tk, kKeyE, order_bytes()), s)) == errc::bad_scalar);
    CHECK(error_of(parse(replaced(tk, kKeyAz, all_ff(32)), s)) == errc::bad_scalar);
  }
  SECTION("Z negated (prefix flipped)") {
    CHECK(error_of(parse(flipped(tk, kKeyZ, 0x01), s)) == errc::proof_invalid);
  }
  SECTION("point errors in Z, C_x, C_y") {
    for (size_t off : {kKeyZ, kKeyCx, kKeyCy}) {
      CAPTURE(off);
      CHECK(error_of(parse(replaced(tk, off, identity_element()), s)) == errc::bad_point);
      CHECK(error_of(parse(replaced(tk, off, off_curve_element()), s)) == errc::bad_point);
      CHECK(error_of(parse(replaced(tk, off, x_above_p_element()), s)) == errc::bad_point);
      CHECK(error_of(parse(replaced(tk, off, uncompressed_prefix_element(
                                                  std::span(tk).subspan(off))),
                           s)) == errc::bad_point);
    }
  }
  SECTION("this key's proof with another key's points") {
    bytes v = replaced(tk, 0, std::span(tk2).first(99));
    CHECK(error_of(parse(v, s)) == errc::proof_invalid);
    bytes w = replaced(tk, kKeyZ, std::span(tk2).first(33));
    CHECK(error_of(parse(w, s)) == errc::proof_invalid);
  }
  SECTION("another key's proof with this key's points") {
    bytes v = replaced(tk, kKeyE, std::span(tk2).subspan(kKeyE, 64));
    CHECK(error_of(parse(v, s)) == errc::proof_invalid);
  }
  SECTION("correct key under another deployment id") {
    CHECK(error_of(parse(tk, make_suite(4, "another-deployment"))) == errc::proof_invalid);
  }
  SECTION("correct key under another n") {
    CHECK(error_of(parse(tk, make_suite(8))) == errc::proof_invalid);
  }
  SECTION("null suite") {
    CHECK(error_of(athm::public_key::from_token_key(nullptr, tk)) == errc::bad_params);
  }
}

TEST_CASE("the key proof covers Z only; from_bytes catches swapped commitments",
          "[athm][pubkey]") {
  // VerifyPublicKeyProof (draft-yun-cfrg-athm) proves knowledge of z for Z;
  // C_x and C_y are not in its transcript. A token key with another key's
  // C_x, C_y therefore parses, and it is private_key::from_bytes' consistency
  // check that refuses to pair it with the private scalars.
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 111);
  athm::private_key other = make_key(s, 112);
  const auto& tk = k.public_part().token_key();
  bytes mixed = replaced(tk, kKeyCx, std::span(other.public_part().token_key()).subspan(kKeyCx, 66));
  auto pk = athm::public_key::from_token_key(s, mixed);
  REQUIRE(pk.ok());
  CHECK(pk->id() != k.public_part().id());
  const auto priv = k.to_bytes();
  CHECK(error_of(athm::private_key::from_bytes(s, priv.span(), mixed)) == errc::key_mismatch);
}

TEST_CASE("public_key accessors", "[athm][pubkey]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 121);
  const athm::public_key pk = client_view(k);
  CHECK(std::equal(pk.bytes().begin(), pk.bytes().end(), pk.token_key().begin()));
  CHECK(pk.truncated_id() == pk.id()[31]);
  CHECK(pk.params().n_buckets() == 4);
  CHECK(pk.params_ptr() == s);
  athm::public_key copy = pk;
  CHECK(copy.id() == pk.id());
  athm::public_key moved = std::move(copy);
  CHECK(moved.token_key() == pk.token_key());
}

// ================================================================ private_key

TEST_CASE("private_key::from_bytes", "[athm][privkey]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 131);
  const auto priv_secret = k.to_bytes();
  const bytes priv = to_vec(priv_secret.span());
  const auto& tk = k.public_part().token_key();

  SECTION("round trip; the reloaded key verifies the original's tokens") {
    auto r = athm::private_key::from_bytes(s, priv, tk);
    REQUIRE(r.ok());
    CHECK(r->public_part().bytes() == k.public_part().bytes());
    CHECK(r->to_bytes() == priv_secret);
    auto b = r->verify_token(make_token(k, 3, 132));
    REQUIRE(b.ok());
    CHECK(*b == 3);
    auto b2 = k.verify_token(make_token(*r, 1, 133));
    REQUIRE(b2.ok());
    CHECK(*b2 == 1);
  }
  SECTION("wrong private key length: 0, 159, 161") {
    CHECK(error_of(athm::private_key::from_bytes(s, {}, tk)) == errc::bad_length);
    CHECK(error_of(athm::private_key::from_bytes(s, std::span(priv).first(159), tk)) ==
          errc::bad_length);
    bytes v = priv;
    v.push_back(0);
    CHECK(error_of(athm::private_key::from_bytes(s, v, tk)) == errc::bad_length);
  }
  SECTION("wrong token key length") {
    CHECK(error_of(athm::private_key::from_bytes(s, priv, std::span(tk).first(162))) ==
          errc::bad_length);
  }
  SECTION("one bit flipped in each scalar -> key_mismatch") {
    for (size_t off : {kPrivX, kPrivY, kPrivZ, kPrivRx, kPrivRy}) {
      CAPTURE(off);
      CHECK(error_of(athm::private_key::from_bytes(s, flipped(priv, off + 31), tk)) ==
            errc::key_mismatch);
    }
  }
  SECTION("x and r_x swapped -> key_mismatch") {
    CHECK(error_of(athm::private_key::from_bytes(s, swapped(priv, kPrivX, kPrivRx, 32), tk)) ==
          errc::key_mismatch);
  }
  SECTION("y and z swapped -> key_mismatch") {
    CHECK(error_of(athm::private_key::from_bytes(s, swapped(priv, kPrivY, kPrivZ, 32), tk)) ==
          errc::key_mismatch);
  }
  SECTION("another key's token key -> key_mismatch") {
    athm::private_key other = make_key(s, 134);
    CHECK(error_of(athm::private_key::from_bytes(s, priv, other.public_part().token_key())) ==
          errc::key_mismatch);
  }
  SECTION("y = 0 -> bad_scalar") {
    CHECK(error_of(athm::private_key::from_bytes(s, replaced(priv, kPrivY, bytes(32, 0)), tk)) ==
          errc::bad_scalar);
  }
  SECTION("z = 0 -> bad_scalar") {
    CHECK(error_of(athm::private_key::from_bytes(s, replaced(priv, kPrivZ, bytes(32, 0)), tk)) ==
          errc::bad_scalar);
  }
  SECTION("a scalar >= n -> bad_scalar") {
    for (size_t off : {kPrivX, kPrivY, kPrivZ, kPrivRx, kPrivRy}) {
      CAPTURE(off);
      CHECK(error_of(athm::private_key::from_bytes(s, replaced(priv, off, order_bytes()), tk)) ==
            errc::bad_scalar);
      CHECK(error_of(athm::private_key::from_bytes(s, replaced(priv, off, all_ff(32)), tk)) ==
            errc::bad_scalar);
    }
  }
  SECTION("token key with a bad proof -> proof_invalid") {
    CHECK(error_of(athm::private_key::from_bytes(s, priv, flipped(tk, kKeyE + 31))) ==
          errc::proof_invalid);
    CHECK(error_of(athm::private_key::from_bytes(s, priv, flipped(tk, kKeyAz + 31))) ==
          errc::proof_invalid);
  }
  SECTION("token key with a bad point -> bad_point") {
    CHECK(error_of(athm::private_key::from_bytes(s, priv, replaced(tk, kKeyCy,
                                                                    identity_element()))) ==
          errc::bad_point);
  }
  SECTION("the pair under another deployment id -> proof_invalid") {
    CHECK(error_of(athm::private_key::from_bytes(make_suite(4, "another-deployment"), priv,
                                                 tk)) == errc::proof_invalid);
  }
  SECTION("null suite") {
    CHECK(error_of(athm::private_key::from_bytes(nullptr, priv, tk)) == errc::bad_params);
  }
}

TEST_CASE("private_key::generate", "[athm][privkey]") {
  suite_ptr s = make_suite(4);
  SECTION("deterministic under a seeded source; different seeds give different keys") {
    athm::private_key a = make_key(s, 141);
    athm::private_key b = make_key(s, 141);
    athm::private_key c = make_key(s, 142);
    CHECK(a.to_bytes() == b.to_bytes());
    CHECK(a.public_part().token_key() == b.public_part().token_key());
    CHECK(a.public_part().id() != c.public_part().id());
  }
  SECTION("failing random source") {
    failing_random bad;
    CHECK(error_of(athm::private_key::generate(s, bad)) == errc::rng_failure);
  }
  SECTION("random source failing part-way (x, y, z, r_x, r_y, rho_z)") {
    for (size_t scalars = 0; scalars < 6; ++scalars) {
      CAPTURE(scalars);
      budget_random partial(143, 32 * scalars);
      CHECK(error_of(athm::private_key::generate(s, partial)) == errc::rng_failure);
    }
    budget_random enough(143, 32 * 6);
    CHECK(athm::private_key::generate(s, enough).ok());
  }
  SECTION("random source stuck at zero (y and z must be non-zero)") {
    constant_random zeros(0x00);
    CHECK(error_of(athm::private_key::generate(s, zeros)) == errc::rng_failure);
  }
  SECTION("null suite") {
    chacha_random rng(144);
    CHECK(error_of(athm::private_key::generate(nullptr, rng)) == errc::bad_params);
  }
  SECTION("the generated key's public part is what a client parses") {
    athm::private_key a = make_key(s, 145);
    const athm::public_key pk = client_view(a);
    CHECK(pk.token_key() == a.public_part().token_key());
    CHECK(&a.params() == s.get());
  }
}

// ================================================================ client side

TEST_CASE("token_request failures", "[athm][client]") {
  athm::private_key k = make_key(make_suite(4), 151);
  const athm::public_key pk = client_view(k);
  failing_random bad;
  CHECK(error_of(athm::token_request(pk, bad)) == errc::rng_failure);
  budget_random one_scalar(152, 32);
  CHECK(error_of(athm::token_request(pk, one_scalar)) == errc::rng_failure);
  constant_random stuck(0xff);
  CHECK(error_of(athm::token_request(pk, stuck)) == errc::rng_failure);
}

TEST_CASE("client_context::from_bytes", "[athm][client]") {
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 161);
  const athm::public_key pk = client_view(k);
  chacha_random rng(162);
  issuance is = issue(k, pk, 3, rng);
  const auto saved = is.ctx.to_bytes();
  const bytes ctx_bytes = to_vec(saved.span());
  const auto& req = is.ctx.request();

  SECTION("round trip: the restored context finalizes to the same token") {
    auto restored = athm::client_context::from_bytes(ctx_bytes, req);
    REQUIRE(restored.ok());
    CHECK(restored->request() == req);
    CHECK(restored->to_bytes() == saved);
    chacha_random a(163), b(163);
    auto t1 = athm::finalize_token(pk, is.ctx, is.response, a);
    auto t2 = athm::finalize_token(pk, *restored, is.response, b);
    REQUIRE(t1.ok());
    REQUIRE(t2.ok());
    CHECK(*t1 == *t2);
    auto bucket = k.verify_token(*t2);
    REQUIRE(bucket.ok());
    CHECK(*bucket == 3);
  }
  SECTION("context length 0, 63, 65") {
    CHECK(error_of(athm::client_context::from_bytes({}, req)) == errc::bad_length);
    CHECK(error_of(athm::client_context::from_bytes(std::span(ctx_bytes).first(63), req)) ==
          errc::bad_length);
    bytes v = ctx_bytes;
    v.push_back(0);
    CHECK(error_of(athm::client_context::from_bytes(v, req)) == errc::bad_length);
  }
  SECTION("request length 32, 34") {
    CHECK(error_of(athm::client_context::from_bytes(ctx_bytes, std::span(req).first(32))) ==
          errc::bad_length);
    bytes v = to_vec(req);
    v.push_back(0);
    CHECK(error_of(athm::client_context::from_bytes(ctx_bytes, v)) == errc::bad_length);
  }
  SECTION("r >= n, tc >= n") {
    CHECK(error_of(athm::client_context::from_bytes(replaced(ctx_bytes, 0, order_bytes()),
                                                    req)) == errc::bad_scalar);
    CHECK(error_of(athm::client_context::from_bytes(replaced(ctx_bytes, 32, all_ff(32)), req)) ==
          errc::bad_scalar);
  }
  SECTION("request not a valid point") {
    CHECK(error_of(athm::client_context::from_bytes(ctx_bytes, identity_element())) ==
          errc::bad_point);
    CHECK(error_of(athm::client_context::from_bytes(ctx_bytes, off_curve_element())) ==
          errc::bad_point);
  }
  SECTION("context restored with another request: the proof fails") {
    auto other = athm::token_request(pk, rng);
    REQUIRE(other.ok());
    auto mixed = athm::client_context::from_bytes(ctx_bytes, other->request());
    REQUIRE(mixed.ok());
    CHECK(error_of(athm::finalize_token(pk, *mixed, is.response, rng)) == errc::proof_invalid);
  }
  SECTION("context with a wrong secret: the token does not verify") {
    // r changed: the proof is over T, so it still verifies, but unblinding
    // with the wrong r gives a token the issuer rejects.
    auto wrong = athm::client_context::from_bytes(flipped(ctx_bytes, 31), req);
    REQUIRE(wrong.ok());
    auto tok = athm::finalize_token(pk, *wrong, is.response, rng);
    REQUIRE(tok.ok());
    CHECK(error_of(k.verify_token(*tok)) == errc::token_invalid);
  }
}

// ================================================================ threads

TEST_CASE("suites, keys and public keys are shared safely across threads", "[athm][threads]") {
  // Catch assertions are not thread-safe: the threads record outcomes and
  // the checks run after join().
  constexpr int kThreads = 4;
  constexpr uint32_t kRounds = 6;
  suite_ptr s = make_suite(4);
  athm::private_key k = make_key(s, 171);
  const athm::public_key pk = client_view(k);
  const auto h = s->generator_h();
  std::array<uint32_t, kThreads> good{};
  std::array<bool, kThreads> same_h{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto local = athm::suite::create(4, kDeployment);
      same_h[t] = local.ok() && (*local)->generator_h() == h;
      chacha_random rng(172 + t);
      for (uint32_t i = 0; i < kRounds; ++i) {
        const uint32_t bucket = (t + i) % 4;
        auto ctx = athm::token_request(pk, rng);
        if (!ctx) {
          return;
        }
        auto resp = k.token_response(ctx->request(), bucket, rng);
        if (!resp) {
          return;
        }
        auto tok = athm::finalize_token(pk, *ctx, *resp, rng);
        if (!tok) {
          return;
        }
        auto b = k.verify_token(*tok);
        if (b.ok() && *b == bucket) {
          ++good[t];
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    CHECK(same_h[t]);
    CHECK(good[t] == kRounds);
  }
}
