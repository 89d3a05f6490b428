#include "server/store/lmdb_store.h"

#include <catch2/catch.hpp>

#include <lmdb.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;

lmdb_options options_in(const temp_dir& dir) {
  lmdb_options o;
  o.path = (dir.path() / "env").string();
  o.map_size_bytes = 64ull << 20;
  return o;
}

TEST_CASE("lmdb_store: marks persist across close and reopen", "[store][lmdb]") {
  temp_dir dir;
  const auto opts = options_in(dir);
  const auto expiry = in_hours(1);
  {
    lmdb_store store(opts);
    for (uint32_t i = 0; i < 50; ++i) {
      REQUIRE(spend(store, make_key(i % 3), make_marker(i), expiry) == spend_result::fresh);
    }
  }
  {
    lmdb_store store(opts);
    for (uint32_t i = 0; i < 50; ++i) {
      CHECK(spend(store, make_key(i % 3), make_marker(i), expiry) == spend_result::already_spent);
    }
    CHECK(spend(store, make_key(0), make_marker(1000), expiry) == spend_result::fresh);
  }
  {
    // Key expiries persist too: purge still knows which key a mark belongs to.
    lmdb_store store(opts);
    CHECK(store.purge_expired(expiry + std::chrono::seconds(2)) == 51);
    CHECK(spend(store, make_key(0), make_marker(0), expiry) == spend_result::fresh);
  }
}

TEST_CASE("lmdb_store: group commit resolves duplicates within one batch", "[store][lmdb]") {
  temp_dir dir;
  lmdb_store store(options_in(dir));
  const auto expiry = in_hours(1);
  REQUIRE(spend(store, make_key(1), make_marker(100), expiry) == spend_result::fresh);
  const auto before = store.stats();

  // Held, so all of these land in the writer's next batch together.
  store.hold_writer_for_testing(true);
  std::vector<mark_request> reqs = {
      {make_key(1), make_marker(1), expiry},    // fresh
      {make_key(1), make_marker(1), expiry},    // same batch: already_spent
      {make_key(1), make_marker(2), expiry},    // fresh
      {make_key(2), make_marker(1), expiry},    // other key: fresh
      {make_key(1), make_marker(100), expiry},  // committed earlier
      {make_key(1), make_marker(1), expiry},    // third copy
      {make_key(1), make_marker(100), expiry},  // committed earlier, twice
  };
  pending_marks marks(store, reqs);
  store.hold_writer_for_testing(false);
  const auto results = marks.wait();

  const std::vector<spend_result> expected = {
      spend_result::fresh,         spend_result::already_spent, spend_result::fresh,
      spend_result::fresh,         spend_result::already_spent, spend_result::already_spent,
      spend_result::already_spent,
  };
  CHECK(results == expected);
  const auto after = store.stats();
  CHECK(after.batches - before.batches == 1);
  CHECK(after.fresh - before.fresh == 3);
  CHECK(after.already_spent - before.already_spent == 4);

  // And it is what got committed.
  CHECK(spend(store, make_key(1), make_marker(1), expiry) == spend_result::already_spent);
  CHECK(spend(store, make_key(2), make_marker(1), expiry) == spend_result::already_spent);
  CHECK(spend(store, make_key(2), make_marker(2), expiry) == spend_result::fresh);
}

// Completes |reqs| one mark per batch and records, for each, the store's
// counters as its completion saw them.
struct observed {
  spend_result result;
  lmdb_stats at_completion;
};

std::vector<observed> mark_one_per_batch(lmdb_store& store,
                                         const std::vector<mark_request>& reqs) {
  std::vector<observed> seen(reqs.size());
  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0;
  store.hold_writer_for_testing(true);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    store.check_and_mark(reqs[i].key, reqs[i].m, reqs[i].expiry, [&, i](spend_result r) {
      const lmdb_stats now = store.stats();
      std::lock_guard<std::mutex> lk(mu);
      seen[i] = observed{r, now};
      ++done;
      cv.notify_all();
    });
  }
  store.hold_writer_for_testing(false);
  std::unique_lock<std::mutex> lk(mu);
  REQUIRE(cv.wait_for(lk, completion_bound, [&] { return done == reqs.size(); }));
  return seen;
}

