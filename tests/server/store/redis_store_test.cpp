#include "server/store/redis_store.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "server/store/factory.h"
#include "redis_test_server.h"
#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;
using namespace std::chrono_literals;

// Generous: sanitizer builds on a busy machine are slow, and nothing here
// measures speed. The outage tests use a shorter one so they finish fast.
constexpr auto relaxed_timeout = 2000ms;
constexpr auto outage_timeout = 400ms;

redis_options options_for(const redis_server& s, std::chrono::milliseconds timeout) {
  redis_options o;
  o.host = "127.0.0.1";
  o.port = s.port();
  o.password = s.password();
  o.timeout = timeout;
  o.key_prefix = "t";
  o.pool_size = 2;
  return o;
}

// Polls |pred| every 10 ms until it holds or |bound| passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds bound = 20s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
}

redis_reply_ptr command(redisContext* c, const char* fmt, const std::string& arg) {
  redis_reply_ptr r(static_cast<redisReply*>(redisCommand(c, fmt, arg.data(), arg.size())));
  REQUIRE(r != nullptr);
  return r;
}

TEST_CASE("redis_store: check-and-mark against a real server", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  redis_store store(options_for(server, relaxed_timeout));
  REQUIRE(eventually([&] { return store.healthy(); }));
  CHECK(std::strcmp(store.name(), "redis") == 0);

  const auto expiry = in_hours(1);
  SECTION("fresh, then already_spent") {
    CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::fresh);
    CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::already_spent);
    CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::already_spent);
    CHECK(spend(store, make_key(1), make_marker(2), expiry) == spend_result::fresh);
    const auto s = store.stats();
    CHECK(s.fresh == 2);
    CHECK(s.already_spent == 2);
    CHECK(s.unavailable == 0);
  }
  SECTION("markers are scoped per key") {
    CHECK(spend(store, make_key(1), make_marker(7), expiry) == spend_result::fresh);
    CHECK(spend(store, make_key(2), make_marker(7), expiry) == spend_result::fresh);
    CHECK(spend(store, make_key(2), make_marker(7), expiry) == spend_result::already_spent);
    CHECK(spend(store, make_key(1), make_marker(7), expiry) == spend_result::already_spent);
  }
  SECTION("completions run on the store's thread, never the caller's") {
    const auto c = spend_traced(store, make_key(3), make_marker(3), expiry);
    CHECK(c.result == spend_result::fresh);
    CHECK(c.thread != std::this_thread::get_id());
  }
  SECTION("purge_expired leaves expiry to Redis") {
    REQUIRE(spend(store, make_key(4), make_marker(4), expiry) == spend_result::fresh);
    CHECK(store.purge_expired(expiry + 24h) == 0);
    CHECK(spend(store, make_key(4), make_marker(4), expiry) == spend_result::already_spent);
  }
  SECTION("the pool opens pool_size connections") {
    auto c = server.connect();
    redis_reply_ptr r(static_cast<redisReply*>(redisCommand(c.get(), "CLIENT LIST")));
    REQUIRE(r != nullptr);
    REQUIRE(r->type == REDIS_REPLY_STRING);
    const std::string list(r->str, r->len);
    std::size_t lines = 0;
    for (char ch : list) {
      lines += ch == '\n' ? 1 : 0;
    }
    CHECK(lines == 3);  // the store's two and this one
    CHECK(store.stats().connections_up == 2);
  }
}

