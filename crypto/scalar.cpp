#include "crypto/scalar.h"

#include "crypto/secret.h"

namespace athm {
namespace {

using u128 = unsigned __int128;

// n, the P-256 group order, little-endian limbs.
constexpr uint64_t kN[4] = {0xf3b9cac2fc632551ull, 0xbce6faada7179e84ull,
                            0xffffffffffffffffull, 0xffffffff00000000ull};
// -n^-1 mod 2^64
constexpr uint64_t kN0 = 0xccd1c8aaee00bc4full;
// R^2 mod n, R = 2^256
constexpr uint64_t kRR[4] = {0x83244c95be79eea2ull, 0x4699799c49bd6fa6ull,
                             0x2845b2392b6bec59ull, 0x66e12d94f3d95620ull};

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

// r = mask ? a : b
inline void select4(uint64_t r[4], uint64_t mask, const uint64_t a[4], const uint64_t b[4]) {
  for (int i = 0; i < 4; ++i) {
    r[i] = (a[i] & mask) | (b[i] & ~mask);
  }
}

// r = (t[0..3] + 2^256 * hi) mod n, for an input < 2n.
inline void reduce_once(uint64_t r[4], const uint64_t t[4], uint64_t hi) {
  uint64_t s[4];
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    s[i] = sbb(t[i], kN[i], &borrow);
  }
  // Keep t when the subtraction borrowed and there was no carry-out.
  uint64_t keep_t = 0 - (borrow & (hi ^ 1));
  select4(r, keep_t, t, s);
}

// Montgomery product: r = a * b / 2^256 mod n, for a, b < n (CIOS).
void mont_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4]) {
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

    uint64_t m = t[0] * kN0;
    u128 p = u128{m} * kN[0] + t[0];
    c = static_cast<uint64_t>(p >> 64);
    for (int j = 1; j < 4; ++j) {
      p = u128{m} * kN[j] + t[j] + c;
      t[j - 1] = static_cast<uint64_t>(p);
      c = static_cast<uint64_t>(p >> 64);
    }
    s = u128{t[4]} + c;
    t[3] = static_cast<uint64_t>(s);
    t[4] = t[5] + static_cast<uint64_t>(s >> 64);
  }
  reduce_once(r, t, t[4]);
  secure_wipe(t, sizeof(t));
}

void load_be(uint64_t out[4], const uint8_t* in) {
  for (int i = 0; i < 4; ++i) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) {
      v = (v << 8) | in[(3 - i) * 8 + j];
    }
    out[i] = v;
  }
}

}  // namespace

scalar::~scalar() { secure_wipe(m_, sizeof(m_)); }

scalar scalar::from_u64(uint64_t v) noexcept {
  const uint64_t plain[4] = {v, 0, 0, 0};
  scalar s;
  mont_mul(s.m_, plain, kRR);  // v < n always
  return s;
}

scalar scalar::from_bytes_ct(std::span<const uint8_t, 32> in, uint64_t* ok_mask) noexcept {
  uint64_t v[4];
  load_be(v, in.data());
  uint64_t borrow = 0;
  uint64_t tmp[4];
  for (int i = 0; i < 4; ++i) {
    tmp[i] = sbb(v[i], kN[i], &borrow);
  }
  uint64_t ok = 0 - borrow;  // v < n iff v - n borrows
  const uint64_t zero[4] = {0, 0, 0, 0};
  select4(v, ok, v, zero);
  scalar s;
  mont_mul(s.m_, v, kRR);
  secure_wipe(v, sizeof(v));
  secure_wipe(tmp, sizeof(tmp));
  *ok_mask = ok;
  return s;
}

result<scalar> scalar::from_bytes(std::span<const uint8_t, 32> in) noexcept {
  uint64_t ok = 0;
  scalar s = from_bytes_ct(in, &ok);
  if (ok == 0) {
    return errc::bad_scalar;
  }
  return s;
}

