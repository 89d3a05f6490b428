// Spends are durable: they survive a graceful restart and a kill -9 in the
// middle of a redemption storm (a 200 is only sent after the spend is
// committed). The dev key is reused from the state directory.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

TEST_CASE("spends survive a graceful restart", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  const std::vector<encoded_token> tokens = issue_tokens(d.public_port(), issuer, 3, 1);

  const redeem_result first = redeem(d.internal_port(), tokens[0]);
  INFO(first.reply.describe());
  REQUIRE(first.status() == 200);
  REQUIRE(forward_auth(d.internal_port(), "PrivateToken token=" + base64url(tokens[1])).status ==
          200);

  const exit_status st = d.stop();
  CHECK(st.exited);
  CHECK(st.code == 0);

  d.start();
  // Same state directory: the same key is served again.
  const issuer_view again = fetch_issuer(d.public_port());
  REQUIRE(again.keys.size() == 1);
  CHECK(again.current().id() == issuer.current().id());
  CHECK(again.raw == issuer.raw);

  CHECK(redeem(d.internal_port(), tokens[0]).status() == 409);
  CHECK(redeem(d.internal_port(), rerandomize(tokens[0])).status() == 409);
  CHECK(redeem(d.internal_port(), tokens[1]).status() == 409);
  CHECK(forward_auth(d.internal_port(), "PrivateToken token=" + base64url(tokens[0])).status ==
        401);
  // A token issued before the restart and never spent is still good.
  const redeem_result unspent = redeem(d.internal_port(), tokens[2]);
  REQUIRE(unspent.status() == 200);
  CHECK(unspent.bucket == 1u);

  // And a second restart does not forget the spends made after the first.
  REQUIRE(d.stop().code == 0);
  d.start();
  CHECK(redeem(d.internal_port(), tokens[2]).status() == 409);
}

TEST_CASE("acknowledged spends survive kill -9 during a redemption storm", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  constexpr size_t kTokens = 240;
  constexpr int kThreads = 8;
  // Kill once this many redemptions were acknowledged; the rest are in
  // flight or not yet sent.
  constexpr int kKillAfter = 60;

  const std::vector<encoded_token> tokens = issue_tokens(d.public_port(), issuer, kTokens, 3);

  // 0: not attempted, 1: attempted (outcome unknown), 2: acknowledged 200.
  std::vector<std::atomic<int>> state(kTokens);
  std::atomic<size_t> next{0};
  std::atomic<int> acknowledged{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < kThreads; ++w) {
    pool.emplace_back([&] {
      http_connection conn(d.internal_port(), std::chrono::seconds(10));
      while (true) {
        const size_t i = next.fetch_add(1);
        if (i >= kTokens) {
          return;
        }
        state[i].store(1);
        const redeem_result r = redeem(conn, tokens[i]);
        if (r.status() == 200) {
          state[i].store(2);
          acknowledged.fetch_add(1);
        } else if (r.status() == 0) {
          return;  // the daemon is gone
        } else {
          unexpected.fetch_add(1);
        }
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (acknowledged.load() < kKillAfter && next.load() < kTokens &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const exit_status killed = d.kill9();
  for (auto& th : pool) {
    th.join();
  }
  CHECK(killed.signal == SIGKILL);
  CHECK(unexpected.load() == 0);
  const int acked = acknowledged.load();
  REQUIRE(acked > 0);

  d.start();
  http_connection conn(d.internal_port());
  int replayed_ok = 0;
  int fresh = 0;
  for (size_t i = 0; i < kTokens; ++i) {
    const int s = state[i].load();
    if (s == 2) {
      const redeem_result r = redeem(conn, tokens[i]);
      INFO("acknowledged token " << i << ": " << r.reply.describe());
      CHECK(r.status() == 409);
      replayed_ok += r.status() == 200 ? 1 : 0;
    } else if (s == 0) {
      // Never sent before the crash: still spendable exactly once.
      const redeem_result r = redeem(conn, tokens[i]);
      INFO("untouched token " << i << ": " << r.reply.describe());
      CHECK(r.status() == 200);
      CHECK(r.bucket == 3u);
      ++fresh;
    } else {
      // In flight at the crash: either outcome is fine, but only once.
      const redeem_result r1 = redeem(conn, tokens[i]);
      const redeem_result r2 = redeem(conn, tokens[i]);
      CHECK((r1.status() == 200 || r1.status() == 409));
      CHECK(r2.status() == 409);
    }
  }
  INFO(acked << " acknowledged before the crash, " << fresh << " never sent");
  CHECK(replayed_ok == 0);
}
