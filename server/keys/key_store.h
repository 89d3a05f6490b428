// key_store: the daemon's current key_ring, reloadable while requests run.
//
// Readers call current() and keep the returned snapshot for the whole
// request; reload() builds a new ring from the directory and swaps it in only
// if it loaded completely. A failed reload leaves the old ring in place.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/keys/key_directory.h"
#include "server/keys/key_ring.h"

namespace athm::keys {

struct reload_result {
  bool attempted = false;  // false: reload_if_changed found nothing to do
  bool ok = false;         // the new ring is now current
  std::string error;       // set when attempted && !ok; log-safe
  std::vector<std::string> warnings;
  std::shared_ptr<const key_ring> ring;  // the ring current after the call
};

class key_store {
 public:
  // Loads |directory| (load_key_directory). Throws key_error on failure; its
  // warnings are available from initial_warnings().
  explicit key_store(std::filesystem::path directory, clock::time_point now = clock::now());
  // A store around a fixed ring with no directory (for tests and embedding):
  // reload() fails with "no key directory" and keeps |ring|.
  explicit key_store(std::shared_ptr<const key_ring> ring);

  key_store(const key_store&) = delete;
  key_store& operator=(const key_store&) = delete;

  // The current snapshot; never null. Thread-safe, wait-free for practical
  // purposes (a short mutex hold to copy a shared_ptr).
  std::shared_ptr<const key_ring> current() const;

  const std::vector<std::string>& initial_warnings() const { return initial_warnings_; }
  const std::filesystem::path& directory() const { return directory_; }

  // Reloads the directory now. On success swaps the ring in; on failure
  // keeps the old ring and returns the error. Either way the directory's
  // fingerprint taken just before loading is remembered, so
  // reload_if_changed() does not retry (or re-log) a broken directory until
  // it changes again. Thread-safe; concurrent reloads are serialized.
  reload_result reload(clock::time_point now = clock::now());

  // True if the directory's fingerprint (or the error taking it) differs
  // from the one seen at the last (re)load. Cheap: stats the *.key files only.
  bool changed_on_disk() const;

  // reload() if changed_on_disk(), else {attempted = false, ok = true}.
  reload_result reload_if_changed(clock::time_point now = clock::now());

 private:
  reload_result reload_locked(clock::time_point now);

  const std::filesystem::path directory_;
  std::vector<std::string> initial_warnings_;

  mutable std::mutex ring_mu_;  // guards ring_
  std::shared_ptr<const key_ring> ring_;

  mutable std::mutex reload_mu_;  // serializes reloads; guards fingerprint_
  std::string fingerprint_;  // or "!" + the listing error
};

}  // namespace athm::keys
