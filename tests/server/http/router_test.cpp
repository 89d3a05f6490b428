#include "server/http/router.h"

#include "server/http/target.h"
#include "tests/server/http/test_support.h"

#include <catch2/catch.hpp>

#include <stdexcept>

namespace athm::http::test {
namespace {

// Records which handler ran and the method it saw.
class tag_handler final : public handler {
 public:
  explicit tag_handler(std::string tag) : tag_(std::move(tag)) {}
  void handle(request req, const request_context&, respond done) noexcept override {
    response res{bh::status::ok, 11};
    res.body() = tag_ + ":" + sv(req.method_string());
    done(std::move(res));
  }

 private:
  std::string tag_;
};

request make_request(bh::verb method, std::string target) {
  request req{method, target, 11};
  return req;
}

// Calls r.handle() and returns the response it completes with inline.
response call(router& r, bh::verb method, std::string target) {
  std::optional<response> got;
  r.handle(make_request(method, std::move(target)), request_context{},
           [&got](response res) { got = std::move(res); });
  REQUIRE(got.has_value());
  return std::move(*got);
}

router make_router() {
  router r;
  r.add(bh::verb::get, "/dir", std::make_shared<tag_handler>("dir"));
  r.add(bh::verb::post, "/request", std::make_shared<tag_handler>("issue"));
  r.add(bh::verb::get, "/request", std::make_shared<tag_handler>("issue-get"));
  r.add(bh::verb::put, "/put-only", std::make_shared<tag_handler>("put"));
  return r;
}

TEST_CASE("target_path strips the query and absolute-form prefix", "[http][router]") {
  CHECK(target_path("/a") == "/a");
  CHECK(target_path("/a?b=c") == "/a");
  CHECK(target_path("/a?") == "/a");
  CHECK(target_path("/?x") == "/");
  CHECK(target_path("http://example.com/a/b?q") == "/a/b");
  CHECK(target_path("http://example.com") == "/");
  CHECK(target_path("http://example.com?q") == "/");
  CHECK(target_path("*") == "*");
  CHECK(target_path("") == "");
}

TEST_CASE("router dispatches on exact path and method", "[http][router]") {
  router r = make_router();
  CHECK(call(r, bh::verb::get, "/dir").body() == "dir:GET");
  CHECK(call(r, bh::verb::post, "/request").body() == "issue:POST");
  CHECK(call(r, bh::verb::get, "/request").body() == "issue-get:GET");
  CHECK(call(r, bh::verb::get, "/dir?x=1").body() == "dir:GET");
  CHECK(call(r, bh::verb::get, "http://h/dir").body() == "dir:GET");
}

TEST_CASE("router answers 404 for unknown paths", "[http][router]") {
  router r = make_router();
  for (const char* t : {"/", "/dir/", "/DIR", "/di", "/dirx", "*", "/request/x"}) {
    INFO(t);
    const response res = call(r, bh::verb::get, t);
    CHECK(res.result() == bh::status::not_found);
    CHECK(res.count(bh::field::allow) == 0);
  }
}

TEST_CASE("router answers 405 with Allow for a known path and wrong method", "[http][router]") {
  router r = make_router();
  response res = call(r, bh::verb::delete_, "/request");
  CHECK(res.result() == bh::status::method_not_allowed);
  CHECK(sv(res[bh::field::allow]) == "GET, HEAD, POST");

  res = call(r, bh::verb::post, "/dir");
  CHECK(res.result() == bh::status::method_not_allowed);
  CHECK(sv(res[bh::field::allow]) == "GET, HEAD");

  // No GET, so no HEAD either.
  res = call(r, bh::verb::head, "/put-only");
  CHECK(res.result() == bh::status::method_not_allowed);
  CHECK(sv(res[bh::field::allow]) == "PUT");
  CHECK(r.allow("/put-only") == "PUT");
  CHECK(r.allow("/nope").empty());
}

TEST_CASE("router sends HEAD to the GET handler unless HEAD is routed", "[http][router]") {
  router r = make_router();
  CHECK(call(r, bh::verb::head, "/dir").body() == "dir:HEAD");
  r.add(bh::verb::head, "/dir", std::make_shared<tag_handler>("dir-head"));
  CHECK(call(r, bh::verb::head, "/dir").body() == "dir-head:HEAD");
  CHECK(sv(call(r, bh::verb::post, "/dir")[bh::field::allow]) == "GET, HEAD");
}

TEST_CASE("router rejects bad routes at set-up", "[http][router]") {
  router r;
  auto h = std::make_shared<tag_handler>("x");
  CHECK_THROWS_AS(r.add(bh::verb::get, "", h), std::invalid_argument);
  CHECK_THROWS_AS(r.add(bh::verb::get, "nope", h), std::invalid_argument);
  CHECK_THROWS_AS(r.add(bh::verb::get, "/a?b", h), std::invalid_argument);
  CHECK_THROWS_AS(r.add(bh::verb::get, "/a", nullptr), std::invalid_argument);
  CHECK_THROWS_AS(r.add(bh::verb::unknown, "/a", h), std::invalid_argument);
  r.add(bh::verb::get, "/a", h);
  CHECK_THROWS_AS(r.add(bh::verb::get, "/a", h), std::invalid_argument);
}

TEST_CASE("router over the wire: 404, 405 with Allow, HEAD keeps Content-Length", "[http][router]") {
  auto r = std::make_shared<router>(make_router());
  fixture f;
  f.listen(r);
  f.start();
  client c(f.port);
  REQUIRE(c.connected());

  REQUIRE(c.send(get("/missing")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::not_found);
  CHECK(sv((*res)[bh::field::server]) == "athmd");

  REQUIRE(c.send("DELETE /dir HTTP/1.1\r\nHost: t\r\n\r\n"));
  res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::method_not_allowed);
  CHECK(sv((*res)[bh::field::allow]) == "GET, HEAD");

  REQUIRE(c.send(get("/dir")));
  res = c.read();
  REQUIRE(res);
  REQUIRE(res->result() == bh::status::ok);
  const std::string get_body = res->body();
  CHECK(get_body == "dir:GET");

  // HEAD: same Content-Length as the GET body would have, no body bytes.
  REQUIRE(c.send("HEAD /dir HTTP/1.1\r\nHost: t\r\n\r\n"));
  res = c.read(3000ms, /*head=*/true);
  REQUIRE(res);
  CHECK(res->result() == bh::status::ok);
  CHECK(sv((*res)[bh::field::content_length]) == std::to_string(std::string("dir:HEAD").size()));
  CHECK(c.buffered() == 0);

  // The next response parses cleanly, so no body followed the HEAD header.
  REQUIRE(c.send(get("/dir?again")));
  res = c.read();
  REQUIRE(res);
  CHECK(res->result() == bh::status::ok);
  CHECK(res->body() == "dir:GET");
}

}  // namespace
}  // namespace athm::http::test
