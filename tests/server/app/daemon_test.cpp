#include "server/app/daemon.h"

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "server/keys/key_file.h"
#include "server/keys/outcome.h"
#include "tests/server/app/app_test_support.h"
#include "tests/server/http/test_support.h"

using namespace athm::app;
using namespace athm::app::testing;

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One request on a fresh connection to 127.0.0.1:|port|.
bh::response<bh::string_body> exchange(uint16_t port, bh::verb method, const std::string& target,
                                       const std::string& content_type = {}, const std::string& body = {},
                                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bh::request<bh::string_body> req{method, bsv(target), 11};
  req.set(bh::field::host, "127.0.0.1");
  if (!content_type.empty()) {
    req.set(bh::field::content_type, content_type);
  }
  for (const auto& [n, v] : headers) {
    req.set(bsv(n), v);
  }
  req.body() = body;
  req.prepare_payload();
  bh::write(s, req);
  boost::beast::flat_buffer buf;
  bh::response<bh::string_body> res;
  bh::read(s, buf, res);
  return res;
}

std::shared_ptr<athm::config::config> test_config(const fs::path& key_dir) {
  auto c = std::make_shared<athm::config::config>();
  c->public_listener = {"127.0.0.1", 0, std::nullopt};
  c->internal_listener = {"127.0.0.1", 0, std::nullopt};
  c->issuer.request_uri = "http://issuer.test/request";
  c->issuer.request_path = "/request";
  c->keys.directory = key_dir.string();
  c->keys.reload_interval = std::chrono::seconds(0);
  c->store.kind = athm::config::store_kind::memory;
  c->attester.type = "static";
  c->attester.static_.bucket = 1;
  c->server.io_threads = 2;
  c->server.shutdown_grace = std::chrono::milliseconds(2000);
  c->logging.access_log = false;
  return c;
}

athm::private_key write_key(const fs::path& dir, std::string_view deployment = "daemon-test") {
  fs::create_directories(dir);
  const auto now = clock::now();
  auto key = make_private_key(4, deployment);
  auto w = athm::keys::write_key_file(dir, key, {now - 1h, now - 1h, now + 24h});
  REQUIRE(w.ok());
  return key;
}

}  // namespace

