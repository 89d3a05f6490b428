#include "server/store/lmdb_store.h"

#include <lmdb.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "server/store/completion_worker.h"

namespace athm::store {

namespace {

constexpr std::size_t key_size = 32;
constexpr std::size_t mark_size = key_size + 32;

// Upper estimate of pages one batch may take: each new mark may copy one
// leaf and split one, plus a little for branches, the keys DB and the free
// list. Only used near a full map.
constexpr std::size_t pages_per_mark = 3;
constexpr std::size_t pages_per_batch = 16;
// A mark's leaf node: 64-byte key, empty value, node header, slot.
constexpr std::size_t mark_node_bytes = 64 + 8 + 2;

[[noreturn]] void fail_open(const std::string& path, const std::string& what) {
  throw std::runtime_error("lmdb store at '" + path + "': " + what);
}

[[noreturn]] void fail_open(const std::string& path, const char* step, int rc) {
  fail_open(path, std::string(step) + ": " + mdb_strerror(rc));
}

// Creates |path| and any missing parents with mode 0700.
void make_directories(const std::string& path) {
  std::filesystem::path cur;
  for (const auto& part : std::filesystem::path(path)) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      fail_open(path, "cannot create directory '" + cur.string() +
                          "': " + std::strerror(errno));
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail_open(path, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    fail_open(path, "not a directory");
  }
}

// LMDB forbids opening one environment twice in a process (its POSIX locks
// would be released by the first close). Open paths are claimed here.
class path_claim {
 public:
  explicit path_claim(std::string canonical) : path_(std::move(canonical)) {
    std::lock_guard<std::mutex> lk(mu());
    if (!paths().insert(path_).second) {
      fail_open(path_, "already open in this process");
    }
  }
  ~path_claim() {
    std::lock_guard<std::mutex> lk(mu());
    paths().erase(path_);
  }
  path_claim(const path_claim&) = delete;
  path_claim& operator=(const path_claim&) = delete;

  const std::string& path() const { return path_; }

 private:
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }
  static std::set<std::string>& paths() {
    static std::set<std::string> s;
    return s;
  }

