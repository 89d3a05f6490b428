// Access logging hook. The transport does no logging itself; the application
// installs a hook per listener and formats the entry as it likes.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace athm::http {

// One completed request: its response was fully written. Requests whose
// connection died before the response went out are not reported.
// The string_views are valid only during the hook call.
struct access_entry {
  std::string_view listener;   // listener name, e.g. "public"
  std::string_view method;     // as received; "-" if the request line was unreadable
  std::string_view path;       // target without query string; "-" if unreadable
  unsigned status = 0;
  std::uint64_t bytes_sent = 0;  // status line, header and body as written
  std::chrono::microseconds duration{0};  // first request byte to last response byte
  boost::asio::ip::address remote_address;
  std::uint16_t remote_port = 0;
};

// Called on an I/O thread, once per completed request, possibly from several
// threads at once. Must not throw and should be quick. Never gets the body.
using access_log_hook = std::function<void(const access_entry&)>;

}  // namespace athm::http
