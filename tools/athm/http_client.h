// A tiny synchronous HTTP/1.1 client over plain TCP (Boost.Beast), enough for
// the Privacy Pass client flow: one request per connection, bounded response
// size, one deadline for the whole exchange. https is not supported.
//
// Thread safety: every call is independent (its own io_context); safe to
// call from several threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/keys/outcome.h"

namespace athm::client {

using athm::keys::outcome;

// An http:// URL split for a request.
struct http_url {
  std::string host;         // name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  std::string target;       // path and query, starts with "/" (no fragment)
  std::string host_header;  // value for the Host header

  // "http://" + host_header + target
  std::string to_string() const;
};

// Parses "http://host[:port][/path][?query][#fragment]". Fails (with a
// message) for another scheme ("https" is named as not supported yet),
// user info, an empty or malformed host, a bad port, or characters outside
// printable ASCII. Never throws.
outcome<http_url> parse_http_url(std::string_view url);

// Resolves |ref| against |base| as a browser would for the common forms:
// absolute ("http://..."), network-path ("//host/p"), absolute-path ("/p")
// and relative-path ("p", merged with base's directory; no dot-segment
// processing). Never throws.
outcome<http_url> resolve_url(const http_url& base, std::string_view ref);

struct header_field {
  std::string name;
  std::string value;
};

// Parses a command-line header "Name: value" (value may be empty). Fails on
// a missing colon, an invalid token in the name, or CR, LF or NUL anywhere.
outcome<header_field> parse_header_arg(std::string_view arg);

struct http_request {
  std::string method = "GET";  // GET or POST
  http_url url;
  std::vector<header_field> headers;  // sent as given, after Host/User-Agent
  std::string body;                   // sent with Content-Length if non-empty or POST
};

struct http_response {
  unsigned status = 0;
  std::vector<header_field> headers;
  std::string body;

  // First header named |name| (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  // The media type of Content-Type, lower-cased, without parameters.
  std::string media_type() const;
};

struct http_limits {
  // Deadline for resolve + connect + write + read together.
  std::chrono::milliseconds timeout{10'000};
  // Larger bodies fail the exchange; a Privacy Pass response for 256 buckets
  // is 16611 bytes, a directory a few KiB.
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 * 1024;
};

// Sends |req| on a fresh connection and reads one response. Fails with a
// message on resolve/connect/IO errors, a timeout, or a response over the
// limits. Any HTTP status is a success here; callers check it. Never throws.
outcome<http_response> http_send(const http_request& req, const http_limits& limits = {});

}  // namespace athm::client
