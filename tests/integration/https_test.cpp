// The real daemon with its public listener on HTTPS (a throwaway P-256
// certificate for 127.0.0.1 from the openssl command line): the directory,
// issuance of every bucket over one TLS keep-alive connection, redemption on
// the plain internal listener, and clients that cannot or do not speak TLS
// to it.
#include "tests/integration/daemon_process.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

namespace {

// A self-signed P-256 certificate for IP 127.0.0.1 (and its key) in |dir|.
std::string self_signed(const std::filesystem::path& dir, const std::string& name) {
  const std::string cert = (dir / (name + ".pem")).string();
  const run_result r =
      run_program({"/usr/bin/env", "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
                   "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                   (dir / (name + ".key")).string(), "-out", cert});
  INFO(r.err);
  REQUIRE(r.status.exited);
  REQUIRE(r.status.code == 0);
  return cert;
}

struct https_daemon {
  temp_dir tmp{"athm-itest-https"};
  std::string cert;
  std::string other_cert;  // a valid certificate the daemon does not use
  uint16_t pub = 0;
  uint16_t internal = 0;
  std::optional<daemon_process> d;

  https_daemon() {
    const auto keys = tmp / "keys";
    const auto lmdb = tmp / "spent";
    REQUIRE(::mkdir(lmdb.c_str(), 0700) == 0);
    {
      const run_result k = run_athm({"keygen", "--dir", keys.string(), "--buckets", "4",
                                     "--deployment-id", "itest-https", "--not-before", "-1h",
                                     "--expires", "+2d"});
      INFO(k.err << k.out);
      REQUIRE(k.status.exited);
      REQUIRE(k.status.code == 0);
    }
    cert = self_signed(tmp.path(), "athmd-itest");
    other_cert = self_signed(tmp.path(), "someone-else");

    pub = free_port();
    internal = free_port();
    while (internal == pub) {
      internal = free_port();
    }
    std::string yaml = loopback_config_yaml(pub, internal, keys, lmdb);
    const std::string port_line = "    port: " + std::to_string(pub) + "\n";
    const auto at = yaml.find(port_line);
    REQUIRE(at != std::string::npos);
    yaml.insert(at + port_line.size(), "    tls:\n      cert_file: " + cert +
                                           "\n      key_file: " + (tmp / "athmd-itest.key").string() +
                                           "\n");
    const auto uri = yaml.find("request_uri: http://");
    REQUIRE(uri != std::string::npos);
    yaml.replace(uri, 20, "request_uri: https://");
    write_file(tmp / "athmd.yaml", yaml);
    d.emplace(daemon_process::with_config(tmp / "athmd.yaml", pub, internal, tls_trust{cert}));
  }
};

}  // namespace

TEST_CASE("HTTPS public listener: directory, issuance of every bucket, redemption",
          "[integration]") {
  https_daemon h;
  const issuer_view issuer = fetch_issuer(h.pub, tls_trust{h.cert});
  CHECK(issuer.request_uri == "https://127.0.0.1:" + std::to_string(h.pub) + "/request");
  const athm::public_key& pk = issuer.current();
  REQUIRE(pk.params().n_buckets() == 4);

  http_connection conn(h.pub, std::chrono::seconds(15), tls_trust{h.cert});
  for (uint32_t bucket = 0; bucket < 4; ++bucket) {
    INFO("bucket " << bucket);
    const encoded_token t = issue_token(conn, issuer, pk, bucket);
    CHECK(conn.is_open());  // the same TLS session carries the next request
    const redeem_result r = redeem(h.internal, t);
    INFO(r.reply.describe());
    REQUIRE(r.status() == 200);
    REQUIRE(r.bucket.has_value());
    CHECK(*r.bucket == bucket);
    CHECK(redeem(h.internal, t).status() == 409);
  }
}

TEST_CASE("HTTPS public listener: untrusted and plain-HTTP clients fail, others are served",
          "[integration]") {
  https_daemon h;

  http_connection untrusting(h.pub, std::chrono::seconds(15), tls_trust{h.other_cert});
  const http_reply u = untrusting.send(http_request{"GET", "/healthz", {}, "", false});
  CHECK(u.status == 0);
  CHECK(u.error.rfind("handshake:", 0) == 0);

  // Plain HTTP to the TLS port: not a TLS ClientHello, so no HTTP answer.
  const http_reply plain = http_exchange(h.pub, http_request{"GET", "/healthz", {}, "", false},
                                         std::chrono::seconds(5));
  CHECK(plain.status == 0);

  // The plain internal listener is unaffected; the TLS listener still serves.
  CHECK(http_get(h.internal, "/metrics").status == 200);
  http_connection trusting(h.pub, std::chrono::seconds(15), tls_trust{h.cert});
  const http_reply ok = trusting.send(http_request{"GET", "/healthz", {}, "", true});
  INFO(ok.describe());
  CHECK(ok.status == 200);
  const issuer_view issuer = fetch_issuer(h.pub, tls_trust{h.cert});
  const encoded_token t = issue_token(trusting, issuer, issuer.current(), 2);
  const redeem_result r = redeem(h.internal, t);
  REQUIRE(r.status() == 200);
  CHECK(r.bucket == std::optional<uint32_t>(2));
}
