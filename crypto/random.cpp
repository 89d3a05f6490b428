#include "crypto/random.h"

#include <openssl/rand.h>

#include <array>

#include "crypto/secret.h"

namespace athm {
namespace {

class system_random_source final : public random_source {
 public:
  bool fill(std::span<uint8_t> out) noexcept override {
    return RAND_bytes(out.data(), out.size()) == 1;
  }
};

// Rejection sampling; the loop reveals only how many discarded draws were
// out of range, which says nothing about the accepted value.
result<scalar> draw(random_source& rng, bool nonzero) noexcept {
  std::array<uint8_t, 32> buf;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (!rng.fill(buf)) {
      break;
    }
    uint64_t ok = 0;
    scalar s = scalar::from_bytes_ct(std::span<const uint8_t, 32>(buf), &ok);
    if (nonzero) {
      ok &= ~s.is_zero_mask();
    }
    if (ok != 0) {
      secure_wipe(buf.data(), buf.size());
      return s;
    }
  }
  secure_wipe(buf.data(), buf.size());
  return errc::rng_failure;
}

}  // namespace

random_source& system_random() noexcept {
  static system_random_source source;
  return source;
}

result<scalar> random_scalar(random_source& rng) noexcept { return draw(rng, false); }

result<scalar> random_nonzero_scalar(random_source& rng) noexcept { return draw(rng, true); }

}  // namespace athm
