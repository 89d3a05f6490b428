// Scalars modulo the P-256 group order n, in constant time.
//
// Every operation here runs in time independent of the values involved: no
// BIGNUM, no data-dependent branches, no data-dependent memory indexes. The
// representation is four 64-bit limbs in Montgomery form (x * 2^256 mod n).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "crypto/result.h"

namespace athm {

class scalar {
 public:
  // Zero.
  scalar() noexcept : m_{0, 0, 0, 0} {}
  scalar(const scalar&) noexcept = default;
  scalar& operator=(const scalar&) noexcept = default;
  // Wipes the limbs.
  ~scalar();

  // Small public integer (bucket indexes, counters).
  static scalar from_u64(uint64_t v) noexcept;

  // Decodes 32 big-endian bytes. Fails with errc::bad_scalar if the value is
  // >= n. Constant time in the value; only the success bit is revealed.
  static result<scalar> from_bytes(std::span<const uint8_t, 32> in) noexcept;

  // Like from_bytes, but instead of failing returns the value together with
  // an all-ones |*ok_mask| if it was < n, else zero and a zero mask.
  static scalar from_bytes_ct(std::span<const uint8_t, 32> in, uint64_t* ok_mask) noexcept;

  // Reduces a 48-byte big-endian integer mod n (RFC 9380 hash_to_field, L=48).
  static scalar from_wide_bytes(std::span<const uint8_t, 48> in) noexcept;

  // Writes the canonical 32-byte big-endian encoding.
  void to_bytes(std::span<uint8_t, 32> out) const noexcept;
  std::array<uint8_t, 32> to_bytes() const noexcept;

  friend scalar operator+(const scalar& a, const scalar& b) noexcept;
  friend scalar operator-(const scalar& a, const scalar& b) noexcept;
  friend scalar operator*(const scalar& a, const scalar& b) noexcept;
  scalar operator-() const noexcept;
  scalar& operator+=(const scalar& b) noexcept { return *this = *this + b; }
  scalar& operator-=(const scalar& b) noexcept { return *this = *this - b; }
  scalar& operator*=(const scalar& b) noexcept { return *this = *this * b; }

  // a^(n-2) by a fixed addition chain: the inverse for a != 0, zero for zero.
  scalar inverse() const noexcept;

  // All-ones if zero, else all-zeros.
  uint64_t is_zero_mask() const noexcept;
  // All-ones if a == b, else all-zeros.
  friend uint64_t eq_mask(const scalar& a, const scalar& b) noexcept;
  // Returns mask ? a : b for mask all-ones or all-zeros.
  static scalar select(uint64_t mask, const scalar& a, const scalar& b) noexcept;

  // WARNING: leaks whether the values are equal through the return value only;
  // use in tests and on public data.
  friend bool operator==(const scalar& a, const scalar& b) noexcept {
    return eq_mask(a, b) != 0;
  }

 private:
  uint64_t m_[4];  // Montgomery form, always fully reduced (< n).
};

// All-ones if a == b (public small integers compared without branching).
inline uint64_t u64_eq_mask(uint64_t a, uint64_t b) noexcept {
  uint64_t x = a ^ b;
  // (x | -x) has its top bit set iff x != 0.
  return ((x | (0 - x)) >> 63) - 1;
}

}  // namespace athm
