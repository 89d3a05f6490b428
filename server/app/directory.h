// The issuer directory (RFC 9578 §4), built once per key-ring snapshot.
//
//   {"issuer-request-uri": "<uri>",
//    "token-keys": [{"token-type": 49278, "token-key": "<base64url, 163 bytes>",
//                    "not-before": <unix seconds>,
//                    "athm-deployment-id": "<id>", "athm-buckets": <n>}, ...]}
//
// The keys are those the ring lists as published at the time of the request,
// newest first. The body depends only on the ring and on which publication
// and expiry boundaries have passed, so every client gets the same bytes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/keys/key_ring.h"

namespace athm::app {

inline constexpr std::string_view kDirectoryPath = "/.well-known/private-token-issuer-directory";
inline constexpr std::string_view kDirectoryMediaType = "application/private-token-issuer-directory";

struct directory_document {
  std::string body;
  std::string etag;  // strong validator: "\"" + 32 hex chars of SHA-256(body) + "\""
};

// The JSON body for |keys| (in the given order). Deterministic.
std::string build_directory_body(std::string_view request_uri,
                                 const std::vector<std::shared_ptr<const keys::issuer_key>>& keys);

// The strong ETag of |body|.
std::string make_etag(std::string_view body);

// True if an If-None-Match value matches |etag| (RFC 9110 §13.1.2: "*", or
// any listed entity-tag equal under the weak comparison). Malformed entries
// never match.
bool if_none_match_matches(std::string_view if_none_match, std::string_view etag);

// Caches the document for one ring snapshot and the interval between two
// key boundaries (publish_at / expires) around the time it was built. A new
// ring (reload) or crossing a boundary rebuilds it. Thread-safe.
class directory_cache {
 public:
  explicit directory_cache(std::string request_uri) : request_uri_(std::move(request_uri)) {}

  // Never null. Rebuilds under the lock when stale (a few microseconds).
  std::shared_ptr<const directory_document> get(const std::shared_ptr<const keys::key_ring>& ring,
                                                keys::clock::time_point now);

 private:
  struct entry {
    std::shared_ptr<const keys::key_ring> ring;
    keys::clock::time_point valid_from;   // the last boundary at or before build time
    keys::clock::time_point valid_until;  // the next boundary after it
    std::shared_ptr<const directory_document> doc;
  };

  const std::string request_uri_;
  std::mutex mu_;
  entry current_;
};

}  // namespace athm::app