  std::string path_;
};

std::string canonical_dir(const std::string& path) {
  if (path.empty()) {
    fail_open(path, "no path given");
  }
  make_directories(path);
  std::error_code ec;
  auto canon = std::filesystem::canonical(path, ec);
  if (ec) {
    fail_open(path, "cannot resolve path: " + ec.message());
  }
  return canon.string();
}

struct env_closer {
  void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};
using env_ptr = std::unique_ptr<MDB_env, env_closer>;

// Expiry rounded up, so a key is never purged before its real expiry.
uint64_t seconds_ceil(clock::time_point t) {
  auto d = t.time_since_epoch();
  if (d <= clock::duration::zero()) {
    return 0;
  }
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
  if (s < d) {
    ++s;
  }
  return static_cast<uint64_t>(s.count());
}

uint64_t seconds_floor(clock::time_point t) {
  auto d = t.time_since_epoch();
  if (d <= clock::duration::zero()) {
    return 0;
  }
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

void store_be64(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

uint64_t load_be64(const uint8_t in[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | in[i];
  }
  return v;
}

}  // namespace

struct lmdb_store::impl {
  struct pending {
    key_id key;
    marker m;
    uint64_t expiry;  // unix seconds, rounded up
    spend_handler done;
  };

  explicit impl(const lmdb_options& o);
  ~impl();

  void enqueue(const key_id& key, const marker& m, clock::time_point expiry,
               spend_handler done) noexcept;
  void run_writer();
  // Applies |batch| in one write transaction. out[i] is batch[i]'s result;
  // retry[i] set means it did not fit this time and goes back to the queue.
  void apply(std::vector<pending>& batch, std::vector<spend_result>& out,
             std::vector<bool>& retry);
  // Counts |results| and hands them to the notifier.
  void complete(std::vector<pending> batch, std::vector<spend_result> results);
  // Completes the committed batch whose meta page may not be on disk yet,
  // after flushing it unless a later commit's data flush already did.
  void settle_unsynced(bool flushed_since);
  uint64_t last_txnid() noexcept;
  std::size_t marks_that_fit(std::size_t wanted);
  int purge_step(uint64_t now_s, std::size_t budget, int64_t& removed, bool& more);
  int64_t purge(clock::time_point now);

  const lmdb_options opts;
  path_claim claim;
  env_ptr env;
  MDB_dbi marks_dbi = 0;
  MDB_dbi keys_dbi = 0;

  std::atomic<bool> commit_ok{true};
  std::atomic<bool> map_full{false};
  std::atomic<uint64_t> n_batches{0};
  std::atomic<uint64_t> n_fresh{0};
  std::atomic<uint64_t> n_spent{0};
  std::atomic<uint64_t> n_queue_full{0};
  std::atomic<uint64_t> n_failed{0};
  std::atomic<uint64_t> n_commit_failures{0};
  std::atomic<uint64_t> n_syncs{0};
  std::atomic<uint64_t> n_piggybacked{0};
  std::atomic<int> writer_nice{0};

  // Writer thread only. The last committed batch with fresh marks, not yet
  // completed: its meta page was written but not flushed (MDB_NOMETASYNC).
  struct unsynced_batch {
    std::vector<pending> batch;
    std::vector<spend_result> results;
    uint64_t txnid = 0;  // the environment's last txnid right after its commit
  };
  std::optional<unsynced_batch> unsynced;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<pending> queue;  // guarded by mu
  bool stopping = false;      // guarded by mu
  bool held = false;          // guarded by mu

  std::unique_ptr<detail::completion_worker> notifier;
  std::thread writer;
};

lmdb_store::impl::impl(const lmdb_options& o)
    : opts(o), claim(canonical_dir(o.path)) {
  const std::string& path = claim.path();
  if (opts.map_size_bytes == 0 || opts.max_pending == 0 || opts.max_batch == 0 ||
      opts.purge_batch == 0) {
    fail_open(path, "map size, queue cap, batch and purge batch must be positive");
  }

  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) {
    fail_open(path, "mdb_env_create", rc);
  }
  env.reset(raw);
  if ((rc = mdb_env_set_maxdbs(env.get(), 2)) != 0) {
    fail_open(path, "mdb_env_set_maxdbs", rc);
  }
  if ((rc = mdb_env_set_mapsize(env.get(), static_cast<size_t>(opts.map_size_bytes))) != 0) {
    fail_open(path, "mdb_env_set_mapsize", rc);
  }
  // MDB_NOMETASYNC: a commit flushes its data pages but only writes its
  // meta page. The writer completes a batch once a later flush covers that
  // page (the next commit's data flush, or mdb_env_sync), so fresh still
  // means on disk, with one flush per commit instead of two under load.
  if ((rc = mdb_env_open(env.get(), path.c_str(), MDB_NOMETASYNC, 0600)) != 0) {
    fail_open(path, "mdb_env_open", rc);
  }
  int dead = 0;
  if ((rc = mdb_reader_check(env.get(), &dead)) != 0) {
    fail_open(path, "mdb_reader_check", rc);
  }

  MDB_txn* txn = nullptr;
  if ((rc = mdb_txn_begin(env.get(), nullptr, 0, &txn)) != 0) {
    fail_open(path, "mdb_txn_begin", rc);
  }
  if ((rc = mdb_dbi_open(txn, "marks", MDB_CREATE, &marks_dbi)) != 0 ||
      (rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &keys_dbi)) != 0) {
    mdb_txn_abort(txn);
    fail_open(path, "mdb_dbi_open", rc);
  }
  if ((rc = mdb_txn_commit(txn)) != 0) {
    fail_open(path, "mdb_txn_commit", rc);
  }

  notifier = std::make_unique<detail::completion_worker>("athm-lmdb-done");
  writer = std::thread([this] { run_writer(); });
}

lmdb_store::impl::~impl() {
  {
    std::lock_guard<std::mutex> lk(mu);
    stopping = true;
  }
  cv.notify_one();
  writer.join();
  notifier.reset();  // runs every completion the writer handed over
  mdb_env_sync(env.get(), 1);  // the last purge's meta page, if any
  // env closes when its member is destroyed, after the threads are gone.
}

void lmdb_store::impl::enqueue(const key_id& key, const marker& m,
                               clock::time_point expiry, spend_handler done) noexcept {
  {
    std::unique_lock<std::mutex> lk(mu);
    if (!stopping && queue.size() < opts.max_pending) {
      queue.push_back(pending{key, m, seconds_ceil(expiry), std::move(done)});
      lk.unlock();
      cv.notify_one();
      return;
    }
  }
  n_queue_full.fetch_add(1, std::memory_order_relaxed);
  notifier->post([done = std::move(done)] { done(spend_result::unavailable); });
}

