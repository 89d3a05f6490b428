// Constant-time scalar arithmetic mod n against BoringSSL's BIGNUM as an
// oracle, on a deterministic random stream and on edge values.
#include "crypto/scalar.h"

#include <catch2/catch.hpp>
#include <openssl/bn.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "support/chacha_random.h"
#include "support/hex.h"

using athm::errc;
using athm::scalar;
using athm::testing::chacha_random;
using athm::testing::from_hex;
using athm::testing::to_hex;

namespace {

using bytes32 = std::array<uint8_t, 32>;
using bytes48 = std::array<uint8_t, 48>;
using bn_ptr = bssl::UniquePtr<BIGNUM>;

// The P-256 group order n.
constexpr char kOrderHex[] =
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

constexpr uint64_t kAllOnes = ~uint64_t{0};

bn_ptr bn_hex(const char* hex) {
  BIGNUM* b = nullptr;
  REQUIRE(BN_hex2bn(&b, hex) != 0);
  return bn_ptr(b);
}

bn_ptr bn_bytes(std::span<const uint8_t> in) {
  bn_ptr b(BN_bin2bn(in.data(), in.size(), nullptr));
  REQUIRE(b);
  return b;
}

bytes32 to_bytes32(const BIGNUM* b) {
  bytes32 out{};
  REQUIRE(BN_bn2bin_padded(out.data(), out.size(), b) == 1);
  return out;
}

bytes32 to_bytes32(std::string_view hex) {
  auto v = from_hex(hex);
  REQUIRE(v.size() == 32);
  bytes32 out;
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

// The BIGNUM oracle: n, a context and conversions.
struct oracle {
  bssl::UniquePtr<BN_CTX> ctx{BN_CTX_new()};
  bn_ptr n = bn_hex(kOrderHex);

  bn_ptr of(const scalar& s) const { return bn_bytes(s.to_bytes()); }

  scalar to_scalar(const BIGNUM* b) const {
    auto bytes = to_bytes32(b);
    auto s = scalar::from_bytes(bytes);
    REQUIRE(s.ok());
    return *s;
  }

  // v mod n as a scalar.
  scalar reduce(const BIGNUM* v) {
    bn_ptr r(BN_new());
    REQUIRE(BN_nnmod(r.get(), v, n.get(), ctx.get()));
    return to_scalar(r.get());
  }

  // n - k for a small k.
  scalar n_minus(uint64_t k) {
    bn_ptr r(BN_dup(n.get()));
    REQUIRE(BN_sub_word(r.get(), k));
    return to_scalar(r.get());
  }

  bn_ptr add(const BIGNUM* a, const BIGNUM* b) {
    bn_ptr r(BN_new());
    REQUIRE(BN_mod_add(r.get(), a, b, n.get(), ctx.get()));
    return r;
  }
  bn_ptr sub(const BIGNUM* a, const BIGNUM* b) {
    bn_ptr r(BN_new());
    REQUIRE(BN_mod_sub(r.get(), a, b, n.get(), ctx.get()));
    return r;
  }
  bn_ptr mul(const BIGNUM* a, const BIGNUM* b) {
    bn_ptr r(BN_new());
    REQUIRE(BN_mod_mul(r.get(), a, b, n.get(), ctx.get()));
    return r;
  }
  bn_ptr inverse(const BIGNUM* a) {
    bn_ptr r(BN_new());
    REQUIRE(BN_mod_inverse(r.get(), a, n.get(), ctx.get()) != nullptr);
    return r;
  }
};

std::string hex_of(const scalar& s) { return to_hex(s.to_bytes()); }
std::string hex_of(const BIGNUM* b) { return to_hex(to_bytes32(b)); }

// Edge values: 0, 1, 2, 3, n-1, n-2, n-3, (n-1)/2, (n+1)/2, 2^255 mod n,
// 2^256 mod n, 2^64 - 1, 2^128.
std::vector<scalar> edge_values(oracle& o) {
  std::vector<scalar> v = {scalar::from_u64(0), scalar::from_u64(1), scalar::from_u64(2),
                           scalar::from_u64(3), o.n_minus(1), o.n_minus(2), o.n_minus(3),
                           scalar::from_u64(kAllOnes)};
  bn_ptr half(BN_dup(o.n.get()));
  REQUIRE(BN_sub_word(half.get(), 1));
  REQUIRE(BN_rshift1(half.get(), half.get()));
  v.push_back(o.to_scalar(half.get()));  // (n-1)/2
  REQUIRE(BN_add_word(half.get(), 1));
  v.push_back(o.to_scalar(half.get()));  // (n+1)/2
  bn_ptr p(BN_new());
  REQUIRE(BN_set_bit(p.get(), 255));
  v.push_back(o.reduce(p.get()));  // 2^255 < n
  p.reset(BN_new());
  REQUIRE(BN_set_bit(p.get(), 256));
  v.push_back(o.reduce(p.get()));  // 2^256 mod n
  p.reset(BN_new());
  REQUIRE(BN_set_bit(p.get(), 128));
  v.push_back(o.reduce(p.get()));
  return v;
}

// A value < n from the stream, biased towards the interesting regions: full
// random, just below n, small, and with the top limbs all ones.
scalar draw(oracle& o, chacha_random& rng, int kind) {
  bytes32 b;
  REQUIRE(rng.fill(b));
  switch (kind % 4) {
    case 0:
      break;
    case 1: {
      uint64_t k = (uint64_t{b[0]} << 16 | uint64_t{b[1]} << 8 | b[2]) + 1;
      return o.n_minus(k);
    }
    case 2:
      std::fill(b.begin(), b.begin() + 24, 0);
      break;
    default:
      std::fill(b.begin(), b.begin() + 16, 0xff);
      break;
  }
  bn_ptr v = bn_bytes(b);
  return o.reduce(v.get());
}

constexpr int kRandomIterations = 4000;

}  // namespace

TEST_CASE("from_bytes and to_bytes round trip below n", "[scalar]") {
  oracle o;
  chacha_random rng(0x5ca1a7u);
  for (int i = 0; i < kRandomIterations; ++i) {
    bytes32 b;
    REQUIRE(rng.fill(b));
    bn_ptr v = bn_bytes(b);
    const bool below = BN_cmp(v.get(), o.n.get()) < 0;
    auto s = scalar::from_bytes(b);
    uint64_t mask = 12345;
    scalar ct = scalar::from_bytes_ct(b, &mask);
    CAPTURE(to_hex(b));
    REQUIRE(s.ok() == below);
    if (below) {
      CHECK(s->to_bytes() == b);
      CHECK(mask == kAllOnes);
      CHECK(ct.to_bytes() == b);
    } else {
      CHECK(s.error() == errc::bad_scalar);
      CHECK(mask == 0);
      CHECK(ct.is_zero_mask() == kAllOnes);
    }
  }
}

TEST_CASE("from_bytes accepts the edges below n", "[scalar]") {
  oracle o;
  for (const char* hex :
       {"0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000001",
        "0000000000000000000000000000000000000000000000000000000000000002",
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550",  // n-1
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc63254f",  // n-2
        "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8",  // (n-1)/2
        "8000000000000000000000000000000000000000000000000000000000000000"}) {  // 2^255
    CAPTURE(hex);
    const bytes32 b = to_bytes32(hex);
    auto s = scalar::from_bytes(b);
    REQUIRE(s.ok());
    CHECK(s->to_bytes() == b);
    uint64_t mask = 0;
    scalar ct = scalar::from_bytes_ct(b, &mask);
    CHECK(mask == kAllOnes);
    CHECK(ct == *s);
    CHECK(hex_of(*s) == hex_of(bn_bytes(b).get()));
  }
}

TEST_CASE("from_bytes rejects n, n+1, 2^256-1 and other values at or above n", "[scalar]") {
  for (const char* hex :
       {"ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",  // n
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552",  // n+1
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632651",  // n+256
        "ffffffff00000000ffffffffffffffffbce6faadffffffffffffffffffffffff",
        "ffffffff00000001000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}) {  // 2^256-1
    CAPTURE(hex);
    const bytes32 b = to_bytes32(hex);
    auto s = scalar::from_bytes(b);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error() == errc::bad_scalar);
    uint64_t mask = 7;
    scalar ct = scalar::from_bytes_ct(b, &mask);
    CHECK(mask == 0);
    CHECK(ct.is_zero_mask() == kAllOnes);  // documented: zero on failure
  }
}

TEST_CASE("from_wide_bytes reduces 48-byte inputs mod n like BIGNUM", "[scalar]") {
  oracle o;
  std::vector<bytes48> inputs;
  bytes48 all_zero{};
  bytes48 all_ff;
  all_ff.fill(0xff);
  inputs.push_back(all_zero);
  inputs.push_back(all_ff);
  // 2^256 (hi = 1, lo = 0), 2^256 - 1 (lo alone above n), n, n + 1, n - 1
  // and 2n, each as a 48-byte big-endian value.
  bytes48 v{};
  v[15] = 1;
  inputs.push_back(v);
  v = {};
  std::fill(v.begin() + 16, v.end(), 0xff);
  inputs.push_back(v);
  for (const char* hex : {kOrderHex,
                          "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552",
                          "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550"}) {
    v = {};
    auto b = to_bytes32(hex);
    std::copy(b.begin(), b.end(), v.begin() + 16);
    inputs.push_back(v);
  }
  {
    bn_ptr two_n(BN_new());
    REQUIRE(BN_lshift1(two_n.get(), o.n.get()));
    v = {};
    REQUIRE(BN_bn2bin_padded(v.data(), v.size(), two_n.get()) == 1);
    inputs.push_back(v);
  }
  // 2^383 and 2^384 - 2^256 (hi all ones, lo zero).
  v = {};
  v[0] = 0x80;
  inputs.push_back(v);
  v = {};
  std::fill(v.begin(), v.begin() + 16, 0xff);
  inputs.push_back(v);

  chacha_random rng(0x3173u);
  for (int i = 0; i < kRandomIterations; ++i) {
    REQUIRE(rng.fill(v));
    if (i % 5 == 1) {
      std::fill(v.begin(), v.begin() + 16, 0);  // hi = 0
    } else if (i % 5 == 2) {
      std::fill(v.begin() + 16, v.begin() + 24, 0xff);  // lo near 2^256
    }
    inputs.push_back(v);
  }

  for (const auto& in : inputs) {
    CAPTURE(to_hex(in));
    scalar s = scalar::from_wide_bytes(in);
    bn_ptr w = bn_bytes(in);
    scalar expected = o.reduce(w.get());
    REQUIRE(hex_of(s) == hex_of(expected));
  }
}

TEST_CASE("add, sub, neg and mul match BIGNUM mod n", "[scalar]") {
  oracle o;
  std::vector<std::pair<scalar, scalar>> pairs;
  const auto edges = edge_values(o);
  for (const auto& a : edges) {
    for (const auto& b : edges) {
      pairs.emplace_back(a, b);
    }
  }
  chacha_random rng(0xadd5u);
  for (int i = 0; i < kRandomIterations; ++i) {
    scalar a = draw(o, rng, i);
    scalar b = draw(o, rng, i / 4);
    pairs.emplace_back(a, b);
  }
  for (const auto& [a, b] : pairs) {
    CAPTURE(hex_of(a), hex_of(b));
    bn_ptr ab = o.of(a), bb = o.of(b);
    REQUIRE(hex_of(a + b) == hex_of(o.add(ab.get(), bb.get()).get()));
    REQUIRE(hex_of(a - b) == hex_of(o.sub(ab.get(), bb.get()).get()));
    REQUIRE(hex_of(a * b) == hex_of(o.mul(ab.get(), bb.get()).get()));
    bn_ptr zero(BN_new());
    BN_zero(zero.get());
    REQUIRE(hex_of(-a) == hex_of(o.sub(zero.get(), ab.get()).get()));
    REQUIRE((a + (-a)).is_zero_mask() == kAllOnes);

    scalar c = a;
    c += b;
    CHECK(c == a + b);
    c = a;
    c -= b;
    CHECK(c == a - b);
    c = a;
    c *= b;
    CHECK(c == a * b);
  }
}

TEST_CASE("arithmetic identities on the edges", "[scalar]") {
  oracle o;
  const scalar zero = scalar::from_u64(0);
  const scalar one = scalar::from_u64(1);
  const scalar n1 = o.n_minus(1);
  CHECK(scalar() == zero);
  CHECK(n1 + one == zero);
  CHECK(zero - one == n1);
  CHECK(-one == n1);
  CHECK(-zero == zero);
  CHECK(n1 * n1 == one);  // (-1)^2
  CHECK(o.n_minus(2) + scalar::from_u64(3) == one);
  CHECK(n1 + n1 == o.n_minus(2));
}

TEST_CASE("inverse matches BN_mod_inverse; inverse(0) is 0", "[scalar]") {
  oracle o;
  const scalar one = scalar::from_u64(1);
  CHECK(scalar().inverse().is_zero_mask() == kAllOnes);
  CHECK(scalar::from_u64(0).inverse() == scalar());
  CHECK(one.inverse() == one);
  CHECK(o.n_minus(1).inverse() == o.n_minus(1));

  std::vector<scalar> values = edge_values(o);
  chacha_random rng(0x1271u);
  for (int i = 0; i < 1000; ++i) {
    values.push_back(draw(o, rng, i));
  }
  for (const auto& a : values) {
    if (a.is_zero_mask() != 0) {
      continue;
    }
    CAPTURE(hex_of(a));
    const scalar inv = a.inverse();
    REQUIRE(a * inv == one);
    bn_ptr ab = o.of(a);
    REQUIRE(hex_of(inv) == hex_of(o.inverse(ab.get()).get()));
  }
}

TEST_CASE("select, eq_mask and is_zero_mask", "[scalar]") {
  oracle o;
  chacha_random rng(0x5e1ec7u);
  const scalar zero;
  CHECK(zero.is_zero_mask() == kAllOnes);
  CHECK(scalar::from_u64(1).is_zero_mask() == 0);
  CHECK(o.n_minus(1).is_zero_mask() == 0);
  CHECK((o.n_minus(1) + scalar::from_u64(1)).is_zero_mask() == kAllOnes);
  for (int i = 0; i < 200; ++i) {
    scalar a = draw(o, rng, i);
    scalar b = draw(o, rng, i + 1);
    if (a == b) {
      b += scalar::from_u64(1);
    }
    CHECK(eq_mask(a, a) == kAllOnes);
    CHECK(eq_mask(a, scalar(a)) == kAllOnes);
    CHECK(eq_mask(a, b) == 0);
    CHECK(eq_mask(b, a) == 0);
    CHECK_FALSE(a == b);
    CHECK(scalar::select(kAllOnes, a, b) == a);
    CHECK(scalar::select(0, a, b) == b);
    CHECK(a.is_zero_mask() == (BN_is_zero(o.of(a).get()) ? kAllOnes : 0));
  }
  // Scalars that differ in a single limb, at both ends.
  const scalar one = scalar::from_u64(1);
  CHECK(eq_mask(one, scalar::from_u64(2)) == 0);
  CHECK(eq_mask(o.n_minus(1), o.n_minus(2)) == 0);
  bn_ptr big(BN_new());
  REQUIRE(BN_set_bit(big.get(), 255));
  bn_ptr big2(BN_dup(big.get()));
  REQUIRE(BN_set_bit(big2.get(), 64));
  CHECK(eq_mask(o.to_scalar(big.get()), o.to_scalar(big2.get())) == 0);
}

TEST_CASE("from_u64 matches BIGNUM", "[scalar]") {
  oracle o;
  chacha_random rng(0x64u);
  std::vector<uint64_t> values = {0, 1, 2, 255, 256, 0xffffffffull, 0x100000000ull,
                                  0x8000000000000000ull, kAllOnes - 1, kAllOnes};
  for (int i = 0; i < 500; ++i) {
    uint8_t b[8];
    REQUIRE(rng.fill(b));
    uint64_t v = 0;
    for (uint8_t x : b) {
      v = v << 8 | x;
    }
    values.push_back(v);
  }
  for (uint64_t v : values) {
    CAPTURE(v);
    bn_ptr b(BN_new());
    REQUIRE(BN_set_u64(b.get(), v));
    REQUIRE(hex_of(scalar::from_u64(v)) == hex_of(b.get()));
  }
  CHECK(scalar::from_u64(3) + scalar::from_u64(4) == scalar::from_u64(7));
  CHECK(scalar::from_u64(6) * scalar::from_u64(7) == scalar::from_u64(42));
}

TEST_CASE("to_bytes span overload writes the same encoding", "[scalar]") {
  oracle o;
  chacha_random rng(0x70b7u);
  for (int i = 0; i < 100; ++i) {
    scalar a = draw(o, rng, i);
    bytes32 out;
    out.fill(0xaa);
    a.to_bytes(std::span<uint8_t, 32>(out));
    CHECK(out == a.to_bytes());
    auto back = scalar::from_bytes(out);
    REQUIRE(back.ok());
    CHECK(*back == a);
  }
}

TEST_CASE("u64_eq_mask", "[scalar]") {
  CHECK(athm::u64_eq_mask(0, 0) == kAllOnes);
  CHECK(athm::u64_eq_mask(7, 7) == kAllOnes);
  CHECK(athm::u64_eq_mask(kAllOnes, kAllOnes) == kAllOnes);
  CHECK(athm::u64_eq_mask(0, 1) == 0);
  CHECK(athm::u64_eq_mask(1, 0) == 0);
  CHECK(athm::u64_eq_mask(0, 0x8000000000000000ull) == 0);
  CHECK(athm::u64_eq_mask(0x8000000000000000ull, 0) == 0);
  CHECK(athm::u64_eq_mask(0, kAllOnes) == 0);
  CHECK(athm::u64_eq_mask(kAllOnes, kAllOnes - 1) == 0);
  for (uint64_t i = 0; i < 300; ++i) {
    for (uint64_t j = 0; j < 300; j += 7) {
      REQUIRE(athm::u64_eq_mask(i, j) == (i == j ? kAllOnes : 0));
    }
  }
}
