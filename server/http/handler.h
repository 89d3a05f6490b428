// The seam between the transport and the application. A handler takes a
// parsed request and the facts about its connection, and completes with a
// response. It never sees a socket, a stream or an executor.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>
#include <string>

namespace athm::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

// Facts about the connection a request arrived on. Copyable, no transport.
struct request_context {
  boost::asio::ip::address remote_address;  // peer address (load balancer if proxied)
  uint16_t remote_port = 0;
  bool tls = false;                         // arrived over TLS
  std::string listener;                     // "public" or "internal"
};

// Completion: called exactly once, from any thread. The transport fills in
// Content-Length, keep-alive and the HTTP version; HEAD bodies are dropped.
using respond = std::function<void(response)>;

class handler {
 public:
  virtual ~handler() = default;
  // Must not throw. May complete inline or later from another thread.
  virtual void handle(request req, const request_context& ctx, respond done) noexcept = 0;
};

}  // namespace athm::http
