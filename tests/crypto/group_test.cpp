// P-256 points: strict SEC1 compressed decoding (one case per malformation),
// encode/decode round trips, the identity, scalar multiplication consistency
// and constant-time equality across different Jacobian representations.
#include "crypto/group.h"

#include <catch2/catch.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include <array>
#include <string>
#include <vector>

#include "crypto/random.h"
#include "support/chacha_random.h"
#include "support/hex.h"

using athm::element_bytes;
using athm::errc;
using athm::point;
using athm::scalar;
using athm::testing::chacha_random;
using athm::testing::from_hex;
using athm::testing::to_hex;

namespace {

using bn_ptr = bssl::UniquePtr<BIGNUM>;
using bytes32 = std::array<uint8_t, 32>;

constexpr char kFieldPrimeHex[] =
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
// SEC1 compressed encodings of G and 2G (public constants of P-256).
constexpr char kGeneratorHex[] =
    "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
constexpr char kTwoGHex[] =
    "037cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978";

bn_ptr bn_hex(const char* hex) {
  BIGNUM* b = nullptr;
  REQUIRE(BN_hex2bn(&b, hex) != 0);
  return bn_ptr(b);
}

element_bytes with_prefix(uint8_t prefix, const BIGNUM* x) {
  element_bytes out{};
  out[0] = prefix;
  REQUIRE(BN_bn2bin_padded(out.data() + 1, 32, x) == 1);
  return out;
}

element_bytes with_prefix(uint8_t prefix, std::string_view x_hex) {
  auto x = from_hex(x_hex);
  REQUIRE(x.size() == 32);
  element_bytes out{};
  out[0] = prefix;
  std::copy(x.begin(), x.end(), out.begin() + 1);
  return out;
}

// Field context for finding x coordinates with or without a point on them.
struct field {
  bssl::UniquePtr<BN_CTX> ctx{BN_CTX_new()};
  bn_ptr p = bn_hex(kFieldPrimeHex);
  bn_ptr b{BN_new()};

  field() {
    bn_ptr a(BN_new());
    REQUIRE(EC_GROUP_get_curve_GFp(athm::p256(), nullptr, a.get(), b.get(), ctx.get()));
  }

  // Whether x^3 - 3x + b is a quadratic residue mod p (Euler's criterion).
  bool rhs_is_square(uint64_t xv) {
    bn_ptr x(BN_new()), t(BN_new()), three_x(BN_new()), e(BN_new()), r(BN_new());
    REQUIRE(BN_set_u64(x.get(), xv));
    REQUIRE(BN_mod_sqr(t.get(), x.get(), p.get(), ctx.get()));
    REQUIRE(BN_mod_mul(t.get(), t.get(), x.get(), p.get(), ctx.get()));
    REQUIRE(BN_set_u64(three_x.get(), xv));
    REQUIRE(BN_mul_word(three_x.get(), 3));
    REQUIRE(BN_mod_sub(t.get(), t.get(), three_x.get(), p.get(), ctx.get()));
    REQUIRE(BN_mod_add(t.get(), t.get(), b.get(), p.get(), ctx.get()));
    if (BN_is_zero(t.get())) {
      return true;
    }
    REQUIRE(BN_copy(e.get(), p.get()));
    REQUIRE(BN_sub_word(e.get(), 1));
    REQUIRE(BN_rshift1(e.get(), e.get()));
    REQUIRE(BN_mod_exp(r.get(), t.get(), e.get(), p.get(), ctx.get()));
    return BN_is_one(r.get());
  }

  uint64_t first_x(bool on_curve) {
    for (uint64_t x = 0; x < 1000; ++x) {
      if (rhs_is_square(x) == on_curve) {
        return x;
      }
    }
    FAIL("no small x found");
    return 0;
  }
};

scalar random_nonzero(chacha_random& rng) {
  auto s = athm::random_nonzero_scalar(rng);
  REQUIRE(s.ok());
  return *s;
}

void expect_bad_point(std::span<const uint8_t> in) {
  CAPTURE(to_hex(in));
  auto p = point::decode(in);
  REQUIRE_FALSE(p.ok());
  CHECK(p.error() == errc::bad_point);
}

}  // namespace

