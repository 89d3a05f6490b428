// End-to-end timing-leak measurement of the hidden bucket, over HTTP on
// loopback against a running athmd (not a unit test: it reports statistics;
// scripts/timing-e2e.sh starts the daemon and runs it).
//
//   athm_timing_e2e --public-port P --internal-port I
//                   [--issue-samples 20000] [--redeem-samples 40000]
//                   [--warmup 500] [--pool 256] [--seed 1] [--issue-threads 2]
//
// Issuance: POST of a TokenRequest with X-Athm-Bucket 0 or n-1 (the header
// attester trusts loopback), classes chosen at random per request, one
// keep-alive connection, requests drawn from one shared pool of valid
// TokenRequests. Redemption: POST /redeem of distinct tokens of bucket 0 or
// n-1 (issued beforehand through the real protocol), classes at random, one
// keep-alive connection to the internal listener. Each sample is the wall
// time from just before the request is written to the last byte of the
// response. Welch's t between the two classes is reported over all samples
// and over samples cropped at upper percentiles, as tests/timing/dudect.cpp
// does for the engine; |t| < 4.5 is the usual "no leak detected" bar.
//
// It also checks that the responses of the two classes have the same shape:
// issuance responses must be identical in status, header names and values
// (except Date) and size; /redeem answers must differ only in the bucket
// digit of the JSON body. A difference there is a leak whatever the timing
// says: the exit code is then 1. Protocol failures exit 2; otherwise 0
// (the t values are for the reader to judge).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/token_flow.h"

using namespace athm::itest;

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  uint16_t public_port = 0;
  uint16_t internal_port = 0;
  size_t issue_samples = 20000;
  size_t redeem_samples = 40000;
  size_t warmup = 500;
  size_t pool = 256;
  uint64_t seed = 1;
  unsigned issue_threads = 2;
};

int usage() {
  std::fprintf(stderr,
               "usage: athm_timing_e2e --public-port P --internal-port I [--issue-samples N]\n"
               "                       [--redeem-samples N] [--warmup N] [--pool N] [--seed S]\n"
               "                       [--issue-threads T]\n");
  return 2;
}

// ------------------------------------------------------------ wire client

struct wire_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in wire order
  std::string body;
  size_t wire_bytes = 0;
};

// One blocking keep-alive connection to 127.0.0.1 with pre-serialized
// requests: as little client work as possible inside the timed window.
class wire {
 public:
  explicit wire(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      throw std::runtime_error("socket failed");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~wire() { ::close(fd_); }
  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;

  // Writes |request| and reads one response into |out|. Returns the elapsed
  // time; throws if the connection fails or the response is malformed.
  clock_type::duration roundtrip(const std::string& request, wire_response& out) {
    buf_.clear();
    const auto t0 = clock_type::now();
    size_t off = 0;
    while (off < request.size()) {
      const ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        throw std::runtime_error("send failed");
      }
      off += static_cast<size_t>(n);
    }
    size_t header_end = std::string::npos;
    size_t need = 0;
    while (true) {
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        throw std::runtime_error("connection closed or timed out while reading a response");
      }
      buf_.append(chunk, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = buf_.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          need = header_end + 4 + content_length(header_end);
        }
      }
      if (header_end != std::string::npos && buf_.size() >= need) {
        break;
      }
    }
    const auto t1 = clock_type::now();
    parse(header_end, need, out);
    return t1 - t0;
  }

 private:
  size_t content_length(size_t header_end) const {
    static const char kName[] = "\r\ncontent-length:";
    for (size_t i = buf_.find("\r\n"); i < header_end; i = buf_.find("\r\n", i + 2)) {
      if (strncasecmp(buf_.data() + i, kName, sizeof kName - 1) == 0) {
        return std::strtoul(buf_.data() + i + sizeof kName - 1, nullptr, 10);
      }
    }
    return 0;
  }

  void parse(size_t header_end, size_t total, wire_response& out) const {
    if (buf_.size() != total || buf_.compare(0, 9, "HTTP/1.1 ") != 0) {
      throw std::runtime_error("unexpected bytes in a response");
    }
    out.status = static_cast<unsigned>(std::strtoul(buf_.c_str() + 9, nullptr, 10));
    out.headers.clear();
    size_t i = buf_.find("\r\n") + 2;
    while (i < header_end + 2) {
      const size_t eol = buf_.find("\r\n", i);
      const size_t colon = buf_.find(':', i);
      if (colon == std::string::npos || colon > eol) {
        throw std::runtime_error("malformed header line");
      }
      size_t v = colon + 1;
      while (v < eol && buf_[v] == ' ') {
        ++v;
      }
      out.headers.emplace_back(buf_.substr(i, colon - i), buf_.substr(v, eol - v));
      i = eol + 2;
    }
    out.body = buf_.substr(header_end + 4);
    out.wire_bytes = total;
  }

  int fd_ = -1;
  std::string buf_;
};

