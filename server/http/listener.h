// Accepts connections on one endpoint and starts a session for each.
//
// Connection cap: a connection accepted while the listener already has
// max_connections open is closed at once (the peer sees end of stream with
// no response). Accepting never stops, so the kernel backlog does not fill
// with connections nobody answers, and a load balancer learns quickly that
// this instance is full. Open connections are counted with an atomic; a
// connection counts from accept until its socket is closed.
//
// Every accepted socket gets TCP_NODELAY (responses are small and written
// whole) and a strand of its own. The session is built by a session_factory:
// plain HTTP by default; tls_session_factory (tls_session.h) wraps the
// socket, handshakes, and starts a session over the TLS stream.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/http/access_log.h"
#include "server/http/detail/listener_state.h"
#include "server/http/handler.h"
#include "server/http/limits.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace athm::http {

// The handler is shared by every connection of the listener: handle() is
// called concurrently from several I/O threads (one request at a time per
// connection, but pipelined requests of one connection may be outstanding
// together). The request_context it gets stays valid until |done| is called.
// |done| must be called exactly once, and before the server is destroyed.
struct listener_options {
  std::string name = "public";              // reported in request_context and the access log
  boost::asio::ip::tcp::endpoint endpoint;  // port 0 picks an ephemeral port (tests)
  limits lim;
  std::shared_ptr<athm::http::handler> handler;  // required
  access_log_hook access_log;               // optional
};

// Builds and starts a session for |socket| (already accepted, TCP_NODELAY
// set, executor a fresh strand). Owns the socket and the ticket from then on;
// must release the ticket when the connection ends (a session does so on
// close). Called on an I/O thread; must not block.
using session_factory = std::function<void(boost::asio::ip::tcp::socket&& socket,
                                           detail::connection_ticket ticket,
                                           const std::shared_ptr<detail::listener_state>& state)>;

// The plain HTTP factory: session<tcp::socket>, request_context::tls = false.
session_factory plain_session_factory();

// After an accept error (e.g. out of file descriptors), wait this long
// before accepting again instead of spinning on the error.
inline constexpr std::chrono::milliseconds k_accept_retry_delay{50};

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Opens, binds (SO_REUSEADDR) and listens. Start-up only. Throws
  // std::invalid_argument for a missing handler or unusable limits, and
  // boost::system::system_error if the endpoint cannot be bound.
  listener(boost::asio::io_context& ioc, listener_options opts,
           session_factory factory = plain_session_factory());
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  // Begins accepting. Call once, on a listener owned by a shared_ptr.
  void start();
  // Stops accepting now: the socket is closed before this returns, so new
  // connections are refused. Open connections are not touched. Thread-safe,
  // idempotent.
  void stop() noexcept;

  // Thread-safe. Sessions close after the responses they owe; idle ones
  // close at once. Does not stop accepting (call stop() first).
  void drain();
  // Thread-safe. Closes every open connection now.
  void force_close();
  // Only while no thread runs the io_context (see session_base::release).
  void release_sessions();

  const std::string& name() const noexcept { return state_->name; }
  // The bound endpoint and port (the real port when bound to port 0).
  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return local_endpoint_; }
  std::uint16_t port() const noexcept { return local_endpoint_.port(); }

  // Thread-safe, relaxed: for metrics and readiness.
  std::size_t active_connections() const noexcept { return state_->open_connections(); }
  std::size_t in_flight() const noexcept { return state_->in_flight(); }

 private:
  void do_accept();  // with mutex_ held
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  std::shared_ptr<detail::listener_state> state_;
  session_factory factory_;
  std::mutex mutex_;  // guards acceptor_, retry_timer_, stopped_
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  bool stopped_ = false;
};

}  // namespace athm::http
