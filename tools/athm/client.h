// The Privacy Pass client flow for ATHM tokens: fetch the issuer directory,
// request a token, redeem it. This is what `athm issue` and `athm redeem`
// run, as a library so that integration tests can drive a real daemon.
//
// Thread safety: every function is independent and may run concurrently.
// Tokens are bearer credentials: nothing here logs or prints them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "tools/athm/directory.h"
#include "tools/athm/http_client.h"

namespace athm::client {

inline constexpr std::string_view kDirectoryPath = "/.well-known/private-token-issuer-directory";
inline constexpr std::string_view kDirectoryMediaType = "application/private-token-issuer-directory";
inline constexpr std::string_view kRequestMediaType = "application/private-token-request";
inline constexpr std::string_view kResponseMediaType = "application/private-token-response";
inline constexpr std::string_view kTokenMediaType = "application/private-token";

using encoded_token = std::array<uint8_t, athm::pp::kTokenBytes>;  // 132 bytes

// The directory URL for an issuer base URL: base's path without trailing
// "/", plus kDirectoryPath (unless base already ends with it); the query is
// dropped.
outcome<http_url> directory_url(std::string_view base_url);

// GET the directory and parse it. Fails on transport errors, a status other
// than 200, or a document parse_directory rejects. The media type is not
// enforced (some deployments serve application/json).
outcome<issuer_directory> fetch_directory(std::string_view base_url,
                                          const http_limits& limits = {});

struct issue_options {
  std::string base_url;                     // "http://host:port[/prefix]"
  std::vector<header_field> extra_headers;  // sent on the issuance POST only
  http_limits limits;                       // per HTTP exchange
  // Key selection time; default: the system clock.
  std::optional<std::chrono::system_clock::time_point> now;
};

struct issued_token {
  encoded_token token{};      // Privacy Pass Token: 0xC07E || key id || t,P,Q
  athm::key_id key_id{};
  uint32_t n_buckets = 0;
  std::string deployment_id;
  std::string request_url;    // where the TokenRequest was sent
};

// The whole issuance flow:
//  1. fetch_directory(base_url);
//  2. select_key() at |now| (latest not-before <= now);
//  3. suite::create(n, deployment id) and public_key::from_token_key (this
//     verifies the key proof);
//  4. athm::token_request; POST the 36-byte TokenRequest with
//     Content-Type application/private-token-request to issuer-request-uri
//     resolved against the directory URL (absolute URIs on another host are
//     followed; only http:// is supported);
//  5. require 200 and Content-Type application/private-token-response, check
//     the response size, athm::finalize_token (verifies the issuance proof).
// Fails with a message naming the step. When the issuer answers the POST
// with a status other than 200, the message reads "issuer answered <status>
// ..." and *http_status (if given) is set to it; otherwise it is set to 0.
outcome<issued_token> issue_token(const issue_options& options, unsigned* http_status = nullptr);

// Steps 3-5 for a directory already fetched (|directory_url| is where it came
// from, for resolving a relative issuer-request-uri).
outcome<issued_token> issue_with_key(const http_url& directory_url,
                                     const issuer_directory& directory,
                                     const directory_key& key, const issue_options& options,
                                     unsigned* http_status = nullptr);

enum class redeem_mode {
  internal,       // POST the raw token, Content-Type application/private-token
  authorization,  // GET with "Authorization: PrivateToken token=<base64url>"
};

struct redeem_options {
  std::string url;
  redeem_mode mode = redeem_mode::internal;
  std::vector<header_field> extra_headers;
  http_limits limits;
};

struct redeem_reply {
  unsigned status = 0;
  std::string media_type;                   // lower-case, no parameters
  std::string body;                         // the daemon's JSON, as sent
  std::optional<std::string> token_bucket;  // "X-Token-Bucket" header
  std::optional<std::string> www_authenticate;
};

// Sends |token| (any bytes; normally 132) as |options.mode| says. Any HTTP
// status is a successful exchange; fails only on transport errors.
outcome<redeem_reply> redeem_token(const redeem_options& options,
                                   std::span<const uint8_t> token);

// CLI exit code for a redemption status: 0 for 200, 1 for 4xx, 2 otherwise.
int redeem_exit_code(unsigned status);

// Reads a token file: either exactly the 132 raw bytes (they start with
// 0xC0 0x7E) or base64url text of them (padding and surrounding whitespace
// accepted). Checks the token type and the length.
outcome<encoded_token> read_token_file(const std::filesystem::path& path);
// As read_token_file, for bytes already in memory.
outcome<encoded_token> decode_token_text(std::span<const uint8_t> bytes);

}  // namespace athm::client