// ------------------------------------------------------------ statistics

// Welch's t between two classes, accumulated with Welford's update.
struct welch {
  double n[2] = {0, 0};
  double mean[2] = {0, 0};
  double m2[2] = {0, 0};
  void add(int cls, double x) {
    n[cls] += 1;
    const double d = x - mean[cls];
    mean[cls] += d / n[cls];
    m2[cls] += d * (x - mean[cls]);
  }
  double t() const {
    if (n[0] < 2 || n[1] < 2) {
      return 0;
    }
    const double v0 = m2[0] / (n[0] - 1);
    const double v1 = m2[1] / (n[1] - 1);
    return (mean[0] - mean[1]) / std::sqrt(v0 / n[0] + v1 / n[1]);
  }
};

// Prints the crop table and returns max |t|. |ns| are latencies in
// nanoseconds, |cls| the class (0: bucket 0, 1: bucket n-1) of each.
double report(const char* what, const std::vector<double>& ns, const std::vector<uint8_t>& cls,
              uint32_t hi_bucket) {
  std::vector<double> sorted(ns);
  std::sort(sorted.begin(), sorted.end());
  const size_t count = ns.size();
  std::printf("%s: %zu samples, bucket 0 vs bucket %u; latency p50 %.1f us, p99 %.1f us\n", what,
              count, hi_bucket, sorted[count / 2] / 1e3,
              sorted[std::min(count - 1, count * 99 / 100)] / 1e3);
  double max_abs_t = 0;
  for (const double crop : {1.0, 0.99, 0.95, 0.90, 0.75, 0.50}) {
    const double limit = sorted[std::min(count - 1, static_cast<size_t>(crop * (count - 1)))];
    welch w;
    for (size_t i = 0; i < count; ++i) {
      if (ns[i] <= limit) {
        w.add(cls[i], ns[i]);
      }
    }
    const double t = w.t();
    max_abs_t = std::max(max_abs_t, std::fabs(t));
    std::printf("  crop p%-5.1f  n0=%-7.0f n1=%-7.0f mean0=%9.1f us  mean1=%9.1f us  t=%+.3f\n",
                crop * 100, w.n[0], w.n[1], w.mean[0] / 1e3, w.mean[1] / 1e3, t);
  }
  std::printf("  max |t| = %.3f (%s)\n", max_abs_t,
              max_abs_t < 4.5 ? "no leak detected at 4.5" : "LEAK SUSPECTED");
  return max_abs_t;
}

// The shape of a response for the equality checks: status, every header
// but Date in wire order, and the body size (and for /redeem the body with
// its bucket digits masked).
std::string shape(const wire_response& r, const std::string& body_view) {
  std::string s = std::to_string(r.status) + "\n";
  for (const auto& [k, v] : r.headers) {
    if (strcasecmp(k.c_str(), "date") != 0) {
      s += k + ": " + v + "\n";
    }
  }
  s += "body " + std::to_string(r.body.size()) + " bytes: " + body_view + "\n";
  s += "wire " + std::to_string(r.wire_bytes) + " bytes\n";
  return s;
}

