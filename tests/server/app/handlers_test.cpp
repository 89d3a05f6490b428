#include "server/app/handlers.h"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/nid.h>

#include <map>
#include <set>

#include "server/app/authorization.h"
#include "server/app/builtin_attesters.h"
#include "server/app/errors.h"
#include "server/keys/key_file.h"
#include "server/store/memory_store.h"
#include "tests/server/app/app_test_support.h"

using namespace athm::app;
using namespace athm::app::testing;
namespace http = athm::http;

namespace {

// One ring, one store, one attester, and the handlers over them.
struct fixture {
  test_clock clk;
  std::vector<std::shared_ptr<const athm::keys::issuer_key>> keys;
  std::shared_ptr<athm::keys::key_store> key_store;
  std::unique_ptr<athm::store::spent_store> store;
  std::shared_ptr<attester> attest;
  std::shared_ptr<metrics> stats = std::make_shared<metrics>();
  std::shared_ptr<lifecycle> life = std::make_shared<lifecycle>();
  std::shared_ptr<const app_services> services;

  explicit fixture(std::shared_ptr<attester> a = nullptr,
                   std::unique_ptr<athm::store::spent_store> st = nullptr,
                   fail_policy policy = {},
                   std::vector<std::shared_ptr<const athm::keys::issuer_key>> ks = {}) {
    keys = ks.empty() ? std::vector{make_issuer_key(live_schedule())} : std::move(ks);
    key_store = std::make_shared<athm::keys::key_store>(std::make_shared<const athm::keys::key_ring>(keys));
    store = st ? std::move(st) : std::make_unique<athm::store::memory_store>();
    if (!a) {
      header_attester_options o;
      o.trusted = parse_trusted_cidrs({"127.0.0.0/8"});
      o.default_bucket = 0;
      a = std::make_shared<header_attester>(o);
    }
    attest = a;
    app_services s;
    s.keys = key_store;
    s.spent = store.get();
    s.attest = attest;
    s.policy = policy;
    s.request_uri = "https://issuer.example/request";
    s.request_path = "/request";
    s.directory_max_age = std::chrono::seconds(600);
    s.issuer_name = "issuer.example";
    s.stats = stats;
    s.life = life;
    s.now = clk.source();
    services = std::make_shared<const app_services>(std::move(s));
  }

  const athm::private_key& key(size_t i = 0) const { return keys[i]->key; }
  const athm::public_key& pub(size_t i = 0) const { return keys[i]->pub(); }
};

http::request_context peer(const char* address) {
  return http::request_context{boost::asio::ip::make_address(address), 40000, false, "public"};
}

// A client-side TokenRequest for |pk|, with its context.
struct client_request {
  athm::client_context ctx;
  std::string body;
};
client_request make_token_request(const athm::public_key& pk) {
  auto ctx = athm::token_request(pk);
  REQUIRE(ctx.ok());
  athm::pp::token_request tr;
  tr.truncated_key_id = pk.truncated_id();
  tr.request = ctx->request();
  const auto enc = tr.encode();
  return client_request{std::move(ctx).value(), as_string(enc)};
}

http::request issuance(std::string body, std::string media = std::string(kTokenRequestMediaType)) {
  return make_request(bh::verb::post, "/request", std::move(media), std::move(body));
}

// Issues one token through |h| and finalizes it on the client side.
std::array<uint8_t, athm::pp::kTokenBytes> issue_token(fixture& f, http::handler& h, uint32_t bucket,
                                                       size_t key_index = 0) {
  client_request cr = make_token_request(f.pub(key_index));
  http::request req = issuance(cr.body);
  req.set("X-Athm-Bucket", std::to_string(bucket));
  const http::response res = call(h, std::move(req), peer("127.0.0.1"));
  REQUIRE(res.result_int() == 200);
  const auto fin = athm::finalize_token(f.pub(key_index), cr.ctx, as_bytes(res.body()));
  REQUIRE(fin.ok());
  athm::pp::token t;
  t.issuer_key_id = f.pub(key_index).id();
  t.authenticator = fin.value();
  return t.encode();
}

http::request redemption(std::string body, std::string media = std::string(kTokenMediaType)) {
  return make_request(bh::verb::post, "/redeem", std::move(media), std::move(body));
}

http::request auth_request(std::optional<std::string> authorization) {
  http::request req = make_request(bh::verb::get, "/auth");
  if (authorization) {
    req.set(bh::field::authorization, *authorization);
  }
  return req;
}

// A compressed encoding 02 || x whose x is below p but on no curve point.
std::string off_curve_point() {
  bssl::UniquePtr<EC_GROUP> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  bssl::UniquePtr<EC_POINT> p(EC_POINT_new(group.get()));
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  std::string enc(33, '\0');
  enc[0] = 0x02;
  for (int x = 1; x < 256; ++x) {
    enc[32] = static_cast<char>(x);
    if (!EC_POINT_oct2point(group.get(), p.get(), reinterpret_cast<const uint8_t*>(enc.data()),
                            enc.size(), ctx.get())) {
      ERR_clear_error();
      return enc;
    }
  }
  FAIL("no off-curve x below 256");
  return enc;
}

std::string bearer(std::span<const uint8_t> token) {
  return "PrivateToken token=" + athm::pp::base64url_encode(token);
}

// Checks a 401 from /auth: its challenge and token-key.
void check_challenge(const http::response& res, const athm::public_key& issuing) {
  REQUIRE(res.result_int() == 401);
  CHECK(res.find("X-Token-Bucket") == res.end());
  REQUIRE(res.count(bh::field::www_authenticate) == 1);
  const std::string www = sv(res[bh::field::www_authenticate]);
  const std::string prefix = "PrivateToken challenge=";
  REQUIRE(www.rfind(prefix, 0) == 0);
  const size_t comma = www.find(", token-key=");
  REQUIRE(comma != std::string::npos);
  const auto challenge = athm::pp::base64url_decode(www.substr(prefix.size(), comma - prefix.size()));
  REQUIRE(challenge.ok());
  const std::vector<uint8_t>& c = challenge.value();
  // u16 type || u16 len || issuer_name || u8 len (0) || u16 len (0)
  REQUIRE(c.size() == 2 + 2 + 14 + 1 + 2);
  CHECK(c[0] == 0xC0);
  CHECK(c[1] == 0x7E);
  CHECK(c[2] == 0);
  CHECK(c[3] == 14);
  CHECK(std::string(c.begin() + 4, c.begin() + 18) == "issuer.example");
  CHECK(c[18] == 0);
  CHECK(c[19] == 0);
  CHECK(c[20] == 0);
  const auto key = athm::pp::base64url_decode(www.substr(comma + 12));
  REQUIRE(key.ok());
  CHECK(std::equal(key->begin(), key->end(), issuing.token_key().begin(), issuing.token_key().end()));
}

}  // namespace

