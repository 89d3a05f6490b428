// The bad-input catalogue: hostile bytes thrown at a running athmd over real
// sockets (transport abuse, header tricks, malformed and mutated token
// requests and tokens), and hostile files thrown at `athmd --check-config`.
//
// For the HTTP barrage the test proves three things besides each expected
// status: a token spent before the barrage is still refused after it, a
// token issued before it and never spent still redeems after it, and a
// background worker issuing and redeeming valid tokens for the whole barrage
// never sees a failure.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// Offsets inside the 132-byte Privacy Pass token: type, key id, t, P, Q.
constexpr size_t kTokKeyId = 2;
constexpr size_t kTokT = kTokKeyId + athm::kKeyIdBytes;
constexpr size_t kTokP = kTokT + athm::kScalarBytes;
constexpr size_t kTokQ = kTokP + athm::kElementBytes;
// Offsets inside the 36-byte TokenRequest: type, truncated key id, T.
constexpr size_t kReqKid = 2;
constexpr size_t kReqT = 3;

// The read timeout the barrage daemon runs with (limits.read_timeout_ms).
constexpr auto kReadTimeout = 500ms;
// How long a raw exchange waits for the daemon to answer and close. Far
// above kReadTimeout, far below the 10 s default it would otherwise use.
constexpr auto kRawWait = 8s;

// ------------------------------------------------------------ raw sockets

struct raw_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return std::nullopt;
  }
};

// Consecutive HTTP/1.1 responses in |in|, up to the first incomplete one.
// Every response of the daemon carries Content-Length (none of these tests
// sends HEAD over a raw socket).
std::vector<raw_response> parse_responses(std::string_view in) {
  std::vector<raw_response> out;
  while (!in.empty()) {
    const size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos || in.substr(0, 9).rfind("HTTP/1.", 0) != 0) {
      break;
    }
    raw_response r;
    const std::string_view head = in.substr(0, end);
    r.status = static_cast<unsigned>(std::stoul(std::string(head.substr(9, 3))));
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos) {
      const size_t next = head.find("\r\n", pos + 2);
      const std::string_view line = head.substr(pos + 2, next == std::string_view::npos
                                                             ? std::string_view::npos
                                                             : next - pos - 2);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string value(line.substr(colon + 1));
        while (!value.empty() && value.front() == ' ') {
          value.erase(value.begin());
        }
        r.headers.emplace_back(std::string(line.substr(0, colon)), value);
      }
      pos = next;
    }
    size_t length = 0;
    if (auto cl = r.header("Content-Length")) {
      length = std::stoul(*cl);
    }
    if (in.size() < end + 4 + length) {
      break;
    }
    r.body = std::string(in.substr(end + 4, length));
    in.remove_prefix(end + 4 + length);
    out.push_back(std::move(r));
  }
  return out;
}

// How a raw connection ended, seen from the client.
struct raw_outcome {
  std::string received;     // every byte the daemon sent
  bool closed = false;      // EOF or reset seen before the deadline
  bool reset = false;       // ECONNRESET
  bool send_failed = false; // the daemon stopped the upload (EPIPE / reset)
  size_t sent = 0;          // bytes of the request accepted by the kernel
  clock_type::duration elapsed{};  // from the first byte sent to the close

  std::vector<raw_response> responses() const { return parse_responses(received); }
};

// A plain TCP connection to 127.0.0.1 for bytes no well-behaved client
// would send. Used from the test's main thread only (it uses REQUIRE).
class raw_conn {
 public:
  explicit raw_conn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~raw_conn() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;
  raw_conn(raw_conn&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), out_(std::move(o.out_)), first_send_(o.first_send_) {}

  // Sends |bytes| while reading whatever comes back (so a daemon that
  // answers early and closes cannot deadlock the upload), then keeps
  // reading until the daemon closes or |wait| has passed since the start.
  // With |half_close|, the write side is shut after the last byte.
  raw_outcome exchange(std::string_view bytes, std::chrono::milliseconds wait = kRawWait,
                       bool half_close = false) {
    const auto start = clock_type::now();
    const auto deadline = start + wait;
    if (out_.sent == 0) {
      first_send_ = start;
    }
    size_t off = 0;
    bool sending = true;
    while (!out_.closed && clock_type::now() < deadline) {
      if (sending && off == bytes.size()) {
        sending = false;
        if (half_close) {
          ::shutdown(fd_, SHUT_WR);
        }
      }
      pollfd p{fd_, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        read_some();
      }
      if (sending && !out_.closed && (p.revents & POLLOUT) != 0) {
        const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          off += static_cast<size_t>(n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          out_.send_failed = true;
          sending = false;
        }
      }
    }
    out_.sent += off;
    out_.elapsed = clock_type::now() - start;
    return out_;
  }

  // Sends one byte without waiting; false if the daemon has closed (the
  // close is then recorded). Used for slow senders.
  bool trickle(char c) {
    if (out_.sent == 0) {
      first_send_ = clock_type::now();
    }
    poll_closed();
    if (out_.closed) {
      return false;
    }
    const ssize_t n = ::send(fd_, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 1) {
      ++out_.sent;
      return true;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      out_.send_failed = true;
      out_.closed = true;
      out_.elapsed = clock_type::now() - first_send_;
      return false;
    }
    return true;  // EAGAIN: cannot happen for single bytes on loopback; try later
  }

  // Non-blocking: reads what is there; true once the daemon has closed.
  bool poll_closed() {
    pollfd p{fd_, POLLIN, 0};
    if (!out_.closed && ::poll(&p, 1, 0) > 0) {
      read_some();
      if (out_.closed) {
        out_.elapsed = clock_type::now() - first_send_;
      }
    }
    return out_.closed;
  }

  const raw_outcome& outcome() const { return out_; }

 private:
  void read_some() {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out_.received.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      out_.closed = true;
    } else if (errno == ECONNRESET || errno == EPIPE) {
      out_.closed = true;
      out_.reset = true;
    }
  }

  int fd_ = -1;
  raw_outcome out_;
  clock_type::time_point first_send_{};
};

std::string describe(const raw_outcome& o) {
  std::string text = o.received.substr(0, 300);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      c = '.';
    }
  }
  return "received " + std::to_string(o.received.size()) + " bytes \"" + text + "\", closed " +
         (o.closed ? "yes" : "no") + (o.reset ? " (reset)" : "") + ", sent " +
         std::to_string(o.sent) + (o.send_failed ? " (upload cut)" : "") + ", after " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(o.elapsed).count()) +
         " ms";
}

// ------------------------------------------------------------ requests