TEST_CASE("decode rejects each malformation", "[group]") {
  const element_bytes g = point::generator().encode();
  field f;

  SECTION("empty") { expect_bad_point({}); }
  SECTION("32 bytes (truncated)") { expect_bad_point(std::span(g).first(32)); }
  SECTION("34 bytes (trailing byte)") {
    std::vector<uint8_t> v(g.begin(), g.end());
    v.push_back(0);
    expect_bad_point(v);
  }
  SECTION("65-byte uncompressed encoding of G") {
    std::vector<uint8_t> v(65);
    REQUIRE(EC_POINT_point2oct(athm::p256(), point::generator().raw(),
                               POINT_CONVERSION_UNCOMPRESSED, v.data(), v.size(),
                               nullptr) == 65);
    expect_bad_point(v);
  }
  SECTION("prefix 0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff with G's x") {
    for (uint8_t prefix : {0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff}) {
      element_bytes e = g;
      e[0] = prefix;
      expect_bad_point(e);
    }
  }
  SECTION("33 zero bytes (the identity's encoding)") {
    element_bytes zero{};
    expect_bad_point(zero);
  }
  SECTION("x = p") {
    bn_ptr p = bn_hex(kFieldPrimeHex);
    expect_bad_point(with_prefix(0x02, p.get()));
    expect_bad_point(with_prefix(0x03, p.get()));
  }
  SECTION("x = p + k for a k that is a valid x (non-canonical alias of a point)") {
    const uint64_t k = f.first_x(true);
    CAPTURE(k);
    bn_ptr x(BN_new());
    REQUIRE(BN_set_u64(x.get(), k));
    REQUIRE(point::decode(with_prefix(0x02, x.get())).ok());  // the canonical one decodes
    bn_ptr alias = bn_hex(kFieldPrimeHex);
    REQUIRE(BN_add_word(alias.get(), k));
    REQUIRE(BN_num_bytes(alias.get()) == 32);
    expect_bad_point(with_prefix(0x02, alias.get()));
    expect_bad_point(with_prefix(0x03, alias.get()));
  }
  SECTION("x = p + 1 and x = 2^256 - 1") {
    bn_ptr x = bn_hex(kFieldPrimeHex);
    REQUIRE(BN_add_word(x.get(), 1));
    expect_bad_point(with_prefix(0x02, x.get()));
    expect_bad_point(with_prefix(0x02, std::string(64, 'f')));
    expect_bad_point(with_prefix(0x03, std::string(64, 'f')));
  }
  SECTION("x not on the curve (x^3 - 3x + b is a non-residue)") {
    const uint64_t k = f.first_x(false);
    CAPTURE(k);
    bn_ptr x(BN_new());
    REQUIRE(BN_set_u64(x.get(), k));
    expect_bad_point(with_prefix(0x02, x.get()));
    expect_bad_point(with_prefix(0x03, x.get()));
  }
  SECTION("several off-curve x values") {
    int found = 0;
    for (uint64_t k = 0; k < 200 && found < 20; ++k) {
      if (!f.rhs_is_square(k)) {
        bn_ptr x(BN_new());
        REQUIRE(BN_set_u64(x.get(), k));
        expect_bad_point(with_prefix(0x02, x.get()));
        ++found;
      }
    }
    CHECK(found == 20);
  }
}

TEST_CASE("decode agrees with BoringSSL's EC_POINT_oct2point", "[group]") {
  // Random x (about half on the curve), x just below p and small x, with both
  // prefixes: the same accept/reject decision and the same point.
  chacha_random rng(0x0c7u);
  bn_ptr p = bn_hex(kFieldPrimeHex);
  std::vector<element_bytes> cases;
  for (int i = 0; i < 1500; ++i) {
    element_bytes e;
    REQUIRE(rng.fill(e));
    e[0] = 0x02 | (e[0] & 1);
    cases.push_back(e);
  }
  for (uint64_t k = 1; k <= 64; ++k) {
    bn_ptr below(BN_dup(p.get()));
    REQUIRE(BN_sub_word(below.get(), k));
    bn_ptr small(BN_new());
    REQUIRE(BN_set_u64(small.get(), k - 1));
    for (uint8_t prefix : {0x02, 0x03}) {
      cases.push_back(with_prefix(prefix, below.get()));
      cases.push_back(with_prefix(prefix, small.get()));
    }
  }
  int accepted = 0;
  for (const auto& e : cases) {
    CAPTURE(to_hex(e));
    bssl::UniquePtr<EC_POINT> ref(EC_POINT_new(athm::p256()));
    REQUIRE(ref);
    const bool ref_ok =
        EC_POINT_oct2point(athm::p256(), ref.get(), e.data(), e.size(), nullptr) == 1;
    ERR_clear_error();
    auto ours = point::decode(e);
    REQUIRE(ours.ok() == ref_ok);
    if (ref_ok) {
      ++accepted;
      REQUIRE(EC_POINT_cmp(athm::p256(), ours->raw(), ref.get(), nullptr) == 0);
      REQUIRE(ours->encode() == e);
    } else {
      CHECK(ours.error() == errc::bad_point);
    }
  }
  // Roughly half of the x values are on the curve.
  CHECK(accepted > 600);
  CHECK(accepted < static_cast<int>(cases.size()) - 600);
}