// ---------------------------------------------------------------- directory

TEST_CASE("directory: body, media type, caching headers", "[app][handlers][directory]") {
  fixture f;
  directory_handler h(f.services);
  const http::response res = call(h, make_request(bh::verb::get, std::string(kDirectoryPath)));
  REQUIRE(res.result_int() == 200);
  CHECK(sv(res[bh::field::content_type]) == "application/private-token-issuer-directory");
  CHECK(sv(res[bh::field::cache_control]) == "public, max-age=600");
  const std::string etag = sv(res[bh::field::etag]);
  CHECK(etag == make_etag(res.body()));
  REQUIRE(etag.size() == 34);
  CHECK(etag.front() == '"');
  CHECK(etag.back() == '"');

  const auto doc = nlohmann::json::parse(res.body());
  CHECK(doc.size() == 2);
  CHECK(doc["issuer-request-uri"] == "https://issuer.example/request");
  REQUIRE(doc["token-keys"].size() == 1);
  const auto& e = doc["token-keys"][0];
  CHECK(e.size() == 5);
  CHECK(e["token-type"] == 49278);
  CHECK(e["not-before"] == athm::keys::to_unix_seconds(t0() - 1h));
  CHECK(e["athm-deployment-id"] == "app-test");
  CHECK(e["athm-buckets"] == 4);
  const std::string token_key = e["token-key"];
  CHECK(token_key.find('=') == std::string::npos);
  const auto decoded = athm::pp::base64url_decode(token_key);
  REQUIRE(decoded.ok());
  REQUIRE(decoded->size() == 163);
  CHECK(std::equal(decoded->begin(), decoded->end(), f.pub().token_key().begin()));
  // The field order is fixed: the text starts with the request URI.
  CHECK(res.body().rfind("{\"issuer-request-uri\":\"https://issuer.example/request\",\"token-keys\":[{", 0) == 0);
}

TEST_CASE("directory: every client gets the same bytes", "[app][handlers][directory]") {
  fixture f;
  directory_handler h(f.services);
  http::request with_headers = make_request(bh::verb::get, std::string(kDirectoryPath));
  with_headers.set(bh::field::user_agent, "something/1");
  with_headers.set(bh::field::accept_language, "fr");
  with_headers.set("X-Athm-Bucket", "3");
  const http::response a = call(h, make_request(bh::verb::get, std::string(kDirectoryPath)), peer("127.0.0.1"));
  const http::response b = call(h, std::move(with_headers), peer("198.51.100.4"));
  const http::response c = call(h, make_request(bh::verb::get, std::string(kDirectoryPath)), peer("2001:db8::9"));
  CHECK(a.body() == b.body());
  CHECK(a.body() == c.body());
  CHECK(sv(a[bh::field::etag]) == sv(b[bh::field::etag]));
  CHECK(sv(a[bh::field::etag]) == sv(c[bh::field::etag]));
  // And a fresh handler (a restart) builds the same bytes from the same keys.
  directory_handler h2(f.services);
  CHECK(call(h2, make_request(bh::verb::get, std::string(kDirectoryPath))).body() == a.body());
}

TEST_CASE("directory: If-None-Match and HEAD", "[app][handlers][directory]") {
  fixture f;
  directory_handler h(f.services);
  const http::response first = call(h, make_request(bh::verb::get, std::string(kDirectoryPath)));
  const std::string etag = sv(first[bh::field::etag]);

  struct row {
    std::string if_none_match;
    unsigned expected;
  };
  const std::vector<row> table = {
      {etag, 304},
      {"W/" + etag, 304},
      {"\"other\", " + etag, 304},
      {"\"other\" ,\t" + etag + " ", 304},
      {"*", 304},
      {"\"other\"", 200},
      {etag.substr(1, etag.size() - 2), 200},  // unquoted: malformed, no match
      {"", 200},
  };
  for (const auto& r : table) {
    INFO("If-None-Match: " << r.if_none_match);
    http::request req = make_request(bh::verb::get, std::string(kDirectoryPath));
    req.set(bh::field::if_none_match, r.if_none_match);
    const http::response res = call(h, std::move(req));
    CHECK(res.result_int() == r.expected);
    CHECK(sv(res[bh::field::etag]) == etag);
    CHECK(sv(res[bh::field::cache_control]) == "public, max-age=600");
    if (r.expected == 304) {
      CHECK(res.body().empty());
    } else {
      CHECK(res.body() == first.body());
    }
  }

  // HEAD goes through the router to the same handler, with the same headers.
  auto router = make_public_router(f.services);
  const http::response head = call(*router, make_request(bh::verb::head, std::string(kDirectoryPath)));
  CHECK(head.result_int() == 200);
  CHECK(sv(head[bh::field::etag]) == etag);
  CHECK(sv(head[bh::field::content_type]) == "application/private-token-issuer-directory");
}