std::string request_head(const std::string& method, const std::string& target,
                         const std::vector<std::string>& header_lines) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : header_lines) {
    r += h + "\r\n";
  }
  return r + "\r\n";
}

std::string post_bytes(const std::string& target, const std::string& content_type,
                       const std::string& body, std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), "Content-Length: " + std::to_string(body.size()));
  extra.insert(extra.begin(), "Content-Type: " + content_type);
  return request_head("POST", target, extra) + body;
}

std::string auth_request(const std::string& value) {
  return request_head("GET", "/auth", {"Authorization: " + value, "Connection: close"});
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

encoded_token negate_points(const encoded_token& tok) {
  // (t, -P, -Q): the re-randomization with c = -1; -X flips the y parity bit.
  encoded_token out = tok;
  out[kTokP] ^= 0x01;
  out[kTokQ] ^= 0x01;
  return out;
}

// ------------------------------------------------------------ background traffic

// Issues and redeems valid tokens on fresh connections until stopped,
// cycling through the buckets, and records any failure. Catch2 is not
// thread-safe: the main thread reads the results after stop().
class valid_traffic {
 public:
  valid_traffic(uint16_t public_port, uint16_t internal_port, const issuer_view& issuer,
                uint32_t n_buckets)
      : thread_([this, public_port, internal_port, &issuer, n_buckets] {
          run(public_port, internal_port, issuer, n_buckets);
        }) {}
  ~valid_traffic() { stop(); }

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int successes() const { return ok_.load(); }
  int failures() const { return failed_.load(); }
  std::string first_failure() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_failure_;
  }

 private:
  void fail(const std::string& what) {
    failed_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    if (first_failure_.empty()) {
      first_failure_ = what;
    }
  }

  void run(uint16_t public_port, uint16_t internal_port, const issuer_view& issuer,
           uint32_t n_buckets) {
    uint32_t bucket = 0;
    while (!stop_.load()) {
      try {
        const encoded_token tok = issue_token(public_port, issuer, bucket);
        const redeem_result r = redeem(internal_port, tok);
        if (r.status() != 200 || r.bucket != bucket) {
          fail("redeem of a fresh bucket " + std::to_string(bucket) +
               " token: " + r.reply.describe());
        } else {
          ok_.fetch_add(1);
        }
      } catch (const std::exception& e) {
        fail(e.what());
      }
      bucket = (bucket + 1) % n_buckets;
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  mutable std::mutex mu_;
  std::string first_failure_;
  std::thread thread_;
};

// ------------------------------------------------------------ setup

void keygen(const std::filesystem::path& dir, const std::string& deployment) {
  const run_result r = run_athm({"keygen", "--dir", dir.string(), "--buckets", "4",
                                 "--deployment-id", deployment, "--not-before", "-1h",
                                 "--expires", "+2d"});
  INFO(r.err << r.out);
  REQUIRE(r.status.exited);
  REQUIRE(r.status.code == 0);
}

std::filesystem::path only_key_file(const std::filesystem::path& dir) {
  std::filesystem::path found;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".key") {
      found = e.path();
      ++n;
    }
  }
  REQUIRE(n == 1);
  return found;
}

// The barrage daemon: the loopback config with a short read timeout so that
// slow senders are cut off quickly; everything else at its default
// (8 KiB headers, 16 KiB bodies, 16 pipelined requests).
struct barrage_daemon {
  temp_dir tmp{"athm-badinput"};
  std::optional<daemon_process> d;

  barrage_daemon() {
    const auto keys = tmp / "keys";
    const auto lmdb = tmp / "spent";
    REQUIRE(::mkdir(lmdb.c_str(), 0700) == 0);
    keygen(keys, "itest-badinput");
    const uint16_t pub = free_port();
    uint16_t internal = free_port();
    while (internal == pub) {
      internal = free_port();
    }
    const auto file = tmp / "athmd.yaml";
    write_file(file,
               loopback_config_yaml(pub, internal, keys, lmdb,
                                    "limits:\n  read_timeout_ms: " +
                                        std::to_string(kReadTimeout.count()) + "\n"));
    d.emplace(daemon_process::with_config(file, pub, internal));
  }
};

// One raw exchange on a fresh connection, expecting exactly one response
// with |status| followed by the daemon closing the connection.
raw_response expect_one_then_close(uint16_t port, const std::string& bytes, unsigned status) {
  raw_conn c(port);
  const raw_outcome o = c.exchange(bytes);
  INFO(describe(o));
  const auto rs = o.responses();
  CHECK(rs.size() == 1);
  CHECK(o.closed);
  if (rs.empty()) {
    return {};
  }
  CHECK(rs[0].status == status);
  return rs[0];
}

}  // namespace