TEST_CASE("lmdb_store: a fresh batch completes only once a later flush covers it",
          "[store][lmdb]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.max_batch = 1;
  lmdb_store store(opts);
  const auto expiry = in_hours(1);

  SECTION("back to back: each commit's flush settles the batch before it") {
    const auto seen = mark_one_per_batch(store, {{make_key(1), make_marker(1), expiry},
                                                 {make_key(1), make_marker(2), expiry},
                                                 {make_key(1), make_marker(3), expiry}});
    for (const auto& o : seen) {
      CHECK(o.result == spend_result::fresh);
    }
    // Batch k completes after batch k+1 committed; the last one, with the
    // queue empty, after an explicit flush.
    CHECK(seen[0].at_completion.batches >= 2);
    CHECK(seen[1].at_completion.batches >= 3);
    CHECK(seen[2].at_completion.syncs == 1);
    const auto s = store.stats();
    CHECK(s.batches == 3);
    CHECK(s.piggybacked == 2);
    CHECK(s.syncs == 1);
    CHECK(s.fresh == 3);
  }

  SECTION("a commit that changes nothing flushes nothing: the batch is flushed itself") {
    REQUIRE(spend(store, make_key(1), make_marker(9), expiry) == spend_result::fresh);
    const auto before = store.stats();
    const auto seen = mark_one_per_batch(store, {{make_key(1), make_marker(10), expiry},
                                                 {make_key(1), make_marker(9), expiry}});
    CHECK(seen[0].result == spend_result::fresh);
    CHECK(seen[1].result == spend_result::already_spent);
    // The replay's batch wrote no page, so it cannot vouch for the first.
    CHECK(seen[0].at_completion.batches - before.batches == 2);
    CHECK(seen[0].at_completion.syncs - before.syncs == 1);
    const auto s = store.stats();
    CHECK(s.piggybacked == before.piggybacked);
    CHECK(s.syncs - before.syncs == 1);
  }

  CHECK(store.healthy());
}

// The nice value of this process's thread named |name| (/proc/self/task/*/
// stat, field 19), or nullopt if there is no such thread.
std::optional<int> thread_nice(const std::string& name) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string c;
    if (!std::getline(comm, c) || c != name) {
      continue;
    }
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // Fields after the parenthesised name: state is field 3, nice field 19.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; ++i) {
    }
    return std::stoi(field);
  }
  return std::nullopt;
}

