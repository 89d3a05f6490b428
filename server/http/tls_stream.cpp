#include "server/http/tls_stream.h"

#include <boost/system/system_error.hpp>

#include <stdexcept>

namespace athm::http {

namespace detail {

tls_step classify_tls_call(SSL* ssl, int r, int saved_errno) noexcept {
  namespace net = boost::asio;
  if (r > 0) {
    return {tls_step::done, static_cast<std::size_t>(r), {}};
  }
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_NONE:
      return {tls_step::done, 0, {}};
    case SSL_ERROR_WANT_READ:
      return {tls_step::want_read, 0, {}};
    case SSL_ERROR_WANT_WRITE:
      return {tls_step::want_write, 0, {}};
    case SSL_ERROR_ZERO_RETURN:
      return {tls_step::failed, 0, net::error::eof};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        if (r == 0 || saved_errno == 0) {
          return {tls_step::failed, 0, net::ssl::error::stream_truncated};  // TCP ended without close_notify
        }
        return {tls_step::failed, 0, boost::system::error_code(saved_errno, boost::system::system_category())};
      }
      break;
    default:
      break;
  }
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) {
    return {tls_step::failed, 0, net::ssl::error::unspecified_system_error};
  }
  return {tls_step::failed, 0, boost::system::error_code(static_cast<int>(e), net::error::get_ssl_category())};
}

}  // namespace detail

tls_stream::tls_stream(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<boost::asio::ssl::context> ctx)
    : socket_(std::move(socket)), ctx_(std::move(ctx)) {
  if (!ctx_) {
    throw std::invalid_argument("tls_stream: no TLS context");
  }
  socket_.non_blocking(true);  // throws system_error
  ssl_.reset(SSL_new(ctx_->native_handle()));
  if (!ssl_ || !SSL_set_fd(ssl_.get(), socket_.native_handle())) {
    ERR_clear_error();
    throw boost::system::system_error(boost::asio::error::no_memory, "tls_stream: SSL_new");
  }
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_.get());
}

}  // namespace athm::http
