#include "crypto/hash_to_curve.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>

namespace athm {
namespace {

constexpr size_t kHashBytes = 32;   // b_in_bytes for SHA-256
constexpr size_t kBlockBytes = 64;  // s_in_bytes for SHA-256
constexpr size_t kFieldL = 48;      // ceil((ceil(log2(p)) + 128) / 8)

// Variable-time BIGNUM arithmetic mod p for the SSWU map. Inputs are public.
struct field_ctx {
  bssl::UniquePtr<BN_CTX> ctx{BN_CTX_new()};
  bssl::UniquePtr<BIGNUM> p{BN_new()};
  bssl::UniquePtr<BIGNUM> a{BN_new()};
  bssl::UniquePtr<BIGNUM> b{BN_new()};
  bssl::UniquePtr<BIGNUM> z{BN_new()};
  bssl::UniquePtr<BIGNUM> sqrt_exp{BN_new()};  // (p + 1) / 4

  bool init() {
    if (!ctx || !p || !a || !b || !z || !sqrt_exp) {
      return false;
    }
    if (!EC_GROUP_get_curve_GFp(p256(), p.get(), a.get(), b.get(), ctx.get())) {
      return false;
    }
    // Z = -10 mod p (RFC 9380 §8.2).
    if (!BN_set_word(z.get(), 10) || !BN_sub(z.get(), p.get(), z.get())) {
      return false;
    }
    return BN_copy(sqrt_exp.get(), p.get()) && BN_add_word(sqrt_exp.get(), 1) &&
           BN_rshift(sqrt_exp.get(), sqrt_exp.get(), 2);
  }
};

using bn = bssl::UniquePtr<BIGNUM>;

bn new_bn() { return bn(BN_new()); }

bool to_bytes32(const BIGNUM* v, std::array<uint8_t, 32>& out) {
  return BN_bn2bin_padded(out.data(), out.size(), v) == 1;
}

// y^2 = x^3 + a x + b
bool curve_rhs(field_ctx& f, BIGNUM* out, const BIGNUM* x) {
  bn t = new_bn();
  return t && BN_mod_sqr(t.get(), x, f.p.get(), f.ctx.get()) &&
         BN_mod_add(t.get(), t.get(), f.a.get(), f.p.get(), f.ctx.get()) &&
         BN_mod_mul(t.get(), t.get(), x, f.p.get(), f.ctx.get()) &&
         BN_mod_add(out, t.get(), f.b.get(), f.p.get(), f.ctx.get());
}

// Simplified SWU (RFC 9380 §6.6.2) for A != 0, B != 0.
result<point> sswu(field_ctx& f, const BIGNUM* u) {
  BN_CTX* ctx = f.ctx.get();
  const BIGNUM* p = f.p.get();
  bn u2 = new_bn(), tv1 = new_bn(), t = new_bn(), x1 = new_bn(), gx1 = new_bn(), x2 = new_bn(),
     gx2 = new_bn(), y = new_bn(), check = new_bn(), neg_b_over_a = new_bn(), inv = new_bn();
  if (!u2 || !tv1 || !t || !x1 || !gx1 || !x2 || !gx2 || !y || !check || !neg_b_over_a || !inv) {
    return errc::internal;
  }
  // tv1 = inv0(Z^2 u^4 + Z u^2)
  bool ok = BN_mod_sqr(u2.get(), u, p, ctx) &&
            BN_mod_mul(t.get(), f.z.get(), u2.get(), p, ctx) &&  // Z u^2
            BN_mod_sqr(tv1.get(), t.get(), p, ctx) &&          // Z^2 u^4
            BN_mod_add(tv1.get(), tv1.get(), t.get(), p, ctx);
  if (!ok) {
    return errc::internal;
  }
  // -B / A
  ok = BN_mod_inverse(inv.get(), f.a.get(), p, ctx) != nullptr &&
       BN_mod_mul(neg_b_over_a.get(), f.b.get(), inv.get(), p, ctx) &&
       BN_mod_sub(neg_b_over_a.get(), p, neg_b_over_a.get(), p, ctx);
  if (!ok) {
    return errc::internal;
  }
  if (BN_is_zero(tv1.get())) {
    // x1 = B / (Z A)
    ok = BN_mod_mul(t.get(), f.z.get(), f.a.get(), p, ctx) &&
         BN_mod_inverse(inv.get(), t.get(), p, ctx) != nullptr &&
         BN_mod_mul(x1.get(), f.b.get(), inv.get(), p, ctx);
  } else {
    // x1 = (-B / A) (1 + 1/tv1)
    ok = BN_mod_inverse(inv.get(), tv1.get(), p, ctx) != nullptr &&
         BN_add_word(inv.get(), 1) && BN_nnmod(inv.get(), inv.get(), p, ctx) &&
         BN_mod_mul(x1.get(), neg_b_over_a.get(), inv.get(), p, ctx);
  }
  ok = ok && curve_rhs(f, gx1.get(), x1.get()) &&
       BN_mod_mul(t.get(), f.z.get(), u2.get(), p, ctx) &&
       BN_mod_mul(x2.get(), t.get(), x1.get(), p, ctx) &&  // x2 = Z u^2 x1
       curve_rhs(f, gx2.get(), x2.get());
  if (!ok) {
    return errc::internal;
  }
  // p = 3 mod 4: sqrt(v) = v^((p+1)/4) when v is a square.
  const BIGNUM* x = x1.get();
  if (!BN_mod_exp(y.get(), gx1.get(), f.sqrt_exp.get(), p, ctx) ||
      !BN_mod_sqr(check.get(), y.get(), p, ctx)) {
    return errc::internal;
  }
  if (BN_cmp(check.get(), gx1.get()) != 0) {
    x = x2.get();
    if (!BN_mod_exp(y.get(), gx2.get(), f.sqrt_exp.get(), p, ctx)) {
      return errc::internal;
    }
  }
  // sgn0(y) must equal sgn0(u).
  if (BN_is_odd(u) != BN_is_odd(y.get()) && !BN_is_zero(y.get())) {
    if (!BN_sub(y.get(), p, y.get())) {
      return errc::internal;
    }
  }
  std::array<uint8_t, 32> xb, yb;
  if (!to_bytes32(x, xb) || !to_bytes32(y.get(), yb)) {
    return errc::internal;
  }
  return point::from_affine_public(xb, yb);
}

field_ctx* shared_field() {
  // Built per thread: BN_CTX is not thread-safe. hash_to_curve runs rarely
  // (suite creation), so the cost is irrelevant.
  thread_local field_ctx f;
  thread_local bool ready = f.init();
  return ready ? &f : nullptr;
}

}  // namespace

result<std::vector<uint8_t>> expand_message_xmd_sha256(std::span<const uint8_t> msg,
                                                        std::string_view dst,
                                                        size_t len_in_bytes) {
  size_t ell = (len_in_bytes + kHashBytes - 1) / kHashBytes;
  if (dst.size() > 255 || len_in_bytes == 0 || ell > 255 || len_in_bytes > 65535) {
    return errc::bad_params;
  }
  const uint8_t dst_len = static_cast<uint8_t>(dst.size());
  const uint8_t zero_pad[kBlockBytes] = {};
  const uint8_t lib_str[3] = {static_cast<uint8_t>(len_in_bytes >> 8),
                              static_cast<uint8_t>(len_in_bytes), 0};

  // b_0 = H(Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime)
  uint8_t b0[kHashBytes];
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, zero_pad, sizeof(zero_pad));
  SHA256_Update(&c, msg.data(), msg.size());
  SHA256_Update(&c, lib_str, sizeof(lib_str));
  SHA256_Update(&c, dst.data(), dst.size());
  SHA256_Update(&c, &dst_len, 1);
  SHA256_Final(b0, &c);

