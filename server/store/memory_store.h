// An in-memory spent store. FOR TESTS ONLY.
//
// WARNING: marks live in process memory and vanish on exit, so after a
// restart every token would be accepted again. Never use it in production;
// the config allows it only so that tests and local experiments can run
// without a disk.
//
// It honours the full spent_store contract, including the asynchronous
// completion: the check-and-mark itself happens under a mutex inside
// check_and_mark, and the handler is then invoked on a worker thread owned
// by the store, so callers' tests exercise the same path as with LMDB.
#pragma once

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "server/store/completion_worker.h"
#include "server/store/spent_store.h"

namespace athm::store {

namespace detail {
// Seeded hash for 32-byte ids. Markers are chosen by clients, so the seed
// (random per process) keeps them from aiming at one bucket.
struct id_hash {
  std::size_t operator()(const std::array<uint8_t, 32>& id) const noexcept;
};
}  // namespace detail

class memory_store final : public spent_store {
 public:
  // Throws std::system_error if the worker thread cannot start.
  memory_store();
  // Invokes every pending completion, then stops the worker thread.
  ~memory_store() override;

  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  // See spent_store. If the same key is marked with different expiries, the
  // latest expiry wins (marks are kept at least until every given expiry).
  void check_and_mark(const key_id& key, const marker& m,
                      clock::time_point key_expiry,
                      spend_handler done) noexcept override;
  // Removes every key whose expiry is before |now|, with all its marks.
  // Never fails.
  int64_t purge_expired(clock::time_point now) noexcept override;
  // Always true.
  bool healthy() const noexcept override { return true; }
  const char* name() const noexcept override { return "memory"; }

  // Number of marks currently held. Thread-safe.
  std::size_t size() const;

 private:
  struct key_entry {
    clock::time_point expiry;
    std::unordered_set<marker, detail::id_hash> marks;
  };

  mutable std::mutex mu_;
  std::unordered_map<key_id, key_entry, detail::id_hash> keys_;
  detail::completion_worker worker_;  // last: drained before the sets go
};

}  // namespace athm::store
