// Constant-time base64url (RFC 4648 §5, no padding) for secret bytes.
//
// athm::pp::base64url_encode/decode return std::string / std::vector, which
// are not wiped, and use table lookups indexed by the data. Key files keep
// the private key in this codec instead: the output lives in a
// secret_buffer, and the running time depends only on the length.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "crypto/secret.h"

namespace athm::keys {

// Number of characters base64url_encode_secret produces for |n| bytes.
constexpr size_t base64url_length(size_t n) { return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1); }

// Encodes |in| without padding. Time depends only on in.size().
athm::secret_buffer base64url_encode_secret(std::span<const uint8_t> in);

// Decodes unpadded base64url that must yield exactly |expected_bytes| bytes.
// Returns nullopt for a wrong length, a character outside the alphabet
// (including "=") or non-zero trailing bits. Time depends only on the input
// length; which character was bad is not reported.
std::optional<athm::secret_buffer> base64url_decode_secret(std::string_view in,
                                                           size_t expected_bytes);

}  // namespace athm::keys