void lmdb_store::impl::run_writer() {
  pthread_setname_np(pthread_self(), "athm-lmdb-wr");
  // Ten nice levels below the process: a queued mark does not preempt the I/O
  // thread that verified it mid-slice, so marks gather into larger commits
  // under load, yet the writer still preempts lower-priority work, and
  // against other cgroups (containers, systemd units) it competes as part of
  // its group. (SCHED_BATCH did the first but preempts nothing at all: with
  // nice-19 jobs on the same CPUs, every commit waited out their slices.)
  const auto tid = static_cast<id_t>(gettid());
  errno = 0;
  const int base = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) {
    (void)setpriority(PRIO_PROCESS, tid, std::min(base + 10, 19));  // best effort
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, tid);
    writer_nice.store(errno == 0 ? now : base, std::memory_order_relaxed);
  }
  for (;;) {
    std::vector<pending> batch;
    {
      std::unique_lock<std::mutex> lk(mu);
      if (unsynced && (held || queue.empty())) {
        // Nothing to commit whose flush would cover it: flush now.
        lk.unlock();
        settle_unsynced(false);
        continue;
      }
      cv.wait(lk, [this] { return stopping || (!held && !queue.empty()); });
      if (queue.empty()) {
        return;  // stopping and drained
      }
      std::size_t n = std::min(queue.size(), opts.max_batch);
      batch.reserve(n);
      std::move(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    }
    std::vector<spend_result> results;
    std::vector<bool> retry;
    apply(batch, results, retry);
    if (std::find(retry.begin(), retry.end(), true) != retry.end()) {
      // Near a full map: what did not fit goes back to the front, in order,
      // and is tried in the next transaction once this one's pages count.
      std::vector<pending> done_now;
      std::vector<spend_result> done_results;
      std::vector<pending> again;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (retry[i]) {
          again.push_back(std::move(batch[i]));
        } else {
          done_now.push_back(std::move(batch[i]));
          done_results.push_back(results[i]);
        }
      }
      {
        std::lock_guard<std::mutex> lk(mu);
        queue.insert(queue.begin(), std::make_move_iterator(again.begin()),
                     std::make_move_iterator(again.end()));
      }
      batch = std::move(done_now);
      results = std::move(done_results);
    }
    const uint64_t txnid = last_txnid();
    if (unsynced) {
      // A commit that advanced the txnid flushed its data pages after the
      // earlier batch's meta page was written, and so flushed that page too.
      settle_unsynced(unsynced->txnid != 0 && txnid > unsynced->txnid);
    }
    if (std::find(results.begin(), results.end(), spend_result::fresh) != results.end()) {
      unsynced = unsynced_batch{std::move(batch), std::move(results), txnid};
    } else {
      complete(std::move(batch), std::move(results));
    }
  }
}

// The last txnid LMDB published, as a read snapshot sees it: read through
// the lock table, safe while a purge commits on another thread (unlike
// mdb_env_info, which reads the meta pages unlocked). LMDB publishes a
// txnid only after that commit's data flush and meta write. 0 if unknown,
// which makes the writer flush explicitly.
uint64_t lmdb_store::impl::last_txnid() noexcept {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env.get(), nullptr, MDB_RDONLY, &txn) != 0) {
    return 0;
  }
  const uint64_t id = mdb_txn_id(txn);
  mdb_txn_abort(txn);
  return id;
}

void lmdb_store::impl::settle_unsynced(bool flushed_since) {
  unsynced_batch u = std::move(*unsynced);
  unsynced.reset();
  if (flushed_since) {
    n_piggybacked.fetch_add(1, std::memory_order_relaxed);
  } else {
    n_syncs.fetch_add(1, std::memory_order_relaxed);
    if (mdb_env_sync(env.get(), 1) != 0) {
      // Committed but maybe not on disk: never report fresh. The marks stay,
      // so a retry of these tokens is already_spent (fail closed).
      commit_ok.store(false, std::memory_order_relaxed);
      n_commit_failures.fetch_add(1, std::memory_order_relaxed);
      for (auto& r : u.results) {
        if (r == spend_result::fresh) {
          r = spend_result::unavailable;
        }
      }
    }
  }
  complete(std::move(u.batch), std::move(u.results));
}