TEST_CASE("redis_store: key layout and lifetime of a mark", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  redis_store store(options_for(server, relaxed_timeout));
  REQUIRE(eventually([&] { return store.healthy(); }));
  auto sync = server.connect();

  key_id k{};
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<uint8_t>(0xa0 + i);
  }
  marker m{};
  for (std::size_t i = 0; i < m.size(); ++i) {
    m[i] = static_cast<uint8_t>(i);
  }
  const std::string key_name = redis_mark_key("t", k, m);
  CHECK(key_name ==
        "t:spent:a0a1a2a3a4a5a6a7:"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

  SECTION("the mark expires with the key") {
    const auto expiry = clock::now() + 1h;
    REQUIRE(spend(store, k, m, expiry) == spend_result::fresh);
    auto v = command(sync.get(), "GET %b", key_name);
    REQUIRE(v->type == REDIS_REPLY_STRING);
    CHECK(std::string(v->str, v->len) == "1");
    auto ttl = command(sync.get(), "PTTL %b", key_name);
    REQUIRE(ttl->type == REDIS_REPLY_INTEGER);
    CHECK(ttl->integer <= 3'600'000);
    CHECK(ttl->integer > 3'600'000 - 60'000);
  }
  SECTION("a short-lived key gives a short-lived mark") {
    REQUIRE(spend(store, k, m, clock::now() + 1500ms) == spend_result::fresh);
    auto ttl = command(sync.get(), "PTTL %b", key_name);
    REQUIRE(ttl->type == REDIS_REPLY_INTEGER);
    CHECK(ttl->integer > 0);
    CHECK(ttl->integer <= 1500);
  }
  SECTION("an already expired key marks for 1 ms") {
    REQUIRE(spend(store, k, m, clock::now() - 1h) == spend_result::fresh);
    // Gone almost at once; a later mark is fresh again.
    REQUIRE(eventually([&] {
      return command(sync.get(), "EXISTS %b", key_name)->integer == 0;
    }));
    CHECK(spend(store, k, m, clock::now() - 1h) == spend_result::fresh);
  }
  SECTION("a far expiry is capped, not rejected") {
    CHECK(spend(store, k, m, clock::time_point::max()) == spend_result::fresh);
    auto ttl = command(sync.get(), "PTTL %b", key_name);
    REQUIRE(ttl->type == REDIS_REPLY_INTEGER);
    CHECK(ttl->integer > int64_t{99} * 365 * 24 * 3'600'000);
  }
}

TEST_CASE("redis_store: concurrent marks of the same markers, one fresh each",
          "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  auto opts = options_for(server, relaxed_timeout);
  opts.pool_size = 4;
  redis_store store(opts);
  REQUIRE(eventually([&] { return store.healthy(); }));

  constexpr int threads = 8;
  constexpr uint32_t markers = 100;
  constexpr int rounds = 5;
  const auto expiry = in_hours(1);
  std::vector<std::vector<spend_result>> results(threads);
  std::vector<char> ok(threads, 0);
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      // Each thread walks the markers in its own order.
      std::vector<mark_request> reqs;
      for (int r = 0; r < rounds; ++r) {
        for (uint32_t i = 0; i < markers; ++i) {
          const uint32_t n = (i * 37 + static_cast<uint32_t>(t) * 11 + r) % markers;
          reqs.push_back({make_key(9), make_marker(n), expiry});
        }
      }
      ready.fetch_add(1);
      while (ready.load() < threads) {
        std::this_thread::yield();
      }
      pending_marks marks(store, reqs);
      ok[t] = marks.try_wait(results[t]) ? 1 : 0;
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  std::vector<int> fresh(markers, 0);
  std::vector<int> spent(markers, 0);
  int unavailable = 0;
  for (int t = 0; t < threads; ++t) {
    REQUIRE(ok[t] == 1);
    REQUIRE(results[t].size() == markers * rounds);
    for (int r = 0; r < rounds; ++r) {
      for (uint32_t i = 0; i < markers; ++i) {
        const uint32_t n = (i * 37 + static_cast<uint32_t>(t) * 11 + r) % markers;
        const spend_result res = results[t][static_cast<std::size_t>(r) * markers + i];
        fresh[n] += res == spend_result::fresh ? 1 : 0;
        spent[n] += res == spend_result::already_spent ? 1 : 0;
        unavailable += res == spend_result::unavailable ? 1 : 0;
      }
    }
  }
  CHECK(unavailable == 0);
  for (uint32_t n = 0; n < markers; ++n) {
    INFO("marker " << n);
    CHECK(fresh[n] == 1);
    CHECK(spent[n] == threads * rounds - 1);
  }
}

TEST_CASE("redis_store: without a server, marks fail closed at once", "[store][redis]") {
  redis_options o;
  o.host = "127.0.0.1";
  o.port = free_loopback_port();  // nothing listens there
  o.timeout = relaxed_timeout;
  o.pool_size = 2;
  redis_store store(o);
  CHECK_FALSE(store.healthy());
  for (uint32_t i = 0; i < 3; ++i) {
    const auto c = spend_traced(store, make_key(1), make_marker(i), in_hours(1));
    CHECK(c.result == spend_result::unavailable);
    CHECK(c.thread != std::this_thread::get_id());
  }
  const auto s = store.stats();
  CHECK(s.no_connection == 3);
  CHECK(s.unavailable == 3);
  CHECK(s.connects == 0);
  CHECK_FALSE(store.healthy());
}

TEST_CASE("redis_store: AUTH with the configured password", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path(), "correct horse");
  server.start();

  SECTION("the right password works") {
    redis_store store(options_for(server, relaxed_timeout));
    REQUIRE(eventually([&] { return store.healthy(); }));
    CHECK(spend(store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  }
  // The server answers every handshake, and rejects it, again and again.
  auto check_rejected = [&](const std::string& password) {
    auto o = options_for(server, relaxed_timeout);
    o.password = password;
    o.reconnect_max = 100ms;
    redis_store store(o);
    std::this_thread::sleep_for(500ms);
    CHECK_FALSE(store.healthy());
    CHECK(spend(store, make_key(1), make_marker(1), in_hours(1)) == spend_result::unavailable);
    const auto s = store.stats();
    CHECK(s.connects == 0);
    CHECK(s.connections_up == 0);
    CHECK(s.timeouts == 0);
    CHECK(s.no_connection == 1);
  };
  SECTION("a wrong password never gets a connection up") { check_rejected("wrong"); }
  SECTION("no password never gets a connection up") { check_rejected(""); }
}

TEST_CASE("redis_store: a killed server fails marks closed, a restarted one is found again",
          "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  redis_store store(options_for(server, outage_timeout));
  REQUIRE(eventually([&] { return store.healthy(); }));
  const auto expiry = in_hours(1);
  REQUIRE(spend(store, make_key(1), make_marker(1), expiry) == spend_result::fresh);

  server.kill_hard();
  // Within about one timeout no connection is usable any more.
  CHECK(spend(store, make_key(1), make_marker(2), expiry) == spend_result::unavailable);
  REQUIRE(eventually([&] { return !store.healthy(); }));
  CHECK(spend(store, make_key(1), make_marker(3), expiry) == spend_result::unavailable);
  CHECK(store.stats().disconnects >= 1);

  server.start();  // same port, same directory (the AOF)
  REQUIRE(eventually([&] { return store.healthy(); }));
  // Acknowledged before the crash, so in the AOF (appendfsync always).
  CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::already_spent);
  CHECK(spend(store, make_key(1), make_marker(4), expiry) == spend_result::fresh);
  CHECK(spend(store, make_key(1), make_marker(4), expiry) == spend_result::already_spent);
}

TEST_CASE("redis_store: a stalled server times marks out, then recovers", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  redis_store store(options_for(server, outage_timeout));
  REQUIRE(eventually([&] { return store.healthy(); }));
  const auto expiry = in_hours(1);
  REQUIRE(spend(store, make_key(1), make_marker(1), expiry) == spend_result::fresh);

  server.pause();  // SIGSTOP: connections stay open, nothing answers
  std::vector<mark_request> reqs;
  for (uint32_t i = 100; i < 120; ++i) {
    reqs.push_back({make_key(1), make_marker(i), expiry});
  }
  for (auto r : spend_all(store, reqs)) {
    CHECK(r == spend_result::unavailable);
  }
  CHECK(store.stats().timeouts >= 1);
  REQUIRE(eventually([&] { return !store.healthy(); }));
  // Reconnects reach the stopped server's listen queue but no handshake
  // completes: still unavailable.
  std::this_thread::sleep_for(300ms);
  CHECK(spend(store, make_key(1), make_marker(200), expiry) == spend_result::unavailable);

  server.resume();
  REQUIRE(eventually([&] { return store.healthy(); }));
  CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::already_spent);
  CHECK(spend(store, make_key(1), make_marker(300), expiry) == spend_result::fresh);
}

