#include "server/http/tls_session.h"

#include "tests/server/http/tls_test_support.h"

#include <boost/beast/http/rfc7230.hpp>

#include <catch2/catch.hpp>

#include <future>

namespace athm::http::test {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Answers with the connection facts: "tls=<0|1> port=<remote port>
// listener=<name> <METHOD> <target> <body>". For /handler-closes it asks
// the transport to close the connection after the response.
class facts_handler final : public handler {
 public:
  void handle(request req, const request_context& ctx, respond done) noexcept override {
    ++calls;
    response res{bh::status::ok, 11};
    res.set(bh::field::content_type, "text/plain");
    res.body() = std::string("tls=") + (ctx.tls ? "1" : "0") + " port=" + std::to_string(ctx.remote_port) +
                 " listener=" + ctx.listener + " " + sv(req.method_string()) + " " + sv(req.target()) + " " +
                 req.body();
    if (req.target() == "/handler-closes") {
      res.set(bh::field::connection, "close");
    }
    if (req.target() == "/slow") {  // answered 300 ms later, from another thread
      runner.later(300ms, [res, done = std::move(done)]() mutable { done(std::move(res)); });
      return;
    }
    done(std::move(res));
  }
  std::atomic<int> calls{0};
  delayed_runner runner;
};

// A server with one HTTPS listener ("public") on a fresh PKI, plus the
// files the context reads (live.pem / live.key, replaceable in place).
struct tls_fixture {
  explicit tls_fixture(limits lim = test_limits(), key_kind kind = key_kind::ec_p256)
      : pki(dir), first(pki.issue("first", "athm-test-server-1", 1001, kind)),
        files{dir.file("live.pem"), dir.file("live.key")} {
    install(first);
    tls = std::make_shared<tls_context>(files);
    port = f.srv->add_listener({"public", loopback_any_port(), lim, h, {}}, tls_session_factory(tls))->port();
  }
  void install(const issued_cert& c) {
    replace_file(files.cert_file, read_text(c.cert_file));
    replace_file(files.key_file, read_text(c.key_file));
  }
  tls_client::options trusting() const { return tls_client::trusting(pki.ca_file()); }
  std::string cacert() const { return "--cacert " + sh_quote(pki.ca_file()); }

