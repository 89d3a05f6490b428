// Bounds on everything a peer can make the transport hold: bytes, time and
// concurrency. The names and defaults match athm::config::limits_config 1:1
// (see config_limits.h for the converter); this module keeps its own copy so
// that it does not depend on the YAML loader.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace athm::http {

struct limits {
  // Request line plus header fields; more gets 431 and the connection closes.
  std::uint32_t max_header_bytes = 8 * 1024;
  // Decoded request body (Content-Length or chunked); more gets 413 and the
  // connection closes. A Content-Length over the limit is refused before any
  // body byte is read.
  std::uint32_t max_body_bytes = 16 * 1024;
  // A whole request, from its first byte to its last (cuts off slow senders).
  std::chrono::milliseconds read_timeout{10'000};
  // A keep-alive connection with no request in progress and nothing to send.
  std::chrono::milliseconds idle_timeout{60'000};
  // Writing one response (cuts off peers that do not read).
  std::chrono::milliseconds write_timeout{10'000};
  // Requests read on one connection whose responses are not yet written.
  // Reading stops while this many are pending.
  std::uint32_t max_pipelined = 16;
  // Open connections per listener. See listener.h for what happens above it.
  std::uint32_t max_connections = 10'000;
};

// Returns an empty string if |l| is usable, else a message naming the first
// bad field, e.g. "read_timeout: must be > 0". Every field must be > 0.
std::string validate(const limits& l);

}  // namespace athm::http