void lmdb_store::impl::complete(std::vector<pending> batch, std::vector<spend_result> results) {
  for (const spend_result r : results) {
    switch (r) {
      case spend_result::fresh:
        n_fresh.fetch_add(1, std::memory_order_relaxed);
        break;
      case spend_result::already_spent:
        n_spent.fetch_add(1, std::memory_order_relaxed);
        break;
      case spend_result::unavailable:
        n_failed.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  notifier->post([batch = std::move(batch), results = std::move(results)] {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(results[i]);
    }
  });
}

namespace {

// What a read-only snapshot says about space: pages on the free list, which
// LMDB reuses before growing the file, and pages of the marks tree.
// Free-list records are (txnid, IDL) with the IDL's first word holding its
// length; only read-only transactions may open a cursor on the free list.
struct space_info {
  std::size_t free_pages = 0;
  std::size_t tree_pages = 0;
};

bool read_space(MDB_env* env, MDB_dbi marks, space_info& out) {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) {
    return false;
  }
  MDB_stat st;
  MDB_cursor* cur = nullptr;
  if (mdb_stat(txn, marks, &st) != 0 || mdb_cursor_open(txn, 0, &cur) != 0) {
    mdb_txn_abort(txn);
    return false;
  }
  out.tree_pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + st.ms_depth;
  out.free_pages = 0;
  MDB_val k;
  MDB_val v;
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    if (v.mv_size >= sizeof(size_t)) {
      size_t n;
      std::memcpy(&n, v.mv_data, sizeof(n));
      out.free_pages += n;
    }
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return true;
}

}  // namespace

std::size_t lmdb_store::impl::marks_that_fit(std::size_t wanted) {
  MDB_envinfo info;
  MDB_stat st;
  if (mdb_env_info(env.get(), &info) != 0 || mdb_env_stat(env.get(), &st) != 0 ||
      st.ms_psize == 0) {
    return wanted;  // let LMDB itself report MDB_MAP_FULL
  }
  const std::size_t total = info.me_mapsize / st.ms_psize;
  const std::size_t used = info.me_last_pgno + 1;
  const std::size_t tail = total > used ? total - used : 0;
  const std::size_t keep = opts.map_reserve_pages + pages_per_batch;
  if (tail >= keep + pages_per_mark * wanted) {
    return wanted;  // the cheap bound below holds: need(n) <= 3n + 16
  }
  space_info space;
  if (!read_space(env.get(), marks_dbi, space)) {
    return wanted;
  }
  const std::size_t avail = tail + space.free_pages;
  if (avail <= keep) {
    return 0;
  }
  // Pages n new marks may take: each leaf or branch they touch is copied
  // once and may split once (no more copies than the tree has pages), and
  // the new entries fill pages at least half full.
  const std::size_t psize = st.ms_psize;
  auto need = [&](std::size_t n) {
    return 2 * std::min(n, space.tree_pages) + (2 * n * mark_node_bytes + psize - 1) / psize;
  };
  std::size_t lo = 0;
  std::size_t hi = wanted;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo + 1) / 2;
    if (need(mid) <= avail - keep) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

