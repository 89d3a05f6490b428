// Graceful shutdown as a component with a time budget.
//
//   begin(budget, on_done), first call:
//     1. stop accepting (before begin returns: new connections are refused);
//     2. drain: connections close after the responses they owe, idle ones
//        close at once;
//     3. wait until nothing is open and no handler is outstanding -> drained;
//     4. if the budget expires first: force-close everything -> forced.
//   begin(...), any later call: force-close now (its on_done is ignored).
//
// on_done runs once, on an I/O thread, when the shutdown is complete.
// "Forced" completes once every connection is closed; handlers still running
// are not waited for (their completions are dropped).
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <functional>

namespace athm::http {

enum class shutdown_outcome {
  drained,  // everything finished within the budget
  forced,   // the budget expired or a second request came; connections were cut
};

// How often the drain checks whether it is done. Completion is detected at
// most this late; checking counters is cheaper than a callback per session.
inline constexpr std::chrono::milliseconds k_drain_poll_interval{10};

class shutdown_controller {
 public:
  // What the controller drives. Every hook must be thread-safe and must not
  // block; drained() and closed() are polled.
  struct hooks {
    std::function<void()> stop_accepting;
    std::function<void()> drain;
    std::function<void()> force_close;
    std::function<bool()> drained;  // nothing open and nothing in flight
    std::function<bool()> closed;   // nothing open
  };

  // |ex| runs the timers; the controller must outlive the io_context's
  // threads (destroy it after they have stopped).
  shutdown_controller(boost::asio::any_io_executor ex, hooks h);
  shutdown_controller(const shutdown_controller&) = delete;
  shutdown_controller& operator=(const shutdown_controller&) = delete;

  // Thread-safe. See the file comment. |budget| <= 0 forces at once.
  void begin(std::chrono::milliseconds budget, std::function<void(shutdown_outcome)> on_done);

  bool started() const noexcept { return started_.load(std::memory_order_acquire); }
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

 private:
  void on_begin(std::chrono::milliseconds budget, std::function<void(shutdown_outcome)> on_done);
  void force();
  void poll();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  hooks hooks_;
  boost::asio::steady_timer budget_timer_;
  boost::asio::steady_timer poll_timer_;
  std::function<void(shutdown_outcome)> on_done_;
  std::atomic<bool> started_{false};
  std::atomic<bool> forced_{false};
  std::atomic<bool> finished_{false};
};

}  // namespace athm::http
