// The issuer directory (RFC 9578 §4, plus the ATHM fields), client side.
//
//   {"issuer-request-uri": "https://issuer.example/request",
//    "token-keys": [{"token-type": 49278, "token-key": "<base64url>",
//                    "not-before": 1717200000,
//                    "athm-deployment-id": "example", "athm-buckets": 4}]}
//
// ATHM clients need n and the deployment id to check the key proof and the
// issuance proof, and no Privacy Pass message carries them, so the issuer
// lists them next to each key. RFC 9578 clients ignore the extra fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/athm.h"
#include "server/keys/outcome.h"

namespace athm::client {

using athm::keys::outcome;

// Bounds on what parse_directory accepts (a real directory is a few KiB).
inline constexpr size_t kMaxDirectoryBytes = 64 * 1024;
inline constexpr size_t kMaxDirectoryKeys = 64;
inline constexpr size_t kMaxRequestUriBytes = 2048;
inline constexpr size_t kMaxDeploymentIdBytes = 255;
// not-before values beyond this (2200-01-01) are rejected.
inline constexpr int64_t kMaxNotBefore = 7258118400;

// One 0xC07E entry of "token-keys".
struct directory_key {
  athm::token_key_bytes token_key{};
  std::string deployment_id;  // "athm-deployment-id"
  uint32_t n_buckets = 0;     // "athm-buckets", 1..256
  // "not-before" (unix seconds); absent means usable at once.
  std::optional<int64_t> not_before;
};

struct issuer_directory {
  std::string issuer_request_uri;     // non-empty, printable ASCII
  std::vector<directory_key> keys;    // ATHM entries, in document order
  size_t other_token_types = 0;       // entries of other token types (ignored)
};

// Parses a directory document. Never throws. Fails (with a message naming
// the field, e.g. "token-keys[1].athm-buckets: must be an integer 1..256")
// when the input is over kMaxDirectoryBytes, is not JSON, is not an object,
// lacks or mistypes "issuer-request-uri" or "token-keys", has more than
// kMaxDirectoryKeys entries, or has an entry that is not an object or lacks
// an integer "token-type". For token-type 49278 entries, "token-key"
// (base64url of 163 bytes, padding accepted), "athm-deployment-id" (string,
// at most 255 bytes) and "athm-buckets" are required and "not-before", if
// present, must be an integer in [0, kMaxNotBefore). Entries of other token
// types are counted and otherwise ignored; unknown fields are ignored
// everywhere. A directory without any ATHM key parses fine (keys is empty).
outcome<issuer_directory> parse_directory(std::string_view json);

// The entry to use at |now_unix|: the one with the latest not-before that is
// <= now (absent counts as 0); the first in document order among equals.
// nullptr if none is usable yet.
const directory_key* select_key(const issuer_directory& dir, int64_t now_unix);

}  // namespace athm::client
