#include "tools/athm/client.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "fake_issuer.h"

namespace athm::client {
namespace {

using namespace testing;
using namespace std::chrono_literals;

// Verifies |t| under |key| as the issuer would; returns the hidden bucket.
uint32_t issuer_bucket(const athm::private_key& key, const encoded_token& t) {
  auto tok = athm::pp::token::decode(t);
  REQUIRE(tok.ok());
  CHECK(tok->issuer_key_id == key.public_part().id());
  auto b = key.verify_token(tok->authenticator);
  REQUIRE(b.ok());
  return b.value();
}

issue_options options_for(const fake_issuer& s) {
  issue_options o;
  o.base_url = s.base_url();
  o.limits.timeout = 5s;
  return o;
}

struct temp_file {
  std::string path;
  explicit temp_file(std::string_view data) {
    char tmpl[] = "/tmp/athm-token-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
    std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  ~temp_file() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("client: directory_url", "[client]") {
  CHECK(directory_url("http://h:1").value().to_string() ==
        "http://h:1/.well-known/private-token-issuer-directory");
  CHECK(directory_url("http://h:1/").value().to_string() ==
        "http://h:1/.well-known/private-token-issuer-directory");
  CHECK(directory_url("http://h/prefix/?q").value().to_string() ==
        "http://h/prefix/.well-known/private-token-issuer-directory");
  CHECK(directory_url("http://h/.well-known/private-token-issuer-directory").value().to_string() ==
        "http://h/.well-known/private-token-issuer-directory");
  CHECK_FALSE(directory_url("https://h").ok());
}

TEST_CASE("client: issue against an issuer, bucket chosen by a header", "[client][issue]") {
  fake_issuer server(fake_key(4));
  for (uint32_t bucket : {0u, 2u, 3u}) {
    issue_options o = options_for(server);
    o.extra_headers.push_back({"X-Athm-Bucket", std::to_string(bucket)});
    unsigned status = 99;
    auto t = issue_token(o, &status);
    INFO(t.error());
    REQUIRE(t.ok());
    CHECK(status == 0);
    CHECK(t->key_id == server.key().public_part().id());
    CHECK(t->n_buckets == 4);
    CHECK(t->deployment_id == "client-test");
    CHECK(t->request_url == server.base_url() + "/request");
    CHECK(t->token[0] == 0xC0);
    CHECK(t->token[1] == 0x7E);
    CHECK(issuer_bucket(server.key(), t->token) == bucket);
  }
  // What went over the wire: the directory GET, then the POST with the
  // 36-byte TokenRequest, its media type and the extra header.
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 6);
  CHECK(reqs[0].method() == bh::verb::get);
  CHECK(reqs[0].target() == "/.well-known/private-token-issuer-directory");
  CHECK(reqs[1].method() == bh::verb::post);
  CHECK(reqs[1].target() == "/request");
  CHECK(reqs[1][bh::field::content_type] == "application/private-token-request");
  CHECK(reqs[1]["X-Athm-Bucket"] == "0");
  CHECK(reqs[1].body().size() == 36);
  CHECK(reqs[0]["X-Athm-Bucket"].empty());  // only on the POST
}

TEST_CASE("client: other bucket counts", "[client][issue]") {
  for (uint32_t n : {1u, 16u}) {
    fake_issuer server(fake_key(n, "n-test"));
    issue_options o = options_for(server);
    o.extra_headers.push_back({"X-Athm-Bucket", std::to_string(n - 1)});
    auto t = issue_token(o);
    INFO(t.error());
    REQUIRE(t.ok());
    CHECK(issuer_bucket(server.key(), t->token) == n - 1);
  }
}

TEST_CASE("client: absolute issuer-request-uri on another server is followed", "[client][issue]") {
  auto key = fake_key();
  const auto text = key.to_bytes();
  auto copy = athm::private_key::from_bytes(fake_suite(4, "client-test"), text.span(),
                                            key.public_part().token_key());
  REQUIRE(copy.ok());
  fake_issuer issuer(std::move(copy).value());
  fake_options o;
  o.request_uri = issuer.base_url() + "/request";
  o.request_path = "/unused";
  fake_issuer directory_only(std::move(key), o);

  auto t = issue_token(options_for(directory_only));
  INFO(t.error());
  REQUIRE(t.ok());
  CHECK(t->request_url == issuer.base_url() + "/request");
  CHECK(issuer.requests().size() == 1);
  CHECK(directory_only.requests().size() == 1);
}

TEST_CASE("client: issuer refusals and bad responses", "[client][issue]") {
  SECTION("422 sets the status") {
    fake_options o;
    o.override = [](const request& r) -> std::optional<response> {
      if (r.method() == bh::verb::post) {
        return response{bh::status::unprocessable_entity, 11};
      }
      return std::nullopt;
    };
    fake_issuer server(fake_key(), o);
    unsigned status = 0;
    auto t = issue_token(options_for(server), &status);
    REQUIRE_FALSE(t.ok());
    CHECK(status == 422);
    CHECK_THAT(t.error(), Catch::StartsWith("issuer answered 422"));
  }
  SECTION("wrong content type") {
    fake_options o;
    o.override = [](const request& r) -> std::optional<response> {
      if (r.method() == bh::verb::post) {
        response res{bh::status::ok, 11};
        res.set(bh::field::content_type, "application/octet-stream");
        res.body() = std::string(483, 'x');
        return res;
      }
      return std::nullopt;
    };
    fake_issuer server(fake_key(), o);
    unsigned status = 0;
    auto t = issue_token(options_for(server), &status);
    REQUIRE_FALSE(t.ok());
    CHECK(status == 0);
    CHECK_THAT(t.error(), Catch::Contains("Content-Type"));
  }
  SECTION("wrong size") {
    fake_options o;
    o.override = [](const request& r) -> std::optional<response> {
      if (r.method() == bh::verb::post) {
        response res{bh::status::ok, 11};
        res.set(bh::field::content_type, "application/private-token-response");
        res.body() = std::string(482, 'x');
        return res;
      }
      return std::nullopt;
    };
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error(), Catch::Contains("expected 483"));
  }
  SECTION("a response for another key fails the issuance proof") {
    auto other = fake_key();
    auto other_ptr = std::make_shared<athm::private_key>(std::move(other));
    fake_options o;
    o.override = [other_ptr](const request& r) -> std::optional<response> {
      if (r.method() != bh::verb::post) {
        return std::nullopt;
      }
      // Runs on the server thread: no Catch assertions here.
      auto tr = athm::pp::token_request::decode(body_bytes(r.body()));
      if (!tr) {
        return response{bh::status::bad_request, 11};
      }
      auto resp = other_ptr->token_response(tr->request, 1);
      if (!resp) {
        return response{bh::status::internal_server_error, 11};
      }
      response res{bh::status::ok, 11};
      res.set(bh::field::content_type, "application/private-token-response");
      res.body() = body_string(resp.value());
      return res;
    };
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error(), Catch::Contains("response rejected"));
  }
}

TEST_CASE("client: directory problems", "[client][issue]") {
  SECTION("key not valid yet") {
    fake_options o;
    o.not_before = 4'000'000'000;
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error(), Catch::Contains("no ATHM key is valid yet"));
    // With an explicit later "now" it is.
    issue_options later = options_for(server);
    later.now = std::chrono::system_clock::time_point(std::chrono::seconds(4'000'000'000));
    CHECK(issue_token(later).ok());
  }
  SECTION("a token-key with a broken proof") {
    auto tk = fake_key().public_part().token_key();
    tk[162] ^= 1;
    fake_options o;
    o.override = [tk](const request& r) -> std::optional<response> {
      if (r.method() != bh::verb::get) {
        return std::nullopt;
      }
      nlohmann::json doc = {{"issuer-request-uri", "/request"},
                            {"token-keys",
                             {{{"token-type", 49278},
                               {"token-key", athm::pp::base64url_encode(tk)},
                               {"athm-deployment-id", "client-test"},
                               {"athm-buckets", 4}}}}};
      response res{bh::status::ok, 11};
      res.body() = doc.dump();
      return res;
    };
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error(), Catch::Contains("token-key rejected"));
  }
  SECTION("not JSON") {
    fake_options o;
    o.override = [](const request&) -> std::optional<response> {
      response res{bh::status::ok, 11};
      res.body() = "<html>";
      return res;
    };
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK(t.error() == "directory: not valid JSON");
  }
  SECTION("directory status") {
    fake_options o;
    o.override = [](const request&) -> std::optional<response> {
      return response{bh::status::service_unavailable, 11};
    };
    fake_issuer server(fake_key(), o);
    auto t = issue_token(options_for(server));
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error(), Catch::Contains("answered 503"));
  }
}

