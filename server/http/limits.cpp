#include "server/http/limits.h"

namespace athm::http {

std::string validate(const limits& l) {
  if (l.max_header_bytes == 0) {
    return "max_header_bytes: must be > 0";
  }
  if (l.max_body_bytes == 0) {
    return "max_body_bytes: must be > 0";
  }
  if (l.read_timeout.count() <= 0) {
    return "read_timeout: must be > 0";
  }
  if (l.idle_timeout.count() <= 0) {
    return "idle_timeout: must be > 0";
  }
  if (l.write_timeout.count() <= 0) {
    return "write_timeout: must be > 0";
  }
  if (l.max_pipelined == 0) {
    return "max_pipelined: must be > 0";
  }
  if (l.max_connections == 0) {
    return "max_connections: must be > 0";
  }
  return {};
}

}  // namespace athm::http
