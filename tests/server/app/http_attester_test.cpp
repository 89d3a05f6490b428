#include "server/app/http_attester.h"

#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace athm::app;
namespace net = boost::asio;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

struct canned {
  unsigned status = 200;
  std::string body;
  std::chrono::milliseconds delay{0};  // before answering
};

// A blocking decision service on 127.0.0.1: answers each connection with
// |reply(request)| and records what it received.
class decision_service {
 public:
  explicit decision_service(std::function<canned(const bh::request<bh::string_body>&)> reply)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)), reply_(std::move(reply)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~decision_service() {
    stop_ = true;
    // Wake the accept with a connection of our own.
    try {
      net::io_context ioc;
      tcp::socket s(ioc);
      s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    } catch (...) {
    }
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::vector<bh::request<bh::string_body>> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) {
        return;
      }
      boost::beast::flat_buffer buf;
      bh::request<bh::string_body> req;
      bh::read(s, buf, req, ec);
      if (ec) {
        continue;
      }
      const canned c = reply_(req);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      std::this_thread::sleep_for(c.delay);
      bh::response<bh::string_body> res{static_cast<bh::status>(c.status), 11};
      res.set(bh::field::content_type, "application/json");
      res.body() = c.body;
      res.prepare_payload();
      bh::write(s, res, ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::function<canned(const bh::request<bh::string_body>&)> reply_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<bh::request<bh::string_body>> requests_;
  std::thread thread_;
};

// An io_context run by one thread, as the daemon's I/O threads would.
class io_thread {
 public:
  io_thread() : work_(net::make_work_guard(ioc_)), t_([this] { ioc_.run(); }) {}
  ~io_thread() {
    work_.reset();
    ioc_.stop();
    t_.join();
  }
  net::any_io_executor executor() { return ioc_.get_executor(); }

 private:
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread t_;
};

http_attester_options options_for(uint16_t port, std::chrono::milliseconds timeout = 2000ms) {
  http_attester_options o;
  o.host = "127.0.0.1";
  o.port = port;
  o.target = "/decide?v=1";
  o.timeout = timeout;
  o.forward_headers = {"User-Agent", "X-Client-Score"};
  o.retry_after = 30s;
  return o;
}

attest_request sample_request() {
  attest_request r;
  r.remote_address = net::ip::make_address("192.0.2.7");
  r.path = "/request";
  r.n_buckets = 4;
  r.headers = {{"User-Agent", "test-agent/1"}, {"X-Client-Score", "a"}, {"X-Client-Score", "b"}};
  return r;
}

std::string describe(const attest_result& got) {
  if (const auto* i = std::get_if<attest_issue>(&got)) {
    return "issue " + std::to_string(i->bucket);
  }
  if (const auto* x = std::get_if<attest_deny>(&got)) {
    return "deny " + std::to_string(x->status) + " " + std::to_string(x->retry_after.count());
  }
  return "undecided";
}

attest_result check(http_attester& a, attest_request req) {
  auto p = std::make_shared<std::promise<attest_result>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto f = p->get_future();
  a.check(std::move(req), [p, calls](attest_result r) {
    if (calls->fetch_add(1) == 0) {
      p->set_value(std::move(r));
    }
  });
  REQUIRE(f.wait_for(20s) == std::future_status::ready);
  attest_result r = f.get();
  std::this_thread::sleep_for(20ms);
  CHECK(calls->load() == 1);
  return r;
}

}  // namespace

TEST_CASE("http attester: the service decides the bucket", "[app][attester][http]") {
  decision_service svc([](const auto&) { return canned{200, R"({"bucket": 2})"}; });
  io_thread io;
  http_attester a(io.executor(), options_for(svc.port()));
  CHECK(a.name() == "http");
  CHECK(a.wanted_headers() == std::vector<std::string>{"User-Agent", "X-Client-Score"});

  const attest_result r = check(a, sample_request());
  REQUIRE(std::holds_alternative<attest_issue>(r));
  CHECK(std::get<attest_issue>(r).bucket == 2);

  // What the service saw: a POST of the request metadata as JSON.
  const auto seen = svc.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method() == bh::verb::post);
  CHECK(std::string(seen[0].target()) == "/decide?v=1");
  CHECK(std::string(seen[0][bh::field::content_type]) == "application/json");
  const auto doc = nlohmann::json::parse(seen[0].body());
  CHECK(doc["remote_address"] == "192.0.2.7");
  CHECK(doc["path"] == "/request");
  CHECK(doc["buckets"] == 4);
  CHECK(doc["headers"]["User-Agent"] == "test-agent/1");
  CHECK(doc["headers"]["X-Client-Score"] == "a, b");
}

