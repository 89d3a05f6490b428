// HTTPS: the TLS stream type, how a session ends it, and the session
// factory that handshakes before serving HTTP/1.1 over it.
//
// Per connection (all on the connection's strand):
//   1. accept (listener), then build a tls_stream on tls_context::current();
//   2. server handshake, bounded by limits::read_timeout. A failure or
//      timeout closes the socket quietly and is counted in
//      tls_context::counters(); nothing is logged;
//   3. session<tls_stream>: the same HTTP logic as plain TCP, with
//      request_context::tls = true;
//   4. after the final response, close_notify is sent and the peer's
//      close_notify is awaited for at most k_linger_timeout; a peer that
//      never answers does not hold the connection. Timeouts, errors and force-close cut the TCP
//      connection without close_notify.
// While handshaking, a connection counts against max_connections, and a
// listener drain or force-close closes it at once (it owes no response).
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/http/listener.h"
#include "server/http/session.h"
#include "server/http/tls_context.h"
#include "server/http/tls_stream.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>

#include <memory>

namespace athm::http {

template <>
struct stream_ops<tls_stream> {
  static constexpr bool protocol_shutdown = true;
  // Sends close_notify, then waits for the peer's; the session bounds it.
  template <class Handler>
  static void async_shutdown(tls_stream& s, Handler&& handler) {
    s.async_shutdown(std::forward<Handler>(handler));
  }
  // Aborts outstanding reads and writes; the TLS state stays usable.
  static void cancel(tls_stream& s) noexcept {
    boost::system::error_code ec;
    s.lowest_layer().cancel(ec);
  }
  static void close(tls_stream& s) noexcept {
    boost::system::error_code ec;
    s.lowest_layer().close(ec);
  }
  // The peer closed TCP without close_notify: treated like end of stream,
  // so responses already owed are still written.
  static bool end_of_input(const boost::system::error_code& ec) noexcept {
    return ec == boost::asio::ssl::error::stream_truncated;
  }
  // Between requests: wait until BoringSSL holds input or the socket is
  // readable, so an idle connection holds no read buffer.
  static constexpr bool wait_before_read = true;
  template <class Handler>
  static void async_wait_readable(tls_stream& s, Handler&& handler) {
    s.async_wait_readable(std::forward<Handler>(handler));
  }
};

extern template class session<tls_stream>;

// A session_factory for HTTPS on |ctx| (must not be null). Each accepted
// connection handshakes with the context current at accept time.
session_factory tls_session_factory(std::shared_ptr<tls_context> ctx);

}  // namespace athm::http