TEST_CASE("daemon: serves both listeners, reloads keys, shuts down", "[app][daemon]") {
  temp_dir tmp;
  const fs::path keys = tmp / "keys";
  const athm::private_key k1 = write_key(keys);
  const athm::public_key& pk = k1.public_part();

  daemon_options opts;
  opts.handle_signals = false;
  std::atomic<int> listening_calls{0};  // set on the daemon's thread
  opts.on_listening = [&](const issuer_daemon&) { ++listening_calls; };
  issuer_daemon d(test_config(keys), opts);
  REQUIRE(d.public_port() != 0);
  REQUIRE(d.internal_port() != 0);
  REQUIRE(d.public_port() != d.internal_port());

  int rc = -1;
  std::thread runner([&] { rc = d.run(); });

  CHECK(exchange(d.public_port(), bh::verb::get, "/readyz").result_int() == 200);
  CHECK(exchange(d.internal_port(), bh::verb::get, "/healthz").result_int() == 200);
  // run() calls on_listening right after serving starts, so the answers
  // above may come first.
  CHECK(athm::http::test::eventually([&] { return listening_calls.load() != 0; }, 10s));
  CHECK(listening_calls == 1);

  // Issue over the public listener, redeem over the internal one.
  auto ctx = athm::token_request(pk);
  REQUIRE(ctx.ok());
  athm::pp::token_request tr;
  tr.truncated_key_id = pk.truncated_id();
  tr.request = ctx->request();
  const auto issued = exchange(d.public_port(), bh::verb::post, "/request",
                               "application/private-token-request", as_string(tr.encode()));
  REQUIRE(issued.result_int() == 200);
  const auto fin = athm::finalize_token(pk, ctx.value(), as_bytes(issued.body()));
  REQUIRE(fin.ok());
  athm::pp::token t;
  t.issuer_key_id = pk.id();
  t.authenticator = fin.value();
  const std::string token = as_string(t.encode());

  const auto redeemed = exchange(d.internal_port(), bh::verb::post, "/redeem", "application/private-token", token);
  REQUIRE(redeemed.result_int() == 200);
  CHECK(nlohmann::json::parse(redeemed.body())["bucket"] == 1);
  CHECK(exchange(d.internal_port(), bh::verb::post, "/redeem", "application/private-token", token).result_int() == 409);
  // The bucket never shows on the public side; redemption is not there.
  CHECK(exchange(d.public_port(), bh::verb::post, "/redeem", "application/private-token", token).result_int() == 404);

  // A second key appears after a reload.
  write_key(keys);
  const auto r = d.reload_keys();
  CHECK(r.ok);
  auto dir = nlohmann::json::parse(
      exchange(d.public_port(), bh::verb::get, "/.well-known/private-token-issuer-directory").body());
  CHECK(dir["token-keys"].size() == 2);

  // A broken directory keeps the current keys.
  {
    std::ofstream f(keys / "zz-broken.key");
    f << "athm-key v1\n";
  }
  ::chmod((keys / "zz-broken.key").c_str(), 0600);
  const auto bad = d.reload_keys();
  CHECK_FALSE(bad.ok);
  CHECK(bad.error.find("zz-broken.key") != std::string::npos);
  dir = nlohmann::json::parse(
      exchange(d.public_port(), bh::verb::get, "/.well-known/private-token-issuer-directory").body());
  CHECK(dir["token-keys"].size() == 2);
  CHECK(exchange(d.public_port(), bh::verb::get, "/readyz").result_int() == 200);

  const auto metrics = exchange(d.internal_port(), bh::verb::get, "/metrics").body();
  CHECK(metrics.find("athmd_key_reloads_total{result=\"ok\"} 1\n") != std::string::npos);
  CHECK(metrics.find("athmd_key_reloads_total{result=\"failed\"} 1\n") != std::string::npos);
  CHECK(metrics.find("athmd_redemptions_total{outcome=\"fresh\"} 1\n") != std::string::npos);
  // Latency histograms saw the issuance, the redemptions (one fresh, one
  // spent), the attester and the store, each once per call.
  for (const char* series : {
           "athmd_request_duration_seconds_count{endpoint=\"issue\"} 1\n",
           "athmd_request_duration_seconds_bucket{endpoint=\"issue\",le=\"+Inf\"} 1\n",
           "athmd_request_duration_seconds_count{endpoint=\"redeem\"} 2\n",
           "athmd_request_duration_seconds_bucket{endpoint=\"redeem\",le=\"+Inf\"} 2\n",
           "athmd_attester_duration_seconds_count{result=\"issue\"} 1\n",
           "athmd_store_duration_seconds_count{outcome=\"fresh\"} 1\n",
           "athmd_store_duration_seconds_count{outcome=\"already_spent\"} 1\n",
           "# TYPE athmd_request_duration_seconds histogram\n",
       }) {
    CHECK(metrics.find(series) != std::string::npos);
  }
  CHECK(metrics.find("athmd_request_duration_seconds_sum{endpoint=\"redeem\"} 0\n") == std::string::npos);
  // Issuance by key: one token under the first key, none under the second.
  static constexpr char hexdigits[] = "0123456789abcdef";
  std::string key_label;
  for (size_t i = 0; i < kKeyLabelBytes; ++i) {
    key_label += hexdigits[pk.id()[i] >> 4];
    key_label += hexdigits[pk.id()[i] & 0xf];
  }
  CHECK(metrics.find("athmd_tokens_issued_by_key_total{key_id=\"" + key_label + "\"} 1\n") != std::string::npos);
  CHECK(metrics.find("# TYPE athmd_tokens_issued_by_key_total counter\n") != std::string::npos);

  d.shutdown();
  runner.join();
  CHECK(rc == 0);

  // Stopped: nothing listens any more.
  net::io_context ioc;
  tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), d.public_port()), ec);
  CHECK(ec);
}