scalar scalar::from_wide_bytes(std::span<const uint8_t, 48> in) noexcept {
  // value = hi * 2^256 + lo, hi < 2^128, lo < 2^256 < 2n.
  uint64_t hi[4] = {0, 0, 0, 0};
  for (int j = 0; j < 16; ++j) {
    int limb = 1 - j / 8;
    hi[limb] = (hi[limb] << 8) | in[j];
  }
  uint64_t lo[4];
  load_be(lo, in.data() + 16);
  reduce_once(lo, lo, 0);
  scalar mh, mh2, ml;
  mont_mul(mh.m_, hi, kRR);       // hi * R
  mont_mul(mh2.m_, mh.m_, kRR);   // hi * R^2 = mont(hi * 2^256)
  mont_mul(ml.m_, lo, kRR);       // lo * R
  secure_wipe(hi, sizeof(hi));
  secure_wipe(lo, sizeof(lo));
  return ml + mh2;
}

void scalar::to_bytes(std::span<uint8_t, 32> out) const noexcept {
  const uint64_t one[4] = {1, 0, 0, 0};
  uint64_t v[4];
  mont_mul(v, m_, one);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) {
      out[(3 - i) * 8 + j] = static_cast<uint8_t>(v[i] >> (56 - 8 * j));
    }
  }
  secure_wipe(v, sizeof(v));
}

std::array<uint8_t, 32> scalar::to_bytes() const noexcept {
  std::array<uint8_t, 32> out;
  to_bytes(std::span<uint8_t, 32>(out));
  return out;
}

scalar operator+(const scalar& a, const scalar& b) noexcept {
  uint64_t t[4];
  uint64_t carry = 0;
  for (int i = 0; i < 4; ++i) {
    t[i] = adc(a.m_[i], b.m_[i], &carry);
  }
  scalar r;
  reduce_once(r.m_, t, carry);
  secure_wipe(t, sizeof(t));
  return r;
}

scalar operator-(const scalar& a, const scalar& b) noexcept {
  uint64_t t[4];
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    t[i] = sbb(a.m_[i], b.m_[i], &borrow);
  }
  // Add n back when the subtraction borrowed.
  uint64_t mask = 0 - borrow;
  uint64_t carry = 0;
  scalar r;
  for (int i = 0; i < 4; ++i) {
    r.m_[i] = adc(t[i], kN[i] & mask, &carry);
  }
  secure_wipe(t, sizeof(t));
  return r;
}

scalar scalar::operator-() const noexcept { return scalar() - *this; }

scalar operator*(const scalar& a, const scalar& b) noexcept {
  scalar r;
  mont_mul(r.m_, a.m_, b.m_);
  return r;
}

scalar scalar::inverse() const noexcept {
  // a^(n-2), n-2 = ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc63254f.
  // Fixed 4-bit windows over a public exponent: the sequence of operations
  // never depends on a.
  static constexpr uint8_t kExp[32] = {
      0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
      0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x4f};
  scalar table[16];
  table[0] = from_u64(1);
  for (int i = 1; i < 16; ++i) {
    table[i] = table[i - 1] * *this;
  }
  scalar acc = table[0];
  for (int i = 0; i < 32; ++i) {
    for (int nib = 0; nib < 2; ++nib) {
      for (int k = 0; k < 4; ++k) {
        acc = acc * acc;
      }
      uint8_t w = nib == 0 ? (kExp[i] >> 4) : (kExp[i] & 0x0f);
      acc = acc * table[w];  // w comes from the public exponent
    }
  }
  return acc;
}

uint64_t scalar::is_zero_mask() const noexcept {
  uint64_t x = m_[0] | m_[1] | m_[2] | m_[3];
  return ((x | (0 - x)) >> 63) - 1;
}

uint64_t eq_mask(const scalar& a, const scalar& b) noexcept {
  uint64_t x = 0;
  for (int i = 0; i < 4; ++i) {
    x |= a.m_[i] ^ b.m_[i];
  }
  return ((x | (0 - x)) >> 63) - 1;
}

scalar scalar::select(uint64_t mask, const scalar& a, const scalar& b) noexcept {
  scalar r;
  select4(r.m_, mask, a.m_, b.m_);
  return r;
}

}  // namespace athm
