// The spent_store contract, run against every implementation.
#include "server/store/spent_store.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "server/store/lmdb_store.h"
#include "server/store/memory_store.h"
#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;

struct memory_backend {
  std::unique_ptr<spent_store> open() { return std::make_unique<memory_store>(); }
  static constexpr const char* name = "memory";
};

struct lmdb_backend {
  temp_dir dir;
  std::unique_ptr<spent_store> open() {
    lmdb_options o;
    o.path = (dir.path() / "env").string();
    o.map_size_bytes = 64ull << 20;
    return std::make_unique<lmdb_store>(o);
  }
  static constexpr const char* name = "lmdb";
};

TEST_CASE("to_string names every spend_result", "[store]") {
  CHECK(std::strcmp(to_string(spend_result::fresh), "fresh") == 0);
  CHECK(std::strcmp(to_string(spend_result::already_spent), "already_spent") == 0);
  CHECK(std::strcmp(to_string(spend_result::unavailable), "unavailable") == 0);
}

TEMPLATE_TEST_CASE("spent_store: first mark is fresh, every later one already_spent",
                   "[store]", memory_backend, lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  CHECK(std::strcmp(store->name(), TestType::name) == 0);
  CHECK(store->healthy());

  const auto k = make_key(1);
  CHECK(spend(*store, k, make_marker(1), in_hours(1)) == spend_result::fresh);
  CHECK(spend(*store, k, make_marker(1), in_hours(1)) == spend_result::already_spent);
  CHECK(spend(*store, k, make_marker(1), in_hours(1)) == spend_result::already_spent);
  CHECK(spend(*store, k, make_marker(2), in_hours(1)) == spend_result::fresh);
  CHECK(store->healthy());
}

TEMPLATE_TEST_CASE("spent_store: each key id is its own scope", "[store]", memory_backend,
                   lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  const auto m = make_marker(7);
  CHECK(spend(*store, make_key(1), m, in_hours(1)) == spend_result::fresh);
  CHECK(spend(*store, make_key(2), m, in_hours(1)) == spend_result::fresh);
  CHECK(spend(*store, make_key(1), m, in_hours(1)) == spend_result::already_spent);
  CHECK(spend(*store, make_key(2), m, in_hours(1)) == spend_result::already_spent);
  // A key id that equals another's marker bytes is still a separate scope.
  key_id k3;
  std::memcpy(k3.data(), m.data(), m.size());
  CHECK(spend(*store, k3, m, in_hours(1)) == spend_result::fresh);
}

TEMPLATE_TEST_CASE("spent_store: completion runs on a store thread, never inline",
                   "[store]", memory_backend, lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  for (uint32_t i = 0; i < 20; ++i) {
    auto c = spend_traced(*store, make_key(1), make_marker(i % 10), in_hours(1));
    CHECK(c.thread != std::this_thread::get_id());
    CHECK(c.result == (i < 10 ? spend_result::fresh : spend_result::already_spent));
  }
}

TEMPLATE_TEST_CASE("spent_store: concurrent marks give exactly one fresh per marker",
                   "[store]", memory_backend, lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  constexpr int n_threads = 8;
  constexpr int n_attempts = 1000;
  constexpr uint32_t n_markers = 100;
  const auto k = make_key(42);
  const auto expiry = in_hours(1);

  std::vector<std::vector<spend_result>> results(n_threads);
  std::vector<std::vector<uint32_t>> which(n_threads);
  std::vector<char> completed(n_threads, 0);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<mark_request> reqs;
      for (int i = 0; i < n_attempts; ++i) {
        const uint32_t idx = static_cast<uint32_t>(rng() % n_markers);
        which[t].push_back(idx);
        reqs.push_back(mark_request{k, make_marker(idx), expiry});
      }
      ready.fetch_add(1);
      while (ready.load() < n_threads) {
        std::this_thread::yield();
      }
      completed[t] = pending_marks(*store, reqs).try_wait(results[t]);
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (int t = 0; t < n_threads; ++t) {
    REQUIRE(completed[t]);
  }

  std::vector<int> fresh_per_marker(n_markers, 0);
  std::vector<int> seen_per_marker(n_markers, 0);
  int spent = 0;
  int unavailable = 0;
  for (int t = 0; t < n_threads; ++t) {
    REQUIRE(results[t].size() == n_attempts);
    for (int i = 0; i < n_attempts; ++i) {
      ++seen_per_marker[which[t][i]];
      switch (results[t][i]) {
        case spend_result::fresh:
          ++fresh_per_marker[which[t][i]];
          break;
        case spend_result::already_spent:
          ++spent;
          break;
        case spend_result::unavailable:
          ++unavailable;
          break;
      }
    }
  }
  CHECK(unavailable == 0);
  for (uint32_t m = 0; m < n_markers; ++m) {
    INFO("marker " << m);
    CHECK(fresh_per_marker[m] == (seen_per_marker[m] > 0 ? 1 : 0));
  }
  const int markers_used = static_cast<int>(
      std::count_if(seen_per_marker.begin(), seen_per_marker.end(), [](int n) { return n > 0; }));
  CHECK(spent == n_threads * n_attempts - markers_used);
  CHECK(markers_used == static_cast<int>(n_markers));  // the seeds cover every marker
}

