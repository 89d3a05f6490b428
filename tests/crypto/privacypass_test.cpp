// Privacy Pass wire structures for token type 0xC07E: exact decoding (one
// case per malformation), the double-spend marker under re-randomization,
// and RFC 4648 base64url.
#include "crypto/privacypass.h"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "crypto/athm.h"
#include "crypto/group.h"
#include "crypto/random.h"
#include "support/chacha_random.h"
#include "support/hex.h"

using athm::errc;
using athm::testing::chacha_random;
using athm::testing::to_hex;
namespace pp = athm::pp;

namespace {

std::vector<uint8_t> sample_token_request_bytes() {
  std::vector<uint8_t> v(pp::kTokenRequestBytes);
  v[0] = 0xC0;
  v[1] = 0x7E;
  v[2] = 0x5a;
  for (size_t i = 3; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>(i * 7);
  }
  return v;
}

std::vector<uint8_t> sample_token_bytes() {
  std::vector<uint8_t> v(pp::kTokenBytes);
  v[0] = 0xC0;
  v[1] = 0x7E;
  for (size_t i = 2; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>(i * 13 + 1);
  }
  return v;
}

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// A real issued token under a fresh key.
struct issued {
  std::shared_ptr<const athm::suite> s;
  std::unique_ptr<athm::private_key> key;
  athm::token_bytes token{};
  uint32_t bucket = 0;
};

issued issue(uint64_t seed, uint32_t bucket) {
  issued out;
  auto s = athm::suite::create(4, "pp-test");
  REQUIRE(s.ok());
  out.s = *s;
  chacha_random rng(seed);
  auto key = athm::private_key::generate(out.s, rng);
  REQUIRE(key.ok());
  out.key = std::make_unique<athm::private_key>(std::move(*key));
  auto ctx = athm::token_request(out.key->public_part(), rng);
  REQUIRE(ctx.ok());
  auto resp = out.key->token_response(ctx->request(), bucket, rng);
  REQUIRE(resp.ok());
  auto tok = athm::finalize_token(out.key->public_part(), *ctx, *resp, rng);
  REQUIRE(tok.ok());
  out.token = *tok;
  out.bucket = bucket;
  return out;
}

// (t, c*P, c*Q): still a valid token for the same bucket.
athm::token_bytes rerandomize(const athm::token_bytes& tok, const athm::scalar& c) {
  auto p = athm::point::decode(std::span(tok).subspan(32, 33));
  auto q = athm::point::decode(std::span(tok).subspan(65, 33));
  REQUIRE(p.ok());
  REQUIRE(q.ok());
  athm::token_bytes out = tok;
  const auto pe = p->mul_ct(c).encode();
  const auto qe = q->mul_ct(c).encode();
  std::copy(pe.begin(), pe.end(), out.begin() + 32);
  std::copy(qe.begin(), qe.end(), out.begin() + 65);
  return out;
}

pp::token wrap(const athm::private_key& key, const athm::token_bytes& tok) {
  pp::token t;
  t.issuer_key_id = key.public_part().id();
  t.authenticator = tok;
  return t;
}

}  // namespace

// ---------------------------------------------------------------- TokenRequest

TEST_CASE("token_request round trip", "[pp]") {
  const auto in = sample_token_request_bytes();
  auto r = pp::token_request::decode(in);
  REQUIRE(r.ok());
  CHECK(r->truncated_key_id == 0x5a);
  CHECK(std::equal(r->request.begin(), r->request.end(), in.begin() + 3));
  const auto out = r->encode();
  CHECK(std::vector<uint8_t>(out.begin(), out.end()) == in);
  CHECK(pp::kTokenRequestBytes == 36);
}

TEST_CASE("token_request decode rejects malformed input", "[pp]") {
  const auto good = sample_token_request_bytes();
  auto expect = [](std::span<const uint8_t> in, errc e) {
    auto r = pp::token_request::decode(in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == e);
  };
  SECTION("empty") { expect({}, errc::bad_length); }
  SECTION("truncated to 35 bytes") { expect(std::span(good).first(35), errc::bad_length); }
  SECTION("2 bytes (type only)") { expect(std::span(good).first(2), errc::bad_length); }
  SECTION("extra byte (37)") {
    auto v = good;
    v.push_back(0);
    expect(v, errc::bad_length);
  }
  SECTION("token type 0x0001 (Privately Verifiable VOPRF)") {
    auto v = good;
    v[0] = 0x00;
    v[1] = 0x01;
    expect(v, errc::bad_encoding);
  }
  SECTION("token type 0x0002 (Publicly Verifiable RSA)") {
    auto v = good;
    v[0] = 0x00;
    v[1] = 0x02;
    expect(v, errc::bad_encoding);
  }
  SECTION("token type 0xC7D3 (the draft's typo)") {
    auto v = good;
    v[0] = 0xC7;
    v[1] = 0xD3;
    expect(v, errc::bad_encoding);
  }
  SECTION("byte-swapped type 0x7EC0") {
    auto v = good;
    v[0] = 0x7E;
    v[1] = 0xC0;
    expect(v, errc::bad_encoding);
  }
}

