// Client side of the ATHM Privacy Pass flow for the integration tests, done
// with the engine directly so that tests control every byte: fetch and
// verify the directory, build TokenRequests, finalize tokens, redeem them on
// the internal listener, and craft the transformations a client could try
// (re-randomization, tampering).
//
// Failure: helpers whose success is a precondition of the test (directory,
// issuance) throw std::runtime_error with the server's answer; redemption
// helpers return the status so tests can assert on it.
//
// Thread safety: every function is independent; an issuer_view is immutable
// after fetch_issuer and may be shared across threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "tests/integration/http_probe.h"
#include "tools/athm/directory.h"

namespace athm::itest {

inline constexpr const char* kDirectoryPath = "/.well-known/private-token-issuer-directory";
inline constexpr const char* kRequestMediaType = "application/private-token-request";
inline constexpr const char* kResponseMediaType = "application/private-token-response";
inline constexpr const char* kTokenMediaType = "application/private-token";
inline constexpr const char* kBucketHeader = "X-Athm-Bucket";

using encoded_token = std::array<uint8_t, athm::pp::kTokenBytes>;  // 132 bytes

// One directory entry with its key proof verified.
struct issuer_key_view {
  athm::client::directory_key entry;
  athm::public_key key;
};

// The issuer as a client sees it.
struct issuer_view {
  std::string raw;             // directory body, as served
  std::string etag;            // ETag header ("" if none)
  std::string request_uri;     // "issuer-request-uri"
  std::string request_target;  // its path (where to POST on the public listener)
  std::vector<issuer_key_view> keys;  // document order

  // The key a client uses now: latest not-before that has passed
  // (athm::client::select_key). Throws if there is none.
  const athm::public_key& current() const;
  // The entry whose full key id is |id|; nullptr if not listed.
  const issuer_key_view* find(const athm::key_id& id) const;
};

// GET the directory on |public_port| (over HTTPS with |tls|), parse it with
// the client library and verify each key's proof under its
// athm-deployment-id / athm-buckets. Throws std::runtime_error on any failure.
issuer_view fetch_issuer(uint16_t public_port, const std::optional<tls_trust>& tls = std::nullopt);

// A TokenRequest ready to send, with the client secrets to finalize it.
struct pending_request {
  athm::client_context ctx;
  std::string body;  // the 36-byte Privacy Pass TokenRequest
};
pending_request make_request(const athm::public_key& pk);

// POSTs |pending| to the issuer over |conn| (headers appended: the bucket
// header if |bucket| is set) and finalizes the token (issuance proof
// checked). Throws std::runtime_error naming the status on failure.
encoded_token issue_token(http_connection& conn, const issuer_view& issuer,
                          const athm::public_key& pk, std::optional<uint32_t> bucket);
// As above with a fresh keep-alive connection to |public_port| and the
// current key.
encoded_token issue_token(uint16_t public_port, const issuer_view& issuer,
                          std::optional<uint32_t> bucket);
// |count| tokens with the current key and bucket |bucket|, on |threads|
// threads with one keep-alive connection each. Throws on the first failure.
std::vector<encoded_token> issue_tokens(uint16_t public_port, const issuer_view& issuer,
                                        size_t count, std::optional<uint32_t> bucket,
                                        unsigned threads = 2);

// The result of POST /redeem on the internal listener.
struct redeem_result {
  http_reply reply;
  std::optional<uint32_t> bucket;  // from the 200 JSON body
  std::string key_id;              // from the 200 JSON body
  unsigned status() const { return reply.status; }
};
// Parses the JSON of a 200 reply; |bucket| stays empty (and the test will
// notice) when the body does not have the documented shape.
redeem_result redeem(http_connection& internal, std::span<const uint8_t> token);
redeem_result redeem(uint16_t internal_port, std::span<const uint8_t> token);

// GET /auth on the internal listener with "Authorization: <authorization>"
// (no Authorization header when |authorization| is nullopt).
http_reply forward_auth(uint16_t internal_port, const std::optional<std::string>& authorization);

// The same token with P and Q multiplied by a random c (2 <= c < 2^62):
// still valid for the issuer, different bytes.
encoded_token rerandomize(const encoded_token& token);

// 33 bytes starting with 0x02 whose x is below p but on no P-256 point.
std::array<uint8_t, athm::kElementBytes> off_curve_point();

std::string as_string(std::span<const uint8_t> bytes);
std::string hex(std::span<const uint8_t> bytes);
std::string base64url(std::span<const uint8_t> bytes);  // unpadded
// The issuer key id carried in a token.
athm::key_id token_key_id(const encoded_token& token);

}  // namespace athm::itest
