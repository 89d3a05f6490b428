// Test helpers for the HTTP transport: a blocking loopback client with
// timeouts, handlers that complete inline or later from other threads, and a
// server fixture on an ephemeral port.
#pragma once

#include <utility>

#include "server/http/handler.h"
#include "server/http/server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace athm::http::test {

namespace net = boost::asio;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
using client_response = bh::response<bh::string_body>;

// A blocking client: each call runs its own io_context until the operation
// completes or the timeout passes.
class client {
 public:
  // Connects to 127.0.0.1:|port|; connect_error() tells whether it worked.
  explicit client(std::uint16_t port, ms timeout = 2000ms) : socket_(ioc_) {
    ec_ = run(
        [&](auto done) {
          socket_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                [done](boost::system::error_code ec) { done(ec); });
        },
        timeout);
    connect_ec_ = ec_;
  }

  bool connected() const { return !connect_ec_; }
  boost::system::error_code connect_error() const { return connect_ec_; }
  boost::system::error_code last_error() const { return ec_; }
  tcp::socket& socket() { return socket_; }

  // Writes all of |bytes|. Returns false on error or timeout.
  bool send(std::string_view bytes, ms timeout = 2000ms) {
    ec_ = run(
        [&](auto done) {
          net::async_write(socket_, net::buffer(bytes.data(), bytes.size()),
                           [done](boost::system::error_code ec, std::size_t) { done(ec); });
        },
        timeout);
    return !ec_;
  }

  // Reads one response. |head|: the response to a HEAD request (no body).
  std::optional<client_response> read(ms timeout = 3000ms, bool head = false) {
    bh::response_parser<bh::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    ec_ = run(
        [&](auto done) {
          bh::async_read(socket_, buffer_, parser,
                         [done](boost::system::error_code ec, std::size_t) { done(ec); });
        },
        timeout);
    if (ec_) {
      return std::nullopt;
    }
    return parser.release();
  }

  // Waits for the server to close the connection. Returns true if it did
  // (end of stream or reset) within |timeout| without sending anything
  // further; false on timeout or if bytes arrived.
  bool closed_within(ms timeout) {
    if (buffer_.size() != 0) {
      return false;
    }
    char byte = 0;
    std::size_t got = 0;
    ec_ = run(
        [&](auto done) {
          socket_.async_read_some(net::buffer(&byte, 1), [done, &got](boost::system::error_code ec, std::size_t n) {
            got = n;
            done(ec);
          });
        },
        timeout);
    return got == 0 && (ec_ == net::error::eof || ec_ == net::error::connection_reset);
  }

  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  // Bytes already received but not yet parsed.
  std::size_t buffered() const { return buffer_.size(); }

 private:
  template <class Start>
  boost::system::error_code run(Start start, ms timeout) {
    ioc_.restart();
    bool done = false;
    boost::system::error_code result;
    start([&done, &result](boost::system::error_code ec) {
      done = true;
      result = ec;
    });
    ioc_.run_for(timeout);
    if (!done) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
      return net::error::timed_out;
    }
    return result;
  }

  net::io_context ioc_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code ec_;
  boost::system::error_code connect_ec_;
};

// Runs callbacks on their own threads after a delay; join_all() waits for
// them. Used to complete handlers from other threads, out of order.
class delayed_runner {
 public:
  ~delayed_runner() { join_all(); }
  void later(ms delay, std::function<void()> f) {
    std::lock_guard<std::mutex> lock(mutex_);
    threads_.emplace_back([delay, f = std::move(f)] {
      std::this_thread::sleep_for(delay);
      f();
    });
  }
  void join_all() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& t : threads) {
      t.join();
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

inline std::string sv(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

// Answers inline: "<METHOD> <target>\n<body>", plus the connection facts in
// headers.
class echo_handler final : public handler {
 public:
  void handle(request req, const request_context& ctx, respond done) noexcept override {
    ++calls;
    response res{bh::status::ok, 11};
    res.set(bh::field::content_type, "text/plain");
    res.set("X-Listener", ctx.listener);
    res.set("X-Remote", ctx.remote_address.to_string());
    res.body() = sv(req.method_string()) + " " + sv(req.target()) + "\n" + req.body();
    done(std::move(res));
  }
  std::atomic<int> calls{0};
};

// Answers from another thread after the delay given in the query
// ("/x?delay=300", in ms; default 0). The body is the target.
class delayed_handler final : public handler {
 public:
  explicit delayed_handler(std::shared_ptr<delayed_runner> runner) : runner_(std::move(runner)) {}
  void handle(request req, const request_context&, respond done) noexcept override {
    ++calls;
    const std::string target = sv(req.target());
    ms delay{0};
    if (const auto p = target.find("delay="); p != std::string::npos) {
      delay = ms(std::stoi(target.substr(p + 6)));
    }
    runner_->later(delay, [target, done = std::move(done)] {
      response res{bh::status::ok, 11};
      res.body() = target;
      done(std::move(res));
    });
  }
  std::atomic<int> calls{0};

 private:
  std::shared_ptr<delayed_runner> runner_;
};

// Holds every completion until release_all(); tracks how many are held.
class gate_handler final : public handler {
 public:
  void handle(request req, const request_context&, respond done) noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    held_.emplace_back(sv(req.target()), std::move(done));
    max_held_ = std::max(max_held_, held_.size());
    ++calls_;
    cv_.notify_all();
  }
  // Completes every held request, in reverse order of arrival.
  void release_all() {
    std::vector<std::pair<std::string, respond>> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held.swap(held_);
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      response res{bh::status::ok, 11};
      res.body() = it->first;
      it->second(std::move(res));
    }
  }
  bool wait_calls(std::size_t n, ms timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }
  std::size_t calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::size_t max_held() {
    std::lock_guard<std::mutex> lock(mutex_);
    return max_held_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, respond>> held_;
  std::size_t max_held_ = 0;
  std::size_t calls_ = 0;
};

inline limits test_limits() {
  limits l;
  l.read_timeout = 2000ms;
  l.idle_timeout = 5000ms;
  l.write_timeout = 2000ms;
  return l;
}

inline tcp::endpoint loopback_any_port() { return tcp::endpoint(net::ip::make_address("127.0.0.1"), 0); }

// A server on ephemeral loopback ports. listen() then start(); the
// destructor joins handler threads before the server goes.
struct fixture {
  explicit fixture(std::uint32_t threads = 2) : srv(std::make_unique<server>(threads)) {}
  ~fixture() {
    runner->join_all();  // every handler completion before the server goes
    srv.reset();
  }

  // Adds a listener; returns its port (also kept in |port| for the first).
  std::uint16_t listen(std::shared_ptr<handler> h, limits lim = test_limits(), access_log_hook log = {},
                       std::string name = "public") {
    const auto p = srv->add_listener({std::move(name), loopback_any_port(), lim, std::move(h), std::move(log)})->port();
    if (port == 0) {
      port = p;
    }
    return p;
  }
  void start() { srv->start(); }

  std::shared_ptr<delayed_runner> runner = std::make_shared<delayed_runner>();
  std::unique_ptr<server> srv;
  std::uint16_t port = 0;
};

// Polls |pred| until it holds or |timeout| passes.
template <class Pred>
bool eventually(Pred pred, ms timeout = 2000ms) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

inline std::string get(std::string_view target, std::string_view extra_headers = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra_headers) + "\r\n";
}

inline std::string post(std::string_view target, std::string_view body, std::string_view extra_headers = {}) {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra_headers) + "\r\n" + std::string(body);
}

}  // namespace athm::http::test
