// Converts the configuration's limits into the transport's. Header-only so
// that athm_http does not link the YAML loader; include it where both
// modules meet (the application).
#pragma once

#include "config/config.h"
#include "server/http/limits.h"

namespace athm::http {

inline limits to_limits(const config::limits_config& c) {
  limits l;
  l.max_header_bytes = c.max_header_bytes;
  l.max_body_bytes = c.max_body_bytes;
  l.read_timeout = c.read_timeout;
  l.idle_timeout = c.idle_timeout;
  l.write_timeout = c.write_timeout;
  l.max_pipelined = c.max_pipelined;
  l.max_connections = c.max_connections;
  return l;
}

}  // namespace athm::http
