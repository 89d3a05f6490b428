// Marks per second and per-mark latency (p50, p99) through the durable
// spent stores with 1, 8 and 64 concurrent callers. Each caller waits for
// its completion before the next mark, as a request handler would.
//
// lmdb: group commit turns concurrent callers into shared fsyncs.
// redis: a redis-server started by this program on a free loopback port,
//        with appendonly yes and appendfsync always (Redis also groups the
//        writes of one event-loop pass into one fsync); the store uses the
//        config defaults (4 connections, 250 ms timeout).
//
// items_per_second is marks/s; p50_us and p99_us are over every mark of
// the run; not_fresh counts marks that did not come back fresh (must be 0).
// BM_redis_marks_everysec runs the same against the same server switched to
// appendfsync everysec: not durable per mark, it shows the store's own cost
// (one round trip per mark) without the disk.
#include "server/store/lmdb_store.h"
#include "server/store/redis_store.h"

#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/store/redis_test_server.h"

namespace {

using athm::store::clock;
using athm::store::key_id;
using athm::store::lmdb_options;
using athm::store::lmdb_store;
using athm::store::marker;
using athm::store::redis_options;
using athm::store::redis_store;
using athm::store::spend_result;
using athm::store::spent_store;

std::atomic<uint64_t> g_next{0};

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "athm-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return {};
  }
  return tmpl;
}

// Latencies of every thread of one run, merged for the percentiles.
struct latency_pool {
  std::mutex mu;
  std::vector<double> us;
  int reported = 0;

  void reset() {
    std::lock_guard<std::mutex> lk(mu);
    us.clear();
    reported = 0;
  }
  void add(const std::vector<double>& mine) {
    std::lock_guard<std::mutex> lk(mu);
    us.insert(us.end(), mine.begin(), mine.end());
    ++reported;
  }
  // Waits until |threads| threads reported, then sorts.
  void collect(int threads) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (reported == threads) {
          std::sort(us.begin(), us.end());
          return;
        }
      }
      std::this_thread::yield();
    }
  }
  double percentile(double p) const {
    if (us.empty()) {
      return 0.0;
    }
    const auto i = static_cast<std::size_t>(p * static_cast<double>(us.size() - 1));
    return us[i];
  }
};

latency_pool g_latency;
std::unique_ptr<spent_store> g_store;

// The timed loop shared by both stores. Thread 0 owns set-up and tear-down
// (before the start and after the stop barrier of the framework).
void run_marks(benchmark::State& state) {
  key_id key{};
  key[0] = 1;
  const auto expiry = clock::now() + std::chrono::hours(1);
  uint64_t failures = 0;
  std::vector<double> lat;
  lat.reserve(1 << 16);
  for (auto _ : state) {
    if (!g_store) {
      state.SkipWithError("no store");
      break;
    }
    marker m{};
    const uint64_t n = g_next.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(m.data(), &n, sizeof(n));
    std::promise<spend_result> p;
    auto f = p.get_future();
    const auto t0 = std::chrono::steady_clock::now();
    g_store->check_and_mark(key, m, expiry, [&p](spend_result r) { p.set_value(r); });
    failures += f.get() != spend_result::fresh;
    lat.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                      .count());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["not_fresh"] = benchmark::Counter(static_cast<double>(failures));
  g_latency.add(lat);
  if (state.thread_index() == 0) {
    g_latency.collect(state.threads());
    state.counters["p50_us"] = g_latency.percentile(0.50);
    state.counters["p99_us"] = g_latency.percentile(0.99);
  }
}

void BM_lmdb_marks(benchmark::State& state) {
  std::filesystem::path dir;
  if (state.thread_index() == 0) {
    g_latency.reset();
    dir = make_temp_dir();
    if (dir.empty()) {
      state.SkipWithError("mkdtemp failed");  // every thread still meets the barrier
    } else {
      lmdb_options o;
      o.path = (dir / "env").string();
      o.map_size_bytes = 4ull << 30;
      g_store = std::make_unique<lmdb_store>(o);
    }
  }
  run_marks(state);
  if (state.thread_index() == 0 && g_store) {
    const auto s = static_cast<lmdb_store&>(*g_store).stats();
    state.counters["marks_per_batch"] =
        s.batches ? static_cast<double>(s.fresh + s.already_spent) / s.batches : 0.0;
    g_store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

// One redis-server for the whole program, stopped in main().
std::filesystem::path g_redis_dir;
std::unique_ptr<athm::store::testing::redis_server> g_redis;

// |appendfsync|: "always" (durable per mark, the shipped setting) or
// "everysec" (what the client side costs without a disk flush per write).
void redis_marks(benchmark::State& state, const char* appendfsync) {
  if (state.thread_index() == 0) {
    g_latency.reset();
    try {
      if (!g_redis) {
        g_redis_dir = make_temp_dir();
        g_redis = std::make_unique<athm::store::testing::redis_server>(g_redis_dir);
        g_redis->start();
      }
      {
        auto c = g_redis->connect();
        athm::store::testing::redis_reply_ptr r(static_cast<redisReply*>(
            redisCommand(c.get(), "CONFIG SET appendfsync %s", appendfsync)));
        if (!r || r->type != REDIS_REPLY_STATUS) {
          throw std::runtime_error("CONFIG SET appendfsync failed");
        }
      }
      redis_options o;  // config defaults: 4 connections, 250 ms
      o.port = g_redis->port();
      auto store = std::make_unique<redis_store>(o);
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!store->healthy() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      // Every connection up, so the round robin uses all of them.
      while (store->stats().connections_up < o.pool_size &&
             std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      g_store = std::move(store);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());  // every thread still meets the barrier
    }
  }
  run_marks(state);
  if (state.thread_index() == 0 && g_store) {
    const auto s = static_cast<redis_store&>(*g_store).stats();
    state.counters["timeouts"] = static_cast<double>(s.timeouts);
    g_store.reset();
  }
}

BENCHMARK(BM_lmdb_marks)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();
void BM_redis_marks(benchmark::State& state) { redis_marks(state, "always"); }
void BM_redis_marks_everysec(benchmark::State& state) { redis_marks(state, "everysec"); }

BENCHMARK(BM_redis_marks)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();
BENCHMARK(BM_redis_marks_everysec)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_redis) {
    g_redis->stop();
    g_redis.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_redis_dir, ec);
  }
  return 0;
}
