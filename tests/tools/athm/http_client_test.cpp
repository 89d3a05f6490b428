#include "tools/athm/http_client.h"

#include <catch2/catch.hpp>

#include "fake_issuer.h"

namespace athm::client {
namespace {

using namespace testing;
using namespace std::chrono_literals;

http_url url(std::string_view s) {
  auto u = parse_http_url(s);
  INFO(s << ": " << u.error());
  REQUIRE(u.ok());
  return u.value();
}

std::string url_error(std::string_view s) {
  auto u = parse_http_url(s);
  REQUIRE_FALSE(u.ok());
  return u.error();
}

}  // namespace

TEST_CASE("http url: parsing", "[client][http]") {
  auto u = url("http://127.0.0.1:8080/a/b?x=1#frag");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8080);
  CHECK(u.target == "/a/b?x=1");
  CHECK(u.host_header == "127.0.0.1:8080");
  CHECK(u.to_string() == "http://127.0.0.1:8080/a/b?x=1");

  u = url("HTTP://Issuer.Example");
  CHECK(u.host == "Issuer.Example");
  CHECK(u.port == 80);
  CHECK(u.target == "/");
  CHECK(u.host_header == "Issuer.Example");

  u = url("http://h?q");
  CHECK(u.target == "/?q");

  u = url("http://[::1]:9/x");
  CHECK(u.host == "::1");
  CHECK(u.port == 9);
  CHECK(u.host_header == "[::1]:9");

  u = url("http://h:80/");
  CHECK(u.host_header == "h");
}

TEST_CASE("http url: rejects", "[client][http]") {
  CHECK_THAT(url_error("https://h/"), Catch::Contains("https URLs are not supported yet"));
  CHECK_THAT(url_error("ftp://h/"), Catch::Contains("unsupported URL scheme"));
  CHECK_THAT(url_error("h:80/x"), Catch::Contains("must start with http://"));
  CHECK_THAT(url_error("http:///x"), Catch::Contains("no host"));
  CHECK_THAT(url_error("http://u:p@h/"), Catch::Contains("user info"));
  CHECK_THAT(url_error("http://h:0/"), Catch::Contains("port"));
  CHECK_THAT(url_error("http://h:65536/"), Catch::Contains("port"));
  CHECK_THAT(url_error("http://h:/"), Catch::Contains("port"));
  CHECK_THAT(url_error("http://h:8a/"), Catch::Contains("port"));
  CHECK_THAT(url_error("http://h/a b"), Catch::Contains("spaces"));
  CHECK_THAT(url_error("http://h\r\n/"), Catch::Contains("spaces"));
  CHECK_THAT(url_error("http://h$/"), Catch::Contains("invalid characters"));
  CHECK_THAT(url_error("http://[zz]/"), Catch::Contains("IPv6"));
  CHECK_THAT(url_error("http://[::1/"), Catch::Contains("IPv6"));
}

TEST_CASE("http url: resolving references", "[client][http]") {
  const auto base = url("http://a.example:8080/dir/page?q=1");
  auto r = resolve_url(base, "/request");
  REQUIRE(r.ok());
  CHECK(r->to_string() == "http://a.example:8080/request");
  r = resolve_url(base, "token");
  REQUIRE(r.ok());
  CHECK(r->to_string() == "http://a.example:8080/dir/token");
  r = resolve_url(base, "http://b.example:9/x");
  REQUIRE(r.ok());
  CHECK(r->host == "b.example");
  CHECK(r->port == 9);
  r = resolve_url(base, "//c.example/y");
  REQUIRE(r.ok());
  CHECK(r->to_string() == "http://c.example/y");
  CHECK_FALSE(resolve_url(base, "").ok());
  CHECK_THAT(resolve_url(base, "https://b.example/").error(), Catch::Contains("https"));
  CHECK_FALSE(resolve_url(base, "/a b").ok());
}

TEST_CASE("http: header arguments", "[client][http]") {
  auto h = parse_header_arg("X-Athm-Bucket: 2");
  REQUIRE(h.ok());
  CHECK(h->name == "X-Athm-Bucket");
  CHECK(h->value == "2");
  h = parse_header_arg("X-Empty:");
  REQUIRE(h.ok());
  CHECK(h->value.empty());
  h = parse_header_arg("A:  spaced value \t");
  REQUIRE(h.ok());
  CHECK(h->value == "spaced value");
  CHECK_FALSE(parse_header_arg("NoColon").ok());
  CHECK_FALSE(parse_header_arg(": value").ok());
  CHECK_FALSE(parse_header_arg("Bad Name: v").ok());
  CHECK_FALSE(parse_header_arg("X: a\r\nInjected: 1").ok());
  CHECK_FALSE(parse_header_arg(std::string("X: a\0b", 6)).ok());
}

TEST_CASE("http: response header helpers", "[client][http]") {
  http_response r;
  r.headers = {{"content-type", " Application/Private-Token-Response ; q=1"}, {"X-A", "1"}, {"x-a", "2"}};
  CHECK(r.media_type() == "application/private-token-response");
  CHECK(r.header("X-A") == std::optional<std::string>("1"));
  CHECK_FALSE(r.header("X-B").has_value());
  r.headers.clear();
  CHECK(r.media_type().empty());
}