TEST_CASE("directory: keys appear at publication and leave at expiry", "[app][handlers][directory]") {
  // Key A: live. Key B: published at t0 + 1h, issuing at t0 + 2h. Key C:
  // expires at t0 + 3h.
  auto a = make_issuer_key(live_schedule());
  auto b = make_issuer_key({t0() + 1h, t0() + 2h, t0() + 24h * 60});
  auto c = make_issuer_key({t0() - 2h, t0() - 2h, t0() + 3h});
  fixture f(nullptr, nullptr, {}, {a, b, c});
  directory_handler h(f.services);
  auto listed = [&] {
    const auto doc = nlohmann::json::parse(call(h, make_request(bh::verb::get, std::string(kDirectoryPath))).body());
    std::vector<std::string> out;
    for (const auto& e : doc["token-keys"]) {
      out.push_back(e["token-key"]);
    }
    return out;
  };
  const std::string ka = athm::pp::base64url_encode(a->pub().token_key());
  const std::string kb = athm::pp::base64url_encode(b->pub().token_key());
  const std::string kc = athm::pp::base64url_encode(c->pub().token_key());

  // Newest not-before first.
  CHECK(listed() == std::vector<std::string>{ka, kc});
  f.clk.set(t0() + 1h);
  CHECK(listed() == std::vector<std::string>{kb, ka, kc});
  f.clk.set(t0() + 3h);
  CHECK(listed() == std::vector<std::string>{kb, ka});
  // Back in time (clock step): rebuilt, not served stale.
  f.clk.set(t0());
  CHECK(listed() == std::vector<std::string>{ka, kc});
}

TEST_CASE("directory cache: one document per ring and interval", "[app][handlers][directory]") {
  auto a = make_issuer_key(live_schedule());
  auto ring1 = std::make_shared<const athm::keys::key_ring>(std::vector{a});
  auto ring2 = std::make_shared<const athm::keys::key_ring>(std::vector{a});
  directory_cache cache("https://issuer.example/request");
  const auto d1 = cache.get(ring1, t0());
  CHECK(cache.get(ring1, t0() + 1s) == d1);        // same object: cached
  const auto d2 = cache.get(ring2, t0());          // another ring: rebuilt
  CHECK(d2 != d1);
  CHECK(d2->body == d1->body);                     // same keys, same bytes
  CHECK(d2->etag == d1->etag);
  const auto d3 = cache.get(ring2, t0() + 24h * 31);  // after expiry: rebuilt
  CHECK(d3 != d2);
  CHECK(d3->body == "{\"issuer-request-uri\":\"https://issuer.example/request\",\"token-keys\":[]}");
  CHECK(d3->etag != d2->etag);
}

// ---------------------------------------------------------------- issuance

TEST_CASE("issuance: 200 with a TokenResponse for the attester's bucket", "[app][handlers][issue]") {
  fixture f;
  issue_handler h(f.services);
  std::optional<http::response> previous;
  for (uint32_t bucket = 0; bucket < 4; ++bucket) {
    INFO("bucket " << bucket);
    client_request cr = make_token_request(f.pub());
    http::request req = issuance(cr.body);
    req.set("X-Athm-Bucket", std::to_string(bucket));
    const http::response res = call(h, std::move(req), peer("127.0.0.1"));
    REQUIRE(res.result_int() == 200);
    CHECK(sv(res[bh::field::content_type]) == "application/private-token-response");
    CHECK(sv(res[bh::field::cache_control]) == "no-store");
    CHECK(res.body().size() == athm::response_bytes(4));

    // The token carries the bucket the attester chose.
    const auto fin = athm::finalize_token(f.pub(), cr.ctx, as_bytes(res.body()));
    REQUIRE(fin.ok());
    const auto verified = f.key().verify_token(fin.value());
    REQUIRE(verified.ok());
    CHECK(verified.value() == bucket);

    // Nothing but the body differs between buckets: same headers, same size.
    if (previous) {
      CHECK(res.body().size() == previous->body().size());
      std::vector<std::pair<std::string, std::string>> h1, h2;
      for (const auto& fld : res) {
        h1.emplace_back(sv(fld.name_string()), sv(fld.value()));
      }
      for (const auto& fld : *previous) {
        h2.emplace_back(sv(fld.name_string()), sv(fld.value()));
      }
      CHECK(h1 == h2);
    }
    previous = res;
  }
  CHECK(f.stats->value(counter::tokens_issued) == 4);
  CHECK(f.stats->value(counter::attester_issue) == 4);
}

