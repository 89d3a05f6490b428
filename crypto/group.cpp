#include "crypto/group.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/nid.h>

#include <cstring>
#include <utility>

#include "crypto/field.h"
#include "crypto/secret.h"

namespace athm {
namespace {

// p, big-endian: decoding rejects x >= p.
constexpr uint8_t kFieldPrime[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// A BIGNUM holding a scalar for the duration of one EC_POINT_mul; cleared
// when it goes out of scope. BN_bin2bn gives it a fixed width of four words
// for 32-byte input.
class scalar_bn {
 public:
  explicit scalar_bn(const scalar& s) {
    auto bytes = s.to_bytes();
    bn_ = BN_bin2bn(bytes.data(), bytes.size(), nullptr);
    secure_wipe(bytes.data(), bytes.size());
  }
  ~scalar_bn() { BN_clear_free(bn_); }
  scalar_bn(const scalar_bn&) = delete;
  scalar_bn& operator=(const scalar_bn&) = delete;
  const BIGNUM* get() const { return bn_; }
  bool ok() const { return bn_ != nullptr; }

 private:
  BIGNUM* bn_;
};

[[noreturn]] void out_of_memory() {
  // EC_POINT allocation or arithmetic on valid points only fails when memory
  // is exhausted; there is no meaningful recovery inside an expression.
  std::abort();
}

EC_POINT* new_point() {
  EC_POINT* p = EC_POINT_new(p256());
  if (p == nullptr) {
    out_of_memory();
  }
  return p;
}

}  // namespace

const ec_group_st* p256() noexcept {
  static const EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return group;
}

point::point() : p_(new_point()) {}

point::point(const point& o) : p_(new_point()) {
  if (!EC_POINT_copy(p_, o.p_)) {
    out_of_memory();
  }
}

point& point::operator=(const point& o) {
  if (this != &o && !EC_POINT_copy(p_, o.p_)) {
    out_of_memory();
  }
  return *this;
}

point::point(point&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}

point& point::operator=(point&& o) noexcept {
  std::swap(p_, o.p_);
  return *this;
}

point::~point() {
  if (p_ != nullptr) {
    EC_POINT_clear_free(p_);
  }
}

const point& point::generator() {
  static const point g = [] {
    point p;
    EC_POINT_copy(p.p_, EC_GROUP_get0_generator(p256()));
    return p;
  }();
  return g;
}

result<point> point::decode(std::span<const uint8_t> in) noexcept {
  if (in.size() != kElementSize) {
    return errc::bad_point;
  }
  if (in[0] != 0x02 && in[0] != 0x03) {
    return errc::bad_point;  // also rejects the all-zero string
  }
  if (std::memcmp(in.data() + 1, kFieldPrime, 32) >= 0) {
    return errc::bad_point;  // x >= p is not canonical
  }
  // Decompress with the fixed-width field code (BoringSSL's generic BN_mod_sqrt
  // is several times slower); BoringSSL checks the result is on the curve again.
  const auto x = in.subspan<1, 32>();
  const auto y = field::decompress_y_public(x, in[0] == 0x03);
  if (!y) {
    return errc::bad_point;  // x^3 - 3x + b has no square root: off the curve
  }
  auto p = from_affine_public(x, *y);
  if (!p || p->is_identity()) {
    return errc::bad_point;
  }
  return p;
}

element_bytes point::encode() const noexcept {
  element_bytes out{};
  if (EC_POINT_is_at_infinity(p256(), p_)) {
    return out;
  }
  if (EC_POINT_point2oct(p256(), p_, POINT_CONVERSION_COMPRESSED, out.data(), out.size(),
                         nullptr) != out.size()) {
    out_of_memory();
  }
  return out;
}

result<point> point::from_affine_public(std::span<const uint8_t, 32> x,
                                        std::span<const uint8_t, 32> y) noexcept {
  bssl::UniquePtr<BIGNUM> bx(BN_bin2bn(x.data(), x.size(), nullptr));
  bssl::UniquePtr<BIGNUM> by(BN_bin2bn(y.data(), y.size(), nullptr));
  if (!bx || !by) {
    return errc::internal;
  }
  point p;
  if (!EC_POINT_set_affine_coordinates_GFp(p256(), p.p_, bx.get(), by.get(), nullptr)) {
    ERR_clear_error();
    return errc::bad_point;
  }
  return p;
}

bool point::is_identity() const noexcept { return EC_POINT_is_at_infinity(p256(), p_) == 1; }

point operator+(const point& a, const point& b) noexcept {
  point r;
  if (!EC_POINT_add(p256(), r.p_, a.p_, b.p_, nullptr)) {
    out_of_memory();
  }
  return r;
}

point point::operator-() const noexcept {
  point r(*this);
  if (!EC_POINT_invert(p256(), r.p_, nullptr)) {
    out_of_memory();
  }
  return r;
}

point operator-(const point& a, const point& b) noexcept { return a + (-b); }

point point::mul_ct(const scalar& k) const noexcept {
  scalar_bn kb(k);
  point r;
  if (!kb.ok() || !EC_POINT_mul(p256(), r.p_, nullptr, p_, kb.get(), nullptr)) {
    out_of_memory();
  }
  return r;
}

point point::mul_base_ct(const scalar& k) noexcept {
  scalar_bn kb(k);
  point r;
  if (!kb.ok() || !EC_POINT_mul(p256(), r.p_, kb.get(), nullptr, nullptr, nullptr)) {
    out_of_memory();
  }
  return r;
}

point point::mul2_ct(const scalar& g, const scalar& k) const noexcept {
  scalar_bn gb(g);
  scalar_bn kb(k);
  point r;
  if (!gb.ok() || !kb.ok() || !EC_POINT_mul(p256(), r.p_, gb.get(), p_, kb.get(), nullptr)) {
    out_of_memory();
  }
  return r;
}

uint64_t eq_mask(const point& a, const point& b) noexcept {
  int c = EC_POINT_cmp(p256(), a.p_, b.p_, nullptr);
  return u64_eq_mask(static_cast<uint64_t>(static_cast<unsigned>(c)), 0);
}

}  // namespace athm