TEST_CASE("http: a real exchange on loopback", "[client][http]") {
  fake_options o;
  o.override = [](const request& req) -> std::optional<response> {
    response r{bh::status::ok, 11};
    r.set(bh::field::content_type, "text/plain");
    r.set("X-Echo-Method", std::string(bh::to_string(req.method())));
    r.set("X-Echo-Host", std::string(req[bh::field::host]));
    r.set("X-Echo-Custom", std::string(req["X-Custom"]));
    r.body() = req.body() + "|" + std::string(req.target());
    return r;
  };
  fake_issuer server(fake_key(), o);
  http_request req;
  req.method = "POST";
  req.url = url(server.base_url() + "/echo?x=1");
  req.headers.push_back({"X-Custom", "yes"});
  req.body = std::string("a\0b", 3);
  auto res = http_send(req);
  INFO(res.error());
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(res->body == std::string("a\0b", 3) + "|/echo?x=1");
  CHECK(res->header("x-echo-method") == std::optional<std::string>("POST"));
  CHECK(res->header("X-Echo-Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(res->header("X-Echo-Custom") == std::optional<std::string>("yes"));
  CHECK(res->media_type() == "text/plain");
}

TEST_CASE("http: any status is a completed exchange", "[client][http]") {
  fake_issuer server(fake_key());
  http_request req;
  req.url = url(server.base_url() + "/nothing-here");
  auto res = http_send(req);
  REQUIRE(res.ok());
  CHECK(res->status == 404);
}

TEST_CASE("http: transport failures are values", "[client][http]") {
  // A port nobody listens on: bind one, then close it.
  uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  http_request req;
  req.url = url("http://127.0.0.1:" + std::to_string(port) + "/");
  auto res = http_send(req);
  REQUIRE_FALSE(res.ok());
  CHECK_THAT(res.error(), Catch::Contains("cannot connect"));

  req.method = "DELETE";
  CHECK_THAT(http_send(req).error(), Catch::Contains("unsupported HTTP method"));
}

TEST_CASE("http: a server that never answers hits the deadline", "[client][http]") {
  fake_options o;
  o.hang = true;
  fake_issuer server(fake_key(), o);
  http_request req;
  req.url = url(server.base_url() + "/");
  http_limits limits;
  limits.timeout = 300ms;
  auto res = http_send(req, limits);
  REQUIRE_FALSE(res.ok());
  CHECK_THAT(res.error(), Catch::Contains("in time"));
}

TEST_CASE("http: oversized responses are refused", "[client][http]") {
  fake_options o;
  o.override = [](const request&) -> std::optional<response> {
    response r{bh::status::ok, 11};
    r.body() = std::string(64 * 1024, 'x');
    return r;
  };
  fake_issuer server(fake_key(), o);
  http_request req;
  req.url = url(server.base_url() + "/");
  http_limits limits;
  limits.max_body_bytes = 1024;
  auto res = http_send(req, limits);
  REQUIRE_FALSE(res.ok());
  CHECK_THAT(res.error(), Catch::Contains("too large"));
  limits.max_body_bytes = 64 * 1024;
  auto ok = http_send(req, limits);
  REQUIRE(ok.ok());
  CHECK(ok->body.size() == 64 * 1024);
}

TEST_CASE("http: a huge declared length is refused before reading", "[client][http]") {
  // Header and the first body bytes in one segment: the declared length
  // alone must fail the exchange.
  raw_server server("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n" + std::string(100, 'x'));
  http_request req;
  req.url = url(server.base_url() + "/");
  auto res = http_send(req);
  REQUIRE_FALSE(res.ok());
  CHECK_THAT(res.error(), Catch::Contains("too large"));
}

TEST_CASE("http: oversized chunked and unframed bodies are refused", "[client][http]") {
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) {
    chunked += "400\r\n" + std::string(1024, 'y') + "\r\n";
  }
  chunked += "0\r\n\r\n";
  raw_server s1(chunked);
  raw_server s2("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(4096, 'z'));
  http_limits limits;
  limits.max_body_bytes = 2048;
  for (const raw_server* s : {&s1, &s2}) {
    http_request req;
    req.url = url(s->base_url() + "/");
    auto res = http_send(req, limits);
    REQUIRE_FALSE(res.ok());
    CHECK_THAT(res.error(), Catch::Contains("too large"));
    // Within the limit the same responses are fine.
    http_limits big;
    auto ok = http_send(req, big);
    INFO(ok.error());
    REQUIRE(ok.ok());
    CHECK(ok->body.size() == 4096);
  }
}

TEST_CASE("http: garbage instead of HTTP fails cleanly", "[client][http]") {
  raw_server server("SSH-2.0-OpenSSH\r\n\r\n");
  http_request req;
  req.url = url(server.base_url() + "/");
  auto res = http_send(req);
  REQUIRE_FALSE(res.ok());
  CHECK_THAT(res.error(), Catch::Contains("cannot read the response"));
}

}  // namespace athm::client