TEST_CASE("decode accepts on-curve small x with both prefixes; they are negatives", "[group]") {
  field f;
  const uint64_t k = f.first_x(true);
  bn_ptr x(BN_new());
  REQUIRE(BN_set_u64(x.get(), k));
  auto even = point::decode(with_prefix(0x02, x.get()));
  auto odd = point::decode(with_prefix(0x03, x.get()));
  REQUIRE(even.ok());
  REQUIRE(odd.ok());
  CHECK(*even == -*odd);
  CHECK_FALSE(*even == *odd);
  CHECK((*even + *odd).is_identity());
  CHECK(even->encode() == with_prefix(0x02, x.get()));
}

TEST_CASE("known encodings of G, 2G, -G", "[group]") {
  CHECK(to_hex(point::generator().encode()) == kGeneratorHex);
  CHECK(to_hex(point::mul_base_ct(scalar::from_u64(1)).encode()) == kGeneratorHex);
  CHECK(to_hex(point::mul_base_ct(scalar::from_u64(2)).encode()) == kTwoGHex);
  CHECK(to_hex((point::generator() + point::generator()).encode()) == kTwoGHex);
  // -G has the same x and the other parity.
  std::string neg = kGeneratorHex;
  neg[1] = '2';
  CHECK(to_hex((-point::generator()).encode()) == neg);
  CHECK(to_hex(point::mul_base_ct(-scalar::from_u64(1)).encode()) == neg);
  auto g = point::decode(from_hex(kGeneratorHex));
  REQUIRE(g.ok());
  CHECK(*g == point::generator());
}

TEST_CASE("the identity", "[group]") {
  const point id;
  CHECK(id.is_identity());
  const element_bytes zero{};
  CHECK(id.encode() == zero);
  CHECK((point::generator() - point::generator()).is_identity());
  CHECK((point::generator() - point::generator()).encode() == zero);
  CHECK(point::mul_base_ct(scalar()).is_identity());
  CHECK(point::generator().mul_ct(scalar()).is_identity());
  CHECK(point::generator().mul2_ct(scalar(), scalar()).is_identity());
  CHECK(id.mul_ct(scalar::from_u64(5)).is_identity());
  CHECK((id + point::generator()) == point::generator());
  CHECK(eq_mask(id, point()) == ~uint64_t{0});
  CHECK(eq_mask(id, point::generator()) == 0);
  CHECK_FALSE(point::generator().is_identity());
}

TEST_CASE("encode/decode round trip of random multiples of G", "[group]") {
  chacha_random rng(0x6e0u);
  for (int i = 0; i < 200; ++i) {
    const scalar k = random_nonzero(rng);
    const point p = point::mul_base_ct(k);
    const element_bytes e = p.encode();
    CAPTURE(to_hex(e));
    REQUIRE((e[0] == 0x02 || e[0] == 0x03));
    auto d = point::decode(e);
    REQUIRE(d.ok());
    CHECK(*d == p);
    CHECK(d->encode() == e);
    // The other prefix decodes to -p.
    element_bytes flipped = e;
    flipped[0] ^= 0x01;
    auto n = point::decode(flipped);
    REQUIRE(n.ok());
    CHECK(*n == -p);
  }
}