  temp_dir dir;
  test_pki pki;
  issued_cert first;
  tls_files files;
  std::shared_ptr<tls_context> tls;
  std::shared_ptr<facts_handler> h = std::make_shared<facts_handler>();
  fixture f;
  std::uint16_t port = 0;
};

TEST_CASE("curl GET over TLS 1.3", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  const auto r = curl("-v --tlsv1.3 " + t.cacert(), https_url(t.port, "/hello?x=1"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "SSL connection using TLSv1.3"));
  CHECK(contains(r.output, "tls=1 port="));
  CHECK(contains(r.output, "listener=public GET /hello?x=1"));
  CHECK(contains(r.output, "subject: CN=athm-test-server-1"));
  CHECK(contains(r.output, "ALPN: server accepted http/1.1"));
  CHECK(t.tls->counters().handshakes_completed == 1);
  CHECK(t.tls->counters().handshakes_failed == 0);
}

TEST_CASE("ALPN selects http/1.1 when offered and nothing otherwise", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  SECTION("offered after h2") {
    tls_client::options o = t.trusting();
    o.alpn = {"h2", "http/1.1"};
    tls_client c(t.port, o);
    REQUIRE(c.handshaken());
    CHECK(c.alpn() == "http/1.1");
    REQUIRE(c.send(get("/alpn")));
    CHECK(c.read());
  }
  SECTION("not offered") {
    tls_client::options o = t.trusting();
    o.alpn = {"h2"};
    tls_client c(t.port, o);
    REQUIRE(c.handshaken());
    CHECK(c.alpn().empty());
  }
  SECTION("no ALPN extension") {
    tls_client c(t.port, t.trusting());
    REQUIRE(c.handshaken());
    CHECK(c.alpn().empty());
    CHECK(c.version() == "TLSv1.3");
  }
}

TEST_CASE("curl GET over TLS 1.2 uses an ECDHE AEAD suite by server preference", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  SECTION("default client offer") {
    const auto r = curl("-v --tlsv1.2 --tls-max 1.2 " + t.cacert(), https_url(t.port, "/v12"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.output, "SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256"));
    CHECK(contains(r.output, "tls=1 port="));
  }
  SECTION("the server's order wins over the client's") {
    const auto r = curl("-v --tlsv1.2 --tls-max 1.2 --ciphers "
                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256 " +
                            t.cacert(),
                        https_url(t.port, "/v12"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.output, "SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256"));
  }
  SECTION("a client offering only CBC suites is refused") {
    const auto r = curl("-v --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA " +
                            t.cacert(),
                        https_url(t.port, "/v12"));
    INFO(r.output);
    CHECK(r.exit_code == 35);  // CURLE_SSL_CONNECT_ERROR
    CHECK(contains(r.output, "handshake failure"));
    CHECK(eventually([&] { return t.tls->counters().handshakes_failed == 1; }));
  }
}

TEST_CASE("TLS 1.2 with an RSA certificate uses ECDHE-RSA", "[http][tls]") {
  tls_fixture t(test_limits(), key_kind::rsa_2048);
  t.f.start();
  const auto r = curl("-v --tlsv1.2 --tls-max 1.2 " + t.cacert(), https_url(t.port, "/rsa"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "SSL connection using TLSv1.2 / ECDHE-RSA-AES128-GCM-SHA256"));
}

TEST_CASE("TLS 1.1 and older are refused by the server", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  SECTION("curl offering TLS 1.1 only") {
    // SECLEVEL=0 lets the client really offer TLS 1.1, so the refusal is
    // the server's protocol_version alert.
    const auto r = curl("-v --tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0' " + t.cacert(),
                        https_url(t.port, "/old"));
    INFO(r.output);
    CHECK(r.exit_code == 35);
    CHECK(contains(r.output, "alert protocol version"));
  }
  SECTION("a BoringSSL client offering TLS 1.0 to 1.1") {
    tls_client::options o = t.trusting();
    o.min_version = TLS1_VERSION;
    o.max_version = TLS1_1_VERSION;
    tls_client c(t.port, o);
    REQUIRE(c.connected());
    CHECK_FALSE(c.handshaken());
    INFO(c.handshake_error().message());
    CHECK(contains(c.handshake_error().message(), "PROTOCOL_VERSION"));
  }
  CHECK(eventually([&] { return t.tls->counters().handshakes_failed == 1; }));
  CHECK(t.h->calls == 0);
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("a client that does not trust the certificate fails the handshake", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  SECTION("curl with only the system trust store") {
    const auto r = curl("-v", https_url(t.port, "/"));
    INFO(r.output);
    CHECK(r.exit_code == 60);  // CURLE_PEER_FAILED_VERIFICATION
    CHECK(contains(r.output, "unable to get local issuer certificate"));
  }
  SECTION("curl trusting another CA") {
    temp_dir other_dir;
    test_pki other(other_dir);
    const auto r = curl("-v --cacert " + sh_quote(other.ca_file()), https_url(t.port, "/"));
    INFO(r.output);
    CHECK(r.exit_code == 60);
  }
  SECTION("a BoringSSL client trusting another CA") {
    temp_dir other_dir;
    test_pki other(other_dir);
    tls_client c(t.port, tls_client::trusting(other.ca_file()));
    REQUIRE(c.connected());
    CHECK_FALSE(c.handshaken());
    INFO(c.handshake_error().message());
    CHECK(contains(c.handshake_error().message(), "CERTIFICATE_VERIFY_FAILED"));
  }
  // The client aborted with an alert: the server counts a failed handshake.
  CHECK(eventually([&] { return t.tls->counters().handshakes_failed == 1; }));
  CHECK(t.tls->counters().handshakes_completed == 0);
  CHECK(t.h->calls == 0);
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("plaintext HTTP to the TLS port fails cleanly and the server keeps serving", "[http][tls]") {
  tls_fixture t;
  t.f.start();

  const auto plain = curl("-v", "http://127.0.0.1:" + std::to_string(t.port) + "/plain");
  INFO(plain.output);
  CHECK(plain.exit_code != 0);
  CHECK_FALSE(contains(plain.output, "tls="));

  // A raw plaintext request: the server closes without an HTTP answer.
  client raw(t.port);
  REQUIRE(raw.connected());
  REQUIRE(raw.send(get("/raw")));
  CHECK_FALSE(raw.read(3000ms));
  CHECK(raw.last_error() != net::error::timed_out);

  CHECK(eventually([&] { return t.tls->counters().handshakes_failed == 2; }));
  CHECK(t.h->calls == 0);

  const auto ok = curl(t.cacert(), https_url(t.port, "/after"));
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  CHECK(contains(ok.output, "tls=1"));
  CHECK(t.h->calls == 1);
}

TEST_CASE("keep-alive over TLS: several requests share one connection", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  SECTION("curl reuses the connection") {
    const auto r = curl("-v " + t.cacert(), https_url(t.port, "/one") + " " + https_url(t.port, "/two"));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.output, "Re-using existing connection"));
    // The server saw both on the same client port.
    const auto p1 = r.output.find("port=");
    const auto p2 = r.output.find("port=", p1 + 1);
    REQUIRE(p1 != std::string::npos);
    REQUIRE(p2 != std::string::npos);
    CHECK(r.output.substr(p1, r.output.find(' ', p1) - p1) == r.output.substr(p2, r.output.find(' ', p2) - p2));
    CHECK(t.tls->counters().handshakes_completed == 1);
  }
  SECTION("a Beast client sends requests one after another and pipelined") {
    tls_client c(t.port, t.trusting());
    REQUIRE(c.handshaken());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.send(post("/p" + std::to_string(i), "body" + std::to_string(i))));
      auto res = c.read();
      REQUIRE(res);
      CHECK(res->result() == bh::status::ok);
      CHECK(contains(res->body(), "tls=1"));
      CHECK(contains(res->body(), "POST /p" + std::to_string(i) + " body" + std::to_string(i)));
      CHECK_FALSE(bh::token_list{(*res)[bh::field::connection]}.exists("close"));
    }
    REQUIRE(c.send(get("/a") + get("/b") + get("/c")));
    for (const char* p : {"/a", "/b", "/c"}) {
      auto res = c.read();
      REQUIRE(res);
      CHECK(contains(res->body(), std::string("GET ") + p + " "));
    }
    CHECK(t.h->calls == 6);
    CHECK(t.f.srv->active_connections() == 1);
    CHECK(t.tls->counters().handshakes_completed == 1);
  }
}

