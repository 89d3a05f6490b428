// One issuer key per file: the on-disk format, reading and writing.
//
// Format (version 1). ASCII text, every line ends with "\n", no blank lines,
// no comments, no carriage returns, no other control characters:
//
//   athm-key v1
//   token_type: 49278
//   n_buckets: 4
//   deployment_id: example.com/2024
//   publish_at: 1717200000
//   not_before: 1717200000
//   expires: 1719792000
//   token_key: <base64url, no padding, of the 163-byte published key>
//   private_key: <base64url, no padding, of the 160-byte private key>
//
// After the header line each line is "name: value" (exactly one space after
// the colon; only deployment_id may be empty, written "deployment_id:").
// Fields may come in any order. Unknown, duplicate and missing fields are
// errors, as are a token_type other than 49278 (0xC07E), numbers with a sign,
// leading zeros or more than 19 digits, times at or after 2200-01-01, padded or
// non-canonical base64url, wrong decoded lengths and an inconsistent schedule
// (publish_at <= not_before < expires must hold). Times are unix seconds.
//
// Secrets: the file contents and the decoded private key only ever live in
// athm::secret_buffer / secret_array (wiped when freed); the private_key field
// is encoded and decoded in constant time. Error messages have the form
// "<file>: <field or line>: <reason>" and never contain key material or any
// field value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "crypto/athm.h"
#include "crypto/secret.h"
#include "server/keys/key_ring.h"
#include "server/keys/outcome.h"

namespace athm::keys {

inline constexpr std::string_view kKeyFileHeader = "athm-key v1";
inline constexpr std::string_view kKeyFileExtension = ".key";
// A version-1 file is about 700 bytes; anything far larger is not a key file.
inline constexpr size_t kMaxKeyFileBytes = 8192;
// Times in key files are unix seconds in [0, kMaxUnixSeconds): before
// 2200-01-01, so they fit system_clock's nanosecond time_point.
inline constexpr int64_t kMaxUnixSeconds = 7258118400;

// The public facts of a key file, read without any cryptographic check
// (the private_key field is still decoded and its length checked, then wiped).
// Cheap: used by `athm list` and by keygen's collision check.
struct key_file_summary {
  std::filesystem::path file;
  uint32_t n_buckets = 0;
  std::string deployment_id;
  key_schedule schedule;
  athm::token_key_bytes token_key{};
  athm::key_id id{};  // SHA-256 of the first 99 bytes of token_key

  uint8_t truncated_id() const { return id[athm::kKeyIdBytes - 1]; }
};

// Unix seconds, rounded down (towards the past).
int64_t to_unix_seconds(clock::time_point t);
clock::time_point from_unix_seconds(int64_t seconds);

// "publish_at <= not_before < expires", or an error naming the rule broken.
outcome<void> check_schedule(const key_schedule& schedule);

// Serializes |key| with |schedule| into version-1 text. Fails (message only)
// if the schedule is inconsistent or a time is outside [1970, 2200).
// Times are rounded down to whole seconds first.
outcome<athm::secret_buffer> format_key_file(const athm::private_key& key,
                                             const key_schedule& schedule);

// Parses version-1 text and validates it completely: builds the suite,
// rebuilds the public key from the private scalars (key_mismatch), verifies
// the key proof. |name| is used in error messages only; the returned key's
// |file| is set to it. Does not touch the filesystem. Thread-safe.
outcome<issuer_key> parse_key_file(std::span<const uint8_t> text,
                                   const std::filesystem::path& name);

// Strict text parse without the cryptographic checks. Thread-safe.
outcome<key_file_summary> parse_key_file_summary(std::span<const uint8_t> text,
                                                 const std::filesystem::path& name);

// What read_key_file_bytes requires of the file besides its type and size.
enum class key_file_checks {
  none,
  // (st_mode & 077) == 0:
  //   "<path>: permissions 0644 are too open; chmod 600 <path>".
  mode,
  // mode, and the owner is this process's effective uid or root; any other
  // owner could replace the key:
  //   "<path>: owned by uid 1000, not by this process's uid 10001 or root; ...".
  mode_and_owner,
};

// Reads |path| (following symlinks) into a secret_buffer. Fails unless the
// target is a regular file of at most kMaxKeyFileBytes bytes and passes
// |checks| (checked on the open descriptor).
outcome<athm::secret_buffer> read_key_file_bytes(const std::filesystem::path& path,
                                                 key_file_checks checks = key_file_checks::mode);

// read_key_file_bytes (key_file_checks::mode) + parse_key_file.
outcome<issuer_key> try_load_key_file(const std::filesystem::path& path);
// As try_load_key_file, for start-up: throws key_error.
issuer_key load_key_file(const std::filesystem::path& path);

// read_key_file_bytes (key_file_checks::none) + parse_key_file_summary.
outcome<key_file_summary> read_key_file_summary(const std::filesystem::path& path);

// "<first 16 hex chars of the key id>.key"
std::string key_file_name(const athm::key_id& id);

// Lower-case hex of |bytes|. Public data only (variable time).
std::string hex_public(std::span<const uint8_t> bytes);

// Writes |key| with |schedule| to |dir|/key_file_name(id). The file is first
// written to a temporary name (".<name>.<pid>.tmp", not matched by the
// loader) created with O_CREAT|O_EXCL and mode 0600 (fchmod, so the umask
// does not matter), fsynced, then hard-linked to its final name, which
// therefore must not exist yet, and the directory is fsynced. The key
// appears complete or not at all. Returns the final path. The directory
// must exist. Never overwrites. Thread-safe.
outcome<std::filesystem::path> write_key_file(const std::filesystem::path& dir,
                                              const athm::private_key& key,
                                              const key_schedule& schedule);

}  // namespace athm::keys