TEST_CASE("from_affine_public builds on-curve points and rejects others", "[group]") {
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  bn_ptr x(BN_new()), y(BN_new());
  REQUIRE(EC_POINT_get_affine_coordinates_GFp(athm::p256(), point::generator().raw(), x.get(),
                                              y.get(), ctx.get()));
  bytes32 xb, yb;
  REQUIRE(BN_bn2bin_padded(xb.data(), 32, x.get()));
  REQUIRE(BN_bn2bin_padded(yb.data(), 32, y.get()));
  auto g = point::from_affine_public(xb, yb);
  REQUIRE(g.ok());
  CHECK(*g == point::generator());
  yb[31] ^= 1;
  auto bad = point::from_affine_public(xb, yb);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == errc::bad_point);
}

TEST_CASE("mul_ct, mul_base_ct and mul2_ct agree", "[group]") {
  chacha_random rng(0x311u);
  for (int i = 0; i < 40; ++i) {
    const scalar a = random_nonzero(rng);
    const scalar b = random_nonzero(rng);
    const scalar g = random_nonzero(rng);
    const point p = point::mul_base_ct(a);  // P = a*G
    // k*G through the variable-base path equals the base multiplication.
    CHECK(point::generator().mul_ct(b) == point::mul_base_ct(b));
    // b*(a*G) = (a*b)*G
    CHECK(p.mul_ct(b) == point::mul_base_ct(a * b));
    // mul2(g, k) = g*G + k*P = (g + k*a)*G
    const point m2 = p.mul2_ct(g, b);
    CHECK(m2 == point::mul_base_ct(g) + p.mul_ct(b));
    CHECK(m2 == point::mul_base_ct(g + b * a));
    // Degenerate halves.
    CHECK(p.mul2_ct(g, scalar()) == point::mul_base_ct(g));
    CHECK(p.mul2_ct(scalar(), b) == p.mul_ct(b));
    // Group law.
    CHECK(p - p.mul_ct(b) == point::mul_base_ct(a - a * b));
    CHECK(-p == point::mul_base_ct(-a));
  }
  // Scalars at the top of the range: (n-1)*P = -P.
  const scalar n_minus_1 = -scalar::from_u64(1);
  const point p = point::mul_base_ct(random_nonzero(rng));
  CHECK(p.mul_ct(n_minus_1) == -p);
  CHECK(point::mul_base_ct(n_minus_1) == -point::generator());
  CHECK(p.mul2_ct(n_minus_1, n_minus_1) == -(p + point::generator()));
}

TEST_CASE("eq_mask across representations", "[group]") {
  chacha_random rng(0xe9u);
  constexpr uint64_t kAllOnes = ~uint64_t{0};
  for (int i = 0; i < 30; ++i) {
    const scalar a = random_nonzero(rng);
    const scalar b = random_nonzero(rng);
    // The same point by different paths: one multiplication, a sum of two
    // multiples, a doubling chain and a decode (affine, Z = 1).
    const point direct = point::mul_base_ct(a + b);
    const point sum = point::mul_base_ct(a) + point::mul_base_ct(b);
    const point via_mul2 = point::mul_base_ct(a).mul2_ct(b, scalar::from_u64(1));
    auto decoded = point::decode(direct.encode());
    REQUIRE(decoded.ok());
    CHECK(eq_mask(direct, sum) == kAllOnes);
    CHECK(eq_mask(sum, via_mul2) == kAllOnes);
    CHECK(eq_mask(*decoded, sum) == kAllOnes);
    CHECK(eq_mask(sum, *decoded) == kAllOnes);
    CHECK(direct == sum);
    // Unequal: the negation, the double, a neighbour.
    CHECK(eq_mask(sum, -sum) == 0);
    CHECK(eq_mask(sum, sum + sum) == 0);
    CHECK(eq_mask(sum, sum + point::generator()) == 0);
    CHECK(eq_mask(sum, point()) == 0);
    CHECK_FALSE(sum == -sum);
  }
  // P + Q - Q == P with P and Q unrelated.
  const point p = point::mul_base_ct(random_nonzero(rng));
  const point q = point::mul_base_ct(random_nonzero(rng));
  CHECK(eq_mask((p + q) - q, p) == kAllOnes);
}

TEST_CASE("copies and moves keep the value", "[group]") {
  chacha_random rng(0xc0u);
  const point p = point::mul_base_ct(random_nonzero(rng));
  point c(p);
  CHECK(c == p);
  point m(std::move(c));
  CHECK(m == p);
  point a;
  a = p;
  CHECK(a == p);
  point b;
  b = std::move(a);
  CHECK(b == p);
  const point& alias = b;
  b = alias;  // self-assignment
  CHECK(b == p);
}
