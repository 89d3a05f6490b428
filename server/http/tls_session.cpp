#include "server/http/tls_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include <stdexcept>

namespace athm::http {

template class session<tls_stream>;

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One connection from accept until its handshake ends: on success it hands
// the stream and the connection slot to a session<tls_stream>. Registered
// with the listener meanwhile, so drain and force-close reach it.
class tls_handshake final : public detail::session_base {
 public:
  tls_handshake(tcp::socket&& socket, std::shared_ptr<tls_context> tls, detail::connection_ticket ticket,
                std::shared_ptr<detail::listener_state> state)
      : tls_(std::move(tls)),
        stream_(std::move(socket), tls_->current()),
        state_(std::move(state)),
        ticket_(std::move(ticket)),
        timer_(stream_.get_executor()) {}

  ~tls_handshake() override { state_->remove(this); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_this()] { self->on_start(); });
  }

  // Nothing is owed before the handshake ends: both close at once.
  void drain() override { force_close(); }
  void force_close() override {
    net::dispatch(stream_.get_executor(), [self = shared_this()] {
      if (!self->done_) {
        self->aborted_ = true;
        self->close();
      }
    });
  }
  void release() override {}

 private:
  std::shared_ptr<tls_handshake> shared_this() {
    return std::static_pointer_cast<tls_handshake>(shared_from_this());
  }

  void on_start() {
    state_->add(this);
    if (aborted_) {
      return;
    }
    if (state_->draining()) {
      aborted_ = true;
      close();
      return;
    }
    timer_.expires_after(state_->lim.read_timeout);
    timer_.async_wait(boost::beast::bind_front_handler(&tls_handshake::on_timer, shared_this()));
    stream_.async_handshake(net::ssl::stream_base::server,
                            boost::beast::bind_front_handler(&tls_handshake::on_handshake, shared_this()));
  }

  void on_timer(boost::system::error_code ec) {
    if (ec == net::error::operation_aborted || done_) {
      return;
    }
    timed_out_ = true;
    close();  // the handshake completes with operation_aborted
  }

  void on_handshake(boost::system::error_code ec) {
    done_ = true;
    timer_.cancel();
    tls_counters& c = tls_->counters();
    if (ec || aborted_ || timed_out_) {
      if (timed_out_) {
        c.handshake_timeouts.fetch_add(1, std::memory_order_relaxed);
        c.handshakes_failed.fetch_add(1, std::memory_order_relaxed);
      } else if (!aborted_) {
        c.handshakes_failed.fetch_add(1, std::memory_order_relaxed);
      }
      close();
      ticket_.release();
      return;
    }
    c.handshakes_completed.fetch_add(1, std::memory_order_relaxed);
    state_->remove(this);
    // The session registers itself; a drain from now on reaches it (or it
    // sees draining() when it starts).
    std::make_shared<session<tls_stream>>(std::move(stream_), state_, std::move(ticket_), true)->start();
  }

  void close() noexcept { stream_ops<tls_stream>::close(stream_); }

  std::shared_ptr<tls_context> tls_;
  tls_stream stream_;
  std::shared_ptr<detail::listener_state> state_;
  detail::connection_ticket ticket_;
  net::steady_timer timer_;
  bool done_ = false;       // the handshake completed (either way)
  bool aborted_ = false;    // closed by a drain or force-close
  bool timed_out_ = false;
};

}  // namespace

session_factory tls_session_factory(std::shared_ptr<tls_context> ctx) {
  if (!ctx) {
    throw std::invalid_argument("tls_session_factory: no TLS context");
  }
  return [ctx = std::move(ctx)](tcp::socket&& socket, detail::connection_ticket ticket,
                                const std::shared_ptr<detail::listener_state>& state) {
    std::make_shared<tls_handshake>(std::move(socket), ctx, std::move(ticket), state)->start();
  };
}

}  // namespace athm::http