TEST_CASE("client: redeem, both ways, and double spend", "[client][redeem]") {
  fake_issuer server(fake_key());
  issue_options o = options_for(server);
  o.extra_headers.push_back({"X-Athm-Bucket", "2"});
  auto t1 = issue_token(o);
  auto t2 = issue_token(o);
  REQUIRE(t1.ok());
  REQUIRE(t2.ok());

  redeem_options r;
  r.url = server.base_url() + "/redeem";
  auto first = redeem_token(r, t1->token);
  REQUIRE(first.ok());
  CHECK(first->status == 200);
  CHECK(first->media_type == "application/json");
  CHECK(first->body == R"({"bucket":2})");
  CHECK(redeem_exit_code(first->status) == 0);
  auto again = redeem_token(r, t1->token);
  REQUIRE(again.ok());
  CHECK(again->status == 409);
  CHECK(redeem_exit_code(again->status) == 1);

  const auto reqs = server.requests();
  CHECK(reqs.back()[bh::field::content_type] == "application/private-token");
  CHECK(reqs.back().body().size() == 132);

  redeem_options a;
  a.url = server.base_url() + "/protected";
  a.mode = redeem_mode::authorization;
  auto via_auth = redeem_token(a, t2->token);
  REQUIRE(via_auth.ok());
  CHECK(via_auth->status == 200);
  CHECK(via_auth->token_bucket == std::optional<std::string>("2"));
  CHECK(server.requests().back()[bh::field::authorization] ==
        "PrivateToken token=" + athm::pp::base64url_encode(t2->token));

  auto forged = t2->token;
  forged[40] ^= 1;
  auto bad = redeem_token(a, forged);
  REQUIRE(bad.ok());
  CHECK(bad->status == 401);
  CHECK_FALSE(bad->token_bucket.has_value());
}