// Tracks the distinct shapes seen per class.
struct shape_check {
  std::map<std::string, size_t> seen[2];
  void add(int cls, const std::string& s) { ++seen[cls][s]; }
  // True when both classes produced exactly one shape, the same one.
  bool identical() const {
    return seen[0].size() == 1 && seen[1].size() == 1 &&
           seen[0].begin()->first == seen[1].begin()->first;
  }
  void print(const char* what) const {
    std::printf("%s response shapes: %s\n", what,
                identical() ? "identical across the two buckets" : "DIFFERENT");
    for (int c = 0; c < 2; ++c) {
      for (const auto& [s, count] : seen[c]) {
        std::printf("  class %d, %zu responses:\n", c, count);
        size_t start = 0;
        while (start < s.size()) {
          const size_t end = s.find('\n', start);
          std::printf("    %s\n", s.substr(start, end - start).c_str());
          start = end + 1;
        }
        if (identical()) {
          return;  // one listing is enough
        }
      }
    }
  }
};

std::string post(uint16_t port, const std::string& target, const std::string& content_type,
                 const std::string& body, const std::string& extra_header) {
  std::string r = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                  "\r\nContent-Type: " + content_type + "\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n" + extra_header + "\r\n";
  return r + body;
}

std::vector<uint8_t> schedule(size_t count, std::mt19937_64& prng) {
  std::vector<uint8_t> cls(count);
  for (auto& c : cls) {
    c = static_cast<uint8_t>(prng() & 1);
  }
  return cls;
}

// ------------------------------------------------------------ issuance

int measure_issuance(const options& o, const issuer_view& issuer, uint32_t hi,
                     std::mt19937_64& prng, double& max_t) {
  const athm::public_key& pk = issuer.current();
  std::vector<std::string> bodies;
  for (size_t i = 0; i < o.pool; ++i) {
    bodies.push_back(make_request(pk).body);
  }
  const std::string header[2] = {std::string(kBucketHeader) + ": 0\r\n",
                                 std::string(kBucketHeader) + ": " + std::to_string(hi) + "\r\n"};
  if (header[0].size() != header[1].size()) {
    std::fprintf(stderr, "bucket %u does not have one digit; requests would differ in size\n", hi);
    return 2;
  }
  // Every request is serialized up front: pool x class.
  std::vector<std::string> requests[2];
  for (int c = 0; c < 2; ++c) {
    for (const auto& b : bodies) {
      requests[c].push_back(post(o.public_port, issuer.request_target, kRequestMediaType, b, header[c]));
    }
  }
  wire conn(o.public_port);
  const std::vector<uint8_t> cls = schedule(o.warmup + o.issue_samples, prng);
  std::vector<double> ns;
  std::vector<uint8_t> kept;
  ns.reserve(o.issue_samples);
  kept.reserve(o.issue_samples);
  shape_check shapes;
  wire_response r;
  for (size_t i = 0; i < cls.size(); ++i) {
    const int c = cls[i];
    const auto dt = conn.roundtrip(requests[c][prng() % o.pool], r);
    if (r.status != 200 || r.body.size() != athm::response_bytes(pk.params().n_buckets())) {
      std::fprintf(stderr, "issuance %zu (class %d): status %u, %zu bytes\n", i, c, r.status,
                   r.body.size());
      return 2;
    }
    if (i < o.warmup) {
      continue;
    }
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count()));
    kept.push_back(static_cast<uint8_t>(c));
    shapes.add(c, shape(r, "(TokenResponse)"));
  }
  const std::string what = "issuance (POST " + issuer.request_target + ")";
  max_t = report(what.c_str(), ns, kept, hi);
  shapes.print("issuance");
  return shapes.identical() ? 0 : 1;
}

// ------------------------------------------------------------ redemption

