// The fixed issuer key and client context shared by the engine fuzz targets
// and the seed generator: the key of the reference vectors
// (tests/crypto/vectors, n = 4, ChaCha20 seed 01..01) and the client context
// of the vectors' token request (seed 02..02). Built once per process from
// deterministic streams, so that a crash found on one machine reproduces on
// any other and the committed seeds (valid tokens, responses) stay valid.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "crypto/athm.h"
#include "crypto/result.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/chacha_random.h"

namespace athm::fuzz {

inline constexpr uint32_t kBuckets = 4;
inline constexpr std::string_view kDeploymentId = "test_vector_deployment_id";

// A 32-byte ChaCha20 seed filled with |b| (the vectors use 01..01, 02..02, ...).
inline std::array<uint8_t, 32> seed_of(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

struct fixture {
  std::shared_ptr<const suite> params;
  private_key key;
  client_context context;
};

// Built on first use, never freed (reachable from a static: not a leak).
// Traps if the engine cannot build it.
inline const fixture& fixed() {
  static const fixture* f = [] {
    auto s = suite::create(kBuckets, kDeploymentId);
    check(s.ok());
    testing::chacha_random key_rng(seed_of(0x01));
    auto key = private_key::generate(*s, key_rng);
    check(key.ok());
    testing::chacha_random request_rng(seed_of(0x02));
    auto ctx = token_request(key->public_part(), request_rng);
    check(ctx.ok());
    return new fixture{*s, std::move(*key), std::move(*ctx)};
  }();
  return *f;
}

}  // namespace athm::fuzz