TEST_CASE("lmdb_store: the writer runs ten nice levels below the process", "[store][lmdb]") {
  temp_dir dir;
  lmdb_store store(options_in(dir));
  // The writer sets its own nice when it starts; a completed mark shows it ran.
  REQUIRE(spend(store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  errno = 0;
  const int process_nice = getpriority(PRIO_PROCESS, 0);
  REQUIRE(errno == 0);
  const int expected = std::min(process_nice + 10, 19);
  CHECK(store.stats().writer_nice == expected);
  const auto seen = thread_nice("athm-lmdb-wr");
  REQUIRE(seen.has_value());
  CHECK(*seen == expected);
  // The other threads keep the process's nice.
  const auto notifier = thread_nice("athm-lmdb-done");
  REQUIRE(notifier.has_value());
  CHECK(*notifier == process_nice);
}

std::string current_thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST_CASE("lmdb_store: a full queue completes with unavailable at once", "[store][lmdb]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.max_pending = 4;
  lmdb_store store(opts);
  const auto expiry = in_hours(1);

  store.hold_writer_for_testing(true);
  std::vector<spend_result> results(6, spend_result::fresh);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::vector<std::string> threads(6);
  for (uint32_t i = 0; i < 6; ++i) {
    store.check_and_mark(make_key(1), make_marker(i), expiry, [&, i](spend_result r) {
      std::lock_guard<std::mutex> lk(mu);
      results[i] = r;
      threads[i] = current_thread_name();
      ++done;
      cv.notify_all();
    });
  }
  {
    // The two over the cap complete while the writer is still held.
    std::unique_lock<std::mutex> lk(mu);
    REQUIRE(cv.wait_for(lk, completion_bound, [&] { return done == 2; }));
    CHECK(results[4] == spend_result::unavailable);
    CHECK(results[5] == spend_result::unavailable);
  }
  CHECK(store.stats().queue_full == 2);

  store.hold_writer_for_testing(false);
  {
    std::unique_lock<std::mutex> lk(mu);
    REQUIRE(cv.wait_for(lk, completion_bound, [&] { return done == 6; }));
  }
  for (int i = 0; i < 4; ++i) {
    CHECK(results[i] == spend_result::fresh);
  }
  // Every completion, refused or committed, ran on the store's notifier,
  // never on the caller's thread or the writer's.
  for (const auto& t : threads) {
    CHECK(t == "athm-lmdb-done");
  }
  // The refused ones were not marked: they are fresh now.
  CHECK(spend(store, make_key(1), make_marker(4), expiry) == spend_result::fresh);
  CHECK(spend(store, make_key(1), make_marker(5), expiry) == spend_result::fresh);
  CHECK(store.healthy());
}

TEST_CASE("lmdb_store: destruction drains the queue even while held", "[store][lmdb]") {
  temp_dir dir;
  const auto opts = options_in(dir);
  std::vector<spend_result> results(100, spend_result::unavailable);
  {
    lmdb_store store(opts);
    store.hold_writer_for_testing(true);
    for (uint32_t i = 0; i < 100; ++i) {
      store.check_and_mark(make_key(1), make_marker(i / 2), in_hours(1),
                           [&results, i](spend_result r) { results[i] = r; });
    }
  }
  for (uint32_t i = 0; i < 100; ++i) {
    CHECK(results[i] == (i % 2 == 0 ? spend_result::fresh : spend_result::already_spent));
  }
  lmdb_store reopened(opts);
  CHECK(spend(reopened, make_key(1), make_marker(49), in_hours(1)) ==
        spend_result::already_spent);
}

TEST_CASE("lmdb_store: purge works in bounded transactions", "[store][lmdb]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.purge_batch = 7;
  lmdb_store store(opts);
  const auto now = clock::now();
  std::vector<mark_request> reqs;
  for (uint32_t k = 0; k < 3; ++k) {
    for (uint32_t i = 0; i < 40; ++i) {
      reqs.push_back({make_key(k), make_marker(i), now + std::chrono::hours(k == 1 ? 5 : -5)});
    }
  }
  for (auto r : spend_all(store, reqs)) {
    REQUIRE(r == spend_result::fresh);
  }
  CHECK(store.purge_expired(now) == 80);
  for (uint32_t i = 0; i < 40; ++i) {
    CHECK(spend(store, make_key(1), make_marker(i), now) == spend_result::already_spent);
  }
  CHECK(spend(store, make_key(0), make_marker(39), now) == spend_result::fresh);
  CHECK(spend(store, make_key(2), make_marker(0), now) == spend_result::fresh);
}

TEST_CASE("lmdb_store: a full map reports unavailable until a purge frees space",
          "[store][lmdb]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.map_size_bytes = 1ull << 20;  // 256 pages of 4 KiB
  opts.map_reserve_pages = 16;
  lmdb_store store(opts);
  const auto now = clock::now();
  const auto old_expiry = now - std::chrono::hours(1);

  // Fill with marks of an expired key, in batches of 200 and then one by one,
  // until even a single mark is refused.
  uint32_t next = 0;
  uint32_t marked = 0;
  for (std::size_t batch : {std::size_t{200}, std::size_t{1}}) {
    bool refused = false;
    for (int round = 0; round < 100'000 && !refused; ++round) {
      std::vector<mark_request> reqs;
      for (std::size_t i = 0; i < batch; ++i) {
        reqs.push_back({make_key(1), make_marker(next++), old_expiry});
      }
      for (auto r : spend_all(store, reqs)) {
        REQUIRE(r != spend_result::already_spent);
        refused = refused || r == spend_result::unavailable;
        marked += r == spend_result::fresh;
      }
    }
    REQUIRE(refused);
  }
  CHECK(marked > 1000);
  CHECK_FALSE(store.healthy());
  CHECK(spend(store, make_key(2), make_marker(0), in_hours(1)) == spend_result::unavailable);
  CHECK_FALSE(store.healthy());
  CHECK(store.stats().failed > 0);
  CHECK(store.stats().fresh == marked);

  // Everything marked so far belongs to the expired key.
  CHECK(store.purge_expired(now) == static_cast<int64_t>(marked));
  CHECK(store.healthy());
  CHECK(spend(store, make_key(2), make_marker(0), in_hours(1)) == spend_result::fresh);
  CHECK(spend(store, make_key(2), make_marker(0), in_hours(1)) == spend_result::already_spent);
  CHECK(store.healthy());
  // The freed space takes as many marks again.
  std::vector<mark_request> reqs;
  for (uint32_t i = 0; i < marked / 2; ++i) {
    reqs.push_back({make_key(3), make_marker(i), in_hours(1)});
  }
  std::size_t fresh = 0;
  for (auto r : spend_all(store, reqs)) {
    fresh += r == spend_result::fresh;
  }
  CHECK(fresh == reqs.size());
}

// Fills the environment at |path| through LMDB directly, one mark per
// transaction, until LMDB itself reports MDB_MAP_FULL. Returns marks added.
uint32_t fill_until_map_full(const std::string& path, uint64_t map_size, const key_id& key,
                             uint64_t expiry_unix) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 2) == 0);
  REQUIRE(mdb_env_set_mapsize(env, map_size) == 0);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOSYNC, 0600) == 0);
  MDB_txn* txn = nullptr;
  MDB_dbi marks = 0;
  MDB_dbi keys = 0;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  REQUIRE(mdb_dbi_open(txn, "marks", 0, &marks) == 0);
  REQUIRE(mdb_dbi_open(txn, "keys", 0, &keys) == 0);
  uint8_t be[8];
  for (int i = 0; i < 8; ++i) {
    be[i] = static_cast<uint8_t>(expiry_unix >> (56 - 8 * i));
  }
  MDB_val kk{key.size(), const_cast<uint8_t*>(key.data())};
  MDB_val kv{sizeof(be), be};
  REQUIRE(mdb_put(txn, keys, &kk, &kv, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);

  std::mt19937 rng(1);
  uint32_t added = 0;
  for (;;) {
    uint8_t kb[64];
    std::memcpy(kb, key.data(), 32);
    const auto m = make_marker(static_cast<uint32_t>(rng()));
    std::memcpy(kb + 32, m.data(), 32);
    MDB_val k{sizeof(kb), kb};
    MDB_val v{0, nullptr};
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    int rc = mdb_put(txn, marks, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0) {
      rc = mdb_txn_commit(txn);
    } else {
      mdb_txn_abort(txn);
    }
    if (rc == MDB_MAP_FULL) {
      break;
    }
    REQUIRE((rc == 0 || rc == MDB_KEYEXIST));
    added += rc == 0;
  }
  REQUIRE(mdb_env_sync(env, 1) == 0);
  mdb_env_close(env);
  return added;
}

