#include "server/http/server.h"

#include <boost/asio/post.hpp>

#include <stdexcept>

namespace athm::http {

namespace net = boost::asio;

namespace {

// The server whose run_io_thread runs on this thread, if any.
thread_local const server* io_thread_of = nullptr;

std::uint32_t thread_count(std::uint32_t requested) {
  if (requested != 0) {
    return requested;
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

}  // namespace

server::server(std::uint32_t io_threads)
    : threads_n_(thread_count(io_threads)),
      ioc_(static_cast<int>(threads_n_)),
      work_(net::make_work_guard(ioc_)),
      shutdown_(ioc_.get_executor(),
                shutdown_controller::hooks{
                    [this] {
                      for (const auto& l : listeners_snapshot()) {
                        l->stop();
                      }
                    },
                    [this] {
                      for (const auto& l : listeners_snapshot()) {
                        l->drain();
                      }
                    },
                    [this] {
                      for (const auto& l : listeners_snapshot()) {
                        l->stop();
                        l->force_close();
                      }
                    },
                    [this] { return active_connections() == 0 && in_flight() == 0; },
                    [this] { return active_connections() == 0; },
                }) {}

server::~server() {
  stop();
  join();
  background_.clear();
  for (const auto& l : listeners_snapshot()) {
    l->stop();
    l->release_sessions();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  listeners_.clear();
}

std::shared_ptr<listener> server::add_listener(listener_options opts, session_factory factory) {
  if (shutdown_.started()) {
    throw std::logic_error("server: add_listener after begin_shutdown");
  }
  auto l = std::make_shared<listener>(ioc_, std::move(opts), std::move(factory));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& existing : listeners_) {
      if (existing->name() == l->name()) {
        throw std::invalid_argument("server: duplicate listener name " + l->name());
      }
    }
    listeners_.push_back(l);
  }
  l->start();
  return l;
}

std::shared_ptr<listener> server::find_listener(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& l : listeners_) {
    if (l->name() == name) {
      return l;
    }
  }
  return nullptr;
}

std::vector<std::shared_ptr<listener>> server::listeners_snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return listeners_;
}

void server::start() {
  if (started_) {
    throw std::logic_error("server: already started");
  }
  started_ = true;
  threads_.reserve(threads_n_);
  for (std::uint32_t i = 0; i < threads_n_; ++i) {
    threads_.emplace_back([this] { run_io_thread(); });
  }
}

void server::run() {
  if (started_) {
    throw std::logic_error("server: already started");
  }
  started_ = true;
  threads_.reserve(threads_n_ - 1);
  for (std::uint32_t i = 1; i < threads_n_; ++i) {
    threads_.emplace_back([this] { run_io_thread(); });
  }
  run_io_thread();
  join();
}

void server::run_io_thread() {
  struct marked {
    explicit marked(const server* s) { io_thread_of = s; }
    ~marked() { io_thread_of = nullptr; }
  } const mark(this);
  std::size_t turns = 0;
  for (;;) {
    if (turns < background_queue::max_turns && ioc_.poll_one() > 0) {
      ++turns;
      continue;
    }
    turns = 0;
    if (ioc_.stopped()) {
      return;
    }
    bool more = false;
    if (auto job = background_.try_pop(&more)) {
      if (more) {
        wake_one();  // the wake-up for the rest may have been this thread's
      }
      jobs_running_.fetch_add(1, std::memory_order_acq_rel);
      run_counted(*job);
      continue;
    }
    // Nothing ready and nothing queued: block until a handler runs (a
    // post_background wakes this with an empty one).
    if (ioc_.run_one() == 0) {
      return;
    }
  }
}

void server::post_background(background_queue::job job) {
  background_.push(std::move(job));  // throws only if not queued
  wake_one();
}

void server::dispatch_background(background_queue::job job) {
  if (io_thread_of == this && background_.size() == 0) {
    std::uint32_t running = jobs_running_.load(std::memory_order_acquire);
    while (running + 1 < threads_n_) {
      if (jobs_running_.compare_exchange_weak(running, running + 1, std::memory_order_acq_rel)) {
        run_counted(job);
        return;
      }
    }
  }
  post_background(std::move(job));
}

void server::run_counted(background_queue::job& job) noexcept {
  job();  // jobs do not throw (noexcept here)
  jobs_running_.fetch_sub(1, std::memory_order_acq_rel);
}

void server::wake_one() noexcept {
  try {
    net::post(ioc_, [] {});  // an I/O thread blocked in run_one returns
  } catch (...) {
    // Out of memory: queued jobs run at the next wake-up.
  }
}

void server::join() {
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

void server::stop() noexcept {
  ioc_.stop();
}

void server::begin_shutdown(std::chrono::milliseconds budget,
                            std::function<void(shutdown_outcome)> on_done) {
  shutdown_.begin(budget, [this, on_done = std::move(on_done)](shutdown_outcome outcome) {
    if (on_done) {
      on_done(outcome);
    }
    stop();
  });
}

std::size_t server::active_connections() const {
  std::size_t n = 0;
  for (const auto& l : listeners_snapshot()) {
    n += l->active_connections();
  }
  return n;
}

std::size_t server::in_flight() const {
  std::size_t n = 0;
  for (const auto& l : listeners_snapshot()) {
    n += l->in_flight();
  }
  return n;
}

}  // namespace athm::http
