// The shared spent store for a fleet of replicas, on Redis.
//
// Mark: one atomic command, one round trip:
//   SET <prefix>:spent:<key id, first 8 bytes in hex>:<marker in hex> 1 NX PX <ms>
// "OK" (the server acknowledged the write) is fresh, a nil reply is
// already_spent, anything else (an error reply, a timeout, a lost
// connection, no connection at all) is unavailable. <ms> is the time left
// until the issuer key expires, rounded up, at least 1: Redis expires the
// mark when the key does, so purge_expired has nothing to do.
//
// Durability is the server's: "OK" means Redis applied the write. Run it
// with appendonly yes and appendfsync always for marks that survive a crash
// of Redis itself (the tests and the benchmark do).
//
// WARNING: unavailable does not mean "not marked". A command that timed out
// or whose connection broke may still have been applied, so a later retry
// of the same token can see already_spent. That is the fail-closed side.
//
// Keys and Redis Cluster: every command touches exactly one key, so no hash
// tag is needed to keep a command within one slot, and none is used on
// purpose: without one, the marks of a busy issuer key spread over all
// slots (and so over all shards) instead of piling onto one. The store
// itself talks to one endpoint and does not follow MOVED redirects.
// Only the first 8 bytes of the key id name the scope: key ids are hashes,
// so two live issuer keys sharing them is not a practical concern (and
// would only let their markers, themselves random, share one namespace).
//
// I/O: hiredis' asynchronous API driven by Boost.Asio on one thread owned by
// the store; callers' threads never block on the network. pool_size
// connections are used round-robin, each pipelining any number of commands.
// Each command has a deadline (timeout after check_and_mark); when the
// oldest command of a connection passes it, the command completes with
// unavailable, its late reply can no longer arrive, and the connection is
// dropped as suspect (every other command on it completes with unavailable)
// and reopened.
//
// Connections: opened at construction without waiting; reopened after any
// failure with a backoff from reconnect_min doubling to reconnect_max, reset
// by a successful handshake. Handshake: AUTH <password> when a password is
// set, then PING; a connection takes marks only after both succeed. While no
// connection is up, marks complete with unavailable at once. An idle
// connection is probed with PING so that healthy() stays current.
//
// Logs (spdlog's default logger): a connection going down or up, and the
// first failure of a series. The password, keys and markers are never
// logged.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/store/spent_store.h"

namespace athm::store {

struct redis_options {
  // IP literal or host name. A name is resolved (asynchronously) on every
  // connection attempt, so a moved server is found again.
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  // Sent with AUTH on every new connection when non-empty. Never logged.
  std::string password;
  // Bound on each command (from check_and_mark to the reply), on a TCP
  // connect and on each handshake command. Must be positive.
  std::chrono::milliseconds timeout{250};
  // First part of every key; see mark_key_for. Must be non-empty.
  std::string key_prefix = "athmd";
  // Connections to the server, at least 1.
  uint32_t pool_size = 4;
  // Marks accepted and not yet completed. Beyond this, check_and_mark
  // completes with unavailable at once. At least 1.
  std::size_t max_pending = 65536;
  // Reconnect backoff: the first retry waits reconnect_min, each further
  // failure doubles the wait up to reconnect_max. Positive, min <= max.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{2000};
  // An idle connection (no successful reply for this long) gets a PING.
  // Capped at timeout / 3 so that healthy() never lapses on an idle but
  // working connection. Positive.
  std::chrono::milliseconds ping_interval{1000};
};

// Counters since construction. Each is read atomically, the set is not a
// snapshot.
struct redis_stats {
  uint64_t fresh = 0;              // marks acknowledged by the server
  uint64_t already_spent = 0;      // marks the server already held
  uint64_t unavailable = 0;        // marks completed unavailable, any cause
  uint64_t no_connection = 0;      //   of which: no connection was up
  uint64_t overloaded = 0;         //   of which: max_pending was reached
  uint64_t timeouts = 0;           // deadlines passed (each drops a connection)
  uint64_t error_replies = 0;      // error replies to marks
  uint64_t connects = 0;           // handshakes that succeeded
  uint64_t disconnects = 0;        // ready connections that were lost
  uint32_t connections_up = 0;     // ready connections now
};

// The Redis key of a mark:
//   <prefix>:spent:<first 8 bytes of key, 16 hex digits>:<marker, 64 hex digits>
// Lower-case hex. Exposed so that tools and tests can find a mark.
std::string redis_mark_key(std::string_view prefix, const key_id& key, const marker& m);

class redis_store final : public spent_store {
 public:
  // Checks the options and starts the I/O thread, which begins connecting.
  // Does not wait for a connection: until one is up, healthy() is false and
  // marks complete with unavailable. Throws std::invalid_argument on bad
  // options and std::system_error if the thread cannot start (start-up
  // only).
  explicit redis_store(const redis_options& opts);
  // Stops taking marks (later calls complete with unavailable), lets the
  // commands in flight finish with their real result or unavailable at
  // their deadline (so this waits at most about timeout), closes every
  // connection and joins the I/O thread. Every completion has run when it
  // returns. WARNING: must not be called from a completion (it would join
  // its own thread).
  ~redis_store() override;

  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  // See spent_store. The command is encoded on the calling thread and sent
  // by the I/O thread; the completion runs on the I/O thread, so it must be
  // short (post elsewhere for real work) and must not throw. A key_expiry
  // at or before now marks with a 1 ms lifetime. Expiries more than 100
  // years ahead are cut to 100 years.
  void check_and_mark(const key_id& key, const marker& m, clock::time_point key_expiry,
                      spend_handler done) noexcept override;
  // Redis expires marks by itself: always 0.
  int64_t purge_expired(clock::time_point now) noexcept override;
  // True iff at least one connection is up and its last successful reply
  // (to a PING or a mark) is at most 2 * timeout old. Thread-safe.
  bool healthy() const noexcept override;
  const char* name() const noexcept override { return "redis"; }

  redis_stats stats() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace athm::store