TEST_CASE("daemon: start-up errors name what failed", "[app][daemon]") {
  temp_dir tmp;
  const fs::path keys = tmp / "keys";
  write_key(keys);
  daemon_options opts;
  opts.handle_signals = false;

  SECTION("port in use") {
    net::io_context ioc;
    tcp::acceptor taken(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    auto c = test_config(keys);
    c->public_listener.port = taken.local_endpoint().port();
    CHECK_THROWS_WITH(issuer_daemon(c, opts), Catch::Contains("listeners.public: cannot listen on 127.0.0.1:"));
  }
  SECTION("TLS files that do not load") {
    auto c = test_config(keys);
    c->internal_listener.tls = athm::config::tls_config{(tmp / "absent-cert.pem").string(),
                                                        (tmp / "absent-key.pem").string()};
    CHECK_THROWS_WITH(issuer_daemon(c, opts), Catch::StartsWith("listeners.internal.tls.") &&
                                                  Catch::Contains("absent-"));
  }
  SECTION("unknown attester") {
    auto c = test_config(keys);
    c->attester.type = "oracle";
    CHECK_THROWS_AS(issuer_daemon(c, opts), athm::config::config_error);
  }
  SECTION("missing key directory") {
    auto c = test_config(tmp / "absent");
    CHECK_THROWS_AS(issuer_daemon(c, opts), athm::keys::key_error);
  }
  SECTION("store") {
    // An LMDB path below a regular file cannot be created.
    {
      std::ofstream f(tmp / "file");
      f << "x";
    }
    auto c = test_config(keys);
    c->store.kind = athm::config::store_kind::lmdb;
    c->store.lmdb.path = (tmp / "file" / "spent").string();
    CHECK_THROWS_WITH(issuer_daemon(c, opts), Catch::StartsWith("store: "));
  }
}

TEST_CASE("daemon: a listener with a tls section serves HTTPS", "[app][daemon]") {
  temp_dir tmp;
  write_key(tmp / "keys");
  const fs::path cert = tmp / "cert.pem";
  const fs::path key = tmp / "key.pem";
  const std::string mk = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
                         " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
                         key.string() + "' -out '" + cert.string() + "' >/dev/null 2>&1";
  REQUIRE(std::system(mk.c_str()) == 0);

  auto c = test_config(tmp / "keys");
  c->public_listener.tls = athm::config::tls_config{cert.string(), key.string()};
  daemon_options opts;
  opts.handle_signals = false;
  issuer_daemon d(c, opts);
  int rc = -1;
  std::thread runner([&] { rc = d.run(); });

  auto curl = [&](const std::string& url) {
    const std::string cmd = "curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert '" +
                            cert.string() + "' " + url;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[64] = {};
    const size_t n = std::fread(buf, 1, sizeof buf - 1, p);
    ::pclose(p);
    return std::string(buf, n);
  };
  const std::string pub = "127.0.0.1:" + std::to_string(d.public_port());
  CHECK(curl("https://" + pub + "/readyz") == "200");
  // Plain HTTP is not spoken on the TLS port; the internal listener is plain.
  CHECK(curl("http://" + pub + "/readyz") != "200");
  CHECK(curl("http://127.0.0.1:" + std::to_string(d.internal_port()) + "/healthz") == "200");
  d.reload_tls();  // same files: the new context serves
  CHECK(curl("https://" + pub + "/healthz") == "200");

  d.shutdown();
  runner.join();
  CHECK(rc == 0);
}

TEST_CASE("daemon: shutdown before run returns at once", "[app][daemon]") {
  temp_dir tmp;
  write_key(tmp / "keys");
  daemon_options opts;
  opts.handle_signals = false;
  issuer_daemon d(test_config(tmp / "keys"), opts);
  d.shutdown();
  CHECK(d.run() == 0);
}

TEST_CASE("describe_keys shows id prefixes and states only", "[app][daemon]") {
  auto live = make_issuer_key(live_schedule());
  auto pending = make_issuer_key({t0() + 1h, t0() + 2h, t0() + 24h});
  auto published = make_issuer_key({t0() - 1h, t0() + 2h, t0() + 24h});
  const athm::keys::key_ring ring({live, pending, published});
  const std::string d = describe_keys(ring, t0());
  CHECK(d.find(athm::keys::hex_public(std::span<const uint8_t>(live->pub().id().data(), 4)) + " n=4 issuing") !=
        std::string::npos);
  CHECK(d.find(" n=4 pending") != std::string::npos);
  CHECK(d.find(" n=4 published") != std::string::npos);
  CHECK(d.find(athm::keys::hex_public(std::span<const uint8_t>(live->pub().id().data(), 5))) == std::string::npos);
  CHECK(describe_keys(athm::keys::key_ring({}), t0()) == "none");
}
