#include "crypto/result.h"

namespace athm {

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::bad_length: return "bad length";
    case errc::bad_encoding: return "bad encoding";
    case errc::bad_point: return "invalid point";
    case errc::bad_scalar: return "invalid scalar";
    case errc::bad_params: return "invalid parameters";
    case errc::bad_bucket: return "bucket out of range";
    case errc::proof_invalid: return "proof does not verify";
    case errc::token_invalid: return "token does not verify";
    case errc::key_mismatch: return "private and public key do not match";
    case errc::unknown_key: return "unknown key";
    case errc::rng_failure: return "random source failed";
    case errc::internal: return "internal error";
  }
  return "unknown error";
}

}  // namespace athm