TEST_CASE("redis_store: max_pending bounds the marks in flight", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  auto o = options_for(server, relaxed_timeout);
  o.max_pending = 1;
  o.pool_size = 1;
  redis_store store(o);
  REQUIRE(eventually([&] { return store.healthy(); }));

  server.pause();
  // The first mark waits for its reply (until the timeout); the second
  // finds the one slot taken.
  std::vector<mark_request> reqs = {{make_key(1), make_marker(1), in_hours(1)},
                                    {make_key(1), make_marker(2), in_hours(1)}};
  pending_marks marks(store, reqs);
  const auto results = marks.wait();
  server.resume();
  CHECK(results[0] == spend_result::unavailable);
  CHECK(results[1] == spend_result::unavailable);
  CHECK(store.stats().overloaded == 1);
  CHECK(store.stats().timeouts >= 1);
}

TEST_CASE("redis_store: destruction completes every mark exactly once", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  const bool stalled = GENERATE(false, true);
  INFO("server stalled: " << stalled);

  constexpr int n = 2000;
  struct counts {
    std::mutex mu;
    int calls = 0;
    int fresh = 0;
    std::vector<int> per_mark = std::vector<int>(n, 0);
  };
  auto c = std::make_shared<counts>();
  {
    redis_store store(options_for(server, outage_timeout));
    REQUIRE(eventually([&] { return store.healthy(); }));
    if (stalled) {
      server.pause();
    }
    for (int i = 0; i < n; ++i) {
      store.check_and_mark(make_key(5), make_marker(static_cast<uint32_t>(i)), in_hours(1),
                           [c, i](spend_result r) {
                             std::lock_guard<std::mutex> lk(c->mu);
                             ++c->calls;
                             ++c->per_mark[static_cast<std::size_t>(i)];
                             c->fresh += r == spend_result::fresh ? 1 : 0;
                           });
    }
  }  // the destructor returns only after every completion ran
  server.resume();
  std::lock_guard<std::mutex> lk(c->mu);
  CHECK(c->calls == n);
  for (int i = 0; i < n; ++i) {
    REQUIRE(c->per_mark[static_cast<std::size_t>(i)] == 1);
  }
  if (stalled) {
    CHECK(c->fresh == 0);
  }
}

