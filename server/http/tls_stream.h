// A TLS stream over TCP in which BoringSSL reads and writes the
// non-blocking socket itself (through a socket BIO that sends with
// MSG_NOSIGNAL, so a reset peer never raises SIGPIPE), and Asio only waits
// for the socket to become readable or writable.
//
// Why not boost::asio::ssl::stream: in Boost 1.74 every such stream
// allocates and zero-fills two 17 KiB record buffers and feeds BoringSSL
// through a BIO pair of two more, for the connection's whole life: about
// 50 KiB per idle HTTPS connection. Here BoringSSL allocates its record
// buffers while a record is in flight and frees them when they are empty,
// and async_wait_readable lets a session hold no read buffer while idle.
//
// Contract (the AsyncReadStream / AsyncWriteStream requirements Beast
// needs, plus handshake, shutdown and a readiness wait):
//   - handlers run through the socket's executor, never inside the
//     initiating function;
//   - at most one read-side operation (read, handshake, shutdown,
//     readiness wait) and one write at a time, all on one strand;
//   - errors: asio::error::eof for the peer's close_notify,
//     asio::ssl::error::stream_truncated for end of TCP without it,
//     the socket's errno in the system category, BoringSSL's packed
//     error in asio::error::get_ssl_category() otherwise;
//   - cancel or close the socket (lowest_layer()) to abort waits: pending
//     operations complete with operation_aborted; operations started on a
//     closed socket complete with bad_descriptor and never touch it.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <vector>

namespace athm::http {

namespace detail {

// What one SSL_* call on a non-blocking socket came to.
struct tls_step {
  enum kind { done, want_read, want_write, failed };
  kind k = failed;
  std::size_t n = 0;  // bytes, for done
  boost::system::error_code ec;
};

// Classifies the return value |r| of an SSL_* call on |ssl|; |saved_errno|
// is errno right after the call.
tls_step classify_tls_call(SSL* ssl, int r, int saved_errno) noexcept;

// One operation as repeated SSL calls: |Attempt| is int() calling SSL_*;
// on want_read / want_write the socket is waited on and the call repeated.
// WithSize: the completion is (error_code, size_t), otherwise (error_code).
// |nothing_to_do| (an empty read or write) completes with 0 bytes at once.
template <class Attempt, bool WithSize>
class tls_call_op {
 public:
  tls_call_op(SSL* ssl, boost::asio::ip::tcp::socket& socket, Attempt attempt, bool nothing_to_do = false)
      : ssl_(ssl), socket_(socket), attempt_(std::move(attempt)), nothing_to_do_(nothing_to_do) {}

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}) {
    if (nothing_to_do_) {
      finish(self, {}, 0);
      return;
    }
    if (ec) {
      finish(self, ec, 0);  // the wait failed or was cancelled
      return;
    }
    if (!socket_.is_open()) {
      // The BIO holds the descriptor's number, which a closed socket may
      // already have handed to another connection: never call SSL_* then.
      finish(self, boost::asio::error::bad_descriptor, 0);
      return;
    }
    ERR_clear_error();
    errno = 0;
    const int r = attempt_();
    const tls_step st = classify_tls_call(ssl_, r, errno);
    switch (st.k) {
      case tls_step::want_read:
        started_ = true;
        socket_.async_wait(boost::asio::socket_base::wait_read, std::move(self));
        return;
      case tls_step::want_write:
        started_ = true;
        socket_.async_wait(boost::asio::socket_base::wait_write, std::move(self));
        return;
      case tls_step::done:
      case tls_step::failed:
        finish(self, st.ec, st.n);
        return;
    }
  }

 private:
  template <class Self>
  void finish(Self& self, boost::system::error_code ec, std::size_t n) {
    if (!started_) {
      // Never complete inside the initiating function.
      auto ex = socket_.get_executor();
      boost::asio::post(ex, [self = std::move(self), ec, n]() mutable { complete(self, ec, n); });
      return;
    }
    complete(self, ec, n);
  }

  template <class Self>
  static void complete(Self& self, boost::system::error_code ec, std::size_t n) {
    if constexpr (WithSize) {
      self.complete(ec, n);
    } else {
      (void)n;
      self.complete(ec);
    }
  }

  SSL* ssl_;
  boost::asio::ip::tcp::socket& socket_;
  Attempt attempt_;
  bool nothing_to_do_;
  bool started_ = false;
};

}  // namespace detail