TEST_CASE("client: redeem transport errors and exit codes", "[client][redeem]") {
  redeem_options r;
  r.url = "https://h/redeem";
  CHECK_THAT(redeem_token(r, {}).error(), Catch::Contains("https"));
  CHECK(redeem_exit_code(200) == 0);
  CHECK(redeem_exit_code(401) == 1);
  CHECK(redeem_exit_code(409) == 1);
  CHECK(redeem_exit_code(422) == 1);
  CHECK(redeem_exit_code(500) == 2);
  CHECK(redeem_exit_code(503) == 2);
  CHECK(redeem_exit_code(302) == 2);
}

TEST_CASE("client: token files", "[client][token]") {
  athm::pp::token t;
  t.issuer_key_id.fill(7);
  t.authenticator.fill(9);
  const auto enc = t.encode();
  const std::string raw = body_string(enc);
  const std::string b64 = athm::pp::base64url_encode(enc);

  for (const std::string& content : {raw, b64, b64 + "\n", "  " + b64 + "\r\n"}) {
    temp_file f(content);
    auto r = read_token_file(f.path);
    INFO(r.error());
    REQUIRE(r.ok());
    CHECK(r.value() == enc);
  }
  // Wrong token type, wrong length, garbage.
  auto other = enc;
  other[1] = 0x7F;
  for (const std::string& content :
       {body_string(other), raw.substr(0, 131), raw + "x", athm::pp::base64url_encode(other),
        std::string("not a token"), std::string()}) {
    temp_file f(content);
    CHECK_FALSE(read_token_file(f.path).ok());
  }
  CHECK_THAT(read_token_file("/nonexistent/token").error(), Catch::Contains("cannot open"));
  temp_file big(std::string(10000, 'A'));
  CHECK_THAT(read_token_file(big.path).error(), Catch::Contains("too large"));
}

}  // namespace athm::client
