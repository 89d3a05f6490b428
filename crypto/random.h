// Randomness. Production code uses system_random() (BoringSSL RAND_bytes).
// The random_source interface exists so that tests can inject a
// deterministic stream; no deterministic implementation ships in the library.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/result.h"
#include "crypto/scalar.h"

namespace athm {

class random_source {
 public:
  virtual ~random_source() = default;
  // Fills |out| with random bytes. Returns false on failure.
  virtual bool fill(std::span<uint8_t> out) noexcept = 0;
};

// Process-wide RAND_bytes source. Thread-safe.
random_source& system_random() noexcept;

// RandomScalar: 32 bytes big-endian, retried while >= n. May return zero.
result<scalar> random_scalar(random_source& rng) noexcept;
// RandomNonzeroScalar: as random_scalar, also retried on zero.
result<scalar> random_nonzero_scalar(random_source& rng) noexcept;

}  // namespace athm
