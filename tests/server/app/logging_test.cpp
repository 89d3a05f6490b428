#include "server/app/logging.h"

#include <catch2/catch.hpp>

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

namespace {

athm::http::access_entry entry(std::string_view path) {
  athm::http::access_entry e;
  e.listener = "public";
  e.method = "GET";
  e.path = path;
  e.status = 200;
  e.bytes_sent = 321;
  e.duration = std::chrono::microseconds(1500);
  e.remote_address = boost::asio::ip::make_address("192.0.2.1");
  e.remote_port = 5555;
  return e;
}

}  // namespace

TEST_CASE("access log: text form", "[app][logging]") {
  CHECK(athm::app::format_access_text(entry("/readyz")) ==
        "public 192.0.2.1:5555 \"GET /readyz\" 200 321B 1.500ms");
  // Client bytes that are not printable ASCII cannot forge log lines.
  CHECK(athm::app::format_access_text(entry("/a\nfake line\x1b[31m\xc3\xa9")) ==
        "public 192.0.2.1:5555 \"GET /a?fake line?[31m??\" 200 321B 1.500ms");
  auto v6 = entry("/x");
  v6.remote_address = boost::asio::ip::make_address("2001:db8::1");
  CHECK(athm::app::format_access_text(v6).find("[2001:db8::1]:5555") != std::string::npos);
}

TEST_CASE("access log: JSON fields form one valid object", "[app][logging]") {
  const std::string fields = athm::app::format_access_json_fields(entry("/a\"b\\c\n\x01\xff"));
  const auto j = nlohmann::json::parse("{" + fields + "}");
  CHECK(j["listener"] == "public");
  CHECK(j["remote"] == "192.0.2.1");
  CHECK(j["port"] == 5555);
  CHECK(j["method"] == "GET");
  CHECK(j["path"] == "/a\"b\\c\n\x01?");
  CHECK(j["status"] == 200);
  CHECK(j["bytes"] == 321);
  CHECK(j["duration_us"] == 1500);
}

TEST_CASE("json_escape", "[app][logging]") {
  CHECK(athm::app::json_escape("plain") == "plain");
  CHECK(athm::app::json_escape("a\"b") == "a\\\"b");
  CHECK(athm::app::json_escape("\\") == "\\\\");
  CHECK(athm::app::json_escape("\n\r\t") == "\\n\\r\\t");
  CHECK(athm::app::json_escape(std::string("\x00\x1f\x7f", 3)) == "\\u0000\\u001f\\u007f");
  CHECK(athm::app::json_escape("\xc3\xa9") == "??");
}

TEST_CASE("access hook: off when access_log is false", "[app][logging]") {
  athm::config::logging_config c;
  c.access_log = false;
  CHECK_FALSE(athm::app::make_access_log_hook(c));
  c.access_log = true;
  const auto hook = athm::app::make_access_log_hook(c);
  REQUIRE(hook);
  hook(entry("/healthz"));  // before configure_logging: a no-op logger, never a crash
}
