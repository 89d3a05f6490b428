#include "crypto/privacypass.h"

#include <openssl/base64.h>
#include <openssl/sha.h>

#include <algorithm>

namespace athm::pp {
namespace {

constexpr std::string_view kSpendLabel = "athmd spend marker v1";

bool has_token_type(std::span<const uint8_t> in) {
  return in[0] == (kTokenType >> 8) && in[1] == (kTokenType & 0xff);
}

}  // namespace

result<token_request> token_request::decode(std::span<const uint8_t> in) noexcept {
  if (in.size() != kTokenRequestBytes) {
    return errc::bad_length;
  }
  if (!has_token_type(in)) {
    return errc::bad_encoding;
  }
  token_request r;
  r.truncated_key_id = in[2];
  std::copy_n(in.begin() + 3, kRequestBytes, r.request.begin());
  return r;
}

std::array<uint8_t, kTokenRequestBytes> token_request::encode() const noexcept {
  std::array<uint8_t, kTokenRequestBytes> out;
  out[0] = kTokenType >> 8;
  out[1] = kTokenType & 0xff;
  out[2] = truncated_key_id;
  std::copy(request.begin(), request.end(), out.begin() + 3);
  return out;
}

result<token> token::decode(std::span<const uint8_t> in) noexcept {
  if (in.size() != kTokenBytes) {
    return errc::bad_length;
  }
  if (!has_token_type(in)) {
    return errc::bad_encoding;
  }
  token t;
  std::copy_n(in.begin() + 2, kKeyIdBytes, t.issuer_key_id.begin());
  std::copy_n(in.begin() + 2 + kKeyIdBytes, athm::kTokenBytes, t.authenticator.begin());
  return t;
}

std::array<uint8_t, kTokenBytes> token::encode() const noexcept {
  std::array<uint8_t, kTokenBytes> out;
  out[0] = kTokenType >> 8;
  out[1] = kTokenType & 0xff;
  std::copy(issuer_key_id.begin(), issuer_key_id.end(), out.begin() + 2);
  std::copy(authenticator.begin(), authenticator.end(), out.begin() + 2 + kKeyIdBytes);
  return out;
}

std::array<uint8_t, 32> token::spend_marker() const noexcept {
  // H(label || key_id || t): t is the first 32 bytes of the ATHM token.
  std::array<uint8_t, 32> out;
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, kSpendLabel.data(), kSpendLabel.size());
  SHA256_Update(&c, issuer_key_id.data(), issuer_key_id.size());
  SHA256_Update(&c, authenticator.data(), kScalarBytes);
  SHA256_Final(out.data(), &c);
  return out;
}

result<void> check_token_response_size(const suite& s, std::span<const uint8_t> in) noexcept {
  if (in.size() != s.response_size()) {
    return errc::bad_length;
  }
  return {};
}

std::string base64url_encode(std::span<const uint8_t> in) {
  size_t len = 0;
  if (!EVP_EncodedLength(&len, in.size())) {
    return {};
  }
  std::string out(len, '\0');
  size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()), in.data(), in.size());
  out.resize(n);
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& ch : out) {
    if (ch == '+') {
      ch = '-';
    } else if (ch == '/') {
      ch = '_';
    }
  }
  return out;
}

result<std::vector<uint8_t>> base64url_decode(std::string_view in) {
  // Translate to the standard alphabet and restore padding; EVP_DecodeBase64
  // then rejects bad characters, bad padding and non-zero trailing bits.
  std::string std_form;
  std_form.reserve(in.size() + 3);
  for (char ch : in) {
    if (ch == '+' || ch == '/') {
      return errc::bad_encoding;  // standard alphabet is not base64url
    }
    std_form.push_back(ch == '-' ? '+' : ch == '_' ? '/' : ch);
  }
  size_t pad = std::count(std_form.begin(), std_form.end(), '=');
  if (pad == 0) {
    if (std_form.size() % 4 == 1) {
      return errc::bad_encoding;
    }
    std_form.append((4 - std_form.size() % 4) % 4, '=');
  } else if (std_form.size() % 4 != 0) {
    return errc::bad_encoding;
  }
  size_t max_out = 0;
  if (!EVP_DecodedLength(&max_out, std_form.size())) {
    return errc::bad_encoding;
  }
  std::vector<uint8_t> out(max_out);
  size_t out_len = 0;
  if (!EVP_DecodeBase64(out.data(), &out_len, out.size(),
                        reinterpret_cast<const uint8_t*>(std_form.data()), std_form.size())) {
    return errc::bad_encoding;
  }
  out.resize(out_len);
  // Only the canonical encoding is accepted: the unused low bits of the last
  // character must be zero, so re-encoding must give back the input.
  std::string_view unpadded = in.substr(0, in.find('='));
  if (base64url_encode(out) != unpadded) {
    return errc::bad_encoding;
  }
  return out;
}

}  // namespace athm::pp