int measure_redemption(const options& o, const issuer_view& issuer, uint32_t hi,
                       std::mt19937_64& prng, double& max_t) {
  const std::vector<uint8_t> cls = schedule(o.warmup + o.redeem_samples, prng);
  const size_t need1 = static_cast<size_t>(std::count(cls.begin(), cls.end(), 1));
  const size_t need0 = cls.size() - need1;
  const uint32_t bucket_of[2] = {0, hi};
  std::fprintf(stderr, "issuing %zu + %zu tokens through the daemon (%u threads)...\n", need0,
               need1, o.issue_threads);
  const auto t0 = clock_type::now();
  std::vector<encoded_token> tokens[2] = {
      issue_tokens(o.public_port, issuer, need0, bucket_of[0], o.issue_threads),
      issue_tokens(o.public_port, issuer, need1, bucket_of[1], o.issue_threads)};
  std::fprintf(stderr, "issued in %.0f s\n",
               std::chrono::duration<double>(clock_type::now() - t0).count());

  wire conn(o.internal_port);
  size_t next[2] = {0, 0};
  std::vector<double> ns;
  std::vector<uint8_t> kept;
  ns.reserve(o.redeem_samples);
  kept.reserve(o.redeem_samples);
  shape_check shapes;
  wire_response r;
  // Serialize one request ahead so that building it is outside the window.
  auto request_for = [&](int c) {
    return post(o.internal_port, "/redeem", kTokenMediaType, as_string(tokens[c][next[c]++]), "");
  };
  const std::string expect[2] = {"\"bucket\":0,", "\"bucket\":" + std::to_string(hi) + ","};
  for (size_t i = 0; i < cls.size(); ++i) {
    const int c = cls[i];
    const std::string req = request_for(c);
    const auto dt = conn.roundtrip(req, r);
    const size_t at = r.body.find(expect[c]);
    if (r.status != 200 || at == std::string::npos) {
      std::fprintf(stderr, "redemption %zu (class %d): status %u, body %s\n", i, c, r.status,
                   r.body.c_str());
      return 2;
    }
    if (i < o.warmup) {
      continue;
    }
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count()));
    kept.push_back(static_cast<uint8_t>(c));
    std::string masked = r.body;
    masked.replace(at, expect[c].size(), "\"bucket\":#,");
    shapes.add(c, shape(r, masked.substr(0, masked.find_last_not_of('\n') + 1)));
  }
  max_t = report("redemption (POST /redeem)", ns, kept, hi);
  shapes.print("redemption (bucket digit masked)");
  return shapes.identical() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) {
      return usage();
    }
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--public-port") {
      o.public_port = static_cast<uint16_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--internal-port") {
      o.internal_port = static_cast<uint16_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--issue-samples") {
      o.issue_samples = std::strtoull(v, nullptr, 10);
    } else if (k == "--redeem-samples") {
      o.redeem_samples = std::strtoull(v, nullptr, 10);
    } else if (k == "--warmup") {
      o.warmup = std::strtoull(v, nullptr, 10);
    } else if (k == "--pool") {
      o.pool = std::max<size_t>(1, std::strtoull(v, nullptr, 10));
    } else if (k == "--seed") {
      o.seed = std::strtoull(v, nullptr, 10);
    } else if (k == "--issue-threads") {
      o.issue_threads = std::max(1u, static_cast<unsigned>(std::strtoul(v, nullptr, 10)));
    } else {
      return usage();
    }
  }
  if (o.public_port == 0 || o.internal_port == 0) {
    return usage();
  }
  try {
    const issuer_view issuer = fetch_issuer(o.public_port);
    const uint32_t n = issuer.current().params().n_buckets();
    const uint32_t hi = n - 1;
    std::printf("athm_timing_e2e: n=%u, buckets compared 0 vs %u, seed %llu, warm-up %zu per op\n",
                n, hi, static_cast<unsigned long long>(o.seed), o.warmup);
    std::mt19937_64 prng(o.seed);  // schedules classes and inputs; not crypto
    int rc = 0;
    double t_issue = 0;
    double t_redeem = 0;
    if (o.issue_samples > 0) {
      rc = std::max(rc, measure_issuance(o, issuer, hi, prng, t_issue));
    }
    if (rc != 2 && o.redeem_samples > 0) {
      rc = std::max(rc, measure_redemption(o, issuer, hi, prng, t_redeem));
    }
    std::printf("summary: issuance max |t| %.3f, redemption max |t| %.3f, shapes %s\n", t_issue,
                t_redeem, rc == 0 ? "identical" : rc == 1 ? "DIFFERENT" : "not checked (error)");
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "athm_timing_e2e: %s\n", e.what());
    return 2;
  }
}
