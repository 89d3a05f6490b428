// The `athm` command line: key management (keygen, inspect, list) and the
// client flow (issue, redeem). main() only calls run(); everything else is
// here so that it can be tested in-process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/athm.h"
#include "server/keys/key_ring.h"
#include "server/keys/outcome.h"

namespace athm::cli {

using athm::keys::outcome;

// Parses and runs |argv|. Output goes to |out|, diagnostics to |err|.
// Exit codes: 0 success; 1 a refusal (bad key file, collision, issuer or
// origin answered 4xx); 2 usage errors and other failures (transport, 5xx).
// Never throws.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// Time arguments: "now", unix seconds ("1717200000"), or an offset
// "+N<unit>" / "-N<unit>" with unit s, m, h, d or w. Offsets are added to
// |relative_to|; "now" is |now|. nullopt for anything else or a result
// outside [0, 2200-01-01).
std::optional<int64_t> parse_time_spec(std::string_view spec, int64_t relative_to, int64_t now);

// "2024-06-01T00:00:00Z"
std::string iso8601_utc(int64_t unix_seconds);

// pending (not yet published), published (listed, not yet issuing),
// active (issuing), expired.
std::string_view key_status(const athm::keys::key_schedule& s, athm::keys::clock::time_point now);

struct keygen_options {
  std::filesystem::path dir;
  uint32_t n_buckets = 4;
  std::string deployment_id = "athmd";
  std::string not_before = "now";  // relative to now
  std::string publish_at;          // default: not_before; offsets relative to not_before
  std::string expires;             // default: "+30d"; offsets relative to not_before
};

struct keygen_result {
  athm::key_id id{};
  std::filesystem::path file;
  // Set when athmd would refuse |dir| as its key directory because group or
  // others can write it; the key is written all the same.
  std::string warning;
};

// Generates a key whose truncated id differs from every non-expired key in
// |dir| (regenerating as needed) and writes it with write_key_file. Creates
// |dir| (mode 0700) if it does not exist. Holds an flock on |dir| while
// checking and writing, so concurrent keygens do not collide. Fails when the
// schedule is invalid or already expired, when a key file in |dir| cannot be
// read, or when all 256 truncated ids are taken by live keys.
outcome<keygen_result> keygen(const keygen_options& options, int64_t now_unix);

}  // namespace athm::cli
