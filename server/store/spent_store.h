// The spent-token store: an atomic check-and-mark, scoped per issuer key.
//
// Callers verify a token first and only then mark it, so unverifiable garbage
// never reaches the store. A mark is durable (LMDB: committed with fsync;
// Redis: acknowledged) before the completion reports spend_result::fresh.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace athm::store {

using key_id = std::array<uint8_t, 32>;
using marker = std::array<uint8_t, 32>;
using clock = std::chrono::system_clock;

enum class spend_result {
  fresh,          // first use: the mark is now durable
  already_spent,  // the marker was already present for this key
  unavailable,    // the store could not decide (I/O error, timeout): fail closed
};

const char* to_string(spend_result r) noexcept;

// Completion of an asynchronous check-and-mark. Invoked exactly once, on a
// thread owned by the store (never inline from check_and_mark); callers that
// need their own executor post from it.
using spend_handler = std::function<void(spend_result)>;

class spent_store {
 public:
  virtual ~spent_store() = default;

  // Atomically: if (key, marker) is absent, record it and report fresh;
  // otherwise report already_spent. |key_expiry| is when the issuer key
  // expires; the mark is kept at least until then and may be purged after.
  // Thread-safe. Never throws.
  virtual void check_and_mark(const key_id& key, const marker& m,
                              clock::time_point key_expiry,
                              spend_handler done) noexcept = 0;

  // Deletes marks of keys that expired before |now|. Returns how many marks
  // were removed, or -1 on error. Thread-safe.
  virtual int64_t purge_expired(clock::time_point now) noexcept = 0;

  // True when the store can currently take marks (for /readyz).
  virtual bool healthy() const noexcept = 0;

  // Short name for logs and metrics: "lmdb", "memory", "redis".
  virtual const char* name() const noexcept = 0;
};

}  // namespace athm::store