TEMPLATE_TEST_CASE("spent_store: purge removes only expired keys' marks", "[store]",
                   memory_backend, lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  const auto now = clock::now();
  const auto old_key = make_key(1);
  const auto live_key = make_key(2);
  const auto old_expiry = now - std::chrono::hours(1);
  const auto live_expiry = now + std::chrono::hours(1);
  for (uint32_t i = 0; i < 10; ++i) {
    REQUIRE(spend(*store, old_key, make_marker(i), old_expiry) == spend_result::fresh);
    REQUIRE(spend(*store, live_key, make_marker(i), live_expiry) == spend_result::fresh);
  }

  // Nothing has expired two hours ago.
  CHECK(store->purge_expired(now - std::chrono::hours(2)) == 0);
  CHECK(spend(*store, old_key, make_marker(0), old_expiry) == spend_result::already_spent);

  CHECK(store->purge_expired(now) == 10);
  CHECK(store->purge_expired(now) == 0);
  for (uint32_t i = 0; i < 10; ++i) {
    CHECK(spend(*store, live_key, make_marker(i), live_expiry) == spend_result::already_spent);
  }
  // A purged marker is fresh again (its key is re-registered on the way).
  CHECK(spend(*store, old_key, make_marker(3), old_expiry) == spend_result::fresh);
  CHECK(spend(*store, old_key, make_marker(3), old_expiry) == spend_result::already_spent);
  CHECK(store->purge_expired(now) == 1);
  CHECK(store->healthy());
}

TEMPLATE_TEST_CASE("spent_store: a later expiry for a key keeps its marks longer", "[store]",
                   memory_backend, lmdb_backend) {
  TestType backend;
  auto store = backend.open();
  const auto now = clock::now();
  const auto k = make_key(9);
  REQUIRE(spend(*store, k, make_marker(1), now - std::chrono::hours(1)) == spend_result::fresh);
  REQUIRE(spend(*store, k, make_marker(2), now + std::chrono::hours(1)) == spend_result::fresh);
  // An earlier expiry given later does not shorten it.
  REQUIRE(spend(*store, k, make_marker(3), now - std::chrono::hours(2)) == spend_result::fresh);
  CHECK(store->purge_expired(now) == 0);
  CHECK(spend(*store, k, make_marker(1), now) == spend_result::already_spent);
  CHECK(store->purge_expired(now + std::chrono::hours(2)) == 3);
}

TEMPLATE_TEST_CASE("spent_store: destruction completes every pending mark", "[store]",
                   memory_backend, lmdb_backend) {
  TestType backend;
  constexpr int n = 500;
  std::vector<spend_result> results(n, spend_result::unavailable);
  std::atomic<int> calls{0};
  {
    auto store = backend.open();
    for (int i = 0; i < n; ++i) {
      store->check_and_mark(make_key(1), make_marker(static_cast<uint32_t>(i % 250)), in_hours(1),
                            [&results, &calls, i](spend_result r) {
                              results[i] = r;
                              calls.fetch_add(1);
                            });
    }
  }
  CHECK(calls.load() == n);
  int fresh = 0;
  int spent = 0;
  for (auto r : results) {
    fresh += r == spend_result::fresh;
    spent += r == spend_result::already_spent;
  }
  CHECK(fresh == 250);
  CHECK(spent == 250);
}

}  // namespace
}  // namespace athm::store
