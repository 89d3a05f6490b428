// Four-limb Montgomery arithmetic modulo a 256-bit odd modulus, shared by
// the scalar type (mod the group order n) and point decompression (mod p).
// Constant time: no branches or memory indexes depend on the operands.
#pragma once

#include <cstdint>

namespace athm::mont {

struct modulus {
  uint64_t m[4];   // little-endian limbs
  uint64_t n0;     // -m^-1 mod 2^64
  uint64_t rr[4];  // 2^512 mod m
};

// r = a * b / 2^256 mod m, for a, b < m. r may alias a or b.
void mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m);
// r = (a + b) mod m, for a, b < m.
void add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m);
// r = (a - b) mod m, for a, b < m.
void sub(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m);
// r = (t + 2^256 * hi) mod m, for an input below 2m.
void reduce_once(uint64_t r[4], const uint64_t t[4], uint64_t hi, const modulus& m);
// r = v < m ? all-ones : 0
uint64_t less_than_mask(const uint64_t v[4], const modulus& m);
// r = mask ? a : b
void select(uint64_t r[4], uint64_t mask, const uint64_t a[4], const uint64_t b[4]);
// 32 big-endian bytes <-> limbs.
void load_be(uint64_t out[4], const uint8_t in[32]);
void store_be(uint8_t out[32], const uint64_t v[4]);

}  // namespace athm::mont
