#include "crypto/scalar.h"

#include "crypto/mont.h"
#include "crypto/secret.h"

namespace athm {
namespace {

// n, the P-256 group order.
constexpr mont::modulus kOrder = {
    {0xf3b9cac2fc632551ull, 0xbce6faada7179e84ull, 0xffffffffffffffffull, 0xffffffff00000000ull},
    0xccd1c8aaee00bc4full,
    {0x83244c95be79eea2ull, 0x4699799c49bd6fa6ull, 0x2845b2392b6bec59ull, 0x66e12d94f3d95620ull}};

}  // namespace

scalar::~scalar() { secure_wipe(m_, sizeof(m_)); }

scalar scalar::from_u64(uint64_t v) noexcept {
  const uint64_t plain[4] = {v, 0, 0, 0};
  scalar s;
  mont::mul(s.m_, plain, kOrder.rr, kOrder);  // v < n always
  return s;
}

scalar scalar::from_bytes_ct(std::span<const uint8_t, 32> in, uint64_t* ok_mask) noexcept {
  uint64_t v[4];
  mont::load_be(v, in.data());
  const uint64_t ok = mont::less_than_mask(v, kOrder);
  const uint64_t zero[4] = {0, 0, 0, 0};
  mont::select(v, ok, v, zero);
  scalar s;
  mont::mul(s.m_, v, kOrder.rr, kOrder);
  secure_wipe(v, sizeof(v));
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
  mont::load_be(lo, in.data() + 16);
  mont::reduce_once(lo, lo, 0, kOrder);
  scalar mh, mh2, ml;
  mont::mul(mh.m_, hi, kOrder.rr, kOrder);      // hi * R
  mont::mul(mh2.m_, mh.m_, kOrder.rr, kOrder);  // hi * R^2 = mont(hi * 2^256)
  mont::mul(ml.m_, lo, kOrder.rr, kOrder);      // lo * R
  secure_wipe(hi, sizeof(hi));
  secure_wipe(lo, sizeof(lo));
  return ml + mh2;
}

void scalar::to_bytes(std::span<uint8_t, 32> out) const noexcept {
  const uint64_t one[4] = {1, 0, 0, 0};
  uint64_t v[4];
  mont::mul(v, m_, one, kOrder);
  mont::store_be(out.data(), v);
  secure_wipe(v, sizeof(v));
}

std::array<uint8_t, 32> scalar::to_bytes() const noexcept {
  std::array<uint8_t, 32> out;
  to_bytes(std::span<uint8_t, 32>(out));
  return out;
}

scalar operator+(const scalar& a, const scalar& b) noexcept {
  scalar r;
  mont::add(r.m_, a.m_, b.m_, kOrder);
  return r;
}

scalar operator-(const scalar& a, const scalar& b) noexcept {
  scalar r;
  mont::sub(r.m_, a.m_, b.m_, kOrder);
  return r;
}

scalar scalar::operator-() const noexcept { return scalar() - *this; }

scalar operator*(const scalar& a, const scalar& b) noexcept {
  scalar r;
  mont::mul(r.m_, a.m_, b.m_, kOrder);
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
  mont::select(r.m_, mask, a.m_, b.m_);
  return r;
}

}  // namespace athm