// ---------------------------------------------------------------- Token

TEST_CASE("token round trip", "[pp]") {
  const auto in = sample_token_bytes();
  auto t = pp::token::decode(in);
  REQUIRE(t.ok());
  CHECK(std::equal(t->issuer_key_id.begin(), t->issuer_key_id.end(), in.begin() + 2));
  CHECK(std::equal(t->authenticator.begin(), t->authenticator.end(), in.begin() + 34));
  const auto out = t->encode();
  CHECK(std::vector<uint8_t>(out.begin(), out.end()) == in);
  CHECK(pp::kTokenBytes == 132);
}

TEST_CASE("token decode rejects malformed input", "[pp]") {
  const auto good = sample_token_bytes();
  auto expect = [](std::span<const uint8_t> in, errc e) {
    auto r = pp::token::decode(in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == e);
  };
  SECTION("empty") { expect({}, errc::bad_length); }
  SECTION("truncated to 131 bytes") { expect(std::span(good).first(131), errc::bad_length); }
  SECTION("extra byte (133)") {
    auto v = good;
    v.push_back(0);
    expect(v, errc::bad_length);
  }
  SECTION("bare ATHM token (98 bytes)") { expect(std::span(good).first(98), errc::bad_length); }
  SECTION("token type 0x0001") {
    auto v = good;
    v[0] = 0x00;
    v[1] = 0x01;
    expect(v, errc::bad_encoding);
  }
  SECTION("token type 0x0002") {
    auto v = good;
    v[0] = 0x00;
    v[1] = 0x02;
    expect(v, errc::bad_encoding);
  }
  SECTION("token type 0xC7D3 (the draft's typo)") {
    auto v = good;
    v[0] = 0xC7;
    v[1] = 0xD3;
    expect(v, errc::bad_encoding);
  }
}

TEST_CASE("check_token_response_size", "[pp]") {
  for (uint32_t n : {1u, 4u, 16u}) {
    CAPTURE(n);
    auto s = athm::suite::create(n, "pp-test");
    REQUIRE(s.ok());
    const size_t size = athm::response_bytes(n);
    std::vector<uint8_t> v(size);
    CHECK(pp::check_token_response_size(**s, v).ok());
    v.push_back(0);
    auto extra = pp::check_token_response_size(**s, v);
    REQUIRE_FALSE(extra.ok());
    CHECK(extra.error() == errc::bad_length);
    const std::vector<uint8_t> shorter(size - 1);
    auto truncated = pp::check_token_response_size(**s, shorter);
    REQUIRE_FALSE(truncated.ok());
    CHECK(truncated.error() == errc::bad_length);
    auto empty = pp::check_token_response_size(**s, {});
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error() == errc::bad_length);
  }
  auto s4 = athm::suite::create(4, "pp-test");
  REQUIRE(s4.ok());
  CHECK(athm::response_bytes(4) == 483);
  // A response sized for n = 3 or n = 5 is wrong for n = 4.
  CHECK(pp::check_token_response_size(**s4, std::vector<uint8_t>(athm::response_bytes(3)))
            .error() == errc::bad_length);
  CHECK(pp::check_token_response_size(**s4, std::vector<uint8_t>(athm::response_bytes(5)))
            .error() == errc::bad_length);
}

// ---------------------------------------------------------------- spend marker

TEST_CASE("spend_marker is invariant under re-randomization (t, cP, cQ)", "[pp]") {
  issued is = issue(0x5be11d, 2);
  REQUIRE(is.key->verify_token(is.token).ok());
  const pp::token original = wrap(*is.key, is.token);
  chacha_random rng(0xc0ffee);
  for (int i = 0; i < 5; ++i) {
    auto c = athm::random_nonzero_scalar(rng);
    REQUIRE(c.ok());
    const athm::token_bytes rr = rerandomize(is.token, *c);
    REQUIRE(rr != is.token);  // different bytes...
    auto b = is.key->verify_token(rr);
    REQUIRE(b.ok());  // ...still valid...
    CHECK(*b == is.bucket);
    const pp::token re = wrap(*is.key, rr);
    CHECK(re.spend_marker() == original.spend_marker());  // ...same marker
  }
  // c = -1 is the cheapest re-randomization: flip both prefixes.
  athm::token_bytes neg = is.token;
  neg[32] ^= 1;
  neg[65] ^= 1;
  auto b = is.key->verify_token(neg);
  REQUIRE(b.ok());
  CHECK(*b == is.bucket);
  CHECK(wrap(*is.key, neg).spend_marker() == original.spend_marker());
}

