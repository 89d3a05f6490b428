#include "crypto/mont.h"

#include "crypto/secret.h"

namespace athm::mont {
namespace {

using u128 = unsigned __int128;

inline uint64_t adc(uint64_t a, uint64_t b, uint64_t* carry) {
  u128 t = u128{a} + b + *carry;
  *carry = static_cast<uint64_t>(t >> 64);
  return static_cast<uint64_t>(t);
}

inline uint64_t sbb(uint64_t a, uint64_t b, uint64_t* borrow) {
  u128 t = u128{a} - b - *borrow;
  *borrow = static_cast<uint64_t>(t >> 64) & 1;
  return static_cast<uint64_t>(t);
}

}  // namespace

void select(uint64_t r[4], uint64_t mask, const uint64_t a[4], const uint64_t b[4]) {
  for (int i = 0; i < 4; ++i) {
    r[i] = (a[i] & mask) | (b[i] & ~mask);
  }
}

void reduce_once(uint64_t r[4], const uint64_t t[4], uint64_t hi, const modulus& m) {
  uint64_t s[4];
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    s[i] = sbb(t[i], m.m[i], &borrow);
  }
  // Keep t when the subtraction borrowed and there was no carry-out.
  uint64_t keep_t = 0 - (borrow & (hi ^ 1));
  select(r, keep_t, t, s);
}

uint64_t less_than_mask(const uint64_t v[4], const modulus& m) {
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    (void)sbb(v[i], m.m[i], &borrow);
  }
  return 0 - borrow;
}

// CIOS Montgomery multiplication.
void mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m) {
  uint64_t t[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) {
    uint64_t c = 0;
    for (int j = 0; j < 4; ++j) {
      u128 p = u128{a[j]} * b[i] + t[j] + c;
      t[j] = static_cast<uint64_t>(p);
      c = static_cast<uint64_t>(p >> 64);
    }
    u128 s = u128{t[4]} + c;
    t[4] = static_cast<uint64_t>(s);
    t[5] = static_cast<uint64_t>(s >> 64);

    uint64_t q = t[0] * m.n0;
    u128 p = u128{q} * m.m[0] + t[0];
    c = static_cast<uint64_t>(p >> 64);
    for (int j = 1; j < 4; ++j) {
      p = u128{q} * m.m[j] + t[j] + c;
      t[j - 1] = static_cast<uint64_t>(p);
      c = static_cast<uint64_t>(p >> 64);
    }
    s = u128{t[4]} + c;
    t[3] = static_cast<uint64_t>(s);
    t[4] = t[5] + static_cast<uint64_t>(s >> 64);
  }
  reduce_once(r, t, t[4], m);
  secure_wipe(t, sizeof(t));
}

void add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m) {
  uint64_t t[4];
  uint64_t carry = 0;
  for (int i = 0; i < 4; ++i) {
    t[i] = adc(a[i], b[i], &carry);
  }
  reduce_once(r, t, carry, m);
  secure_wipe(t, sizeof(t));
}

void sub(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const modulus& m) {
  uint64_t t[4];
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    t[i] = sbb(a[i], b[i], &borrow);
  }
  // Add m back when the subtraction borrowed.
  uint64_t mask = 0 - borrow;
  uint64_t carry = 0;
  for (int i = 0; i < 4; ++i) {
    r[i] = adc(t[i], m.m[i] & mask, &carry);
  }
  secure_wipe(t, sizeof(t));
}

void load_be(uint64_t out[4], const uint8_t in[32]) {
  for (int i = 0; i < 4; ++i) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) {
      v = (v << 8) | in[(3 - i) * 8 + j];
    }
    out[i] = v;
  }
}

void store_be(uint8_t out[32], const uint64_t v[4]) {
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) {
      out[(3 - i) * 8 + j] = static_cast<uint8_t>(v[i] >> (56 - 8 * j));
    }
  }
}

}  // namespace athm::mont
