// P-256 group elements over BoringSSL. Internal to crypto/ and its tests:
// the public API (athm.h, privacypass.h) deals only in bytes and project types.
//
// Timing: mul_ct / mul2_ct / mul_base_ct use BoringSSL's constant-time
// EC_POINT_mul and may take secret scalars. Functions named _public are
// variable-time or branch on their inputs and must see public data only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "crypto/result.h"
#include "crypto/scalar.h"

struct ec_point_st;
struct ec_group_st;

namespace athm {

inline constexpr size_t kElementSize = 33;
using element_bytes = std::array<uint8_t, kElementSize>;

// The P-256 EC_GROUP (static in BoringSSL; never freed).
const ec_group_st* p256() noexcept;

// A P-256 point (may be the identity as an intermediate value; decode() never
// produces the identity). Copyable; moves are cheap.
class point {
 public:
  point();  // the identity
  point(const point& o);
  point& operator=(const point& o);
  point(point&&) noexcept;
  point& operator=(point&&) noexcept;
  ~point();

  static const point& generator();

  // SEC1 compressed decoding with full validation: 33 bytes, prefix 02/03,
  // x < p, x on the curve, not the identity. Inputs are public.
  static result<point> decode(std::span<const uint8_t> in) noexcept;
  // SEC1 compressed encoding. The identity encodes as 33 zero bytes (never
  // produced on the wire: every encoder's caller has excluded it).
  element_bytes encode() const noexcept;

  // Builds a point from affine coordinates (big-endian, 32 bytes each);
  // fails unless on the curve. For hash-to-curve.
  static result<point> from_affine_public(std::span<const uint8_t, 32> x,
                                          std::span<const uint8_t, 32> y) noexcept;

  bool is_identity() const noexcept;

  // Group law. Constant time for points in general position (BoringSSL).
  friend point operator+(const point& a, const point& b) noexcept;
  friend point operator-(const point& a, const point& b) noexcept;
  point operator-() const noexcept;

  // k * this. Constant time in k (and in this).
  point mul_ct(const scalar& k) const noexcept;
  // k * G. Constant time in k.
  static point mul_base_ct(const scalar& k) noexcept;
  // g * G + k * this. Constant time in g and k.
  point mul2_ct(const scalar& g, const scalar& k) const noexcept;

  // Constant-time equality (BoringSSL compares Jacobian coordinates without
  // branching on them).
  friend uint64_t eq_mask(const point& a, const point& b) noexcept;
  friend bool operator==(const point& a, const point& b) noexcept {
    return eq_mask(a, b) != 0;
  }

  ec_point_st* raw() noexcept { return p_; }
  const ec_point_st* raw() const noexcept { return p_; }

 private:
  ec_point_st* p_;
};

}  // namespace athm
