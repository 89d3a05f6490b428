// Privacy Pass wire structures for token type 0xC07E, ATHM(P-256)
// (draft-yun-privacypass-athm). Decoders consume their input exactly and
// reject anything else; they touch public data only.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/athm.h"
#include "crypto/result.h"

namespace athm::pp {

inline constexpr uint16_t kTokenType = 0xC07E;  // 49278
inline constexpr size_t kTokenRequestBytes = 2 + 1 + kRequestBytes;    // 36
inline constexpr size_t kTokenBytes = 2 + kKeyIdBytes + athm::kTokenBytes;  // 132

// struct { uint16 token_type; uint8 truncated_issuer_key_id; uint8 T[33]; }
struct token_request {
  uint8_t truncated_key_id = 0;
  request_bytes request{};

  // Fails with errc::bad_length unless exactly 36 bytes, errc::bad_encoding
  // for another token type. The point itself is decoded by token_response.
  static result<token_request> decode(std::span<const uint8_t> in) noexcept;
  std::array<uint8_t, kTokenRequestBytes> encode() const noexcept;
};

// struct { uint16 token_type; uint8 issuer_key_id[32]; uint8 token[98]; }
struct token {
  key_id issuer_key_id{};
  token_bytes authenticator{};

  // Fails with errc::bad_length unless exactly 132 bytes, errc::bad_encoding
  // for another token type.
  static result<token> decode(std::span<const uint8_t> in) noexcept;
  std::array<uint8_t, kTokenBytes> encode() const noexcept;

  // Double-spend marker: SHA-256 over a label, the key id and t. A client can
  // re-randomize a valid token as (t, c*P, c*Q) for any c != 0 (and P, Q are
  // not unique as bytes), so the marker must not cover P or Q; changing t or
  // the key id invalidates the token. Only meaningful after verification.
  std::array<uint8_t, 32> spend_marker() const noexcept;
};

// The TokenResponse is the ATHM response, nothing more; its size is
// response_bytes(n). Fails with errc::bad_length otherwise.
result<void> check_token_response_size(const suite& s, std::span<const uint8_t> in) noexcept;

// RFC 4648 §5 base64url. encode: without padding. decode: accepts padded or
// unpadded input, rejects any other character, bad padding or non-zero
// trailing bits (errc::bad_encoding).
std::string base64url_encode(std::span<const uint8_t> in);
result<std::vector<uint8_t>> base64url_decode(std::string_view in);

}  // namespace athm::pp