void lmdb_store::impl::apply(std::vector<pending>& batch, std::vector<spend_result>& out,
                             std::vector<bool>& retry) {
  const std::size_t n = batch.size();
  out.assign(n, spend_result::unavailable);
  retry.assign(n, false);
  n_batches.fetch_add(1, std::memory_order_relaxed);

  // Sorted by (key, marker), stable so the first of equal marks in arrival
  // order leads its group; puts in key order also touch fewer pages.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto mark_less = [&](uint32_t a, uint32_t b) {
    int c = std::memcmp(batch[a].key.data(), batch[b].key.data(), key_size);
    if (c == 0) {
      c = std::memcmp(batch[a].m.data(), batch[b].m.data(), 32);
    }
    return c < 0;
  };
  std::stable_sort(order.begin(), order.end(), mark_less);

  struct group {
    std::size_t begin;  // range in |order|; order[begin] leads
    std::size_t end;
    // later: did not fit this time, goes back to the queue.
    enum { untried, fresh, spent, later, no_room } state;
  };
  std::vector<group> groups;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && !mark_less(order[i], order[j])) {
      ++j;
    }
    groups.push_back(group{i, j, group::untried});
    i = j;
  }

  auto finish = [&](bool committed) {
    for (const auto& g : groups) {
      for (std::size_t i = g.begin; i < g.end; ++i) {
        spend_result r = spend_result::unavailable;
        if (g.state == group::spent) {
          r = spend_result::already_spent;  // present before this batch
        } else if (g.state == group::fresh && committed) {
          r = i == g.begin ? spend_result::fresh : spend_result::already_spent;
        }
        if (g.state == group::later && committed) {
          retry[order[i]] = true;
          continue;
        }
        out[order[i]] = r;
      }
    }
  };
  auto fail = [&](MDB_txn* txn, int rc) {
    if (txn != nullptr) {
      mdb_txn_abort(txn);
    }
    if (rc == MDB_MAP_FULL) {
      map_full.store(true, std::memory_order_relaxed);
    }
    commit_ok.store(false, std::memory_order_relaxed);
    n_commit_failures.fetch_add(1, std::memory_order_relaxed);
    finish(false);
  };

  // Before the write transaction: a thread may hold only one transaction.
  const std::size_t room = marks_that_fit(groups.size());
  if (room == 0) {
    for (auto& g : groups) {
      g.state = group::no_room;
    }
    map_full.store(true, std::memory_order_relaxed);
    finish(false);
    return;
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.get(), nullptr, 0, &txn);
  if (rc != 0) {
    fail(nullptr, rc);
    return;
  }
  bool have_key = false;
  key_id last_key{};
  uint64_t last_expiry = 0;  // expiry stored for last_key in this txn
  std::size_t tried = 0;
  for (auto& g : groups) {
    if (tried == room) {
      g.state = group::later;
      continue;
    }
    ++tried;
    const pending& lead = batch[order[g.begin]];
    uint64_t expiry = 0;
    for (std::size_t i = g.begin; i < g.end; ++i) {
      expiry = std::max(expiry, batch[order[i]].expiry);
    }

    if (!have_key || last_key != lead.key || last_expiry < expiry) {
      MDB_val k{key_size, const_cast<uint8_t*>(lead.key.data())};
      MDB_val v;
      uint64_t stored = 0;
      bool found = false;
      rc = mdb_get(txn, keys_dbi, &k, &v);
      if (rc == 0 && v.mv_size == 8) {
        stored = load_be64(static_cast<const uint8_t*>(v.mv_data));
        found = true;
      } else if (rc != 0 && rc != MDB_NOTFOUND) {
        fail(txn, rc);
        return;
      }
      if (!found || stored < expiry) {
        uint8_t be[8];
        store_be64(be, expiry);
        MDB_val nv{sizeof(be), be};
        if ((rc = mdb_put(txn, keys_dbi, &k, &nv, 0)) != 0) {
          fail(txn, rc);
          return;
        }
        stored = expiry;
      }
      have_key = true;
      last_key = lead.key;
      last_expiry = stored;
    }

    uint8_t kb[mark_size];
    std::memcpy(kb, lead.key.data(), key_size);
    std::memcpy(kb + key_size, lead.m.data(), 32);
    MDB_val k{mark_size, kb};
    MDB_val v{0, nullptr};
    rc = mdb_put(txn, marks_dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0) {
      g.state = group::fresh;
    } else if (rc == MDB_KEYEXIST) {
      g.state = group::spent;
    } else {
      fail(txn, rc);
      return;
    }
  }

  if ((rc = mdb_txn_commit(txn)) != 0) {
    fail(nullptr, rc);
    return;
  }
  commit_ok.store(true, std::memory_order_relaxed);
  map_full.store(false, std::memory_order_relaxed);
  finish(true);
}