TEST_CASE("issuance: the TokenResponse is computed as background work", "[app][handlers][issue]") {
  fixture f;
  std::vector<std::function<void()>> jobs;
  const auto queued_background = [&jobs](std::function<void()> job) { jobs.push_back(std::move(job)); };
  app_services queued = *f.services;
  queued.background = queued_background;
  issue_handler h(std::make_shared<const app_services>(std::move(queued)));

  client_request cr = make_token_request(f.pub());
  http::request req = issuance(cr.body);
  req.set("X-Athm-Bucket", "2");
  std::optional<http::response> res;
  h.handle(std::move(req), peer("127.0.0.1"), [&res](http::response r) { res = std::move(r); });
  REQUIRE(jobs.size() == 1);
  CHECK_FALSE(res.has_value());
  CHECK(f.stats->value(counter::tokens_issued) == 0);
  jobs.front()();
  REQUIRE(res.has_value());
  REQUIRE(res->result_int() == 200);
  const auto fin = athm::finalize_token(f.pub(), cr.ctx, as_bytes(res->body()));
  REQUIRE(fin.ok());
  const auto verified = f.key().verify_token(fin.value());
  REQUIRE(verified.ok());
  CHECK(verified.value() == 2);
  CHECK(f.stats->value(counter::tokens_issued) == 1);

  // A request that fails before the attester queues nothing.
  const http::response bad = call(h, issuance("short"), peer("127.0.0.1"));
  CHECK(bad.result_int() == 422);
  CHECK(jobs.size() == 1);

  // Denials and undecided verdicts are answered at once, without a job.
  auto attest = std::make_shared<scripted_attester>(attest_deny{429, 120s});
  app_services gated = *f.services;
  gated.attest = attest;
  gated.background = queued_background;
  issue_handler gated_h(std::make_shared<const app_services>(std::move(gated)));
  CHECK(call(gated_h, issuance(make_token_request(f.pub()).body), peer("127.0.0.1")).result_int() == 429);
  attest->set_result(attest_undecided{"down"});
  CHECK(call(gated_h, issuance(make_token_request(f.pub()).body), peer("127.0.0.1")).result_int() == 503);
  CHECK(jobs.size() == 1);

  // When the work cannot be queued, it runs inline.
  app_services full = *f.services;
  full.background = [](std::function<void()>) { throw std::bad_alloc(); };
  issue_handler inline_h(std::make_shared<const app_services>(std::move(full)));
  client_request cr2 = make_token_request(f.pub());
  const http::response res2 = call(inline_h, issuance(cr2.body), peer("127.0.0.1"));
  CHECK(res2.result_int() == 200);
  CHECK(f.stats->value(counter::tokens_issued) == 2);
}

TEST_CASE("issuance: 415 for a wrong or missing media type", "[app][handlers][issue]") {
  fixture f;
  issue_handler h(f.services);
  const client_request cr = make_token_request(f.pub());
  for (const std::string& media : std::vector<std::string>{"", "text/plain", "application/json", "application/private-token",
                                  "application/private-token-request-x", "application/private-token-requestx"}) {
    INFO("Content-Type: " << media);
    CHECK(call(h, issuance(cr.body, media)).result_int() == 415);
  }
  // Two Content-Type fields: refused rather than guessed.
  http::request twice = issuance(cr.body);
  twice.insert(bh::field::content_type, "application/private-token-request");
  CHECK(call(h, std::move(twice)).result_int() == 415);
  // Case and parameters do not matter.
  CHECK(call(h, issuance(cr.body, "Application/Private-Token-Request")).result_int() == 200);
  CHECK(call(h, issuance(make_token_request(f.pub()).body, "application/private-token-request; x=y"))
            .result_int() == 200);
}

TEST_CASE("issuance: 422 for every invalid request", "[app][handlers][issue]") {
  auto attest = std::make_shared<scripted_attester>(attest_issue{1});
  fixture f(attest);
  issue_handler h(f.services);
  const client_request cr = make_token_request(f.pub());
  const std::string& good = cr.body;
  const uint8_t kid = f.pub().truncated_id();
  auto with = [&](uint16_t type, uint8_t id, std::string t) {
    std::string b;
    b.push_back(static_cast<char>(type >> 8));
    b.push_back(static_cast<char>(type & 0xff));
    b.push_back(static_cast<char>(id));
    return b + t;
  };
  const std::string t = good.substr(3);
  const std::string off_curve = off_curve_point();
  std::string bad_prefix = t;
  bad_prefix[0] = 0x05;
  std::string x_too_big(33, '\xff');
  x_too_big[0] = 0x02;

  const std::vector<std::pair<std::string, std::string>> table = {
      {"empty", ""},
      {"35 bytes", good.substr(0, 35)},
      {"37 bytes", good + '\0'},
      {"token type 0x0002", with(0x0002, kid, t)},
      {"token type 0xC07F", with(0xC07F, kid, t)},
      {"unknown truncated key id", with(0xC07E, static_cast<uint8_t>(kid ^ 1), t)},
      {"identity point", with(0xC07E, kid, std::string(33, '\0'))},
      {"bad point prefix", with(0xC07E, kid, bad_prefix)},
      {"x >= p", with(0xC07E, kid, x_too_big)},
      {"x off the curve", with(0xC07E, kid, off_curve)},
  };
  for (const auto& [name, body] : table) {
    INFO(name);
    const http::response res = call(h, issuance(body));
    CHECK(res.result_int() == 422);
    CHECK(res.body() == "Unprocessable Content\n");
  }
  // Decoding failures never reach the attester; point failures do (the
  // point is decoded by the issuance itself).
  CHECK(attest->seen().size() == 4);
}

