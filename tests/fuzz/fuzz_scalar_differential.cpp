// athm::scalar (constant-time Montgomery arithmetic mod n) against BoringSSL
// BIGNUM arithmetic mod n.
//
// Input: op || a[32] || b[32] || more ops...; missing bytes read as zero.
// a and b are reduced below n with BIGNUM, loaded into athm::scalar, and
// each op byte is applied in turn to the accumulator (starting at a) and b,
// with the result compared after every step. Op bit 0x80 then swaps the
// accumulator and b, so chains of products and inverses reach values no
// single step would. from_wide_bytes reads the 48 bytes after the op byte.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "crypto/scalar.h"
#include "tests/fuzz/fuzz_bn.h"
#include "tests/fuzz/fuzz_check.h"

using athm::fuzz::check;
using athm::scalar;

namespace {

constexpr size_t kMaxOps = 64;

struct value {
  scalar s;
  bssl::UniquePtr<BIGNUM> b;
};

bool same(const scalar& s, const BIGNUM* b) {
  return athm::fuzz::same_bytes(s.to_bytes(), athm::fuzz::bn_bytes32(b));
}

scalar load(const BIGNUM* b) {
  auto s = scalar::from_bytes(athm::fuzz::bn_bytes32(b));
  check(s.ok());
  return *s;
}

value reduced(std::span<const uint8_t> raw) {
  auto b = athm::fuzz::bn_from(raw);
  check(BN_nnmod(b.get(), b.get(), athm::fuzz::order_n(), athm::fuzz::bn_ctx()) == 1);
  scalar s = load(b.get());
  return {s, std::move(b)};
}

// Applies |op| to (acc, b) both ways and returns the new accumulator.
value apply(uint8_t op, const value& acc, const value& b, std::span<const uint8_t, 48> wide) {
  const BIGNUM* n = athm::fuzz::order_n();
  BN_CTX* ctx = athm::fuzz::bn_ctx();
  bssl::UniquePtr<BIGNUM> r(BN_new());
  check(r != nullptr);
  scalar s;
  switch (op & 0x07) {
    case 0:
      s = acc.s + b.s;
      check(BN_mod_add(r.get(), acc.b.get(), b.b.get(), n, ctx) == 1);
      break;
    case 1:
      s = acc.s - b.s;
      check(BN_mod_sub(r.get(), acc.b.get(), b.b.get(), n, ctx) == 1);
      break;
    case 2:
      s = acc.s * b.s;
      check(BN_mod_mul(r.get(), acc.b.get(), b.b.get(), n, ctx) == 1);
      break;
    case 3:
      s = acc.s.inverse();
      if (BN_is_zero(acc.b.get())) {
        BN_zero(r.get());
      } else {
        check(BN_mod_inverse(r.get(), acc.b.get(), n, ctx) != nullptr);
      }
      break;
    case 4:
      s = -acc.s;
      BN_zero(r.get());
      check(BN_mod_sub(r.get(), r.get(), acc.b.get(), n, ctx) == 1);
      break;
    case 5:
      s = scalar::from_wide_bytes(wide);
      r = athm::fuzz::bn_from(wide);
      check(BN_nnmod(r.get(), r.get(), n, ctx) == 1);
      break;
    case 6: {
      uint64_t v = 0;
      for (size_t i = 0; i < 8; ++i) {
        v = v << 8 | wide[i];
      }
      s = scalar::from_u64(v) * b.s;
      bssl::UniquePtr<BIGNUM> vb(BN_new());
      check(vb != nullptr && BN_set_u64(vb.get(), v) == 1);
      check(BN_mod_mul(r.get(), vb.get(), b.b.get(), n, ctx) == 1);
      break;
    }
    default: {
      // Masks and select; the accumulator becomes acc * acc.
      const bool equal = BN_cmp(acc.b.get(), b.b.get()) == 0;
      check(eq_mask(acc.s, b.s) == (equal ? ~uint64_t{0} : 0));
      check((acc.s == b.s) == equal);
      check(acc.s.is_zero_mask() == (BN_is_zero(acc.b.get()) ? ~uint64_t{0} : 0));
      check(same(scalar::select(~uint64_t{0}, acc.s, b.s), acc.b.get()));
      check(same(scalar::select(0, acc.s, b.s), b.b.get()));
      scalar t = acc.s;
      t *= acc.s;
      s = t;
      check(BN_mod_mul(r.get(), acc.b.get(), acc.b.get(), n, ctx) == 1);
      break;
    }
  }
  check(same(s, r.get()));
  // The result must also be canonical: it decodes back to itself.
  check(athm::fuzz::same_bytes(load(r.get()).to_bytes(), s.to_bytes()));
  return {s, std::move(r)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  std::array<uint8_t, 65> head{};
  std::memcpy(head.data(), data, std::min(size, head.size()));
  const std::span<const uint8_t> h(head);

  value acc = reduced(h.subspan(1, 32));
  value b = reduced(h.subspan(33, 32));
  const std::span<const uint8_t, 48> wide = h.subspan<1, 48>();

  acc = apply(head[0], acc, b, wide);
  const size_t extra = size > head.size() ? std::min(size - head.size(), kMaxOps) : 0;
  for (size_t i = 0; i < extra; ++i) {
    const uint8_t op = data[head.size() + i];
    acc = apply(op, acc, b, wide);
    if (op & 0x80) {
      std::swap(acc, b);
    }
  }
  return 0;
}
