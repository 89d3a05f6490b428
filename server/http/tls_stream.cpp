#include "server/http/tls_stream.h"

#include <boost/system/system_error.hpp>

#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>

namespace athm::http {

namespace {

// A socket BIO that cannot raise SIGPIPE: BoringSSL's own socket BIO uses
// write(2), which does on a connection the peer has reset. The descriptor
// is the BIO's data; the socket (not the BIO) owns it.
int bio_fd(BIO* b) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))); }

bool retryable(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int bio_write(BIO* b, const char* in, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::send(bio_fd(b), in, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && retryable(errno)) {
    BIO_set_retry_write(b);
  }
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* out, int len) {
  BIO_clear_retry_flags(b);
  const ssize_t n = ::recv(bio_fd(b), out, static_cast<std::size_t>(len), 0);
  if (n < 0 && retryable(errno)) {
    BIO_set_retry_read(b);
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

// Built once, kept for the life of the process.
const BIO_METHOD* socket_method() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "athm socket");
    if (m == nullptr || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl)) {
      BIO_meth_free(m);
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

}  // namespace

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
  const BIO_METHOD* method = socket_method();
  BIO* bio = method == nullptr ? nullptr : BIO_new(method);
  if (!ssl_ || bio == nullptr) {
    BIO_free(bio);
    ERR_clear_error();
    throw boost::system::system_error(boost::asio::error::no_memory, "tls_stream: SSL_new");
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_accept_state(ssl_.get());
}

}  // namespace athm::http
