#include "server/http/listener.h"

#include "server/http/session.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include <stdexcept>

namespace athm::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

session_factory plain_session_factory() {
  return [](tcp::socket&& socket, detail::connection_ticket ticket,
            const std::shared_ptr<detail::listener_state>& state) {
    std::make_shared<session<tcp::socket>>(std::move(socket), state, std::move(ticket), false)->start();
  };
}

namespace {

std::shared_ptr<detail::listener_state> make_state(listener_options& opts) {
  if (!opts.handler) {
    throw std::invalid_argument("listener " + opts.name + ": no handler");
  }
  if (auto err = validate(opts.lim); !err.empty()) {
    throw std::invalid_argument("listener " + opts.name + ": limits." + err);
  }
  return std::make_shared<detail::listener_state>(std::move(opts.name), opts.lim, std::move(opts.handler),
                                                  std::move(opts.access_log));
}

}  // namespace

listener::listener(net::io_context& ioc, listener_options opts, session_factory factory)
    : ioc_(ioc),
      state_(make_state(opts)),
      factory_(factory ? std::move(factory) : plain_session_factory()),
      acceptor_(ioc),
      retry_timer_(ioc) {
  acceptor_.open(opts.endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(opts.endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
  local_endpoint_ = acceptor_.local_endpoint();
}

listener::~listener() { stop(); }

void listener::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!stopped_) {
    do_accept();
  }
}

void listener::do_accept() {
  acceptor_.async_accept(net::any_io_executor(net::make_strand(ioc_)),
                         boost::beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (!ec) {
    if (auto ticket = state_->try_acquire()) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      factory_(std::move(socket), std::move(ticket), state_);
    } else {
      boost::system::error_code ignored;
      socket.close(ignored);  // over max_connections
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_ || ec == net::error::operation_aborted) {
    return;
  }
  if (ec) {
    retry_timer_.expires_after(k_accept_retry_delay);
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      std::lock_guard<std::mutex> lock(self->mutex_);
      if (!wait_ec && !self->stopped_) {
        self->do_accept();
      }
    });
    return;
  }
  do_accept();
}

void listener::stop() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_) {
    return;
  }
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
}

void listener::drain() { state_->drain_all(); }

void listener::force_close() { state_->force_close_all(); }

void listener::release_sessions() { state_->release_all(); }

}  // namespace athm::http
