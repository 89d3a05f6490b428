// Key rotation with a key directory in config mode: a newer key added and
// loaded with SIGHUP takes over issuance while the old key keeps redeeming;
// a key whose expiry passes leaves the directory and stops redeeming.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void keygen(const std::filesystem::path& dir, const std::string& not_before,
            const std::string& expires) {
  const run_result r = run_athm({"keygen", "--dir", dir.string(), "--buckets", "4",
                                 "--deployment-id", "itest-rotation", "--not-before", not_before,
                                 "--expires", expires});
  INFO("athm keygen: " << r.err << r.out);
  REQUIRE(r.status.exited);
  REQUIRE(r.status.code == 0);
}

std::set<athm::key_id> ids_of(const issuer_view& v) {
  std::set<athm::key_id> out;
  for (const auto& k : v.keys) {
    out.insert(k.key.id());
  }
  return out;
}

// Polls the directory until it lists |count| keys or |timeout| passes.
issuer_view wait_for_key_count(uint16_t port, size_t count, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  issuer_view v = fetch_issuer(port);
  while (v.keys.size() != count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v = fetch_issuer(port);
  }
  return v;
}

athm::key_id only_new(const std::set<athm::key_id>& before, const std::set<athm::key_id>& after) {
  athm::key_id found{};
  int n = 0;
  for (const auto& id : after) {
    if (before.count(id) == 0) {
      found = id;
      ++n;
    }
  }
  REQUIRE(n == 1);
  return found;
}

}  // namespace

TEST_CASE("key rotation across a SIGHUP reload", "[integration]") {
  temp_dir tmp;
  const auto key_dir = tmp / "keys";
  const auto lmdb_dir = tmp / "spent";
  REQUIRE(::mkdir(lmdb_dir.c_str(), 0700) == 0);
  keygen(key_dir, "-2h", "+3d");

  const uint16_t pub = free_port();
  const uint16_t internal = free_port();
  REQUIRE(pub != internal);
  const auto config = tmp / "athmd.yaml";
  write_file(config, loopback_config_yaml(pub, internal, key_dir, lmdb_dir));
  auto d = daemon_process::with_config(config, pub, internal);

  const issuer_view v1 = fetch_issuer(pub);
  REQUIRE(v1.keys.size() == 1);
  const athm::key_id old_id = v1.keys[0].key.id();
  CHECK(v1.keys[0].entry.deployment_id == "itest-rotation");
  CHECK(v1.request_uri == "http://127.0.0.1:" + std::to_string(pub) + "/request");
  const encoded_token old_token = issue_token(pub, v1, 2);
  REQUIRE(token_key_id(old_token) == old_id);
  const encoded_token old_token2 = issue_token(pub, v1, 1);

  // A newer key, already past its not-before.
  keygen(key_dir, "-1h", "+3d");
  d.signal(SIGHUP);
  const issuer_view v2 = wait_for_key_count(pub, 2, std::chrono::seconds(20));
  INFO("daemon log:\n" << d.log_tail(20));
  REQUIRE(v2.keys.size() == 2);
  const athm::key_id new_id = only_new(ids_of(v1), ids_of(v2));
  CHECK(ids_of(v2).count(old_id) == 1);
  // A client picks the newest usable key.
  CHECK(v2.current().id() == new_id);
  CHECK(v2.raw != v1.raw);
  CHECK(v2.etag != v1.etag);

  SECTION("new issuance uses the new key; old tokens still redeem") {
    const encoded_token new_token = issue_token(pub, v2, 3);
    CHECK(token_key_id(new_token) == new_id);
    const redeem_result rn = redeem(internal, new_token);
    INFO(rn.reply.describe());
    REQUIRE(rn.status() == 200);
    CHECK(rn.bucket == 3u);
    CHECK(rn.key_id == hex(new_id));

    const redeem_result ro = redeem(internal, old_token);
    INFO(ro.reply.describe());
    REQUIRE(ro.status() == 200);
    CHECK(ro.bucket == 2u);
    CHECK(ro.key_id == hex(old_id));
    CHECK(redeem(internal, old_token).status() == 409);

    const http_reply a = forward_auth(internal, "PrivateToken token=" + base64url(old_token2));
    CHECK(a.status == 200);
    CHECK(a.header("X-Token-Bucket") == "1");
  }

  SECTION("connections survive the reload") {
    http_connection conn(pub);
    REQUIRE(conn.send(http_request{"GET", kDirectoryPath, {}, "", true}).status == 200);
    d.signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const http_reply r = conn.send(http_request{"GET", kDirectoryPath, {}, "", true});
    CHECK(r.status == 200);
    CHECK(r.body == v2.raw);
  }

  SECTION("a key whose expiry passes leaves the directory and stops redeeming") {
    // An older key (so it does not take over issuance) expiring soon.
    const int64_t expires = unix_now() + 25;
    keygen(key_dir, std::to_string(unix_now() - 3 * 3600), std::to_string(expires));
    d.signal(SIGHUP);
    const issuer_view v3 = wait_for_key_count(pub, 3, std::chrono::seconds(15));
    REQUIRE(v3.keys.size() == 3);
    const athm::key_id short_id = only_new(ids_of(v2), ids_of(v3));
    CHECK(v3.current().id() == new_id);

    // A client may still name the short-lived key while it is listed.
    const issuer_key_view* short_key = v3.find(short_id);
    REQUIRE(short_key != nullptr);
    http_connection conn(pub);
    const encoded_token before = issue_token(conn, v3, short_key->key, 0);
    const encoded_token after = issue_token(conn, v3, short_key->key, 0);
    const redeem_result rb = redeem(internal, before);
    REQUIRE(rb.status() == 200);
    CHECK(rb.key_id == hex(short_id));

    while (unix_now() <= expires) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    // No reload: the daemon itself notices the expiry.
    const issuer_view v4 = wait_for_key_count(pub, 2, std::chrono::seconds(20));
    CHECK(v4.keys.size() == 2);
    CHECK(ids_of(v4) == ids_of(v2));
    CHECK(redeem(internal, after).status() == 422);
    // Issuance goes on with the current key.
    CHECK(token_key_id(issue_token(pub, v4, 1)) == new_id);
  }
}
