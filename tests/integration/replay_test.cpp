// Double-spend protection over real sockets: sequential replays, the
// re-randomized form of a token, and concurrent redemptions.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

TEST_CASE("replays are refused", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());

  SECTION("second POST /redeem is 409, also on another connection") {
    const encoded_token t = issue_token(d.public_port(), issuer, 2);
    http_connection conn(d.internal_port());
    const redeem_result first = redeem(conn, t);
    INFO(first.reply.describe());
    REQUIRE(first.status() == 200);
    CHECK(first.bucket == 2u);
    CHECK(redeem(conn, t).status() == 409);
    CHECK(redeem(d.internal_port(), t).status() == 409);
  }

  SECTION("spent through /redeem, then refused by /auth") {
    const encoded_token t = issue_token(d.public_port(), issuer, 0);
    REQUIRE(redeem(d.internal_port(), t).status() == 200);
    const http_reply a = forward_auth(d.internal_port(), "PrivateToken token=" + base64url(t));
    CHECK(a.status == 401);
    CHECK(!a.header("X-Token-Bucket").has_value());
  }

  SECTION("spent through /auth, then refused by /redeem") {
    const encoded_token t = issue_token(d.public_port(), issuer, 3);
    const http_reply a = forward_auth(d.internal_port(), "PrivateToken token=" + base64url(t));
    REQUIRE(a.status == 200);
    CHECK(a.header("X-Token-Bucket") == "3");
    CHECK(redeem(d.internal_port(), t).status() == 409);
    CHECK(forward_auth(d.internal_port(), "PrivateToken token=" + base64url(t)).status == 401);
  }

  SECTION("a re-randomized token (t, cP, cQ) is the same token") {
    const encoded_token t = issue_token(d.public_port(), issuer, 1);
    const encoded_token t2 = rerandomize(t);
    REQUIRE(t2 != t);

    // The transformation keeps the token valid: redeeming it first works...
    const redeem_result first = redeem(d.internal_port(), t2);
    INFO(first.reply.describe());
    REQUIRE(first.status() == 200);
    CHECK(first.bucket == 1u);
    // ...and then spends the original and every other form of it.
    CHECK(redeem(d.internal_port(), t).status() == 409);
    CHECK(redeem(d.internal_port(), rerandomize(t)).status() == 409);
    CHECK(forward_auth(d.internal_port(), "PrivateToken token=" + base64url(rerandomize(t)))
              .status == 401);
  }

  SECTION("the original spent first, then its re-randomized form is 409") {
    const encoded_token t = issue_token(d.public_port(), issuer, 0);
    REQUIRE(redeem(d.internal_port(), t).status() == 200);
    CHECK(redeem(d.internal_port(), rerandomize(t)).status() == 409);
  }
}

TEST_CASE("concurrent redemptions of one token: exactly one wins", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  constexpr int kThreads = 32;
  constexpr int kRounds = 3;

  const std::vector<encoded_token> tokens = issue_tokens(d.public_port(), issuer, kRounds, 2);
  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    // Connections are opened before the start signal so that the requests
    // really arrive together.
    std::vector<http_connection> conns;
    for (int i = 0; i < kThreads; ++i) {
      conns.emplace_back(d.internal_port());
      REQUIRE(conns.back().connect());
    }
    std::latch start(kThreads);
    std::vector<redeem_result> results(kThreads);
    std::vector<std::thread> pool;
    for (int i = 0; i < kThreads; ++i) {
      pool.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = redeem(conns[i], tokens[round]);
      });
    }
    for (auto& th : pool) {
      th.join();
    }
    int ok = 0;
    int spent = 0;
    std::string other;
    for (const auto& r : results) {
      if (r.status() == 200) {
        ++ok;
        CHECK(r.bucket == 2u);
      } else if (r.status() == 409) {
        ++spent;
      } else {
        other += r.reply.describe() + "; ";
      }
    }
    INFO("unexpected answers: " << other);
    CHECK(ok == 1);
    CHECK(spent == kThreads - 1);
  }
}

TEST_CASE("many tokens across many threads: one success per token", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  constexpr size_t kTokens = 40;
  constexpr int kThreads = 8;

  // Buckets vary with the token so that a mix-up would show.
  std::vector<encoded_token> tokens;
  std::vector<uint32_t> buckets;
  for (uint32_t b = 0; b < 4; ++b) {
    for (const auto& t : issue_tokens(d.public_port(), issuer, kTokens / 4, b)) {
      tokens.push_back(t);
      buckets.push_back(b);
    }
  }
  REQUIRE(tokens.size() == kTokens);

  std::vector<std::atomic<int>> wins(kTokens);
  std::atomic<int> refusals{0};
  std::mutex mu;
  std::vector<std::string> problems;
  std::latch start(kThreads);
  std::vector<std::thread> pool;
  for (int w = 0; w < kThreads; ++w) {
    pool.emplace_back([&, w] {
      http_connection conn(d.internal_port());
      conn.connect();
      start.arrive_and_wait();
      for (size_t k = 0; k < kTokens; ++k) {
        // Each thread walks the tokens from a different start; odd threads
        // use forward-auth, even ones POST /redeem.
        const size_t i = (k + static_cast<size_t>(w) * 5) % kTokens;
        if (w % 2 == 0) {
          const redeem_result r = redeem(conn, tokens[i]);
          if (r.status() == 200) {
            wins[i].fetch_add(1);
            if (r.bucket != buckets[i]) {
              std::lock_guard<std::mutex> lock(mu);
              problems.push_back("token " + std::to_string(i) + ": wrong bucket");
            }
          } else if (r.status() == 409) {
            refusals.fetch_add(1);
          } else {
            std::lock_guard<std::mutex> lock(mu);
            problems.push_back("redeem " + std::to_string(i) + ": " + r.reply.describe());
          }
        } else {
          const http_reply a =
              forward_auth(d.internal_port(), "PrivateToken token=" + base64url(tokens[i]));
          if (a.status == 200) {
            wins[i].fetch_add(1);
            if (a.header("X-Token-Bucket") != std::to_string(buckets[i])) {
              std::lock_guard<std::mutex> lock(mu);
              problems.push_back("token " + std::to_string(i) + ": wrong X-Token-Bucket");
            }
          } else if (a.status == 401) {
            refusals.fetch_add(1);
          } else {
            std::lock_guard<std::mutex> lock(mu);
            problems.push_back("auth " + std::to_string(i) + ": " + a.describe());
          }
        }
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  for (const auto& p : problems) {
    FAIL_CHECK(p);
  }
  for (size_t i = 0; i < kTokens; ++i) {
    INFO("token " << i);
    CHECK(wins[i].load() == 1);
  }
  CHECK(refusals.load() == static_cast<int>(kTokens) * (kThreads - 1));
}