TEST_CASE("issuance: attester denials and the fail mode", "[app][handlers][issue]") {
  SECTION("403") {
    auto attest = std::make_shared<scripted_attester>(attest_deny{403, 60s});
    fixture f(attest);
    issue_handler h(f.services);
    const http::response res = call(h, issuance(make_token_request(f.pub()).body));
    CHECK(res.result_int() == 403);
    CHECK(res.find(bh::field::retry_after) == res.end());
    CHECK(f.stats->value(counter::attester_deny) == 1);
    CHECK(f.stats->latency(histogram::attester_deny).count() == 1);
    CHECK(f.stats->latency(histogram::attester_issue).count() == 0);
  }
  SECTION("429 with Retry-After") {
    auto attest = std::make_shared<scripted_attester>(attest_deny{429, 120s});
    fixture f(attest);
    issue_handler h(f.services);
    const http::response res = call(h, issuance(make_token_request(f.pub()).body));
    CHECK(res.result_int() == 429);
    CHECK(sv(res[bh::field::retry_after]) == "120");
  }
  SECTION("undecided, fail closed: 503") {
    auto attest = std::make_shared<scripted_attester>(attest_undecided{"down"});
    fixture f(attest, nullptr, fail_policy{athm::config::fail_mode::closed, 0});
    issue_handler h(f.services);
    const http::response res = call(h, issuance(make_token_request(f.pub()).body));
    CHECK(res.result_int() == 503);
    CHECK(res.body() == "Service Unavailable\n");
    CHECK(f.stats->value(counter::fail_closed) == 1);
  }
  SECTION("undecided, fail open: the fail-open bucket") {
    auto attest = std::make_shared<scripted_attester>(attest_undecided{"down"});
    attest->set_async(true);
    fixture f(attest, nullptr, fail_policy{athm::config::fail_mode::open, 2});
    issue_handler h(f.services);
    client_request cr = make_token_request(f.pub());
    const http::response res = call(h, issuance(cr.body));
    REQUIRE(res.result_int() == 200);
    const auto fin = athm::finalize_token(f.pub(), cr.ctx, as_bytes(res.body()));
    REQUIRE(fin.ok());
    CHECK(f.key().verify_token(fin.value()).value() == 2);
    CHECK(f.stats->value(counter::fail_open) == 1);
    CHECK(f.stats->value(counter::attester_undecided) == 1);
    CHECK(f.stats->latency(histogram::attester_undecided).count() == 1);
  }
  SECTION("undecided, fail open with a bucket the key lacks: 503") {
    auto attest = std::make_shared<scripted_attester>(attest_undecided{"down"});
    fixture f(attest, nullptr, fail_policy{athm::config::fail_mode::open, 4});
    issue_handler h(f.services);
    CHECK(call(h, issuance(make_token_request(f.pub()).body)).result_int() == 503);
  }
  SECTION("a bucket out of range is not issued") {
    auto attest = std::make_shared<scripted_attester>(attest_issue{4});
    fixture f(attest);
    issue_handler h(f.services);
    CHECK(call(h, issuance(make_token_request(f.pub()).body)).result_int() == 503);
  }
}

TEST_CASE("issuance: what the attester sees", "[app][handlers][issue]") {
  auto attest = std::make_shared<scripted_attester>(attest_issue{0}, std::vector<std::string>{"X-Verdict", "User-Agent"});
  attest->set_async(true);
  auto k8 = make_issuer_key(live_schedule(), 8);
  fixture f(attest, nullptr, {}, {k8});
  issue_handler h(f.services);
  http::request req = issuance(make_token_request(f.pub()).body);
  req.target("/request?x=1");
  req.insert("x-verdict", "a");
  req.insert("X-Verdict", "b");
  req.set(bh::field::user_agent, "ua/1");
  req.set(bh::field::cookie, "secret=1");
  REQUIRE(call(h, std::move(req), peer("203.0.113.5")).result_int() == 200);
  const auto seen = attest->seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].remote_address.to_string() == "203.0.113.5");
  CHECK(seen[0].path == "/request");
  CHECK(seen[0].n_buckets == 8);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"X-Verdict", "a"}, {"X-Verdict", "b"}, {"User-Agent", "ua/1"}};
  CHECK(seen[0].headers == expected);
  CHECK(seen[0].values("x-verdict") == std::vector<std::string_view>{"a", "b"});
}

TEST_CASE("issuance: only issuing keys, by truncated id", "[app][handlers][issue]") {
  // A published key whose not-before has not passed cannot issue yet.
  auto live = make_issuer_key(live_schedule());
  std::shared_ptr<const athm::keys::issuer_key> pending;
  do {
    pending = make_issuer_key({t0() - 1h, t0() + 1h, t0() + 24h * 60});
  } while (pending->pub().truncated_id() == live->pub().truncated_id());
  fixture f(nullptr, nullptr, {}, {live, pending});
  issue_handler h(f.services);
  CHECK(call(h, issuance(make_token_request(pending->pub()).body), peer("127.0.0.1")).result_int() == 422);
  CHECK(call(h, issuance(make_token_request(live->pub()).body), peer("127.0.0.1")).result_int() == 200);
  f.clk.set(t0() + 1h);
  CHECK(call(h, issuance(make_token_request(pending->pub()).body), peer("127.0.0.1")).result_int() == 200);
  // Both still issue: a client may use any listed issuing key.
  CHECK(call(h, issuance(make_token_request(live->pub()).body), peer("127.0.0.1")).result_int() == 200);
}

