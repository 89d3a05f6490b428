// Work that yields to request handling. The server's I/O threads run a
// queued job only when no handler of the io_context is ready, or after
// max_turns handlers in a row since the last job, so a stream of cheap
// requests (a redemption, a directory read) is not held up behind long
// computations (a TokenResponse) and cannot starve them either.
//
// Jobs run in FIFO order, each on one I/O thread, and must not throw. Jobs
// still queued when the server stops are destroyed without running, like
// handlers left in a stopped io_context. The queue has no cap of its own:
// each job answers a request in flight, and those are capped per listener
// by limits::max_connections x limits::max_pipelined.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace athm::http {

class background_queue {
 public:
  using job = std::function<void()>;

  // Ready handlers an I/O thread runs in a row before it takes a queued job.
  static constexpr std::size_t max_turns = 32;

  // Thread-safe. Does not wake anyone: server::post_background does.
  void push(job j);
  // The oldest job, or nothing. Thread-safe. |more|, if given, tells
  // whether jobs remain after it.
  std::optional<job> try_pop(bool* more = nullptr);
  std::size_t size() const;
  // Destroys every queued job without running it.
  void clear() noexcept;

 private:
  mutable std::mutex mu_;
  std::deque<job> jobs_;
};

}  // namespace athm::http