TEST_CASE("http attester: the service denies", "[app][attester][http]") {
  std::atomic<int> n{0};
  decision_service svc([&](const auto&) {
    return ++n == 1 ? canned{200, R"({"deny": 429, "retry_after": 5})"} : canned{200, R"({"deny": 403})"};
  });
  io_thread io;
  http_attester a(io.executor(), options_for(svc.port()));

  attest_result r = check(a, sample_request());
  REQUIRE(std::holds_alternative<attest_deny>(r));
  CHECK(std::get<attest_deny>(r).status == 429);
  CHECK(std::get<attest_deny>(r).retry_after == 5s);

  r = check(a, sample_request());
  REQUIRE(std::holds_alternative<attest_deny>(r));
  CHECK(std::get<attest_deny>(r).status == 403);
  CHECK(std::get<attest_deny>(r).retry_after == 30s);
}

TEST_CASE("http attester: a slow service is undecided after the timeout", "[app][attester][http]") {
  decision_service svc([](const auto&) { return canned{200, R"({"bucket": 1})", 1500ms}; });
  io_thread io;
  http_attester a(io.executor(), options_for(svc.port(), 100ms));
  const attest_result r = check(a, sample_request());
  REQUIRE(std::holds_alternative<attest_undecided>(r));
  CHECK(std::get<attest_undecided>(r).reason.find("timeout") != std::string::npos);
}

TEST_CASE("http attester: errors are undecided", "[app][attester][http]") {
  io_thread io;
  SECTION("a status other than 200") {
    decision_service svc([](const auto&) { return canned{500, R"({"bucket": 1})"}; });
    http_attester a(io.executor(), options_for(svc.port()));
    CHECK(describe(check(a, sample_request())) == "undecided");
  }
  SECTION("a body that is not JSON") {
    decision_service svc([](const auto&) { return canned{200, "bucket=1"}; });
    http_attester a(io.executor(), options_for(svc.port()));
    CHECK(describe(check(a, sample_request())) == "undecided");
  }
  SECTION("a body over the limit") {
    decision_service svc([](const auto&) {
      return canned{200, R"({"bucket": 1, "pad": ")" + std::string(kMaxDecisionBytes, 'x') + "\"}"};
    });
    http_attester a(io.executor(), options_for(svc.port()));
    CHECK(describe(check(a, sample_request())) == "undecided");
  }
  SECTION("nothing listening") {
    uint16_t port = 0;
    {
      net::io_context ioc;
      tcp::acceptor probe(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
      port = probe.local_endpoint().port();
    }
    http_attester a(io.executor(), options_for(port));
    const attest_result r = check(a, sample_request());
    REQUIRE(std::holds_alternative<attest_undecided>(r));
    CHECK(std::get<attest_undecided>(r).reason.find("connection") != std::string::npos);
  }
}

TEST_CASE("http attester: interpret", "[app][attester][http]") {
  struct row {
    unsigned status;
    std::string body;
    std::string expected;  // "issue N", "deny S R", "undecided"
  };
  const std::vector<row> table = {
      {200, R"({"bucket": 0})", "issue 0"},
      {200, R"({"bucket": 3, "note": "x"})", "issue 3"},
      {200, R"({"bucket": 300})", "issue 300"},  // range is decide()'s job
      {200, R"({"deny": 403})", "deny 403 30"},
      {200, R"({"deny": 429})", "deny 429 30"},
      {200, R"({"deny": 429, "retry_after": 86400})", "deny 429 86400"},
      {200, R"({"deny": 429, "retry_after": 0})", "undecided"},
      {200, R"({"deny": 429, "retry_after": "5"})", "undecided"},
      {200, R"({"deny": 500})", "undecided"},
      {200, R"({"deny": "403"})", "undecided"},
      {200, R"({"bucket": -1})", "undecided"},
      {200, R"({"bucket": 1.5})", "undecided"},
      {200, R"({"bucket": "1"})", "undecided"},
      {200, R"({"bucket": 1, "deny": 403})", "undecided"},
      {200, R"({})", "undecided"},
      {200, R"([1])", "undecided"},
      {200, "", "undecided"},
      {200, "{", "undecided"},
      {204, R"({"bucket": 1})", "undecided"},
      {403, R"({"deny": 403})", "undecided"},
  };
  for (const auto& r : table) {
    INFO(r.status << " " << r.body);
    CHECK(describe(http_attester::interpret(r.status, r.body, 30s)) == r.expected);
  }
}
