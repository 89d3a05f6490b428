// The key directory: every "*.key" file in one directory (not recursive).
// Other names (including the ".<name>.tmp" files write_key_file uses and
// hidden files) are ignored.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/keys/key_file.h"
#include "server/keys/key_ring.h"
#include "server/keys/outcome.h"

namespace athm::keys {

struct loaded_keys {
  std::shared_ptr<const key_ring> ring;  // never null
  // Log-safe notes about skipped files (expired keys), one per file, and a
  // note when no key at all is loaded.
  std::vector<std::string> warnings;
};

// Loads every *.key file in |dir| in name order.
//  - |dir| itself must belong to this process's effective uid or to root
//    and must not be writable by group or others, who could add or swap
//    key files ("<dir>: permissions 0777 let other users add or replace
//    key files; chmod 700 <dir>").
//  - A key that has expired at |now| is skipped with a warning; its text is
//    still parsed strictly, but its key pair is not checked.
//  - Every other file must load (key_file_checks::mode_and_owner, format,
//    key pair, proof, schedule) or the whole directory fails.
//  - Two non-expired keys with the same truncated key id (the last byte of
//    the key id, all that an issuance request carries) fail the directory;
//    the message names both files. This also catches one key in two files.
// An empty directory is not an error (the ring is empty, with a warning).
// Fails if |dir| cannot be listed. Thread-safe.
outcome<loaded_keys> try_load_key_directory(const std::filesystem::path& dir,
                                            clock::time_point now = clock::now());
// As try_load_key_directory, for start-up: throws key_error.
loaded_keys load_key_directory(const std::filesystem::path& dir,
                               clock::time_point now = clock::now());

// For a key directory whose st_mode is |mode|: "<dir>: permissions 0777
// let other users add or replace key files" when group or others may write
// it (try_load_key_directory refuses it), empty otherwise.
std::string directory_mode_problem(const std::filesystem::path& dir, unsigned mode);

// The *.key files in |dir|, sorted by name.
outcome<std::vector<std::filesystem::path>> list_key_files(const std::filesystem::path& dir);

// read_key_file_summary for every *.key file in |dir| (expired ones too),
// sorted by name. No permission and no cryptographic checks; fails on the
// first unreadable or malformed file. For tools (list, keygen).
outcome<std::vector<key_file_summary>> scan_key_directory(const std::filesystem::path& dir);

// A cheap fingerprint of |dir|: its own owner and mode, and the sorted
// *.key names with their size, mtime (ns), ctime (ns), inode, owner and
// mode (following symlinks). Equal fingerprints mean "nothing to reload"
// for every practical edit (writes, renames, chmod, chown, atomic symlink
// swaps). Fails if |dir| cannot be listed; a file that vanishes while
// listing is recorded as missing. Thread-safe.
outcome<std::string> fingerprint_key_directory(const std::filesystem::path& dir);

}  // namespace athm::keys
