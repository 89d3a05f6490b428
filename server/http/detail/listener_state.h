// What a listener shares with its sessions: the handler, the limits, the
// counters and the registry used to drain or force-close every connection.
// Internal to the transport; exposed only so that a session factory (the
// TLS seam) can build sessions. Not a stable API.
#pragma once

#include "server/http/access_log.h"
#include "server/http/handler.h"
#include "server/http/limits.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace athm::http::detail {

class listener_state;

// Type-erased face of a session<Stream>, for the registry.
class session_base : public std::enable_shared_from_this<session_base> {
 public:
  session_base() = default;
  session_base(const session_base&) = delete;
  session_base& operator=(const session_base&) = delete;
  virtual ~session_base() = default;

  // Thread-safe. Close after the responses already owed instead of keeping
  // the connection alive; close at once if nothing is owed.
  virtual void drain() = 0;
  // Thread-safe. Close the connection now; owed responses are dropped.
  virtual void force_close() = 0;
  // Only while no thread runs the io_context: drop the self-reference a
  // session keeps while a handler is outstanding, so that a session whose
  // handler completion can no longer run is freed.
  virtual void release() = 0;

 private:
  friend class listener_state;
  session_base* prev_ = nullptr;  // intrusive registry links, guarded by
  session_base* next_ = nullptr;  // listener_state::mutex_
};

// Holds one of a listener's connection slots; gives it back when released
// or destroyed. Move-only.
class connection_ticket {
 public:
  connection_ticket() = default;
  explicit connection_ticket(std::shared_ptr<listener_state> s) noexcept : state_(std::move(s)) {}
  connection_ticket(connection_ticket&& o) noexcept = default;
  connection_ticket& operator=(connection_ticket&& o) noexcept {
    if (this != &o) {
      release();
      state_ = std::move(o.state_);
    }
    return *this;
  }
  ~connection_ticket() { release(); }
  explicit operator bool() const noexcept { return state_ != nullptr; }
  inline void release() noexcept;

 private:
  std::shared_ptr<listener_state> state_;
};

class listener_state : public std::enable_shared_from_this<listener_state> {
 public:
  listener_state(std::string name, limits lim, std::shared_ptr<handler> h, access_log_hook log)
      : name(std::move(name)), lim(lim), handler(std::move(h)), access_log(std::move(log)) {}

  const std::string name;
  const limits lim;
  const std::shared_ptr<athm::http::handler> handler;
  const access_log_hook access_log;  // may be empty

  // Takes a connection slot, or returns an empty ticket at max_connections.
  connection_ticket try_acquire() {
    auto n = open_.fetch_add(1, std::memory_order_relaxed);
    if (n >= lim.max_connections) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      return {};
    }
    return connection_ticket(shared_from_this());
  }
  void release_connection() noexcept { open_.fetch_sub(1, std::memory_order_relaxed); }

  // Open connections (sockets not yet closed).
  std::size_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }

  // Requests handed to the handler whose completion has not yet run.
  void request_started() noexcept { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  // Once set, sessions stop keeping connections alive. Never cleared.
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }

  void add(session_base* s) {
    std::lock_guard<std::mutex> lock(mutex_);
    s->prev_ = nullptr;
    s->next_ = head_;
    if (head_ != nullptr) {
      head_->prev_ = s;
    }
    head_ = s;
  }
  void remove(session_base* s) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (s->prev_ != nullptr) {
      s->prev_->next_ = s->next_;
    } else if (head_ == s) {
      head_ = s->next_;
    }
    if (s->next_ != nullptr) {
      s->next_->prev_ = s->prev_;
    }
    s->prev_ = s->next_ = nullptr;
  }

  // Sets draining and asks every registered session to drain. A session
  // registered after this call sees draining() at start.
  void drain_all() {
    draining_.store(true, std::memory_order_release);
    for (const auto& s : snapshot()) {
      s->drain();
    }
  }
  void force_close_all() {
    draining_.store(true, std::memory_order_release);
    for (const auto& s : snapshot()) {
      s->force_close();
    }
  }
  void release_all() {
    for (const auto& s : snapshot()) {
      s->release();
    }
  }

 private:
  // Strong references taken under the lock, used outside it: a session
  // being destroyed (weak_from_this expired) is skipped.
  std::vector<std::shared_ptr<session_base>> snapshot() {
    std::vector<std::shared_ptr<session_base>> out;
    std::lock_guard<std::mutex> lock(mutex_);
    for (session_base* s = head_; s != nullptr; s = s->next_) {
      if (auto sp = s->weak_from_this().lock()) {
        out.push_back(std::move(sp));
      }
    }
    return out;
  }

  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> draining_{false};
  std::mutex mutex_;
  session_base* head_ = nullptr;
};

inline void connection_ticket::release() noexcept {
  if (state_) {
    state_->release_connection();
    state_.reset();
  }
}

}  // namespace athm::http::detail
