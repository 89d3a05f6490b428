#include "server/http/limits.h"

#include "server/http/config_limits.h"

#include <catch2/catch.hpp>

namespace athm::http {
namespace {

using namespace std::chrono_literals;

TEST_CASE("limits defaults match the configuration defaults", "[http][limits]") {
  const limits a = to_limits(config::limits_config{});
  const limits b{};
  CHECK(a.max_header_bytes == b.max_header_bytes);
  CHECK(a.max_body_bytes == b.max_body_bytes);
  CHECK(a.read_timeout == b.read_timeout);
  CHECK(a.idle_timeout == b.idle_timeout);
  CHECK(a.write_timeout == b.write_timeout);
  CHECK(a.max_pipelined == b.max_pipelined);
  CHECK(a.max_connections == b.max_connections);
}

TEST_CASE("to_limits maps every field", "[http][limits]") {
  config::limits_config c;
  c.max_header_bytes = 101;
  c.max_body_bytes = 202;
  c.read_timeout = 303ms;
  c.idle_timeout = 404ms;
  c.write_timeout = 505ms;
  c.max_pipelined = 6;
  c.max_connections = 707;
  const limits l = to_limits(c);
  CHECK(l.max_header_bytes == 101);
  CHECK(l.max_body_bytes == 202);
  CHECK(l.read_timeout == 303ms);
  CHECK(l.idle_timeout == 404ms);
  CHECK(l.write_timeout == 505ms);
  CHECK(l.max_pipelined == 6);
  CHECK(l.max_connections == 707);
}

TEST_CASE("validate names the first zero field", "[http][limits]") {
  CHECK(validate(limits{}).empty());
  limits l;
  l.read_timeout = 0ms;
  CHECK(validate(l) == "read_timeout: must be > 0");
  l = limits{};
  l.max_pipelined = 0;
  CHECK(validate(l) == "max_pipelined: must be > 0");
  l = limits{};
  l.max_connections = 0;
  CHECK(validate(l) == "max_connections: must be > 0");
  l = limits{};
  l.max_header_bytes = 0;
  CHECK(validate(l) == "max_header_bytes: must be > 0");
}

}  // namespace
}  // namespace athm::http
