// Marks per second through lmdb_store with 1, 8 and 64 concurrent callers.
// Each caller waits for its completion before the next mark, as a request
// handler would; group commit turns concurrent callers into shared fsyncs.
#include "server/store/lmdb_store.h"

#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

namespace {

using athm::store::clock;
using athm::store::key_id;
using athm::store::lmdb_options;
using athm::store::lmdb_store;
using athm::store::marker;
using athm::store::spend_result;

std::unique_ptr<lmdb_store> g_store;
std::filesystem::path g_dir;
std::atomic<uint64_t> g_next{0};

void BM_lmdb_marks(benchmark::State& state) {
  if (state.thread_index() == 0) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "athm-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      state.SkipWithError("mkdtemp failed");
    }
    g_dir = tmpl;
    lmdb_options o;
    o.path = (g_dir / "env").string();
    o.map_size_bytes = 4ull << 30;
    g_store = std::make_unique<lmdb_store>(o);
  }
  key_id key{};
  key[0] = 1;
  const auto expiry = clock::now() + std::chrono::hours(1);
  uint64_t failures = 0;
  for (auto _ : state) {
    marker m{};
    const uint64_t n = g_next.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(m.data(), &n, sizeof(n));
    std::promise<spend_result> p;
    auto f = p.get_future();
    g_store->check_and_mark(key, m, expiry, [&p](spend_result r) { p.set_value(r); });
    failures += f.get() != spend_result::fresh;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["not_fresh"] = benchmark::Counter(static_cast<double>(failures));
  if (state.thread_index() == 0) {
    const auto s = g_store->stats();
    state.counters["marks_per_batch"] =
        s.batches ? static_cast<double>(s.fresh + s.already_spent) / s.batches : 0.0;
    g_store.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  }
}

BENCHMARK(BM_lmdb_marks)->Threads(1)->Threads(8)->Threads(64)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
