// A small blocking HTTP/1.1 client for driving the daemon over loopback:
// raw requests with any method, headers and body (including malformed ones),
// optional keep-alive, optional HTTPS, and a deadline per operation.
//
// Transport failures are values: http_reply::status is 0 and |error| says
// what happened (the daemon being killed mid-request is an expected event in
// some tests).
//
// Thread safety: an http_connection is used by one thread at a time; separate
// connections are independent. http_exchange is safe to call concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace athm::itest {

struct http_request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::string body;  // sent with Content-Length when non-empty or method is POST/PUT
  bool keep_alive = true;
};

struct http_reply {
  unsigned status = 0;       // 0: transport failure, see |error|
  std::string error;         // empty unless status == 0
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = false;   // the server will keep the connection open

  // First header named |name| (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  // Content-Type lower-cased without parameters ("" if absent).
  std::string media_type() const;
  // "status 404, body ..." for test diagnostics (body cut to 200 bytes).
  std::string describe() const;
};

// HTTPS: the server's chain must verify against |ca_file| (PEM) and its
// leaf must name the IP address 127.0.0.1. TLS 1.2 or 1.3.
struct tls_trust {
  std::string ca_file;
};

// A connection to 127.0.0.1:|port| that is opened on first use and reopened
// after the server closes it (or after an error). With |tls|, opening also
// handshakes; a failed verification is a transport failure ("handshake").
class http_connection {
 public:
  explicit http_connection(uint16_t port,
                           std::chrono::milliseconds timeout = std::chrono::seconds(15),
                           std::optional<tls_trust> tls = std::nullopt);
  ~http_connection();
  http_connection(http_connection&&) noexcept;
  http_connection& operator=(http_connection&&) noexcept;

  // Opens the connection now (no-op if open). False on failure.
  bool connect();
  // Sends |req| and reads one response. For HEAD, the body is not read.
  http_reply send(const http_request& req);
  bool is_open() const;
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// One request on a fresh connection (Connection: close).
http_reply http_exchange(uint16_t port, http_request req,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15));

// Shorthands on a fresh connection.
http_reply http_get(uint16_t port, const std::string& target,
                    std::vector<std::pair<std::string, std::string>> headers = {});
http_reply http_post(uint16_t port, const std::string& target, const std::string& content_type,
                     std::string body,
                     std::vector<std::pair<std::string, std::string>> headers = {});

}  // namespace athm::itest