TEST_CASE("bad input barrage: statuses, no effect on spends, valid traffic keeps flowing",
          "[integration]") {
  barrage_daemon bd;
  daemon_process& d = *bd.d;
  const uint16_t pub = d.public_port();
  const uint16_t internal = d.internal_port();
  const issuer_view issuer = fetch_issuer(pub);
  const athm::public_key& pk = issuer.current();
  const uint32_t n = pk.params().n_buckets();
  REQUIRE(n == 4);
  const std::string req_path = issuer.request_target;

  // State the barrage must not touch: spent tokens (by /redeem and by
  // /auth) and tokens issued but never spent.
  const std::vector<encoded_token> before = issue_tokens(pub, issuer, 6, 2);
  const encoded_token& spent_redeem = before[0];
  const encoded_token& spent_auth = before[1];
  const encoded_token& unspent = before[2];          // redeemed only at the end
  const encoded_token& unspent_negated = before[3];  // redeemed as (t, -P, -Q)
  const encoded_token& victim_truncated = before[4]; // sent truncated, then for real
  const encoded_token& victim_pipelined = before[5]; // redeemed in a pipeline
  REQUIRE(redeem(internal, spent_redeem).status() == 200);
  REQUIRE(forward_auth(internal, "PrivateToken token=" + base64url(spent_auth)).status == 200);

  valid_traffic traffic(pub, internal, issuer, n);

  const pending_request valid_req = make_request(pk);
  const std::string good_req = valid_req.body;
  const std::string tok_ct = kTokenMediaType;
  const std::string req_ct = kRequestMediaType;

  // ---------------------------------------------------------------- bodies
  {
    INFO("body exactly at the 16 KiB limit is read and judged on its content");
    expect_one_then_close(pub, post_bytes(req_path, req_ct, std::string(16384, 'A'),
                                          {"Connection: close"}),
                          422);
  }
  for (const size_t size : {size_t{16385}, size_t{100000}, size_t{1} << 20}) {
    INFO("oversized issuance body of " << size << " bytes, all sent");
    expect_one_then_close(pub, post_bytes(req_path, req_ct, std::string(size, 'A')), 413);
  }
  {
    INFO("oversized redemption body, all sent");
    expect_one_then_close(internal, post_bytes("/redeem", tok_ct, std::string(100000, '\0')), 413);
  }
  {
    INFO("oversized chunked body (10 chunks of 4 KiB)");
    std::string chunked = request_head("POST", req_path,
                                       {"Content-Type: " + req_ct, "Transfer-Encoding: chunked"});
    for (int i = 0; i < 10; ++i) {
      chunked += "1000\r\n" + std::string(4096, 'B') + "\r\n";
    }
    chunked += "0\r\n\r\n";
    expect_one_then_close(pub, chunked, 413);
  }
  {
    INFO("Content-Length of 2^64 and beyond");
    expect_one_then_close(
        pub, request_head("POST", req_path, {"Content-Type: " + req_ct,
                                             "Content-Length: 18446744073709551616"}),
        400);
  }
  {
    INFO("a valid request sent in one-byte chunks is accepted");
    std::string chunked = request_head(
        "POST", req_path, {"Content-Type: " + req_ct, "Transfer-Encoding: chunked", "Connection: close"});
    for (char c : good_req) {
      chunked += "1\r\n" + std::string(1, c) + "\r\n";
    }
    chunked += "0\r\n\r\n";
    const raw_response r = expect_one_then_close(pub, chunked, 200);
    CHECK(r.body.size() == athm::response_bytes(n));
  }
  {
    INFO("truncated redemption (131 of 132 bytes, then end of stream): no answer, no spend");
    raw_conn c(internal);
    const std::string full = post_bytes("/redeem", tok_ct, as_string(victim_truncated));
    const raw_outcome o = c.exchange(std::string_view(full).substr(0, full.size() - 1), kRawWait,
                                     /*half_close=*/true);
    INFO(describe(o));
    CHECK(o.closed);
    CHECK(o.received.empty());
  }
  {
    INFO("truncated issuance (10 of 36 bytes, connection held open): cut at the read timeout");
    raw_conn c(pub);
    const std::string full = post_bytes(req_path, req_ct, good_req);
    const raw_outcome o = c.exchange(std::string_view(full).substr(0, full.size() - 26));
    INFO(describe(o));
    CHECK(o.closed);
    CHECK(o.received.empty());
    CHECK(o.elapsed >= kReadTimeout - 50ms);
  }
  {
    INFO("truncated redemption held open: cut at the read timeout, no spend");
    raw_conn c(internal);
    const std::string full = post_bytes("/redeem", tok_ct, as_string(victim_truncated));
    const raw_outcome o = c.exchange(std::string_view(full).substr(0, full.size() - 2));
    INFO(describe(o));
    CHECK(o.closed);
    CHECK(o.received.empty());
  }

  // ---------------------------------------------------------------- slow senders
  {
    INFO("slowloris: 16 connections sending headers one byte every 40 ms");
    // 600 bytes at 25 bytes/s would take 24 s; the read timeout cuts each off.
    const std::string slow_head =
        request_head("GET", "/healthz", {"X-Padding: " + std::string(500, 'p')});
    std::vector<raw_conn> conns;
    for (int i = 0; i < 16; ++i) {
      conns.emplace_back(i % 2 == 0 ? pub : internal);
    }
    std::vector<std::optional<clock_type::duration>> closed_after(conns.size());
    const auto start = clock_type::now();
    size_t pos = 0;
    while (pos < slow_head.size() && clock_type::now() - start < 20s) {
      bool any_open = false;
      for (size_t i = 0; i < conns.size(); ++i) {
        if (closed_after[i]) {
          continue;
        }
        if (!conns[i].trickle(slow_head[pos])) {
          closed_after[i] = clock_type::now() - start;
        } else {
          any_open = true;
        }
      }
      if (!any_open) {
        break;
      }
      ++pos;
      std::this_thread::sleep_for(40ms);
    }
    for (size_t i = 0; i < conns.size(); ++i) {
      INFO("connection " << i << ": " << describe(conns[i].outcome()));
      CHECK(closed_after[i].has_value());
      CHECK(conns[i].outcome().received.empty());
      CHECK(conns[i].outcome().sent < slow_head.size());
      if (closed_after[i]) {
        CHECK(*closed_after[i] >= kReadTimeout - 50ms);
      }
    }
  }
  {
    INFO("slow body: headers at once, then the token one byte every 40 ms; no spend");
    raw_conn c(internal);
    const std::string body = as_string(victim_truncated);
    const std::string head = request_head(
        "POST", "/redeem", {"Content-Type: " + tok_ct, "Content-Length: " + std::to_string(body.size())});
    c.exchange(head, 100ms);
    const auto start = clock_type::now();
    size_t pos = 0;
    while (pos < body.size() && c.trickle(body[pos]) && clock_type::now() - start < 20s) {
      ++pos;
      std::this_thread::sleep_for(40ms);
    }
    const raw_outcome o = c.exchange("", kRawWait);
    INFO(describe(o));
    CHECK(o.closed);
    CHECK(o.received.empty());
    CHECK(pos < body.size());
  }

  // ---------------------------------------------------------------- header floods
  {
    std::vector<std::string> many;
    for (int i = 0; i < 2000; ++i) {
      many.push_back("X-Flood-" + std::to_string(i) + ": v");
    }
    INFO("2000 header fields");
    expect_one_then_close(pub, request_head("GET", "/healthz", many), 431);
  }
  {
    INFO("one 9000-byte header field");
    expect_one_then_close(pub, request_head("GET", "/healthz", {"X-Big: " + std::string(9000, 'a')}),
                          431);
  }
  {
    INFO("one 9000-byte header field on the internal listener");
    expect_one_then_close(internal,
                          request_head("GET", "/auth", {"Authorization: PrivateToken token=" +
                                                        std::string(9000, 'A')}),
                          431);
  }
  {
    INFO("a 9000-byte request target");
    expect_one_then_close(pub, request_head("GET", "/" + std::string(9000, 'a'), {}), 431);
  }
  {
    INFO("a header block just under the limit is served");
    raw_conn c(pub);
    const raw_outcome o = c.exchange(
        request_head("GET", "/healthz", {"X-Big: " + std::string(7000, 'a'), "Connection: close"}));
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 200);
  }

  // ---------------------------------------------------------------- duplicates and conflicts
  {
    INFO("two different Content-Length values");
    expect_one_then_close(pub,
                          request_head("POST", req_path, {"Content-Type: " + req_ct, "Content-Length: 36",
                                                          "Content-Length: 37"}) +
                              good_req + "x",
                          400);
  }
  {
    INFO("Content-Length together with Transfer-Encoding: chunked (request smuggling shape)");
    expect_one_then_close(pub,
                          request_head("POST", req_path, {"Content-Type: " + req_ct, "Content-Length: 36",
                                                          "Transfer-Encoding: chunked"}) +
                              "0\r\n\r\n",
                          400);
  }
  {
    INFO("Content-Length with a sign");
    expect_one_then_close(pub,
                          request_head("POST", req_path, {"Content-Type: " + req_ct, "Content-Length: +36"}) +
                              good_req,
                          400);
  }
  {
    INFO("two Host fields");
    expect_one_then_close(pub, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  }
  {
    INFO("no Host in HTTP/1.1");
    expect_one_then_close(pub, "GET /healthz HTTP/1.1\r\n\r\n", 400);
  }
  {
    INFO("two identical Content-Length values count as one (RFC 9110 8.6)");
    raw_conn c(pub);
    const raw_outcome o = c.exchange(
        request_head("POST", req_path, {"Content-Type: " + req_ct, "Content-Length: 3",
                                        "Content-Length: 3", "Connection: close"}) +
        "abc");
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 422);
  }
  {
    INFO("two Content-Type fields, conflicting: 415, connection stays usable");
    raw_conn c(pub);
    const raw_outcome o = c.exchange(
        post_bytes(req_path, req_ct, good_req, {"Content-Type: text/plain"}) +
        request_head("GET", "/healthz", {"Connection: close"}));
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].status == 415);
    CHECK(rs[1].status == 200);
  }
  {
    INFO("two Content-Type fields, both the right one: still 415 (exactly one is required)");
    expect_one_then_close(
        pub, post_bytes(req_path, req_ct, good_req, {"Content-Type: " + req_ct, "Connection: close"}),
        415);
  }
  {
    INFO("two Content-Type fields on /redeem with a valid unspent token: 415, no spend");
    expect_one_then_close(internal,
                          post_bytes("/redeem", tok_ct, as_string(unspent),
                                     {"Content-Type: " + tok_ct, "Connection: close"}),
                          415);
  }
  {
    INFO("two Authorization fields, both with a valid unspent token: 401, no spend");
    const std::string v = "PrivateToken token=" + base64url(unspent);
    const raw_response r = expect_one_then_close(
        internal,
        request_head("GET", "/auth", {"Authorization: " + v, "Authorization: " + v, "Connection: close"}),
        401);
    CHECK(r.header("WWW-Authenticate").has_value());
    CHECK_FALSE(r.header("X-Token-Bucket").has_value());
  }
  {
    INFO("two X-Athm-Bucket fields: the header attester denies");
    const raw_response r = expect_one_then_close(
        pub, post_bytes(req_path, req_ct, good_req,
                        {std::string(kBucketHeader) + ": 0", std::string(kBucketHeader) + ": 3",
                         "Connection: close"}),
        403);
    CHECK(r.body.size() < 100);
  }
  for (const std::string bad : {"4", "-1", "00", "1 ", "0x1", "1.0", "９", "999999999999", ""}) {
    INFO("X-Athm-Bucket \"" << bad << "\": denied, never a default");
    raw_conn c(pub);
    const raw_outcome o = c.exchange(post_bytes(
        req_path, req_ct, good_req, {std::string(kBucketHeader) + ": " + bad, "Connection: close"}));
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 1);
    // Field values are trimmed by HTTP: "1 " is "1" and is honoured.
    CHECK(rs[0].status == (bad == "1 " ? 200u : 403u));
  }

  // ---------------------------------------------------------------- methods
  struct method_case {
    uint16_t port;
    std::string method;
    std::string target;
    std::string allow;
  };
  const std::vector<method_case> methods = {
      {pub, "PATCH", req_path, "POST"},
      {pub, "TRACE", req_path, "POST"},
      {pub, "OPTIONS", req_path, "POST"},
      {pub, "FOO", req_path, "POST"},
      {pub, "DELETE", kDirectoryPath, "GET, HEAD"},
      {pub, "PUT", "/healthz", "GET, HEAD"},
      {pub, "POST", "/readyz", "GET, HEAD"},
      {internal, "DELETE", "/redeem", "POST"},
      {internal, "PATCH", "/redeem", "POST"},
      {internal, "POST", "/metrics", "GET, HEAD"},
  };
  for (const auto& m : methods) {
    INFO(m.method << " " << m.target);
    raw_conn c(m.port);
    const raw_outcome o = c.exchange(
        request_head(m.method, m.target, {"Content-Length: 0", "Connection: close"}));
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].status == 405);
    CHECK(rs[0].header("Allow") == m.allow);
  }
  {
    INFO("HEAD on the issuance route");
    http_request head;
    head.method = "HEAD";
    head.target = req_path;
    const http_reply r = http_exchange(pub, head);
    INFO(r.describe());
    CHECK(r.status == 405);
    CHECK(r.header("Allow") == "POST");
  }
  {
    INFO("CONNECT with an authority-form target is no route");
    expect_one_then_close(
        pub, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n", 404);
  }
  {
    INFO("an HTTP version that does not exist");
    expect_one_then_close(pub, "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400);
  }
  {
    INFO("bare LF line endings");
    expect_one_then_close(pub, "GET /healthz HTTP/1.1\nHost: x\n\n", 400);
  }
  {
    INFO("NUL inside a header value");
    expect_one_then_close(pub, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"s, 400);
  }

  // ---------------------------------------------------------------- pipelined garbage
  {
    INFO("valid issuance, then garbage, then a valid request on the same connection");
    raw_conn c(pub);
    const raw_outcome o = c.exchange(post_bytes(req_path, req_ct, valid_req.body) +
                                     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n"s +
                                     request_head("GET", "/healthz", {}));
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].status == 200);
    CHECK(rs[1].status == 400);
    CHECK(o.closed);
    // The first answer is a real TokenResponse for the request sent.
    auto tok = athm::finalize_token(pk, valid_req.ctx, as_bytes(rs[0].body));
    CHECK(tok.ok());
  }
  {
    INFO("valid redemption, then garbage: the redemption counts, the garbage gets 400");
    raw_conn c(internal);
    const raw_outcome o = c.exchange(post_bytes("/redeem", tok_ct, as_string(victim_pipelined)) +
                                     "NOT HTTP AT ALL\r\n\r\n");
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 2);
    CHECK(rs[0].status == 200);
    CHECK(rs[0].body.find("\"bucket\":2") != std::string::npos);
    CHECK(rs[1].status == 400);
    CHECK(o.closed);
  }
  {
    INFO("40 pipelined requests (over the cap of 16 owed): all answered, in order");
    std::string burst;
    for (int i = 0; i < 40; ++i) {
      burst += request_head(i % 2 == 0 ? "GET" : "DELETE", "/healthz", {});
    }
    burst += request_head("GET", "/healthz", {"Connection: close"});
    raw_conn c(pub);
    const raw_outcome o = c.exchange(burst);
    INFO(describe(o));
    const auto rs = o.responses();
    REQUIRE(rs.size() == 41);
    for (size_t i = 0; i < rs.size(); ++i) {
      CHECK(rs[i].status == (i % 2 == 0 ? 200u : 405u));
    }
  }

  // ---------------------------------------------------------------- Authorization
  {
    const std::string b64 = base64url(unspent);
    const std::vector<std::pair<std::string, std::string>> bad_auth = {
        {"invalid UTF-8 as the token", "PrivateToken token=\xff\xfe\xfd"},
        {"invalid UTF-8 inside a valid token", "PrivateToken token=" + b64.substr(0, 40) + "\xc3\x28" + b64.substr(40)},
        {"overlong UTF-8 '/'", "PrivateToken token=\xc0\xaf" + b64},
        {"invalid UTF-8 in the scheme", "Priv\xe9teToken token=" + b64},
        {"UTF-8 lookalike scheme", "Private\xd0\xa2oken token=" + b64},
        {"UTF-8 in the parameter name", "PrivateToken t\xc3\xb6ken=" + b64},
        {"standard base64 alphabet", "PrivateToken token=" + [&] {
           std::string s = b64;
           std::replace(s.begin(), s.end(), '-', '+');
           std::replace(s.begin(), s.end(), '_', '/');
           return s == b64 ? s + "+" : s;
         }()},
        {"padding in the middle", "PrivateToken token=" + b64.substr(0, 20) + "==" + b64.substr(20)},
        {"a space inside the token", "PrivateToken token=" + b64.substr(0, 20) + " " + b64.substr(20)},
        {"one base64 character too many", "PrivateToken token=" + b64 + "A"},
        {"one base64 character short", "PrivateToken token=" + b64.substr(0, b64.size() - 1)},
        {"quoted with a stray quote", "PrivateToken token=\"" + b64},
        {"token given twice", "PrivateToken token=" + b64 + ", token=" + b64},
        {"a thousand characters", "PrivateToken token=" + std::string(1000, 'A')},
        {"empty value", ""},
        {"scheme only with trailing comma", "PrivateToken ,"},
    };
    for (const auto& [name, value] : bad_auth) {
      INFO("Authorization: " << name);
      const raw_response r = expect_one_then_close(internal, auth_request(value), 401);
      CHECK(r.header("WWW-Authenticate").has_value());
      CHECK_FALSE(r.header("X-Token-Bucket").has_value());
    }
    for (const char ctl : {'\x01', '\x7f', '\x0b'}) {
      INFO("control character 0x" << std::hex << int(ctl) << " in Authorization");
      expect_one_then_close(internal, auth_request("PrivateToken token=AA" + std::string(1, ctl) + "AA"),
                            400);
    }
  }

  // ---------------------------------------------------------------- token requests
  {
    http_connection conn(pub);
    auto issue_status = [&](const std::string& body, std::optional<uint32_t> bucket = std::nullopt) {
      http_request r;
      r.method = "POST";
      r.target = req_path;
      r.headers.emplace_back("Content-Type", req_ct);
      if (bucket) {
        r.headers.emplace_back(kBucketHeader, std::to_string(*bucket));
      }
      r.body = body;
      return conn.send(r);
    };
    for (const uint16_t type : {0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0xC07D, 0xC07F, 0x7EC0, 0xFFFF}) {
      std::string b = good_req;
      b[0] = static_cast<char>(type >> 8);
      b[1] = static_cast<char>(type & 0xff);
      const http_reply r = issue_status(b);
      INFO("token type 0x" << std::hex << type << ": " << r.describe());
      CHECK(r.status == 422);
    }
    int wrong_kid_ok = 0;
    for (unsigned kid = 0; kid < 256; ++kid) {
      if (kid == pk.truncated_id()) {
        continue;
      }
      std::string b = good_req;
      b[kReqKid] = static_cast<char>(kid);
      const http_reply r = issue_status(b);
      wrong_kid_ok += r.status == 422 ? 1 : 0;
      if (r.status != 422) {
        INFO("truncated key id " << kid << ": " << r.describe());
        CHECK(r.status == 422);
      }
    }
    CHECK(wrong_kid_ok == 255);
    {
      // Point prefixes: only 0x02 / 0x03 (compressed) are valid encodings.
      for (const int prefix : {0x00, 0x01, 0x04, 0x05, 0x06, 0x07, 0xff}) {
        std::string b = good_req;
        b[kReqT] = static_cast<char>(prefix);
        const http_reply r = issue_status(b);
        INFO("T prefix 0x" << std::hex << prefix << ": " << r.describe());
        CHECK(r.status == 422);
      }
      std::string identity = good_req.substr(0, kReqT) + std::string(athm::kElementBytes, '\0');
      CHECK(issue_status(identity).status == 422);
      const auto off = off_curve_point();
      CHECK(issue_status(good_req.substr(0, kReqT) + as_string(off)).status == 422);
      std::string uncompressed = good_req.substr(0, kReqT) + '\x04' + std::string(64, '\x11');
      CHECK(issue_status(uncompressed).status == 422);
      CHECK(issue_status(good_req.substr(0, kReqT) + '\0').status == 422);
    }
    {
      // -T is a valid element: the issuer answers (it cannot tell), and the
      // answer is useless to a client holding the secrets for T.
      std::string negated = good_req;
      negated[kReqT] ^= 0x01;
      const http_reply r = issue_status(negated, 1);
      INFO(r.describe());
      REQUIRE(r.status == 200);
      CHECK(r.body.size() == athm::response_bytes(n));
      CHECK_FALSE(athm::finalize_token(pk, valid_req.ctx, as_bytes(r.body)).ok());
    }
    {
      // One random bit flipped in each byte of x: either not a point (422)
      // or another point (200, useless to the client). Never anything else.
      std::mt19937 prng(20240611);
      int answered = 0;
      for (size_t i = kReqT + 1; i < good_req.size(); ++i) {
        std::string b = good_req;
        b[i] ^= static_cast<char>(1u << (prng() % 8));
        const http_reply r = issue_status(b, 3);
        INFO("x byte " << i << ": " << r.describe());
        CHECK((r.status == 200 || r.status == 422));
        if (r.status == 200) {
          ++answered;
          CHECK(r.body.size() == athm::response_bytes(n));
          CHECK_FALSE(athm::finalize_token(pk, valid_req.ctx, as_bytes(r.body)).ok());
        }
      }
      INFO(answered << " of 32 mutated x were points");
    }
    // Random 36-byte bodies with the right type and key id.
    std::mt19937_64 prng(77);
    for (int i = 0; i < 32; ++i) {
      std::string b = good_req.substr(0, kReqT);
      for (size_t k = 0; k < athm::kElementBytes; ++k) {
        b.push_back(static_cast<char>(prng()));
      }
      const http_reply r = issue_status(b);
      CHECK((r.status == 200 || r.status == 422));
    }
  }

  // ---------------------------------------------------------------- tokens
  {
    http_connection conn(internal);
    auto redeem_status = [&](const encoded_token& t) { return redeem(conn, t).status(); };
    auto redeem_raw = [&](const std::string& body) {
      http_request r;
      r.method = "POST";
      r.target = "/redeem";
      r.headers.emplace_back("Content-Type", tok_ct);
      r.body = body;
      return conn.send(r).status;
    };
    const encoded_token& base = unspent;

    // Every single-bit flip of a valid, unspent token is invalid.
    int flips_refused = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        encoded_token t = base;
        t[i] ^= static_cast<uint8_t>(1u << bit);
        const unsigned s = redeem_status(t);
        flips_refused += s == 422 ? 1 : 0;
        if (s != 422) {
          INFO("byte " << i << " bit " << bit << ": status " << s);
          CHECK(s == 422);
        }
      }
    }
    CHECK(flips_refused == static_cast<int>(base.size() * 8));

    // Structural malformations.
    auto with = [&](size_t off, std::span<const uint8_t> bytes) {
      encoded_token t = base;
      std::copy(bytes.begin(), bytes.end(), t.begin() + off);
      return t;
    };
    const std::array<uint8_t, athm::kElementBytes> identity{};
    const auto off = off_curve_point();
    std::array<uint8_t, athm::kScalarBytes> zero_scalar{};
    std::array<uint8_t, athm::kScalarBytes> order{};
    {
      // n = FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551
      const uint8_t n_bytes[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                   0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                   0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
      std::copy(std::begin(n_bytes), std::end(n_bytes), order.begin());
    }
    encoded_token both_identity = with(kTokP, identity);
    std::copy(identity.begin(), identity.end(), both_identity.begin() + kTokQ);
    encoded_token both_identity_t0 = both_identity;
    std::copy(zero_scalar.begin(), zero_scalar.end(), both_identity_t0.begin() + kTokT);
    encoded_token p_equals_q = base;
    std::copy(base.begin() + kTokP, base.begin() + kTokQ, p_equals_q.begin() + kTokQ);
    encoded_token first_id_byte = base;
    first_id_byte[kTokKeyId] ^= 0x80;  // same truncated id, different key id
    encoded_token hybrid_p = base;
    hybrid_p[kTokP] = static_cast<uint8_t>(hybrid_p[kTokP] + 4);  // 0x06 / 0x07

    const std::vector<std::pair<std::string, encoded_token>> structural = {
        {"identity P", with(kTokP, identity)},
        {"identity Q", with(kTokQ, identity)},
        {"identity P and Q", both_identity},
        {"identity P and Q with t = 0", both_identity_t0},
        {"off-curve P", with(kTokP, off)},
        {"off-curve Q", with(kTokQ, off)},
        {"P = Q", p_equals_q},
        {"t = 0", with(kTokT, zero_scalar)},
        {"t = group order", with(kTokT, order)},
        {"only P negated", [&] { encoded_token t = base; t[kTokP] ^= 1; return t; }()},
        {"only Q negated", [&] { encoded_token t = base; t[kTokQ] ^= 1; return t; }()},
        {"hybrid point tag on P", hybrid_p},
        {"key id with the right truncated byte", first_id_byte},
    };
    for (const auto& [name, t] : structural) {
      INFO(name);
      CHECK(redeem_status(t) == 422);
    }
    for (const uint16_t type : {0x0000, 0x0001, 0x0002, 0xC07D, 0xC07F, 0xFFFF}) {
      encoded_token t = base;
      t[0] = static_cast<uint8_t>(type >> 8);
      t[1] = static_cast<uint8_t>(type & 0xff);
      INFO("token type 0x" << std::hex << type);
      CHECK(redeem_status(t) == 422);
    }
    const std::string b = as_string(base);
    for (size_t len : {size_t{0}, size_t{1}, size_t{2}, size_t{34}, size_t{66}, size_t{99}, size_t{131}}) {
      INFO("token cut to " << len << " bytes");
      CHECK(redeem_raw(b.substr(0, len)) == 422);
    }
    CHECK(redeem_raw(b + b) == 422);
    // P uncompressed (65 bytes): a different length, never a valid token.
    CHECK(redeem_raw(b.substr(0, kTokP) + '\x04' + std::string(64, '\x22') + b.substr(kTokQ)) == 422);

    // Via forward-auth, a sample of the same mutations: 401, never a spend.
    for (size_t i = 0; i < base.size(); i += 7) {
      encoded_token t = base;
      t[i] ^= 0x40;
      const http_reply r = forward_auth(internal, "PrivateToken token=" + base64url(t));
      INFO("forward-auth, byte " << i << " mutated: " << r.describe());
      CHECK(r.status == 401);
    }

    // Transformations that keep a token valid do not make a spent one new.
    CHECK(redeem_status(spent_redeem) == 409);
    CHECK(redeem_status(rerandomize(spent_redeem)) == 409);
    CHECK(redeem_status(rerandomize(rerandomize(spent_redeem))) == 409);
    CHECK(redeem_status(negate_points(spent_redeem)) == 409);
    CHECK(redeem_status(rerandomize(spent_auth)) == 409);
    CHECK(forward_auth(internal, "PrivateToken token=" + base64url(negate_points(spent_auth))).status ==
          401);
    CHECK(forward_auth(internal, "PrivateToken token=\"" + base64url(rerandomize(spent_redeem)) + "\"")
              .status == 401);
  }

  // ---------------------------------------------------------------- afterwards
  traffic.stop();
  INFO("background traffic: " << traffic.successes() << " issue+redeem rounds, "
                              << traffic.failures() << " failures; first: " << traffic.first_failure());
  CHECK(traffic.failures() == 0);
  CHECK(traffic.successes() >= 3);
  CHECK_FALSE(d.poll_exit().has_value());

  // Spends made before are still spends.
  CHECK(redeem(internal, spent_redeem).status() == 409);
  CHECK(redeem(internal, spent_auth).status() == 409);
  CHECK(redeem(internal, victim_pipelined).status() == 409);
  // Tokens issued before and never spent (only attacked) still redeem, once.
  {
    const redeem_result r = redeem(internal, unspent);
    INFO(r.reply.describe());
    CHECK(r.status() == 200);
    CHECK(r.bucket == 2u);
    CHECK(redeem(internal, unspent).status() == 409);
  }
  {
    const redeem_result r = redeem(internal, victim_truncated);
    INFO(r.reply.describe());
    CHECK(r.status() == 200);
    CHECK(r.bucket == 2u);
  }
  {
    // (t, -P, -Q) is the same token to the issuer: it redeems once, and
    // then the original is spent.
    const redeem_result r = redeem(internal, negate_points(unspent_negated));
    INFO(r.reply.describe());
    CHECK(r.status() == 200);
    CHECK(r.bucket == 2u);
    CHECK(redeem(internal, unspent_negated).status() == 409);
  }

  // Nothing of what was thrown reached the log as a token. Stopping the
  // daemon writes its buffered access lines, so the whole log is checked.
  const exit_status st = d.stop();
  CHECK(st.exited);
  CHECK(st.code == 0);
  const std::string log = d.log();
  CHECK(log.find("\"POST /redeem\" 200") != std::string::npos);
  CHECK(log.find("\"GET /auth\" 401") != std::string::npos);
  for (const auto* t : {&spent_redeem, &spent_auth, &unspent, &unspent_negated, &victim_truncated,
                        &victim_pipelined}) {
    CHECK(log.find(base64url(*t)) == std::string::npos);
    CHECK(log.find(hex(std::span<const uint8_t>(t->data() + kTokT, athm::kScalarBytes))) ==
          std::string::npos);
  }
}