TEST_CASE("lmdb_store: purge succeeds in a map LMDB reports full", "[store][lmdb]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.map_size_bytes = 1ull << 20;
  { lmdb_store create(opts); }
  const auto now = clock::now();
  const uint64_t an_hour_ago =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                (now - std::chrono::hours(1)).time_since_epoch())
                                .count());
  // Scattered markers, one per transaction: half-full leaves, no free pages.
  const uint32_t added = fill_until_map_full(opts.path, opts.map_size_bytes, make_key(1),
                                             an_hour_ago);
  REQUIRE(added > 1000);

  lmdb_store store(opts);
  CHECK(spend(store, make_key(2), make_marker(0), in_hours(1)) == spend_result::unavailable);
  CHECK_FALSE(store.healthy());
  CHECK(store.purge_expired(now) == static_cast<int64_t>(added));
  CHECK(store.healthy());
  CHECK(spend(store, make_key(2), make_marker(0), in_hours(1)) == spend_result::fresh);
}

TEST_CASE("lmdb_store: creates its directory with mode 0700", "[store][lmdb]") {
  temp_dir dir;
  lmdb_options o;
  o.path = (dir.path() / "a" / "b" / "env").string();
  o.map_size_bytes = 1ull << 20;
  lmdb_store store(o);
  struct stat st {};
  REQUIRE(::stat(o.path.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((dir.path() / "a").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("lmdb_store: open errors throw at start-up", "[store][lmdb]") {
  temp_dir dir;

  SECTION("no path") {
    lmdb_options o;
    CHECK_THROWS_AS(lmdb_store(o), std::runtime_error);
  }
  SECTION("path is a file") {
    const auto file = dir.path() / "file";
    std::ofstream(file) << "x";
    lmdb_options o;
    o.path = file.string();
    CHECK_THROWS_WITH(lmdb_store(o), Catch::Contains("not a directory"));
  }
  SECTION("parent is a file") {
    const auto file = dir.path() / "file";
    std::ofstream(file) << "x";
    lmdb_options o;
    o.path = (file / "env").string();
    CHECK_THROWS_AS(lmdb_store(o), std::runtime_error);
  }
  SECTION("same directory twice in one process") {
    auto o = options_in(dir);
    lmdb_store first(o);
    o.path = (dir.path() / "." / "env").string();  // same place, other spelling
    CHECK_THROWS_WITH(lmdb_store(o), Catch::Contains("already open"));
    // The first is unaffected.
    CHECK(spend(first, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  }
  SECTION("zero queue cap") {
    auto o = options_in(dir);
    o.max_pending = 0;
    CHECK_THROWS_AS(lmdb_store(o), std::runtime_error);
  }
  SECTION("not an LMDB file") {
    const auto env = dir.path() / "env";
    std::filesystem::create_directories(env);
    std::ofstream(env / "data.mdb") << std::string(8192, 'z');
    lmdb_options o;
    o.path = env.string();
    CHECK_THROWS_WITH(lmdb_store(o), Catch::Contains("mdb_env_open"));
  }
}

TEST_CASE("lmdb_store: a directory can be reopened after a failed open", "[store][lmdb]") {
  temp_dir dir;
  auto o = options_in(dir);
  o.purge_batch = 0;
  CHECK_THROWS_AS(lmdb_store(o), std::runtime_error);
  o.purge_batch = 10;
  lmdb_store store(o);
  CHECK(spend(store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
}

}  // namespace
}  // namespace athm::store
