#include "server/http/shutdown.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

namespace athm::http {

namespace net = boost::asio;

shutdown_controller::shutdown_controller(net::any_io_executor ex, hooks h)
    : strand_(net::make_strand(ex)), hooks_(std::move(h)), budget_timer_(strand_), poll_timer_(strand_) {}

void shutdown_controller::begin(std::chrono::milliseconds budget,
                                std::function<void(shutdown_outcome)> on_done) {
  if (started_.exchange(true, std::memory_order_acq_rel)) {
    // Second request: cut everything now. Both hooks are thread-safe.
    if (!forced_.exchange(true, std::memory_order_acq_rel)) {
      hooks_.force_close();
      net::post(strand_, [this] {
        budget_timer_.cancel();
        hooks_.force_close();  // also catches sessions that started meanwhile
      });
    }
    return;
  }
  hooks_.stop_accepting();
  hooks_.drain();
  net::post(strand_, [this, budget, on_done = std::move(on_done)]() mutable {
    on_begin(budget, std::move(on_done));
  });
}

void shutdown_controller::on_begin(std::chrono::milliseconds budget,
                                   std::function<void(shutdown_outcome)> on_done) {
  on_done_ = std::move(on_done);
  if (budget.count() <= 0) {
    force();
  } else if (!forced_.load(std::memory_order_acquire)) {
    budget_timer_.expires_after(budget);
    budget_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        force();
      }
    });
  }
  poll();
}

void shutdown_controller::force() {
  forced_.store(true, std::memory_order_release);
  hooks_.force_close();
}

void shutdown_controller::poll() {
  if (finished()) {
    return;
  }
  const bool forced = forced_.load(std::memory_order_acquire);
  if (forced ? hooks_.closed() : hooks_.drained()) {
    finished_.store(true, std::memory_order_release);
    budget_timer_.cancel();
    auto done = std::move(on_done_);
    if (done) {
      done(forced ? shutdown_outcome::forced : shutdown_outcome::drained);
    }
    return;
  }
  poll_timer_.expires_after(k_drain_poll_interval);
  poll_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      poll();
    }
  });
}

}  // namespace athm::http
