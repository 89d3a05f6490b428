// Durability under kill -9: a child process marks tokens and reports each one
// only after the store said fresh; the parent kills it mid-stream, reopens
// the store and checks that every reported mark is there.
#include "server/store/lmdb_store.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;

constexpr int child_threads = 8;
constexpr uint32_t child_marks = 10'000'000;  // far more than it gets to

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Runs in the forked child; never returns. Exit codes other than death by
// SIGKILL tell the parent something went wrong.
[[noreturn]] void run_child(const lmdb_options& opts, uint32_t base, int fd) {
  try {
    lmdb_store store(opts);
    std::vector<std::thread> threads;
    for (int t = 0; t < child_threads; ++t) {
      threads.emplace_back([&, t] {
        for (uint32_t i = static_cast<uint32_t>(t); i < child_marks; i += child_threads) {
          std::promise<spend_result> p;
          auto f = p.get_future();
          store.check_and_mark(make_key(7), make_marker(base + i), clock::now() + std::chrono::hours(1),
                               [&p](spend_result r) { p.set_value(r); });
          if (f.get() != spend_result::fresh) {
            ::_exit(2);
          }
          const uint32_t idx = base + i;
          if (!write_all(fd, &idx, sizeof(idx))) {
            ::_exit(3);
          }
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
  } catch (...) {
    ::_exit(4);
  }
  ::_exit(5);  // ran out of marks before being killed
}

// Reads 4-byte indices from |fd| until EOF, killing |child| once |kill_after|
// have arrived. Returns every index read, including those that arrived
// after the kill (they too were reported fresh).
std::vector<uint32_t> collect_and_kill(int fd, pid_t child, std::size_t kill_after) {
  std::vector<uint32_t> reported;
  bool killed = false;
  uint8_t buf[4096];
  std::size_t have = 0;
  for (;;) {
    ssize_t r = ::read(fd, buf + have, sizeof(buf) - have);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      break;
    }
    have += static_cast<std::size_t>(r);
    std::size_t used = 0;
    for (; have - used >= 4; used += 4) {
      uint32_t idx;
      std::memcpy(&idx, buf + used, 4);
      reported.push_back(idx);
    }
    std::memmove(buf, buf + used, have - used);
    have -= used;
    if (!killed && reported.size() >= kill_after) {
      ::kill(child, SIGKILL);
      killed = true;
    }
  }
  return reported;
}

TEST_CASE("lmdb_store: marks reported fresh survive kill -9 of the process",
          "[store][lmdb][crash]") {
  temp_dir dir;
  lmdb_options opts;
  opts.path = (dir.path() / "env").string();
  opts.map_size_bytes = 256ull << 20;

  std::vector<uint32_t> all_reported;
  // Several rounds on the same environment, killed at different points; each
  // reopen must also recover from whatever lock state the dead child left.
  const std::size_t kill_points[] = {1, 150, 700};
  uint32_t round = 0;
  for (std::size_t kill_after : kill_points) {
    INFO("round " << round << ", kill after " << kill_after);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const uint32_t base = (round + 1) * 0x1000000u;
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      run_child(opts, base, fds[1]);
    }
    ::close(fds[1]);
    auto reported = collect_and_kill(fds[0], pid, kill_after);
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    REQUIRE(reported.size() >= kill_after);
    all_reported.insert(all_reported.end(), reported.begin(), reported.end());

    lmdb_store store(opts);
    CHECK(store.healthy());
    std::vector<mark_request> reqs;
    for (uint32_t idx : all_reported) {
      reqs.push_back({make_key(7), make_marker(idx), in_hours(1)});
    }
    const auto results = spend_all(store, reqs);
    std::size_t lost = 0;
    for (auto r : results) {
      lost += r != spend_result::already_spent;
    }
    CHECK(lost == 0);
    // The store still takes new marks after the crash.
    CHECK(spend(store, make_key(8), make_marker(round), in_hours(1)) == spend_result::fresh);
    ++round;
  }
}

}  // namespace
}  // namespace athm::store