TEST_CASE("spend_marker differs for a different t or key id", "[pp]") {
  issued a = issue(0xa11ce, 1);
  const pp::token ta = wrap(*a.key, a.token);
  SECTION("another token from the same key") {
    chacha_random rng(0xb0b);
    auto ctx = athm::token_request(a.key->public_part(), rng);
    REQUIRE(ctx.ok());
    auto resp = a.key->token_response(ctx->request(), 1, rng);
    REQUIRE(resp.ok());
    auto tok = athm::finalize_token(a.key->public_part(), *ctx, *resp, rng);
    REQUIRE(tok.ok());
    CHECK(wrap(*a.key, *tok).spend_marker() != ta.spend_marker());
  }
  SECTION("t changed by one bit") {
    pp::token t = ta;
    t.authenticator[31] ^= 1;
    CHECK(t.spend_marker() != ta.spend_marker());
  }
  SECTION("key id changed") {
    pp::token t = ta;
    t.issuer_key_id[0] ^= 0x80;
    CHECK(t.spend_marker() != ta.spend_marker());
    issued b = issue(0xb22, 1);
    pp::token tb = ta;
    tb.issuer_key_id = b.key->public_part().id();
    CHECK(tb.spend_marker() != ta.spend_marker());
  }
  SECTION("marker is deterministic and survives encode/decode") {
    const auto enc = ta.encode();
    auto dec = pp::token::decode(enc);
    REQUIRE(dec.ok());
    CHECK(dec->spend_marker() == ta.spend_marker());
  }
}

// ---------------------------------------------------------------- base64url

TEST_CASE("base64url: RFC 4648 test vectors", "[pp][base64]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> v = {
      {"", "", ""},
      {"f", "Zg", "Zg=="},
      {"fo", "Zm8", "Zm8="},
      {"foo", "Zm9v", "Zm9v"},
      {"foob", "Zm9vYg", "Zm9vYg=="},
      {"fooba", "Zm9vYmE", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
  };
  for (const auto& [plain, unpadded, padded] : v) {
    CAPTURE(plain);
    CHECK(pp::base64url_encode(bytes_of(plain)) == unpadded);
    auto a = pp::base64url_decode(unpadded);
    REQUIRE(a.ok());
    CHECK(*a == bytes_of(plain));
    auto b = pp::base64url_decode(padded);
    REQUIRE(b.ok());
    CHECK(*b == bytes_of(plain));
  }
}

TEST_CASE("base64url uses '-' and '_'", "[pp][base64]") {
  const std::vector<uint8_t> in = {0xfb, 0xff, 0xbf};  // standard: "+/+/"
  CHECK(pp::base64url_encode(in) == "-_-_");
  auto d = pp::base64url_decode("-_-_");
  REQUIRE(d.ok());
  CHECK(*d == in);
  const std::vector<uint8_t> in2 = {0xfb, 0xff};  // standard: "+/8="
  CHECK(pp::base64url_encode(in2) == "-_8");
}

TEST_CASE("base64url round trip of random bytes", "[pp][base64]") {
  chacha_random rng(0xb64);
  for (size_t len = 0; len < 200; ++len) {
    std::vector<uint8_t> in(len);
    REQUIRE(rng.fill(in));
    const std::string enc = pp::base64url_encode(in);
    CAPTURE(len, enc);
    CHECK(enc.size() == (len * 4 + 2) / 3);
    CHECK(enc.find_first_of("+/=") == std::string::npos);
    auto dec = pp::base64url_decode(enc);
    REQUIRE(dec.ok());
    CHECK(*dec == in);
  }
}

TEST_CASE("base64url_decode rejects malformed input", "[pp][base64]") {
  auto expect_bad = [](std::string_view in) {
    CAPTURE(in);
    auto r = pp::base64url_decode(in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == errc::bad_encoding);
  };
  SECTION("standard-alphabet '+' and '/'") {
    expect_bad("+/8=");
    expect_bad("-_8+");
    expect_bad("Zm9/");
  }
  SECTION("whitespace") {
    expect_bad("Zm9v Zg");
    expect_bad(" Zm9v");
    expect_bad("Zm9v\n");
    expect_bad("Zm9v\r\nYmFy");
    expect_bad("Zm\t9v");
  }
  SECTION("bad padding") {
    expect_bad("Zg=");
    expect_bad("Zg===");
    expect_bad("Z===");
    expect_bad("====");
    expect_bad("=Zg=");
    expect_bad("Zm9v=");
    expect_bad("Zm9v====");
    expect_bad("Zg==Zg==");  // padding in the middle
    expect_bad("Zm8=Zg");
  }
  SECTION("a lone character") {
    expect_bad("Z");
    expect_bad("Zm9vY");
  }
  SECTION("other characters") {
    expect_bad("Zm9!");
    expect_bad("Zm.v");
    expect_bad(std::string_view("Zm\0v", 4));
    expect_bad("Zm\xc3\xa9");
  }
}

// RFC 4648 §3.5: the unused bits of the last character must be zero, so each
// byte string has exactly one encoding. The header promises this check.
TEST_CASE("base64url_decode rejects non-zero trailing bits", "[pp][base64]") {
  for (std::string_view in : {"Zh", "Zh==", "Zm9", "Zm9=", "Zm9vYh", "Zm9vYmF"}) {
    CAPTURE(in);
    auto r = pp::base64url_decode(in);
    CHECK_FALSE(r.ok());
    if (!r.ok()) {
      CHECK(r.error() == errc::bad_encoding);
    }
  }
}
