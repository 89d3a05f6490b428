// Helpers for the application tests: keys and rings, a scripted attester,
// a scripted spent store, and a synchronous way to call a handler.
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "server/app/attester.h"
#include "server/app/handlers.h"
#include "server/http/handler.h"
#include "server/keys/key_ring.h"
#include "server/keys/key_store.h"
#include "server/store/spent_store.h"

namespace athm::app::testing {

namespace fs = std::filesystem;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;
using keys::clock;

inline std::string sv(boost::beast::string_view v) { return std::string(v.data(), v.size()); }
inline boost::beast::string_view bsv(std::string_view v) { return {v.data(), v.size()}; }

// A fixed point in time so that schedules are exact.
inline clock::time_point t0() { return keys::from_unix_seconds(1'800'000'000); }

// A directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/athm-app-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline athm::private_key make_private_key(uint32_t n = 4, std::string_view deployment = "app-test") {
  auto s = athm::suite::create(n, deployment);
  REQUIRE(s.ok());
  auto k = athm::private_key::generate(s.value());
  REQUIRE(k.ok());
  return std::move(k).value();
}

inline std::shared_ptr<const keys::issuer_key> make_issuer_key(keys::key_schedule schedule,
                                                               uint32_t n = 4,
                                                               std::string_view deployment = "app-test") {
  return std::make_shared<const keys::issuer_key>(
      keys::issuer_key{make_private_key(n, deployment), schedule, fs::path("test.key")});
}

// Published and issuing from t0 - 1h, expiring at t0 + 30 days.
inline keys::key_schedule live_schedule() {
  return keys::key_schedule{t0() - 1h, t0() - 1h, t0() + 24h * 30};
}

// A settable clock shared by the services and the test.
struct test_clock {
  std::shared_ptr<std::atomic<int64_t>> seconds =
      std::make_shared<std::atomic<int64_t>>(keys::to_unix_seconds(t0()));
  clock::time_point now() const { return keys::from_unix_seconds(seconds->load()); }
  void set(clock::time_point t) { seconds->store(keys::to_unix_seconds(t)); }
  time_source source() const {
    auto s = seconds;
    return [s] { return keys::from_unix_seconds(s->load()); };
  }
};

// An attester that answers with a set result, inline or from another
// thread (after a set delay, if any), and records the requests it saw.
class scripted_attester final : public attester {
 public:
  explicit scripted_attester(attest_result r, std::vector<std::string> wanted = {})
      : result_(std::move(r)), wanted_(std::move(wanted)) {}
  // An answering thread's handler may hold the last reference to this
  // attester (handler -> services -> attester), so the destructor can run on
  // one of its own threads, which cannot join itself.
  ~scripted_attester() override {
    for (auto& t : threads_) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else {
        t.join();
      }
    }
  }

  void set_async(bool a) { async_ = a; }
  // Asynchronous answers wait |d| first.
  void set_delay(std::chrono::milliseconds d) { delay_ = d; }
  void set_result(attest_result r) {
    std::lock_guard lock(mu_);
    result_ = std::move(r);
  }

  void check(attest_request req, attest_handler done) noexcept override {
    attest_result r;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(req);
      r = result_;
    }
    if (async_) {
      std::lock_guard lock(mu_);
      threads_.emplace_back([done, r, d = delay_] {
        std::this_thread::sleep_for(d);
        done(r);
      });
    } else {
      done(r);
    }
  }
  const std::vector<std::string>& wanted_headers() const noexcept override { return wanted_; }
  std::string_view name() const noexcept override { return "scripted"; }

  std::vector<attest_request> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  attest_result result_;
  std::vector<std::string> wanted_;
  std::vector<attest_request> seen_;
  std::vector<std::thread> threads_;
  bool async_ = false;
  std::chrono::milliseconds delay_{0};
};

// A spent store that always answers |result| (from its own thread, as the
// contract says, after |delay|) and reports |healthy|.
class scripted_store final : public store::spent_store {
 public:
  explicit scripted_store(store::spend_result r, bool healthy = true,
                          std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : r_(r), healthy_(healthy), delay_(delay) {}
  ~scripted_store() override {
    for (auto& t : threads_) {
      t.join();
    }
  }
  void check_and_mark(const store::key_id&, const store::marker&, store::clock::time_point,
                      store::spend_handler done) noexcept override {
    calls_.fetch_add(1);
    std::lock_guard lock(mu_);
    threads_.emplace_back([done, r = r_, d = delay_] {
      std::this_thread::sleep_for(d);
      done(r);
    });
  }
  int64_t purge_expired(store::clock::time_point) noexcept override { return 0; }
  bool healthy() const noexcept override { return healthy_.load(); }
  const char* name() const noexcept override { return "scripted"; }

  void set_healthy(bool h) { healthy_.store(h); }
  int calls() const { return calls_.load(); }

 private:
  std::mutex mu_;
  store::spend_result r_;
  std::atomic<bool> healthy_;
  std::chrono::milliseconds delay_;
  std::atomic<int> calls_{0};
  std::vector<std::thread> threads_;
};

// Calls |h| and waits (bounded) for its single response.
inline http::response call(http::handler& h, http::request req,
                           const http::request_context& ctx = {
                               boost::asio::ip::make_address("127.0.0.1"), 40000, false, "test"}) {
  auto p = std::make_shared<std::promise<http::response>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto f = p->get_future();
  h.handle(std::move(req), ctx, [p, calls](http::response r) {
    if (calls->fetch_add(1) == 0) {
      p->set_value(std::move(r));
    }
  });
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  http::response r = f.get();
  // A second completion would be a bug; give a late one a moment to show.
  std::this_thread::sleep_for(1ms);
  CHECK(calls->load() == 1);
  return r;
}

inline http::request make_request(bh::verb method, std::string target, std::string content_type = {},
                                  std::string body = {}) {
  http::request req{method, bsv(target), 11};
  if (!content_type.empty()) {
    req.set(bh::field::content_type, content_type);
  }
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// |text| without the "_bucket{" of histogram series, so that a search for
// "bucket" finds only a label or a name about the hidden bucket.
inline std::string without_histogram_buckets(std::string text) {
  for (size_t at = text.find("_bucket{"); at != std::string::npos; at = text.find("_bucket{", at)) {
    text.erase(at, 8);
  }
  return text;
}

inline std::string as_string(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
inline std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace athm::app::testing
