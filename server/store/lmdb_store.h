// The embedded spent store for a single node, on LMDB.
//
// Layout: one LMDB environment (a directory) with two named databases.
//   "marks": key_id(32) || marker(32) -> empty. One entry per spent token.
//   "keys":  key_id(32) -> expiry, unix seconds as a big-endian u64, rounded
//            up. Written in the same transaction as the key's first mark.
//
// Durability: a mark is committed and on disk before its completion reports
// fresh, so it survives kill -9 and power loss (as far as the disk honours
// fsync). The environment runs with MDB_NOMETASYNC: a commit flushes its
// data pages and writes, without flushing, its meta page. A batch with fresh
// marks is completed only after a later flush of the file covers that meta
// page: the data flush of the next commit that changes the database, or an
// explicit mdb_env_sync when the queue is empty. Under load that is one
// flush per commit instead of two; when idle, two, as with full sync. If
// the explicit flush fails, the batch's fresh marks complete unavailable
// (they stay recorded, so a retry is already_spent: fail closed).
//
// Throughput: one writer thread does group commit. It takes every queued
// mark (up to max_batch), applies them all in one write transaction with
// MDB_NOOVERWRITE and commits. A second mark of the same (key, marker)
// within one batch is already_spent. The writer runs ten nice levels below
// the process, so a new mark does not preempt the thread that queued it and
// marks gather into larger batches. Completions run on a separate notifier
// thread owned by the store, so slow handlers never delay the next commit.
//
// Failure: request-path errors are values. A full queue, a failed
// transaction, or a full map complete with unavailable. A failed commit
// makes healthy() false until a later commit succeeds; the writer keeps
// trying with each new batch.
//
// A full map: LMDB cannot even delete without a few free pages, so the
// store keeps map_reserve_pages free of marks. Near the end of the map the
// writer takes smaller batches (what does not fit waits for the next
// transaction); once a single mark might cut into the reserve, marks
// complete with unavailable and healthy() is false, until purge_expired
// frees space or a later batch fits again. The map is never grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/store/spent_store.h"

namespace athm::store {

struct lmdb_options {
  // Directory of the environment. Created (mode 0700, with any missing
  // parents) if absent.
  std::string path;
  // Upper bound of the data file, in bytes. Marks cost about 100 bytes each.
  uint64_t map_size_bytes = 1ull << 30;
  // Marks waiting for the writer. Beyond this, check_and_mark completes with
  // unavailable at once instead of queueing.
  std::size_t max_pending = 65536;
  // Marks applied per write transaction (one fsync each).
  std::size_t max_batch = 4096;
  // Deletions per purge transaction, so a purge never holds the write lock
  // for long.
  std::size_t purge_batch = 10000;
  // Pages kept free so that purges can run in a full map. Marks are refused
  // (unavailable) when they could leave fewer free pages than this.
  std::size_t map_reserve_pages = 64;
};

// Counters since open. Each is read atomically, the set is not a snapshot.
struct lmdb_stats {
  uint64_t batches = 0;           // batches the writer took (one write txn each)
  uint64_t fresh = 0;             // marks committed
  uint64_t already_spent = 0;     // marks found present
  uint64_t queue_full = 0;        // marks refused because the queue was full
  uint64_t failed = 0;            // marks completed unavailable by an error
  uint64_t commit_failures = 0;   // batches that did not commit or flush
  uint64_t syncs = 0;             // explicit flushes of a committed batch
  uint64_t piggybacked = 0;       // batches made durable by the next commit's flush
  int writer_nice = 0;            // writer thread's nice once started (process's + 10, <= 19)
};

class lmdb_store final : public spent_store {
 public:
  // Opens (creating if needed) the environment, clears stale reader slots
  // and starts the writer and notifier threads. Throws std::runtime_error
  // with the path and LMDB's reason on any failure, including an attempt to
  // open the same directory twice in one process (LMDB forbids it).
  explicit lmdb_store(const lmdb_options& opts);
  // Stops taking marks, lets the writer finish everything queued (each
  // completion gets its real result), runs all completions, then closes the
  // environment. Marks submitted while this runs complete with unavailable.
  ~lmdb_store() override;

  lmdb_store(const lmdb_store&) = delete;
  lmdb_store& operator=(const lmdb_store&) = delete;

  // See spent_store. If a key is marked with different expiries, the latest
  // one is kept. Completions may run in a different order than calls.
  void check_and_mark(const key_id& key, const marker& m,
                      clock::time_point key_expiry,
                      spend_handler done) noexcept override;
  // Deletes the marks and the entry of every key whose expiry (rounded up to
  // a second) is before |now|, in transactions of at most purge_batch
  // deletions (fewer if the map is too full to delete that many at once).
  // Runs on the calling thread and blocks it; the writer waits for each of
  // its transactions. Returns marks removed, or -1 on error (deletions
  // committed before the error stay deleted).
  int64_t purge_expired(clock::time_point now) noexcept override;
  // True when the environment is open and the last commit succeeded.
  bool healthy() const noexcept override;
  const char* name() const noexcept override { return "lmdb"; }

  lmdb_stats stats() const noexcept;

  // Test hook. While held, the writer starts no new batch and marks queue
  // up (to max_pending). Releasing lets it take everything queued. The
  // destructor drains even while held.
  void hold_writer_for_testing(bool hold) noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace athm::store
