// Helpers shared by the store tests: ids, a temporary directory, and
// synchronous and batched wrappers around the asynchronous check_and_mark.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "server/store/spent_store.h"

namespace athm::store::testing {

// Distinct, deterministic ids: the number in the first four bytes and a
// tag byte so keys and markers never look alike.
inline key_id make_key(uint32_t n) {
  key_id k{};
  k[0] = static_cast<uint8_t>(n >> 24);
  k[1] = static_cast<uint8_t>(n >> 16);
  k[2] = static_cast<uint8_t>(n >> 8);
  k[3] = static_cast<uint8_t>(n);
  k[31] = 0x4b;
  return k;
}

inline marker make_marker(uint32_t n) {
  marker m{};
  m[0] = static_cast<uint8_t>(n >> 24);
  m[1] = static_cast<uint8_t>(n >> 16);
  m[2] = static_cast<uint8_t>(n >> 8);
  m[3] = static_cast<uint8_t>(n);
  m[31] = 0x6d;
  return m;
}

inline clock::time_point in_hours(int h) {
  return clock::now() + std::chrono::hours(h);
}

// A fresh directory under the system temp dir, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "athm-store-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Generous bound so a lost completion fails the test instead of hanging it.
inline constexpr std::chrono::seconds completion_bound{120};

// The outcome of one check_and_mark and the thread its completion ran on.
struct completion {
  spend_result result;
  std::thread::id thread;
};

inline completion spend_traced(spent_store& s, const key_id& k, const marker& m,
                               clock::time_point expiry) {
  auto p = std::make_shared<std::promise<completion>>();
  auto f = p->get_future();
  s.check_and_mark(k, m, expiry, [p](spend_result r) {
    p->set_value(completion{r, std::this_thread::get_id()});
  });
  REQUIRE(f.wait_for(completion_bound) == std::future_status::ready);
  return f.get();
}

inline spend_result spend(spent_store& s, const key_id& k, const marker& m,
                          clock::time_point expiry) {
  return spend_traced(s, k, m, expiry).result;
}

struct mark_request {
  key_id key;
  marker m;
  clock::time_point expiry;
};

// Marks issued together; wait() returns their results in request order.
class pending_marks {
 public:
  pending_marks(spent_store& s, const std::vector<mark_request>& reqs)
      : st_(std::make_shared<state>()) {
    st_->results.resize(reqs.size(), spend_result::unavailable);
    st_->remaining = reqs.size();
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      s.check_and_mark(reqs[i].key, reqs[i].m, reqs[i].expiry,
                       [st = st_, i](spend_result r) {
                         std::lock_guard<std::mutex> lk(st->mu);
                         st->results[i] = r;
                         if (--st->remaining == 0) {
                           st->cv.notify_all();
                         }
                       });
    }
  }

  std::vector<spend_result> wait() {
    std::vector<spend_result> out;
    REQUIRE(try_wait(out));
    return out;
  }

  // As wait(), without Catch assertions (which are not thread-safe): false
  // if the completions did not all arrive within completion_bound.
  bool try_wait(std::vector<spend_result>& out) {
    std::unique_lock<std::mutex> lk(st_->mu);
    if (!st_->cv.wait_for(lk, completion_bound, [&] { return st_->remaining == 0; })) {
      return false;
    }
    out = st_->results;
    return true;
  }

 private:
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<spend_result> results;
    std::size_t remaining = 0;
  };
  std::shared_ptr<state> st_;
};

// Issues every request before waiting for any; results in request order.
inline std::vector<spend_result> spend_all(spent_store& s,
                                           const std::vector<mark_request>& reqs) {
  return pending_marks(s, reqs).wait();
}

}  // namespace athm::store::testing
