// Dev mode end to end: issuance for every bucket, redemption on the internal
// listener (POST /redeem and GET /auth), the split between the listeners, and
// the issuer directory.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"
#include "tools/athm/client.h"

using namespace athm::itest;

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("dev mode: issue then redeem for every bucket", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  REQUIRE(issuer.keys.size() == 1);
  const athm::public_key& pk = issuer.current();
  REQUIRE(pk.params().n_buckets() == 4);
  REQUIRE(pk.params().deployment_id() == "athmd-dev");

  for (uint32_t bucket = 0; bucket < 4; ++bucket) {
    INFO("bucket " << bucket);

    // POST /redeem: JSON with the bucket and the full key id.
    const encoded_token t1 = issue_token(d.public_port(), issuer, bucket);
    CHECK(token_key_id(t1) == pk.id());
    const redeem_result r = redeem(d.internal_port(), t1);
    INFO(r.reply.describe());
    REQUIRE(r.status() == 200);
    CHECK(r.reply.media_type() == "application/json");
    REQUIRE(r.bucket.has_value());
    CHECK(*r.bucket == bucket);
    CHECK(r.key_id == hex(pk.id()));

    // GET /auth: 200 with X-Token-Bucket.
    const encoded_token t2 = issue_token(d.public_port(), issuer, bucket);
    const http_reply a = forward_auth(d.internal_port(), "PrivateToken token=" + base64url(t2));
    INFO(a.describe());
    REQUIRE(a.status == 200);
    CHECK(a.header("X-Token-Bucket") == std::to_string(bucket));
  }
}

TEST_CASE("dev mode: the client library flow for every bucket", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");

  for (uint32_t bucket = 0; bucket < 4; ++bucket) {
    INFO("bucket " << bucket);
    athm::client::issue_options io;
    io.base_url = d.public_url();
    io.extra_headers.push_back({kBucketHeader, std::to_string(bucket)});
    unsigned status = 0;
    auto issued = athm::client::issue_token(io, &status);
    INFO(issued.error() << " (status " << status << ")");
    REQUIRE(issued.ok());
    CHECK(issued->n_buckets == 4);
    CHECK(issued->deployment_id == "athmd-dev");

    athm::client::redeem_options ro;
    ro.url = d.internal_url() + "/redeem";
    ro.mode = athm::client::redeem_mode::internal;
    auto reply = athm::client::redeem_token(ro, issued->token);
    REQUIRE(reply.ok());
    REQUIRE(reply->status == 200);
    const auto j = nlohmann::json::parse(reply->body, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j.value("bucket", -1) == static_cast<int>(bucket));
    CHECK(j.value("key_id", std::string()) == hex(issued->key_id));

    // A second token, redeemed the forward-auth way.
    auto issued2 = athm::client::issue_token(io);
    REQUIRE(issued2.ok());
    athm::client::redeem_options ra;
    ra.url = d.internal_url() + "/auth";
    ra.mode = athm::client::redeem_mode::authorization;
    auto reply2 = athm::client::redeem_token(ra, issued2->token);
    REQUIRE(reply2.ok());
    CHECK(reply2->status == 200);
    CHECK(reply2->token_bucket == std::to_string(bucket));
  }
}

TEST_CASE("dev mode: the header attester", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());

  SECTION("no header from loopback means bucket 0") {
    const encoded_token t = issue_token(d.public_port(), issuer, std::nullopt);
    const redeem_result r = redeem(d.internal_port(), t);
    REQUIRE(r.status() == 200);
    CHECK(r.bucket == 0u);
  }

  SECTION("an out-of-range or malformed bucket is denied, never defaulted") {
    for (const std::string value : {"4", "256", "-1", "abc", "1.5", ""}) {
      INFO("X-Athm-Bucket: \"" << value << "\"");
      pending_request p = make_request(issuer.current());
      const http_reply r = http_post(d.public_port(), issuer.request_target, kRequestMediaType,
                                     p.body, {{kBucketHeader, value}});
      INFO(r.describe());
      CHECK(r.status == 403);
    }
  }
}

TEST_CASE("dev mode: the public listener does not serve internal routes", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  const encoded_token t = issue_token(d.public_port(), issuer, 1);

  CHECK(http_get(d.public_port(), "/healthz").status == 200);
  CHECK(http_get(d.public_port(), "/readyz").status == 200);

  const http_reply redeem_public =
      http_post(d.public_port(), "/redeem", kTokenMediaType, as_string(t));
  CHECK(redeem_public.status == 404);
  const http_reply auth_public = http_get(d.public_port(), "/auth",
                                          {{"Authorization", "PrivateToken token=" + base64url(t)}});
  CHECK(auth_public.status == 404);
  CHECK(http_get(d.public_port(), "/metrics").status == 404);

  // Neither attempt spent the token.
  const redeem_result r = redeem(d.internal_port(), t);
  INFO(r.reply.describe());
  REQUIRE(r.status() == 200);
  CHECK(r.bucket == 1u);
}

