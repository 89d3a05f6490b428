// BoringSSL BIGNUM helpers for the differential fuzz targets: the P-256
// group and its order n, and conversions between BIGNUM and 32-byte
// big-endian strings. Public data only (variable time).
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/nid.h>

#include <array>
#include <cstdint>
#include <span>

#include "tests/fuzz/fuzz_check.h"

namespace athm::fuzz {

// The P-256 group, created once and kept for the life of the process.
inline const EC_GROUP* bssl_p256() {
  static const EC_GROUP* g = [] {
    const EC_GROUP* r = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    check(r != nullptr);
    return r;
  }();
  return g;
}

inline const BIGNUM* order_n() { return EC_GROUP_get0_order(bssl_p256()); }

// One BN_CTX per thread (libFuzzer runs the target on one thread).
inline BN_CTX* bn_ctx() {
  static thread_local bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  check(ctx != nullptr);
  return ctx.get();
}

inline bssl::UniquePtr<BIGNUM> bn_from(std::span<const uint8_t> be) {
  bssl::UniquePtr<BIGNUM> r(BN_bin2bn(be.data(), be.size(), nullptr));
  check(r != nullptr);
  return r;
}

inline std::array<uint8_t, 32> bn_bytes32(const BIGNUM* v) {
  std::array<uint8_t, 32> out{};
  check(BN_bn2bin_padded(out.data(), out.size(), v) == 1);
  return out;
}

}  // namespace athm::fuzz