// ---------------------------------------------------------------- redemption

TEST_CASE("redeem: 200 once, then 409", "[app][handlers][redeem]") {
  fixture f;
  issue_handler issue(f.services);
  redeem_handler h(f.services);
  for (uint32_t bucket : {3u, 0u}) {
    const auto token = issue_token(f, issue, bucket);
    const http::response ok = call(h, redemption(as_string(token)), peer("127.0.0.1"));
    REQUIRE(ok.result_int() == 200);
    CHECK(sv(ok[bh::field::content_type]) == "application/json");
    CHECK(sv(ok[bh::field::cache_control]) == "no-store");
    const auto doc = nlohmann::json::parse(ok.body());
    CHECK(doc["bucket"] == bucket);
    CHECK(doc["key_id"] == athm::keys::hex_public(f.pub().id()));
    CHECK(doc.size() == 2);

    const http::response again = call(h, redemption(as_string(token)));
    CHECK(again.result_int() == 409);
  }
  CHECK(f.stats->value(counter::redemption_fresh) == 2);
  CHECK(f.stats->value(counter::redemption_already_spent) == 2);
  CHECK(f.stats->latency(histogram::store_fresh).count() == 2);
  CHECK(f.stats->latency(histogram::store_already_spent).count() == 2);
}

TEST_CASE("redeem: 415 and 422", "[app][handlers][redeem]") {
  auto store = std::make_unique<scripted_store>(athm::store::spend_result::fresh);
  scripted_store* st = store.get();
  fixture f(nullptr, std::move(store));
  issue_handler issue(f.services);
  redeem_handler h(f.services);
  const auto token = issue_token(f, issue, 1);
  const std::string good = as_string(token);

  CHECK(call(h, redemption(good, "text/plain")).result_int() == 415);
  CHECK(call(h, redemption(good, "")).result_int() == 415);
  CHECK(call(h, redemption(good, "application/private-token-request")).result_int() == 415);

  auto flip = [&](size_t i) {
    std::string b = good;
    b[i] = static_cast<char>(b[i] ^ 0x01);
    return b;
  };
  const size_t kT = 2 + 32;
  const size_t kP = kT + 32;
  const size_t kQ = kP + 33;
  std::string swapped = good;
  std::copy(good.begin() + kP, good.begin() + kQ, swapped.begin() + kQ);
  std::copy(good.begin() + kQ, good.end(), swapped.begin() + kP);
  const std::vector<std::pair<std::string, std::string>> table = {
      {"empty", ""},
      {"131 bytes", good.substr(0, 131)},
      {"133 bytes", good + '\0'},
      {"token type", flip(1)},
      {"unknown key id", flip(5)},
      {"tampered t", flip(kT + 31)},
      {"tampered P", flip(kP + 32)},
      {"tampered Q", flip(kQ + 32)},
      {"P and Q swapped", swapped},
      {"t >= order", good.substr(0, kT) + std::string(32, '\xff') + good.substr(kP)},
  };
  for (const auto& [name, body] : table) {
    INFO(name);
    CHECK(call(h, redemption(body)).result_int() == 422);
  }
  // Garbage never reaches the store.
  CHECK(st->calls() == 0);
  CHECK(f.stats->value(counter::redemption_invalid) == table.size());
  CHECK(call(h, redemption(good)).result_int() == 200);
  CHECK(st->calls() == 1);
}

TEST_CASE("redeem: expired keys do not redeem", "[app][handlers][redeem]") {
  fixture f;
  issue_handler issue(f.services);
  redeem_handler h(f.services);
  const auto token = issue_token(f, issue, 2);
  f.clk.set(t0() + 24h * 30);  // the key's expiry
  CHECK(call(h, redemption(as_string(token))).result_int() == 422);
}

TEST_CASE("redeem: 503 when the store cannot decide", "[app][handlers][redeem]") {
  fixture f(nullptr, std::make_unique<scripted_store>(athm::store::spend_result::unavailable));
  issue_handler issue(f.services);
  redeem_handler h(f.services);
  const auto token = issue_token(f, issue, 1);
  const http::response res = call(h, redemption(as_string(token)));
  CHECK(res.result_int() == 503);
  CHECK(res.body() == "Service Unavailable\n");
  CHECK(f.stats->value(counter::redemption_unavailable) == 1);
  CHECK(f.stats->latency(histogram::store_unavailable).count() == 1);
  CHECK(f.stats->latency(histogram::store_fresh).count() == 0);
}

// ---------------------------------------------------------------- forward-auth

TEST_CASE("auth: 200 with X-Token-Bucket once, then 401", "[app][handlers][auth]") {
  fixture f;
  issue_handler issue(f.services);
  auth_handler h(f.services);
  const auto token = issue_token(f, issue, 3);
  const http::response ok = call(h, auth_request(bearer(token)));
  REQUIRE(ok.result_int() == 200);
  CHECK(sv(ok["X-Token-Bucket"]) == "3");
  CHECK(ok.find(bh::field::www_authenticate) == ok.end());
  check_challenge(call(h, auth_request(bearer(token))), f.pub());
  // Spent for /redeem too: one spent state.
  redeem_handler r(f.services);
  CHECK(call(r, redemption(as_string(token))).result_int() == 409);
}