  std::vector<uint8_t> out;
  out.reserve(ell * kHashBytes);
  uint8_t bi[kHashBytes];
  for (size_t i = 1; i <= ell; ++i) {
    // b_1 = H(b_0 || 1 || DST'), b_i = H((b_0 xor b_{i-1}) || i || DST')
    uint8_t in[kHashBytes];
    for (size_t j = 0; j < kHashBytes; ++j) {
      in[j] = i == 1 ? b0[j] : static_cast<uint8_t>(b0[j] ^ bi[j]);
    }
    const uint8_t idx = static_cast<uint8_t>(i);
    SHA256_Init(&c);
    SHA256_Update(&c, in, sizeof(in));
    SHA256_Update(&c, &idx, 1);
    SHA256_Update(&c, dst.data(), dst.size());
    SHA256_Update(&c, &dst_len, 1);
    SHA256_Final(bi, &c);
    out.insert(out.end(), bi, bi + kHashBytes);
  }
  out.resize(len_in_bytes);
  return out;
}

result<point> map_to_curve_sswu_public(std::span<const uint8_t, 32> u) {
  field_ctx* f = shared_field();
  if (f == nullptr) {
    return errc::internal;
  }
  bn ub(BN_bin2bn(u.data(), u.size(), nullptr));
  if (!ub || BN_cmp(ub.get(), f->p.get()) >= 0) {
    return errc::bad_params;
  }
  return sswu(*f, ub.get());
}

result<point> hash_to_curve_p256_public(std::span<const uint8_t> msg, std::string_view dst) {
  auto uniform = expand_message_xmd_sha256(msg, dst, 2 * kFieldL);
  if (!uniform) {
    return uniform.error();
  }
  field_ctx* f = shared_field();
  if (f == nullptr) {
    return errc::internal;
  }
  point sum;
  for (int i = 0; i < 2; ++i) {
    bn u(BN_bin2bn(uniform->data() + i * kFieldL, kFieldL, nullptr));
    if (!u || !BN_nnmod(u.get(), u.get(), f->p.get(), f->ctx.get())) {
      return errc::internal;
    }
    auto q = sswu(*f, u.get());
    if (!q) {
      return q.error();
    }
    sum = sum + *q;
  }
  return sum;  // P-256 has cofactor 1: clear_cofactor is the identity map.
}

result<scalar> hash_to_scalar_p256(std::span<const uint8_t> msg, std::string_view dst) {
  auto uniform = expand_message_xmd_sha256(msg, dst, kFieldL);
  if (!uniform) {
    return uniform.error();
  }
  return scalar::from_wide_bytes(std::span<const uint8_t, kFieldL>(uniform->data(), kFieldL));
}

}  // namespace athm
