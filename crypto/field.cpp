#include "crypto/field.h"

#include "crypto/mont.h"

namespace athm::field {
namespace {

// p = 2^256 - 2^224 + 2^192 + 2^96 - 1
constexpr mont::modulus kP = {
    {0xffffffffffffffffull, 0x00000000ffffffffull, 0x0000000000000000ull, 0xffffffff00000001ull},
    0x1ull,
    {0x0000000000000003ull, 0xfffffffbffffffffull, 0xfffffffffffffffeull, 0x00000004fffffffdull}};
// b * 2^256 mod p and 3 * 2^256 mod p (Montgomery form).
constexpr uint64_t kBMont[4] = {0xd89cdf6229c4bddfull, 0xacf005cd78843090ull,
                                0xe5a220abf7212ed6ull, 0xdc30061d04874834ull};
constexpr uint64_t kThreeMont[4] = {0x0000000000000003ull, 0xfffffffd00000000ull,
                                    0xffffffffffffffffull, 0x00000002fffffffcull};
// (p + 1) / 4, big-endian
constexpr uint8_t kSqrtExp[32] = {0x3f, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

}  // namespace

std::optional<std::array<uint8_t, 32>> decompress_y_public(std::span<const uint8_t, 32> x_bytes,
                                                           bool y_odd) {
  uint64_t x[4], xm[4], rhs[4], t[4], y[4];
  mont::load_be(x, x_bytes.data());
  if (mont::less_than_mask(x, kP) == 0) {
    return std::nullopt;
  }
  mont::mul(xm, x, kP.rr, kP);  // to Montgomery form
  // rhs = x^3 - 3x + b
  mont::mul(t, xm, xm, kP);
  mont::mul(rhs, t, xm, kP);
  mont::mul(t, xm, kThreeMont, kP);
  mont::sub(rhs, rhs, t, kP);
  mont::add(rhs, rhs, kBMont, kP);
  // y = rhs^((p+1)/4), valid when rhs is a square (p = 3 mod 4).
  uint64_t acc[4];
  const uint64_t one[4] = {1, 0, 0, 0};
  mont::mul(acc, one, kP.rr, kP);  // 1 in Montgomery form
  for (uint8_t byte : kSqrtExp) {
    for (int bit = 7; bit >= 0; --bit) {
      mont::mul(acc, acc, acc, kP);
      if ((byte >> bit) & 1) {  // public exponent
        mont::mul(acc, acc, rhs, kP);
      }
    }
  }
  mont::mul(t, acc, acc, kP);
  uint64_t diff = 0;
  for (int i = 0; i < 4; ++i) {
    diff |= t[i] ^ rhs[i];
  }
  if (diff != 0) {
    return std::nullopt;  // not a square: x is not on the curve
  }
  mont::mul(y, acc, one, kP);  // out of Montgomery form
  if (static_cast<bool>(y[0] & 1) != y_odd) {
    const uint64_t zero[4] = {0, 0, 0, 0};
    mont::sub(y, zero, y, kP);
  }
  std::array<uint8_t, 32> out;
  mont::store_be(out.data(), y);
  return out;
}

}  // namespace athm::field