TEST_CASE("auth: 401 with a challenge for anything else", "[app][handlers][auth]") {
  fixture f;
  issue_handler issue(f.services);
  auth_handler h(f.services);
  const auto token = issue_token(f, issue, 1);
  auto tampered = token;
  tampered[40] ^= 1;
  const std::string b64 = athm::pp::base64url_encode(token);

  check_challenge(call(h, auth_request(std::nullopt)), f.pub());
  for (const std::string& v : std::vector<std::string>{std::string("Bearer ") + b64, std::string("PrivateToken"),
                              std::string("PrivateToken token="), "PrivateToken token=" + b64 + ", token=" + b64,
                              bearer(std::span<const uint8_t>(token.data(), 131)), bearer(tampered),
                              std::string("PrivateToken token=!!")}) {
    INFO(v);
    check_challenge(call(h, auth_request(v)), f.pub());
  }
  // Two Authorization fields, even both valid: 401, and nothing was spent.
  http::request twice = auth_request(bearer(token));
  twice.insert(bh::field::authorization, bearer(token));
  check_challenge(call(h, std::move(twice)), f.pub());
  // Quoted spelling of the unspent token works.
  const http::response ok = call(h, auth_request("privatetoken token=\"" + b64 + "\""));
  CHECK(ok.result_int() == 200);
  CHECK(sv(ok["X-Token-Bucket"]) == "1");
  CHECK(h.challenge().size() == 21);
}

TEST_CASE("auth: 503 when the store or the keys are unavailable", "[app][handlers][auth]") {
  SECTION("store") {
    fixture f(nullptr, std::make_unique<scripted_store>(athm::store::spend_result::unavailable));
    issue_handler issue(f.services);
    auth_handler h(f.services);
    const auto token = issue_token(f, issue, 1);
    CHECK(call(h, auth_request(bearer(token))).result_int() == 503);
  }
  SECTION("no issuing key to name in a challenge") {
    fixture f;
    auth_handler h(f.services);
    f.clk.set(t0() + 24h * 31);
    CHECK(call(h, auth_request(std::nullopt)).result_int() == 503);
  }
}

// ---------------------------------------------------------------- health, metrics, routes

TEST_CASE("healthz and readyz", "[app][handlers][health]") {
  auto store = std::make_unique<scripted_store>(athm::store::spend_result::fresh);
  scripted_store* st = store.get();
  fixture f(nullptr, std::move(store));
  healthz_handler live;
  readyz_handler ready(f.services);
  CHECK(call(live, make_request(bh::verb::get, "/healthz")).result_int() == 200);
  CHECK(call(ready, make_request(bh::verb::get, "/readyz")).result_int() == 200);
  st->set_healthy(false);
  CHECK(call(ready, make_request(bh::verb::get, "/readyz")).result_int() == 503);
  st->set_healthy(true);
  f.clk.set(t0() + 24h * 31);  // no issuing key
  CHECK(call(ready, make_request(bh::verb::get, "/readyz")).result_int() == 503);
  f.clk.set(t0());
  CHECK(call(ready, make_request(bh::verb::get, "/readyz")).result_int() == 200);
  f.life->begin_shutdown();
  CHECK(call(ready, make_request(bh::verb::get, "/readyz")).result_int() == 503);
  CHECK(call(live, make_request(bh::verb::get, "/healthz")).result_int() == 200);
}