namespace {

// The value of the unlabelled series |name| in a Prometheus text body, or -1.
long gauge_value(const std::string& text, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const auto at = text.find(prefix);
  if (at == std::string::npos) {
    return -1;
  }
  return std::stol(text.substr(at + prefix.size()));
}

}  // namespace

TEST_CASE("dev mode: /metrics reports the server's load", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  (void)issue_token(d.public_port(), issuer, 2);

  const http_reply m = http_get(d.internal_port(), "/metrics");
  INFO(m.describe());
  REQUIRE(m.status == 200);
  CHECK(gauge_value(m.body, "athmd_connections_open") >= 1);  // at least the scrape's own
  CHECK(gauge_value(m.body, "athmd_requests_in_flight") >= 1);
  CHECK(gauge_value(m.body, "athmd_background_jobs_queued") == 0);
  CHECK(gauge_value(m.body, "athmd_tokens_issued_total") == 1);
}

TEST_CASE("dev mode: the issuer directory", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");

  const http_reply r = http_get(d.public_port(), kDirectoryPath);
  INFO(r.describe());
  REQUIRE(r.status == 200);
  CHECK(r.media_type() == "application/private-token-issuer-directory");
  const auto cache_control = r.header("Cache-Control");
  REQUIRE(cache_control.has_value());
  CHECK(cache_control->find("max-age=") != std::string::npos);
  const auto etag = r.header("ETag");
  REQUIRE(etag.has_value());
  REQUIRE(!etag->empty());

  SECTION("fields") {
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j.contains("issuer-request-uri"));
    REQUIRE(j["issuer-request-uri"].is_string());
    const std::string uri = j["issuer-request-uri"].get<std::string>();
    CHECK(uri.rfind("http://", 0) == 0);
    CHECK(uri.size() > 8);
    CHECK(uri.substr(uri.size() - 8) == "/request");
    REQUIRE(j.contains("token-keys"));
    REQUIRE(j["token-keys"].is_array());
    REQUIRE(j["token-keys"].size() == 1);
    const auto& k = j["token-keys"][0];
    CHECK(k.value("token-type", 0) == 49278);
    CHECK(k.value("athm-deployment-id", std::string()) == "athmd-dev");
    CHECK(k.value("athm-buckets", 0) == 4);
    REQUIRE(k.contains("not-before"));
    REQUIRE(k["not-before"].is_number_integer());
    CHECK(k["not-before"].get<int64_t>() <= unix_now());
    REQUIRE(k.contains("token-key"));
    REQUIRE(k["token-key"].is_string());
    const std::string b64 = k["token-key"].get<std::string>();
    CHECK(b64.find('=') == std::string::npos);  // base64url without padding
    auto key = athm::pp::base64url_decode(b64);
    REQUIRE(key.ok());
    REQUIRE(key->size() == athm::kTokenKeyBytes);

    // The key proof verifies under the advertised parameters, and only them.
    auto s = athm::suite::create(4, "athmd-dev");
    REQUIRE(s.ok());
    CHECK(athm::public_key::from_token_key(*s, *key).ok());
    auto other = athm::suite::create(4, "athmd-dev-other");
    REQUIRE(other.ok());
    CHECK(!athm::public_key::from_token_key(*other, *key).ok());
    auto three = athm::suite::create(3, "athmd-dev");
    REQUIRE(three.ok());
    CHECK(!athm::public_key::from_token_key(*three, *key).ok());
  }

  SECTION("identical bytes on repeated requests and connections") {
    for (int i = 0; i < 5; ++i) {
      const http_reply again = http_get(d.public_port(), kDirectoryPath);
      REQUIRE(again.status == 200);
      CHECK(again.body == r.body);
      CHECK(again.header("ETag") == etag);
    }
    http_connection keep(d.public_port());
    for (int i = 0; i < 3; ++i) {
      const http_reply again = keep.send(http_request{"GET", kDirectoryPath, {}, "", true});
      REQUIRE(again.status == 200);
      CHECK(again.body == r.body);
      CHECK(again.header("ETag") == etag);
    }
  }

  SECTION("If-None-Match answers 304") {
    const http_reply not_modified =
        http_get(d.public_port(), kDirectoryPath, {{"If-None-Match", *etag}});
    CHECK(not_modified.status == 304);
    CHECK(not_modified.body.empty());
    CHECK(not_modified.header("ETag") == etag);

    const http_reply other =
        http_get(d.public_port(), kDirectoryPath, {{"If-None-Match", "\"not-the-etag\""}});
    CHECK(other.status == 200);
    CHECK(other.body == r.body);
  }

  SECTION("HEAD") {
    const http_reply head = http_exchange(d.public_port(),
                                          http_request{"HEAD", kDirectoryPath, {}, "", false});
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(head.header("ETag") == etag);
    CHECK(head.media_type() == "application/private-token-issuer-directory");
  }

  SECTION("the directory key is the one that issues") {
    const issuer_view issuer = fetch_issuer(d.public_port());
    const encoded_token t = issue_token(d.public_port(), issuer, 3);
    CHECK(token_key_id(t) == issuer.current().id());
    const redeem_result red = redeem(d.internal_port(), t);
    REQUIRE(red.status() == 200);
    CHECK(red.bucket == 3u);
  }
}