// Move-only. Shares ownership of the context it was built on, so a
// connection's context outlives any reload.
class tls_stream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using next_layer_type = boost::asio::ip::tcp::socket;
  using lowest_layer_type = boost::asio::ip::tcp::socket;

  // Makes |socket| non-blocking and binds a new SSL of |ctx| (not null) to
  // it, on the server side. Throws boost::system::system_error on failure.
  tls_stream(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<boost::asio::ssl::context> ctx);
  tls_stream(tls_stream&&) noexcept = default;
  tls_stream& operator=(tls_stream&&) = delete;
  ~tls_stream() = default;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  next_layer_type& next_layer() noexcept { return socket_; }  // for beast::get_lowest_layer
  lowest_layer_type& lowest_layer() noexcept { return socket_; }
  SSL* native_handle() noexcept { return ssl_.get(); }

  // Handler: void(error_code). |type| client switches the SSL to the
  // client side first (tests); the daemon is always the server.
  template <class Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Token&& token) {
    if (type == boost::asio::ssl::stream_base::client) {
      SSL_set_connect_state(ssl_.get());
    }
    SSL* ssl = ssl_.get();
    auto attempt = [ssl] { return SSL_do_handshake(ssl); };
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        detail::tls_call_op<decltype(attempt), false>(ssl, socket_, attempt), token, socket_);
  }

  // Handler: void(error_code, size_t). Reads into the first non-empty
  // buffer; an empty sequence completes with 0 bytes.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer target;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (boost::asio::mutable_buffer b(*it); b.size() != 0) {
        target = b;
        break;
      }
    }
    SSL* ssl = ssl_.get();
    auto attempt = [ssl, target] {
      return SSL_read(ssl, target.data(), static_cast<int>(std::min<std::size_t>(target.size(), 1 << 30)));
    };
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        detail::tls_call_op<decltype(attempt), true>(ssl, socket_, attempt, target.size() == 0), token,
        socket_);
  }

  // Handler: void(error_code, size_t). Writes at most one TLS record's
  // worth; several buffers are first copied into one, so that a response's
  // header and body share a record.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    constexpr std::size_t kRecord = 16 * 1024;
    std::vector<unsigned char> data;  // owned by the operation; may move between retries
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && data.size() < kRecord; ++it) {
      boost::asio::const_buffer b(*it);
      const auto* p = static_cast<const unsigned char*>(b.data());
      data.insert(data.end(), p, p + std::min(b.size(), kRecord - data.size()));
    }
    const bool empty = data.empty();
    SSL* ssl = ssl_.get();
    auto attempt = [ssl, data = std::move(data)] {
      return SSL_write(ssl, data.data(), static_cast<int>(data.size()));
    };
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        detail::tls_call_op<decltype(attempt), true>(ssl, socket_, std::move(attempt), empty), token,
        socket_);
  }

  // Handler: void(error_code). Sends close_notify, then waits for the
  // peer's; the caller bounds the wait (cancel or close the socket).
  template <class Token>
  auto async_shutdown(Token&& token) {
    SSL* ssl = ssl_.get();
    auto attempt = [ssl] {
      int r = SSL_shutdown(ssl);
      if (r == 0) {
        r = SSL_shutdown(ssl);  // sent ours; now wait for the peer's
      }
      return r;
    };
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        detail::tls_call_op<decltype(attempt), false>(ssl, socket_, attempt), token, socket_);
  }

  // Handler: void(error_code). Completes when a read can make progress:
  // at once if BoringSSL holds buffered input, else when the socket is
  // readable.
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        wait_readable_op{ssl_.get(), socket_}, token, socket_);
  }

 private:
  struct wait_readable_op {
    SSL* ssl;
    boost::asio::ip::tcp::socket& socket;
    bool started = false;
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (started) {
        self.complete(ec);
        return;
      }
      started = true;
      if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl)) {
        auto ex = socket.get_executor();
        boost::asio::post(ex, [self = std::move(self)]() mutable {
          self.complete(boost::system::error_code{});
        });
        return;
      }
      socket.async_wait(boost::asio::socket_base::wait_read, std::move(self));
    }
  };

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  bssl::UniquePtr<SSL> ssl_;
};

}  // namespace athm::http