TEST_CASE("redis_store: invalid options are rejected at start-up", "[store][redis]") {
  redis_options o;
  SECTION("pool_size 0") { o.pool_size = 0; }
  SECTION("zero timeout") { o.timeout = 0ms; }
  SECTION("empty prefix") { o.key_prefix.clear(); }
  SECTION("empty host") { o.host.clear(); }
  SECTION("backoff inverted") {
    o.reconnect_min = 5s;
    o.reconnect_max = 1s;
  }
  CHECK_THROWS_AS(redis_store(o), std::invalid_argument);
}

TEST_CASE("make_store builds a redis_store for store.type redis", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  athm::config::store_config cfg;
  cfg.kind = athm::config::store_kind::redis;
  cfg.redis.host = "127.0.0.1";
  cfg.redis.port = server.port();
  cfg.redis.timeout = relaxed_timeout;
  cfg.redis.key_prefix = "factory";
  cfg.redis.pool_size = 1;
  auto store = make_store(cfg);
  REQUIRE(store != nullptr);
  CHECK(std::strcmp(store->name(), "redis") == 0);
  REQUIRE(eventually([&] { return store->healthy(); }));
  CHECK(spend(*store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  auto sync = server.connect();
  auto v = command(sync.get(), "EXISTS %b", redis_mark_key("factory", make_key(1), make_marker(1)));
  CHECK(v->integer == 1);

  SECTION("a host name is resolved") {
    cfg.redis.host = "localhost";
    cfg.redis.key_prefix = "byname";
    auto named = make_store(cfg);
    REQUIRE(eventually([&] { return named->healthy(); }));
    CHECK(spend(*named, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  }
}

TEST_CASE("redis_store: an idle connection stays healthy", "[store][redis]") {
  temp_dir dir;
  redis_server server(dir.path());
  server.start();
  redis_store store(options_for(server, 500ms));
  REQUIRE(eventually([&] { return store.healthy(); }));
  // Far longer than 2 * timeout without a mark: PINGs keep it current.
  for (int i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(250ms);
    CHECK(store.healthy());
  }
}

}  // namespace
}  // namespace athm::store