namespace {

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

std::string field_value(const std::string& key_file_text, const std::string& name) {
  const size_t start = key_file_text.find("\n" + name + ": ");
  REQUIRE(start != std::string::npos);
  const size_t from = start + name.size() + 3;
  return key_file_text.substr(from, key_file_text.find('\n', from) - from);
}

struct bad_file_case {
  std::string name;
  std::string yaml;
  std::vector<std::string> expected;  // substrings of the output
};

}  // namespace

TEST_CASE("athmd --check-config refuses hostile key files and configs", "[integration]") {
  temp_dir tmp("athm-badconfig");
  const auto good_keys = tmp / "keys";
  const auto lmdb = tmp / "spent";
  REQUIRE(::mkdir(lmdb.c_str(), 0700) == 0);
  keygen(good_keys, "itest-badconfig");
  const auto good_key = only_key_file(good_keys);
  const std::string key_text = read_file(good_key);
  const std::string private_value = field_value(key_text, "private_key");
  REQUIRE(private_value.size() > 100);
  const std::string good = loopback_config_yaml(18080, 18081, good_keys, lmdb);

  // Each key-file case gets a directory of its own holding one bad file
  // named like the real one; |setup| writes it.
  int dir_count = 0;
  auto key_case = [&](const std::string& name, auto&& setup,
                      std::vector<std::string> expected) -> bad_file_case {
    const auto dir = tmp / ("keys-" + std::to_string(dir_count++));
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const auto file = dir / good_key.filename();
    setup(file);
    return {name, replace_once(good, "directory: " + good_keys.string(), "directory: " + dir.string()),
            std::move(expected)};
  };
  const std::string fname = good_key.filename().string();
  auto with_mode = [&](unsigned mode) {
    return [&, mode](const std::filesystem::path& f) { write_file(f, key_text, mode); };
  };
  auto with_text = [&](std::string text) {
    return [text = std::move(text)](const std::filesystem::path& f) { write_file(f, text, 0600); };
  };
  auto replace_line = [&](const std::string& field, const std::string& value) {
    return replace_once(key_text, "\n" + field + ": " + field_value(key_text, field) + "\n",
                        "\n" + field + ": " + value + "\n");
  };
  std::string crlf;
  for (char c : key_text) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  }
  std::string flipped_private = private_value;
  flipped_private[10] = flipped_private[10] == 'A' ? 'B' : 'A';

  std::vector<bad_file_case> cases;
  for (const unsigned mode : {0640u, 0660u, 0604u, 0602u, 0620u}) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "0%o", mode);
    cases.push_back(key_case(std::string("key file mode ") + octal, with_mode(mode),
                             {fname, std::string("permissions ") + octal, "too open"}));
  }
  cases.push_back(key_case(
      "symlink to a key file readable by others",
      [&](const std::filesystem::path& f) {
        const auto target = tmp / "open-target.key";
        write_file(target, key_text, 0644);
        std::filesystem::create_symlink(target, f);
      },
      {fname, "too open"}));
  for (const unsigned mode : {0777u, 0770u, 01777u}) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    const std::string dir = (tmp / ("keys-" + std::to_string(dir_count))).string();
    cases.push_back(key_case(
        std::string("key directory mode ") + octal,
        [&, mode](const std::filesystem::path& f) {
          write_file(f, key_text, 0600);
          REQUIRE(::chmod(f.parent_path().c_str(), mode) == 0);
        },
        {dir + ": permissions " + octal, "let other users add or replace key files", "chmod 700 " + dir}));
  }
  if (::geteuid() == 0) {
    // Only root can give a file to another user.
    cases.push_back(key_case(
        "key file owned by another user",
        [&](const std::filesystem::path& f) {
          write_file(f, key_text, 0600);
          REQUIRE(::chown(f.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
        },
        {fname, "owned by uid 12345", "could replace the key"}));
    const std::string dir = (tmp / ("keys-" + std::to_string(dir_count))).string();
    cases.push_back(key_case(
        "key directory owned by another user",
        [&](const std::filesystem::path& f) {
          write_file(f, key_text, 0600);
          REQUIRE(::chown(f.parent_path().c_str(), 12345, static_cast<gid_t>(-1)) == 0);
        },
        {dir + ": the key directory is owned by uid 12345"}));
  }
  cases.push_back(key_case("directory named like a key file",
                           [](const std::filesystem::path& f) { REQUIRE(::mkdir(f.c_str(), 0700) == 0); },
                           {fname, "not a regular file"}));
  cases.push_back(key_case("empty key file", with_text(""), {fname, "empty"}));
  cases.push_back(key_case("truncated key file", with_text(key_text.substr(0, key_text.size() / 2)),
                           {fname, "truncated"}));
  cases.push_back(key_case("binary key file", with_text("\x7f" "ELF\x02\x01\x01\0\0\0"s + std::string(200, '\xff')),
                           {fname, "invalid character"}));
  cases.push_back(key_case("CRLF line endings", with_text(crlf), {fname, "invalid character"}));
  cases.push_back(key_case("key file over 8 KiB", with_text(key_text + std::string(9000, 'a')),
                           {fname, "larger than"}));
  cases.push_back(key_case("unknown field", with_text(key_text + "comment: hello\n"),
                           {fname, "unknown field"}));
  cases.push_back(key_case("unknown version", with_text(replace_once(key_text, "athm-key v1\n", "athm-key v2\n")),
                           {fname, "version"}));
  cases.push_back(key_case("token_type of another scheme", with_text(replace_line("token_type", "2")),
                           {fname, "token_type"}));
  cases.push_back(key_case("n_buckets changed under the proof", with_text(replace_line("n_buckets", "5")),
                           {fname, "proof"}));
  cases.push_back(key_case("deployment id changed under the proof",
                           with_text(replace_line("deployment_id", "someone-else")), {fname, "proof"}));
  cases.push_back(key_case("private key corrupted", with_text(replace_line("private_key", flipped_private)),
                           {fname, "private_key"}));
  cases.push_back(key_case("expires before not_before", with_text(replace_line("expires", "1000")),
                           {fname, "schedule"}));
  cases.push_back(key_case(
      "two files with one truncated key id",
      [&](const std::filesystem::path& f) {
        write_file(f, key_text, 0600);
        write_file(f.parent_path() / "copy.key", key_text, 0600);
      },
      {"truncated key id"}));

  const std::vector<bad_file_case> configs = {
      {"read timeout of 0", good + "limits:\n  read_timeout_ms: 0\n", {"limits.read_timeout_ms"}},
      {"no connections allowed", good + "limits:\n  max_connections: 0\n", {"limits.max_connections"}},
      {"header limit below 1 KiB", good + "limits:\n  max_header_bytes: 100\n", {"limits.max_header_bytes"}},
      {"negative body limit", good + "limits:\n  max_body_bytes: -5\n", {"limits.max_body_bytes"}},
      {"pipelining cap too high", good + "limits:\n  max_pipelined: 2000\n", {"limits.max_pipelined"}},
      {"timeout as a float", good + "limits:\n  read_timeout_ms: 1.5\n", {"limits.read_timeout_ms"}},
      {"timeout as a bool", good + "limits:\n  read_timeout_ms: true\n", {"limits.read_timeout_ms"}},
      {"timeout beyond 64 bits", good + "limits:\n  read_timeout_ms: 99999999999999999999999999\n",
       {"limits.read_timeout_ms"}},
      {"unknown limit", good + "limits:\n  max_bogus: 1\n", {"limits.max_bogus", "unknown key"}},
      {"duplicate top-level section", good + "keys:\n  directory: /tmp\n", {"keys", "duplicate key"}},
      {"duplicate nested key",
       replace_once(good, "    port: 18081\n", "    port: 18081\n    port: 18082\n"),
       {"listeners.internal.port", "duplicate key"}},
      {"empty file", "", {"keys.directory", "required"}},
      {"root is a sequence", "- a\n- b\n", {"mapping"}},
      {"tab indentation", "listeners:\n\tpublic: 1\n", {"invalid YAML", "line 2"}},
      {"NUL in an address", replace_once(good, "address: 127.0.0.1\n", "address: \"127.0.0.1\\0\"\n"),
       {"listeners.public.address", "NUL"}},
      {"both listeners on one port", replace_once(good, "port: 18081", "port: 18080"),
       {"listeners.internal", "collides"}},
      {"request_uri with another scheme",
       replace_once(good, "request_uri: http://", "request_uri: ftp://"), {"issuer.request_uri"}},
      {"request_uri on the directory path",
       replace_once(good, "18080/request", "18080/.well-known/private-token-issuer-directory"),
       {"issuer.request_uri", "reserved"}},
      {"header name with a space", replace_once(good, "name: X-Athm-Bucket", "name: \"X Athm\""),
       {"attester.header.name"}},
      {"keys.directory empty", replace_once(good, "  directory: " + good_keys.string() + "\n", "  directory:\n"),
       {"keys.directory"}},
      {"unknown store", replace_once(good, "type: lmdb", "type: floppy"), {"store.type"}},
      {"fail-open bucket out of range",
       replace_once(good, "attester:\n", "attester:\n  fail_open_bucket: 256\n"),
       {"attester.fail_open_bucket"}},
      {"io threads out of range", replace_once(good, "io_threads: 2", "io_threads: 100000"),
       {"server.io_threads"}},
      {"logging level unknown", replace_once(good, "level: info", "level: loud"), {"logging.level"}},
      {"random bytes", [] {
         std::mt19937 prng(5);
         std::string s;
         for (int i = 0; i < 3000; ++i) {
           s.push_back(static_cast<char>(prng()));
         }
         return s;
       }(), {"athmd.yaml"}},
  };
  cases.insert(cases.end(), configs.begin(), configs.end());

  for (const auto& c : cases) {
    INFO("case: " << c.name);
    const auto file = tmp / "athmd.yaml";
    write_file(file, c.yaml, 0600);
    const run_result r =
        run_program({athmd_path(), "--check-config", file.string()}, std::chrono::seconds(30));
    INFO("exit " << r.status.code << " (signal " << r.status.signal << ")\nstderr: " << r.err
                 << "\nstdout: " << r.out);
    CHECK(r.status.exited);
    CHECK(r.status.code == 2);
    const std::string output = r.err + r.out;
    CHECK(r.out.rfind("OK", 0) == std::string::npos);
    for (const auto& e : c.expected) {
      CHECK(output.find(e) != std::string::npos);
    }
    // Never a secret in a message, whatever the file looked like.
    CHECK(output.find(private_value.substr(0, 24)) == std::string::npos);
    CHECK(output.find(flipped_private.substr(0, 24)) == std::string::npos);
  }

  {
    INFO("a config file that is a directory");
    const auto dir = tmp / "dir.yaml";
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const run_result r = run_program({athmd_path(), "--check-config", dir.string()}, 30s);
    INFO("stderr: " << r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code == 2);
    CHECK(r.err.find("dir.yaml") != std::string::npos);
  }

  {
    INFO("the good config passes: each case above differs from it in one thing only");
    const auto file = tmp / "good.yaml";
    write_file(file, good, 0600);
    const run_result r = run_program({athmd_path(), "--check-config", file.string()}, 30s);
    INFO("stderr: " << r.err << "\nstdout: " << r.out);
    CHECK(r.status.exited);
    CHECK(r.status.code == 0);
  }
}