// One purge transaction: deletes up to |budget| marks of the keys expired
// before |now_s|, and the entry of each key it empties. Returns 0 or an LMDB
// error; |removed| and |more| (stopped on the budget) are set on success.
int lmdb_store::impl::purge_step(uint64_t now_s, std::size_t budget, int64_t& removed,
                                 bool& more) {
  removed = 0;
  more = false;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.get(), nullptr, 0, &txn);
  if (rc != 0) {
    return rc;
  }
  auto abort_with = [&](MDB_cursor* cur, int err) {
    if (cur != nullptr) {
      mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return err;
  };

  // Keys are few (one per issuer key), so each transaction rescans them.
  std::vector<key_id> expired;
  MDB_cursor* cur = nullptr;
  if ((rc = mdb_cursor_open(txn, keys_dbi, &cur)) != 0) {
    return abort_with(nullptr, rc);
  }
  MDB_val k;
  MDB_val v;
  while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
    if (k.mv_size == key_size && v.mv_size == 8 &&
        load_be64(static_cast<const uint8_t*>(v.mv_data)) < now_s) {
      key_id id;
      std::memcpy(id.data(), k.mv_data, key_size);
      expired.push_back(id);
    }
  }
  mdb_cursor_close(cur);
  cur = nullptr;
  if (rc != MDB_NOTFOUND) {
    return abort_with(nullptr, rc);
  }
  if (expired.empty()) {
    mdb_txn_abort(txn);
    return 0;
  }

  if ((rc = mdb_cursor_open(txn, marks_dbi, &cur)) != 0) {
    return abort_with(nullptr, rc);
  }
  for (const auto& id : expired) {
    bool key_done = false;
    while (budget > 0) {
      // Re-seek after each delete: the first mark at or after the prefix.
      MDB_val seek{key_size, const_cast<uint8_t*>(id.data())};
      rc = mdb_cursor_get(cur, &seek, &v, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND ||
          (rc == 0 && (seek.mv_size != mark_size ||
                       std::memcmp(seek.mv_data, id.data(), key_size) != 0))) {
        key_done = true;
        break;
      }
      if (rc != 0 || (rc = mdb_cursor_del(cur, 0)) != 0) {
        return abort_with(cur, rc);
      }
      --budget;
      ++removed;
    }
    if (!key_done) {
      more = true;
      break;
    }
    MDB_val kk{key_size, const_cast<uint8_t*>(id.data())};
    rc = mdb_del(txn, keys_dbi, &kk, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      return abort_with(cur, rc);
    }
  }
  mdb_cursor_close(cur);
  return mdb_txn_commit(txn);
}

int64_t lmdb_store::impl::purge(clock::time_point now) {
  const uint64_t now_s = seconds_floor(now);
  int64_t total = 0;
  std::size_t budget = opts.purge_batch;
  for (;;) {
    int64_t removed = 0;
    bool more = false;
    const int rc = purge_step(now_s, budget, removed, more);
    if (rc == MDB_MAP_FULL && budget > 1) {
      // Deleting copies pages too; in a nearly full map, take smaller bites.
      // Each committed one frees pages for the next.
      budget /= 2;
      continue;
    }
    if (rc != 0) {
      return -1;
    }
    total += removed;
    if (removed > 0) {
      // Space was freed: let the next batch show whether marks fit again.
      map_full.store(false, std::memory_order_relaxed);
      commit_ok.store(true, std::memory_order_relaxed);
    }
    if (!more) {
      return total;
    }
    budget = std::min(opts.purge_batch, budget * 2);
  }
}

lmdb_store::lmdb_store(const lmdb_options& opts) : impl_(std::make_unique<impl>(opts)) {}

lmdb_store::~lmdb_store() = default;

void lmdb_store::check_and_mark(const key_id& key, const marker& m,
                                clock::time_point key_expiry,
                                spend_handler done) noexcept {
  impl_->enqueue(key, m, key_expiry, std::move(done));
}

int64_t lmdb_store::purge_expired(clock::time_point now) noexcept {
  return impl_->purge(now);
}

bool lmdb_store::healthy() const noexcept {
  return impl_->env != nullptr && impl_->commit_ok.load(std::memory_order_relaxed) &&
         !impl_->map_full.load(std::memory_order_relaxed);
}

lmdb_stats lmdb_store::stats() const noexcept {
  lmdb_stats s;
  s.batches = impl_->n_batches.load(std::memory_order_relaxed);
  s.fresh = impl_->n_fresh.load(std::memory_order_relaxed);
  s.already_spent = impl_->n_spent.load(std::memory_order_relaxed);
  s.queue_full = impl_->n_queue_full.load(std::memory_order_relaxed);
  s.failed = impl_->n_failed.load(std::memory_order_relaxed);
  s.commit_failures = impl_->n_commit_failures.load(std::memory_order_relaxed);
  s.syncs = impl_->n_syncs.load(std::memory_order_relaxed);
  s.piggybacked = impl_->n_piggybacked.load(std::memory_order_relaxed);
  s.writer_nice = impl_->writer_nice.load(std::memory_order_relaxed);
  return s;
}

void lmdb_store::hold_writer_for_testing(bool hold) noexcept {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->held = hold;
  }
  impl_->cv.notify_one();
}

}  // namespace athm::store