TEST_CASE("routers and metrics", "[app][handlers][metrics]") {
  fixture f;
  auto pub = make_public_router(f.services);
  auto internal = make_internal_router(f.services);

  // The public side has no redemption, no forward-auth and no metrics.
  for (const char* path : {"/redeem", "/auth", "/metrics"}) {
    INFO(path);
    CHECK(call(*pub, make_request(bh::verb::get, path)).result_int() == 404);
  }
  // The internal side has no issuance and no directory.
  CHECK(call(*internal, make_request(bh::verb::post, "/request")).result_int() == 404);
  CHECK(call(*internal, make_request(bh::verb::get, std::string(kDirectoryPath))).result_int() == 404);
  CHECK(call(*pub, make_request(bh::verb::get, "/request")).result_int() == 405);
  // Forward-auth answers other methods too (Envoy keeps the original one).
  CHECK(call(*internal, make_request(bh::verb::post, "/auth")).result_int() == 401);

  CHECK(call(*pub, make_request(bh::verb::get, std::string(kDirectoryPath))).result_int() == 200);
  CHECK(call(*pub, make_request(bh::verb::get, "/healthz")).result_int() == 200);
  CHECK(call(*pub, issuance("short")).result_int() == 422);
  CHECK(call(*pub, issuance("short")).result_int() == 422);

  const http::response m = call(*internal, make_request(bh::verb::get, "/metrics"));
  REQUIRE(m.result_int() == 200);
  CHECK(sv(m[bh::field::content_type]).rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = m.body();
  CHECK(text.find("athmd_http_responses_total{endpoint=\"directory\",status=\"200\"} 1\n") != std::string::npos);
  CHECK(text.find("athmd_http_responses_total{endpoint=\"issue\",status=\"422\"} 2\n") != std::string::npos);
  CHECK(text.find("athmd_http_responses_total{endpoint=\"auth\",status=\"401\"} 1\n") != std::string::npos);
  CHECK(text.find("athmd_redemptions_total{outcome=\"fresh\"} 0\n") != std::string::npos);
  CHECK(text.find("# TYPE athmd_redemptions_total counter\n") != std::string::npos);
  CHECK(f.stats->responses(endpoint::healthz, 200) == 1);
  CHECK(f.stats->responses(endpoint::issue, 422) == 2);
  CHECK(f.stats->responses(endpoint::issue, 418) == 0);  // "other"
  // One expiry gauge per loaded key, labelled by a key id prefix.
  CHECK(text.find("athmd_key_expiry_timestamp_seconds{key_id=\"" +
                  athm::keys::hex_public(std::span<const uint8_t>(f.pub().id().data(), 8)) + "\"} " +
                  std::to_string(athm::keys::to_unix_seconds(t0() + 24h * 30)) + "\n") != std::string::npos);
  // Nothing is labelled by bucket ("_bucket{" is the histogram series suffix).
  CHECK(without_histogram_buckets(text).find("bucket") == std::string::npos);
  CHECK(text.find("athmd_request_duration_seconds_count{endpoint=\"issue\"} 2\n") != std::string::npos);
  CHECK(f.stats->latency(endpoint::issue).count() == 2);
  CHECK(f.stats->latency(endpoint::directory).count() == 1);
  // Without a load source the server gauges are left out.
  CHECK(text.find("athmd_connections_open") == std::string::npos);
}

TEST_CASE("metrics: the server's load gauges, read at each scrape", "[app][handlers][metrics]") {
  fixture f;
  app_services s = *f.services;
  std::size_t queued = 7;
  s.load = [&queued] { return app_services::server_load{3, 2, queued}; };
  auto internal = make_internal_router(std::make_shared<const app_services>(std::move(s)));
  const std::string first = call(*internal, make_request(bh::verb::get, "/metrics")).body();
  CHECK(first.find("# TYPE athmd_connections_open gauge\nathmd_connections_open 3\n") != std::string::npos);
  CHECK(first.find("# TYPE athmd_requests_in_flight gauge\nathmd_requests_in_flight 2\n") != std::string::npos);
  CHECK(first.find("# TYPE athmd_background_jobs_queued gauge\nathmd_background_jobs_queued 7\n") !=
        std::string::npos);
  queued = 0;
  const std::string second = call(*internal, make_request(bh::verb::get, "/metrics")).body();
  CHECK(second.find("athmd_background_jobs_queued 0\n") != std::string::npos);
}

TEST_CASE("metrics: latency of requests, the attester and the store", "[app][handlers][metrics]") {
  auto attest = std::make_shared<scripted_attester>(attest_issue{1});
  attest->set_async(true);
  attest->set_delay(30ms);
  fixture f(attest, std::make_unique<scripted_store>(athm::store::spend_result::fresh, true, 30ms));
  auto pub = make_public_router(f.services);
  auto internal = make_internal_router(f.services);
  const auto token = issue_token(f, *pub, 1);
  CHECK(call(*internal, redemption(as_string(token))).result_int() == 200);

  // Each observation covers the 30 ms wait: none lands at or below le 0.025.
  const size_t above_25ms = 8;
  REQUIRE(kLatencyBoundsUs[above_25ms - 1] == 25'000);
  const auto waited = [&](const latency_histogram& h) {
    for (size_t i = 0; i < above_25ms; ++i) {
      CHECK(h.in_slot(i) == 0);
    }
    CHECK(h.count() == 1);
    CHECK(h.sum_ns() >= 30'000'000);
  };
  waited(f.stats->latency(histogram::attester_issue));
  waited(f.stats->latency(histogram::store_fresh));
  waited(f.stats->latency(endpoint::issue));
  waited(f.stats->latency(endpoint::redeem));
  // A request's latency contains its attester or store call.
  CHECK(f.stats->latency(endpoint::issue).sum_ns() >= f.stats->latency(histogram::attester_issue).sum_ns());
  CHECK(f.stats->latency(endpoint::redeem).sum_ns() >= f.stats->latency(histogram::store_fresh).sum_ns());
  for (const histogram h : {histogram::attester_deny, histogram::attester_undecided,
                            histogram::store_already_spent, histogram::store_unavailable}) {
    CHECK(f.stats->latency(h).count() == 0);
  }
}

TEST_CASE("errors map to fixed statuses and texts", "[app][handlers]") {
  const std::vector<std::pair<app_error, unsigned>> table = {
      {app_error::unsupported_media_type, 415}, {app_error::invalid_request, 422},
      {app_error::unauthorized, 401},           {app_error::forbidden, 403},
      {app_error::rate_limited, 429},           {app_error::already_spent, 409},
      {app_error::unavailable, 503},            {app_error::internal, 500},
  };
  std::set<std::string> texts;
  for (const auto& [e, status] : table) {
    const http::response r = make_error_response(e);
    CHECK(r.result_int() == status);
    CHECK(sv(r[bh::field::cache_control]) == "no-store");
    CHECK(r.body() == error_text(e));
    texts.insert(r.body());
  }
  CHECK(texts.size() == table.size());
  // Client-caused crypto failures are 422; issuer failures are 500.
  for (auto e : {athm::errc::bad_length, athm::errc::bad_encoding, athm::errc::bad_point,
                 athm::errc::bad_scalar, athm::errc::token_invalid, athm::errc::unknown_key}) {
    CHECK(from_crypto(e) == app_error::invalid_request);
  }
  for (auto e : {athm::errc::rng_failure, athm::errc::internal, athm::errc::bad_bucket,
                 athm::errc::key_mismatch, athm::errc::proof_invalid, athm::errc::bad_params}) {
    CHECK(from_crypto(e) == app_error::internal);
  }
}