TEST_CASE("plain and TLS listeners side by side", "[http][tls]") {
  tls_fixture t;
  const auto plain_port = t.f.srv->add_listener({"internal", loopback_any_port(), test_limits(), t.h, {}})->port();
  t.f.start();

  client plain(plain_port);
  REQUIRE(plain.send(get("/metrics")));
  auto res = plain.read();
  REQUIRE(res);
  CHECK(contains(res->body(), "tls=0 "));
  CHECK(contains(res->body(), "listener=internal GET /metrics"));

  tls_client secure(t.port, t.trusting());
  REQUIRE(secure.handshaken());
  REQUIRE(secure.send(get("/token")));
  res = secure.read();
  REQUIRE(res);
  CHECK(contains(res->body(), "tls=1 "));
  CHECK(contains(res->body(), "listener=public GET /token"));

  // Each port speaks only its own protocol.
  const auto r = curl(t.cacert(), https_url(plain_port, "/metrics"));
  CHECK(r.exit_code != 0);
}

TEST_CASE("the server ends a connection with close_notify", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  tls_client c(t.port, t.trusting());
  REQUIRE(c.handshaken());
  REQUIRE(c.send(get("/bye", "Connection: close\r\n")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(bh::token_list{(*res)[bh::field::connection]}.exists("close"));
  // eof, not stream_truncated: the close_notify arrived before TCP closed.
  CHECK(c.read_end() == net::error::eof);
  c.close();
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("a handler-forced close sends close_notify while the next read is pending", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  tls_client c(t.port, t.trusting());
  REQUIRE(c.handshaken());
  REQUIRE(c.send(get("/first")));
  REQUIRE(c.read());
  // A keep-alive request: the session already waits for the next one when
  // the handler's answer says close, so that read is cancelled first.
  REQUIRE(c.send(get("/handler-closes")));
  auto res = c.read();
  REQUIRE(res);
  CHECK(bh::token_list{(*res)[bh::field::connection]}.exists("close"));
  CHECK(c.read_end() == net::error::eof);
  c.close();
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("a request followed by the end of TCP without close_notify is still answered", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  tls_client c(t.port, t.trusting());
  REQUIRE(c.handshaken());
  // The answer is owed when TCP ends: stream_truncated on the server is the
  // end of input, not a transport error, so the answer is still written.
  REQUIRE(c.send(get("/slow")));
  c.shutdown_tcp_send();
  auto res = c.read();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(contains(res->body(), "GET /slow "));
  c.close();
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("a peer that never answers close_notify does not hold the connection", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  tls_client c(t.port, t.trusting());
  REQUIRE(c.handshaken());
  REQUIRE(c.send(get("/bye", "Connection: close\r\n")));
  REQUIRE(c.read());
  // The client reads nothing more and keeps TCP open; the server gives up
  // after its shutdown timeout.
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }, k_linger_timeout + 5000ms));
}

TEST_CASE("a stalled handshake times out and is counted", "[http][tls]") {
  limits lim = test_limits();
  lim.read_timeout = 300ms;
  tls_fixture t(lim);
  t.f.start();
  client raw(t.port);  // TCP only; never sends a ClientHello
  REQUIRE(raw.connected());
  REQUIRE(eventually([&] { return t.f.srv->active_connections() == 1; }));
  CHECK(raw.closed_within(5000ms));
  CHECK(eventually([&] { return t.tls->counters().handshake_timeouts == 1; }));
  CHECK(t.tls->counters().handshakes_failed == 1);
  CHECK(eventually([&] { return t.f.srv->active_connections() == 0; }));
}

TEST_CASE("graceful shutdown closes connections still handshaking", "[http][tls]") {
  tls_fixture t;  // read_timeout 2 s: the drain must not wait for it
  t.f.start();
  client raw(t.port);
  REQUIRE(raw.connected());
  tls_client idle(t.port, t.trusting());
  REQUIRE(idle.handshaken());
  REQUIRE(eventually([&] { return t.f.srv->active_connections() == 2; }));

  std::promise<shutdown_outcome> outcome;
  t.f.srv->begin_shutdown(10'000ms, [&](shutdown_outcome o) { outcome.set_value(o); });
  CHECK(raw.closed_within(1500ms));
  auto fut = outcome.get_future();
  REQUIRE(fut.wait_for(5000ms) == std::future_status::ready);
  CHECK(fut.get() == shutdown_outcome::drained);
  CHECK(t.tls->counters().handshakes_failed == 0);  // closed by us, not the peer's fault
  t.f.srv->join();
}

TEST_CASE("a chain with an intermediate verifies against the root", "[http][tls]") {
  tls_fixture t;
  const auto chained = t.pki.issue("chained", "athm-test-chained", 3003, key_kind::ec_p256, true);
  t.install(chained);
  REQUIRE(t.tls->reload().ok);
  t.f.start();
  const auto r = curl("-v " + t.cacert(), https_url(t.port, "/chain"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "subject: CN=athm-test-chained"));
  CHECK(contains(r.output, "issuer: CN=athm test intermediate"));
}

TEST_CASE("certificate reload: new connections get the new certificate, open ones keep working", "[http][tls]") {
  tls_fixture t;
  t.f.start();

  tls_client before(t.port, t.trusting());
  REQUIRE(before.handshaken());
  REQUIRE(before.send(get("/before")));
  REQUIRE(before.read());
  CHECK(before.peer_subject() == "/CN=athm-test-server-1");
  CHECK(s_client_leaf_subject(t.port, t.pki.ca_file()) == "CN = athm-test-server-1");

  const auto second = t.pki.issue("second", "athm-test-server-2", 2002, key_kind::rsa_2048);
  t.install(second);
  const auto r = t.tls->reload();
  REQUIRE(r.ok);
  CHECK(r.certificate.subject == "/CN=athm-test-server-2");
  CHECK(r.certificate.serial == "07D2");

  // New connections see the new certificate.
  CHECK(s_client_leaf_subject(t.port, t.pki.ca_file()) == "CN = athm-test-server-2");
  const auto v = curl("-v " + t.cacert(), https_url(t.port, "/after"));
  INFO(v.output);
  REQUIRE(v.exit_code == 0);
  CHECK(contains(v.output, "subject: CN=athm-test-server-2"));
  CHECK(contains(v.output, "tls=1"));

  // The connection opened before the reload still works, on its old context.
  REQUIRE(before.send(get("/still")));
  auto res = before.read();
  REQUIRE(res);
  CHECK(contains(res->body(), "GET /still"));
  CHECK(before.peer_subject() == "/CN=athm-test-server-1");

  // A mismatched pair is refused and the current certificate stays.
  const auto third = t.pki.issue("third", "athm-test-server-3", 3003);
  replace_file(t.files.cert_file, read_text(third.cert_file));  // key stays the second one
  const auto bad = t.tls->reload();
  CHECK_FALSE(bad.ok);
  CHECK(contains(bad.error, "does not match"));
  CHECK(t.tls->generation() == 2);
  CHECK(s_client_leaf_subject(t.port, t.pki.ca_file()) == "CN = athm-test-server-2");
  tls_client after(t.port, t.trusting());
  REQUIRE(after.handshaken());
  CHECK(after.peer_subject() == "/CN=athm-test-server-2");
  REQUIRE(after.send(get("/x")));
  CHECK(after.read());

  // And the first connection is still alive.
  REQUIRE(before.send(get("/last")));
  CHECK(before.read());
}

TEST_CASE("reloads during traffic: every handshake uses a complete context", "[http][tls]") {
  tls_fixture t;
  t.f.start();
  const auto second = t.pki.issue("second", "athm-test-server-2", 2002);
  std::atomic<bool> stop{false};
  std::thread reloader([&] {
    bool flip = false;
    while (!stop) {
      t.install(flip ? t.first : second);
      flip = !flip;
      // The files are replaced one after the other, so a reload may see a
      // mismatched pair; then it fails and the previous context stays.
      (void)t.tls->reload();
      std::this_thread::sleep_for(2ms);
    }
  });
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    tls_client c(t.port, t.trusting());
    if (c.handshaken() && c.send(get("/r")) && c.read()) {
      const auto s = c.peer_subject();
      CHECK((s == "/CN=athm-test-server-1" || s == "/CN=athm-test-server-2"));
      ++ok;
    }
  }
  stop = true;
  reloader.join();
  CHECK(ok == 20);
  CHECK(t.tls->counters().handshakes_failed == 0);
}

}  // namespace
}  // namespace athm::http::test
