#include "crypto/secret.h"

#include <openssl/crypto.h>
#include <openssl/mem.h>

namespace athm {

void secure_wipe(void* p, size_t n) noexcept { OPENSSL_cleanse(p, n); }

bool ct_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace athm
