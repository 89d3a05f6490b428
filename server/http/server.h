// The HTTP server: one io_context run by N threads, any number of named
// listeners (each with its own handler and limits), and graceful shutdown.
//
//   athm::http::server srv(cfg.server.io_threads);
//   srv.add_listener({"public", public_ep, limits, public_router, log_hook});
//   srv.add_listener({"internal", internal_ep, limits, internal_router, log_hook});
//   boost::asio::signal_set signals(srv.io_context(), SIGINT, SIGTERM);
//   signals.async_wait(...) -> srv.begin_shutdown(grace, on_done)  // again: force
//   srv.run();  // returns once the shutdown completes or stop() is called
//
// Signals are not handled here; a signal_set can live on io_context().
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/http/background_queue.h"
#include "server/http/listener.h"
#include "server/http/shutdown.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

namespace athm::http {

class server {
 public:
  // |io_threads| threads will run the io_context; 0 = one per core
  // (std::thread::hardware_concurrency(), at least 1). No thread starts yet.
  explicit server(std::uint32_t io_threads = 0);
  // Stops, joins the threads, closes every connection and frees sessions.
  // WARNING: every handler completion must have been called before this
  // (a completion arriving later touches freed memory).
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds a listener and starts accepting (connections are served once the
  // threads run). Start-up only, before begin_shutdown(). Throws as
  // listener::listener does. The returned listener stays owned by the server.
  std::shared_ptr<listener> add_listener(listener_options opts, session_factory factory = {});
  // The listener named |name|, or null.
  std::shared_ptr<listener> find_listener(std::string_view name) const;

  // Starts the I/O threads and returns. Call start() or run(), once.
  void start();
  // Runs the io_context on the calling thread plus io_threads-1 others;
  // returns when the io_context stops (after a shutdown or stop()), with
  // the other threads joined.
  void run();
  // Waits for the threads started by start(). Not from an I/O thread.
  void join();
  // Stops the io_context now, without closing anything. Thread-safe.
  void stop() noexcept;

  // Graceful shutdown with a time budget (see shutdown.h). Thread-safe.
  // After |on_done| returns (on an I/O thread) the io_context is stopped,
  // so run() returns. A second call forces at once.
  void begin_shutdown(std::chrono::milliseconds budget,
                      std::function<void(shutdown_outcome)> on_done = {});
  bool shutting_down() const noexcept { return shutdown_.started(); }

  // Sums over listeners; thread-safe, relaxed (for metrics and readiness).
  std::size_t active_connections() const;
  std::size_t in_flight() const;

  // Queues |job| to run on an I/O thread once no ready handler is waiting
  // (see background_queue.h): for CPU-heavy work started by a handler.
  // Thread-safe. Throws (out of memory) only if the job was not queued; jobs
  // still queued when the io_context stops never run.
  void post_background(background_queue::job job);
  // Runs |job| at once, on the calling thread, if that is one of this
  // server's N I/O threads, nothing is queued, and fewer than N-1 jobs are
  // running; otherwise post_background(job). So at least one I/O thread is
  // always free of such jobs to answer ready handlers, and with one thread
  // every job is queued. Same contract for |job| and exceptions as
  // post_background.
  void dispatch_background(background_queue::job job);
  std::size_t background_pending() const { return background_.size(); }

  std::uint32_t io_threads() const noexcept { return threads_n_; }
  // For the daemon's signal_set and timers. Do not run() it yourself.
  boost::asio::io_context& io_context() noexcept { return ioc_; }
  boost::asio::any_io_executor get_executor() noexcept { return ioc_.get_executor(); }

 private:
  std::vector<std::shared_ptr<listener>> listeners_snapshot() const;
  // An I/O thread: ready handlers first, a background job when none is
  // ready or after background_queue::max_turns of them. Returns once the
  // io_context stops.
  void run_io_thread();
  // Lets one I/O thread blocked in run_one() return and look at the queue.
  void wake_one() noexcept;
  // Runs |job| counted in jobs_running_, which the caller has incremented.
  void run_counted(background_queue::job& job) noexcept;

  std::uint32_t threads_n_;
  boost::asio::io_context ioc_;  // before everything that uses it: destroyed after them
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  background_queue background_;
  std::atomic<std::uint32_t> jobs_running_{0};  // background jobs on I/O threads now
  mutable std::mutex mutex_;  // guards listeners_
  std::vector<std::shared_ptr<listener>> listeners_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  shutdown_controller shutdown_;
};

}  // namespace athm::http
