// Deterministic random stream for tests only: the ChaCha20 keystream under a
// 32-byte seed, zero nonce, counter from 0 (how the reference vectors were
// made). Never linked into the daemon.
#pragma once

#include <openssl/chacha.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "crypto/random.h"

namespace athm::testing {

class chacha_random final : public random_source {
 public:
  explicit chacha_random(std::span<const uint8_t> seed) {
    std::memcpy(key_.data(), seed.data(), 32);
  }
  explicit chacha_random(uint64_t seed) {
    key_.fill(0);
    for (int i = 0; i < 8; ++i) {
      key_[i] = static_cast<uint8_t>(seed >> (8 * i));
    }
  }

  bool fill(std::span<uint8_t> out) noexcept override {
    for (auto& b : out) {
      if (pos_ == buf_.size()) {
        refill();
      }
      b = buf_[pos_++];
    }
    return true;
  }

 private:
  void refill() {
    std::array<uint8_t, 64> zeros{};
    const uint8_t nonce[12] = {};
    CRYPTO_chacha_20(buf_.data(), zeros.data(), zeros.size(), key_.data(), nonce, counter_++);
    pos_ = 0;
  }
  std::array<uint8_t, 32> key_{};
  std::array<uint8_t, 64> buf_{};
  size_t pos_ = 64;
  uint32_t counter_ = 0;
};

// A random source that always fails, to test error paths.
class failing_random final : public random_source {
 public:
  bool fill(std::span<uint8_t>) noexcept override { return false; }
};

}  // namespace athm::testing
