// Load and soak run against a running athmd on loopback (not a unit test:
// it reports figures; scripts/soak.sh starts the daemon and runs it).
//
//   athm_soak --public-port P --internal-port I --pid PID
//             [--duration 180] [--fraction 0.8] [--rate OPS] [--ramp-step 5]
//             [--workers 16] [--idle-connections 10000] [--idle-hold 10]
//             [--idle-rounds 2] [--skip-load] [--skip-idle]
//
// One operation is what a client and an origin do for one token: build a
// TokenRequest, POST it to the issuer (X-Athm-Bucket at random), finalize
// the token (issuance proof checked), POST it to /redeem. The latencies of
// the two HTTP exchanges are recorded separately.
//
// 1. Ramp: closed loop with 1, 2, 4, 8 concurrent clients for --ramp-step
//    seconds each; the capacity is the best throughput seen.
// 2. Load: open loop at --rate operations/s (default --fraction of the
//    capacity) for --duration seconds: operation k is due at start + k/rate
//    and is picked up by one of --workers threads. Reports p50/p99 of each
//    exchange per minute and the daemon's memory (/proc/PID/status VmRSS,
//    RssAnon, RssFile) every 10 s, then whether p99 <= 3 x p50 and whether
//    the anonymous memory grew.
// 3. Idle connections: opens --idle-connections keep-alive connections to
//    the public listener, each after one GET /healthz, holds them
//    --idle-hold seconds, checks the daemon still serves operations, and
//    reports the daemon's memory before, with them open, and after closing;
//    --idle-rounds times, so that memory not reused after a close shows up.
//
// Exit code: 0 when every request got its expected answer, 1 otherwise,
// 2 on usage or set-up errors. The verdicts are printed, not enforced.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/token_flow.h"

using namespace athm::itest;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  uint16_t public_port = 0;
  uint16_t internal_port = 0;
  int pid = 0;
  double duration_s = 180;
  double fraction = 0.8;
  double rate = 0;  // 0: fraction x measured capacity
  double ramp_step_s = 5;
  unsigned workers = 16;
  size_t idle_connections = 10000;
  double idle_hold_s = 10;
  unsigned idle_rounds = 2;
  bool load = true;
  bool idle = true;
};

int usage() {
  std::fprintf(stderr,
               "usage: athm_soak --public-port P --internal-port I --pid PID [--duration S]\n"
               "                 [--fraction F] [--rate OPS] [--ramp-step S] [--workers W]\n"
               "                 [--idle-connections N] [--idle-hold S] [--idle-rounds R]\n"
               "                 [--skip-load] [--skip-idle]\n");
  return 2;
}

// ------------------------------------------------------------ memory

struct memory {
  long vm_rss_kib = -1;
  long rss_anon_kib = -1;
  long rss_file_kib = -1;
};

memory read_memory(int pid) {
  memory m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    auto value = [&](const char* name, long& out) {
      const size_t len = std::strlen(name);
      if (line.compare(0, len, name) == 0) {
        out = std::strtol(line.c_str() + len, nullptr, 10);
      }
    };
    value("VmRSS:", m.vm_rss_kib);
    value("RssAnon:", m.rss_anon_kib);
    value("RssFile:", m.rss_file_kib);
  }
  return m;
}

double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

// Scheduler totals over every thread of a process (/proc/PID/task/*/schedstat):
// time on a CPU and time runnable but waiting for one. Threads that exited
// in between are not counted, so only processes with stable threads (the
// daemon) give exact differences.
struct sched_totals {
  double run_s = 0;
  double wait_s = 0;
};

sched_totals read_sched(int pid) {
  sched_totals t;
  std::error_code ec;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream in(e.path() / "schedstat");
    double run_ns = 0;
    double wait_ns = 0;
    if (in >> run_ns >> wait_ns) {
      t.run_s += run_ns / 1e9;
      t.wait_s += wait_ns / 1e9;
    }
  }
  return t;
}

// ------------------------------------------------------------ operations

struct op_result {
  bool ok = false;
  std::string error;
  double issue_ms = 0;
  double redeem_ms = 0;
};

// "2026-01-02T03:04:05.678Z", the daemon's log timestamp format.
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// A client with one keep-alive connection to each listener.
class client {
 public:
  client(const options& o, const issuer_view& issuer, uint64_t seed)
      : issuer_(issuer), pub_(o.public_port), internal_(o.internal_port), prng_(seed) {}

  op_result run_one() {
    op_result r;
    const athm::public_key& pk = issuer_.current();
    const uint32_t bucket = static_cast<uint32_t>(prng_() % pk.params().n_buckets());
    try {
      pending_request p = make_request(pk);
      http_request req;
      req.method = "POST";
      req.target = issuer_.request_target;
      req.headers.emplace_back("Content-Type", kRequestMediaType);
      req.headers.emplace_back(kBucketHeader, std::to_string(bucket));
      req.body = p.body;
      auto t0 = clock_type::now();
      const http_reply issued = pub_.send(req);
      r.issue_ms = ms_since(t0);
      if (issued.status != 200) {
        r.error = "issuance: " + issued.describe();
        return r;
      }
      const auto* body = reinterpret_cast<const uint8_t*>(issued.body.data());
      auto tok = athm::finalize_token(pk, p.ctx, std::span<const uint8_t>(body, issued.body.size()));
      if (!tok) {
        r.error = std::string("finalize_token: ") + athm::to_string(tok.error());
        return r;
      }
      athm::pp::token t;
      t.issuer_key_id = pk.id();
      t.authenticator = *tok;
      const encoded_token encoded = t.encode();
      t0 = clock_type::now();
      const redeem_result red = redeem(internal_, encoded);
      r.redeem_ms = ms_since(t0);
      if (red.status() != 200 || red.bucket != bucket) {
        r.error = "redemption: " + red.reply.describe();
        return r;
      }
      r.ok = true;
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }

 private:
  const issuer_view& issuer_;
  http_connection pub_;
  http_connection internal_;
  std::mt19937_64 prng_;
};

struct error_log {
  std::atomic<uint64_t> count{0};
  std::mutex mu;
  std::string first;
  void add(const std::string& e) {
    count.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu);
    if (first.empty()) {
      first = e;
    }
  }
};

// ------------------------------------------------------------ ramp

double ramp(const options& o, const issuer_view& issuer, error_log& errors) {
  std::printf("## Ramp (closed loop, %.0f s per step)\n\n", o.ramp_step_s);
  std::printf("| concurrent clients | operations/s | issuance p50 | redemption p50 |\n");
  std::printf("|---:|---:|---:|---:|\n");
  double best = 0;
  double previous = 0;
  for (const unsigned c : {1u, 2u, 4u, 8u}) {
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<double> issue_ms;
    std::vector<double> redeem_ms;
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < c; ++i) {
      pool.emplace_back([&, i] {
        client cl(o, issuer, 1000 + i);
        while (!stop.load()) {
          const op_result r = cl.run_one();
          if (!r.ok) {
            errors.add(r.error);
            continue;
          }
          done.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          issue_ms.push_back(r.issue_ms);
          redeem_ms.push_back(r.redeem_ms);
        }
      });
    }
    const auto t0 = clock_type::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.ramp_step_s));
    const uint64_t finished = done.load();
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    stop.store(true);
    for (auto& t : pool) {
      t.join();
    }
    const double rate = static_cast<double>(finished) / secs;
    auto median = [](std::vector<double> v) {
      if (v.empty()) {
        return 0.0;
      }
      std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
      return v[v.size() / 2];
    };
    std::printf("| %u | %.1f | %.2f ms | %.2f ms |\n", c, rate, median(issue_ms), median(redeem_ms));
    std::fflush(stdout);
    best = std::max(best, rate);
    if (previous > 0 && rate < previous * 1.05) {
      break;  // saturated
    }
    previous = rate;
  }
  std::printf("\nCapacity: %.1f operations/s (best step).\n\n", best);
  return best;
}

// ------------------------------------------------------------ load

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

struct minute_stats {
  std::vector<double> issue_ms;
  std::vector<double> redeem_ms;
  uint64_t late = 0;  // started more than 100 ms after it was due
};

bool load(const options& o, const issuer_view& issuer, double rate, error_log& errors) {
  const auto duration = std::chrono::duration<double>(o.duration_s);
  const size_t minutes = static_cast<size_t>(std::ceil(o.duration_s / 60.0));
  std::vector<minute_stats> per_minute(minutes);
  std::mutex mu;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> completed{0};
  const auto start = clock_type::now() + 200ms;
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(duration);
  const auto interval = std::chrono::duration<double>(1.0 / rate);

  std::printf("## Load (open loop at %.1f operations/s for %.0f s, %u workers)\n\n", rate,
              o.duration_s, o.workers);
  const std::string window_start = utc_now();
  const sched_totals sched_start = read_sched(o.pid);
  std::fflush(stdout);

  // Memory sampler: every 10 s from the start to the end.
  std::vector<std::pair<double, memory>> samples;
  std::atomic<bool> stop_sampler{false};
  std::thread sampler([&] {
    auto due = start;
    while (!stop_sampler.load()) {
      if (clock_type::now() >= due) {
        samples.emplace_back(std::chrono::duration<double>(clock_type::now() - start).count(),
                             read_memory(o.pid));
        due += 10s;
      }
      std::this_thread::sleep_for(50ms);
    }
    samples.emplace_back(std::chrono::duration<double>(clock_type::now() - start).count(),
                         read_memory(o.pid));
  });

  std::vector<std::thread> pool;
  for (unsigned w = 0; w < o.workers; ++w) {
    pool.emplace_back([&, w] {
      client cl(o, issuer, 5000 + w);
      while (true) {
        const uint64_t k = next.fetch_add(1);
        const auto due = start + std::chrono::duration_cast<clock_type::duration>(
                                     interval * static_cast<double>(k));
        if (due >= end) {
          return;
        }
        std::this_thread::sleep_until(due);
        const bool late = clock_type::now() - due > 100ms;
        const op_result r = cl.run_one();
        if (!r.ok) {
          errors.add(r.error);
          continue;
        }
        completed.fetch_add(1);
        const size_t m = std::min(minutes - 1, static_cast<size_t>(
                                                   std::chrono::duration<double>(due - start).count() / 60.0));
        std::lock_guard<std::mutex> lock(mu);
        per_minute[m].issue_ms.push_back(r.issue_ms);
        per_minute[m].redeem_ms.push_back(r.redeem_ms);
        per_minute[m].late += late ? 1 : 0;
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  stop_sampler.store(true);
  sampler.join();
  const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
  const sched_totals sched_end = read_sched(o.pid);
  // scripts/soak.sh reads this line to pick the daemon's access-log lines of
  // the load phase.
  std::printf("Load window (UTC): %s to %s\n\n", window_start.c_str(), utc_now().c_str());

  std::printf("Completed %llu operations in %.0f s (%.1f/s), %llu errors.\n\n",
              static_cast<unsigned long long>(completed.load()), secs,
              static_cast<double>(completed.load()) / secs,
              static_cast<unsigned long long>(errors.count.load()));
  std::printf("| minute | operations | issuance p50 | issuance p99 | p99/p50 | redemption p50 | redemption p99 | p99/p50 | started >100 ms late |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  bool tail_ok = true;
  std::vector<double> all_issue;
  std::vector<double> all_redeem;
  for (size_t m = 0; m < minutes; ++m) {
    const auto& s = per_minute[m];
    const double i50 = percentile(s.issue_ms, 0.50);
    const double i99 = percentile(s.issue_ms, 0.99);
    const double r50 = percentile(s.redeem_ms, 0.50);
    const double r99 = percentile(s.redeem_ms, 0.99);
    const bool ok = i99 <= 3 * i50 && r99 <= 3 * r50;
    tail_ok = tail_ok && ok;
    std::printf("| %zu | %zu | %.2f ms | %.2f ms | %.1f | %.2f ms | %.2f ms | %.1f | %llu |\n", m + 1,
                s.issue_ms.size(), i50, i99, i50 > 0 ? i99 / i50 : 0, r50, r99,
                r50 > 0 ? r99 / r50 : 0, static_cast<unsigned long long>(s.late));
    all_issue.insert(all_issue.end(), s.issue_ms.begin(), s.issue_ms.end());
    all_redeem.insert(all_redeem.end(), s.redeem_ms.begin(), s.redeem_ms.end());
  }
  const double ai50 = percentile(all_issue, 0.5);
  const double ai99 = percentile(all_issue, 0.99);
  const double ar50 = percentile(all_redeem, 0.5);
  const double ar99 = percentile(all_redeem, 0.99);
  std::printf("| all | %zu | %.2f ms | %.2f ms | %.1f | %.2f ms | %.2f ms | %.1f | |\n\n",
              all_issue.size(), ai50, ai99, ai50 > 0 ? ai99 / ai50 : 0, ar50, ar99,
              ar50 > 0 ? ar99 / ar50 : 0);
  std::printf("p99 <= 3 x p50 in every minute, both exchanges: %s\n\n", tail_ok ? "yes" : "NO");
  // Where the tail comes from on a shared machine: time the daemon's
  // threads were runnable but had no CPU.
  const double run = sched_end.run_s - sched_start.run_s;
  const double wait = sched_end.wait_s - sched_start.wait_s;
  std::printf("Daemon threads during the load: %.1f s on a CPU (%.2f cores), %.1f s runnable "
              "but waiting for a CPU (%.2f s of waiting per second of running).\n\n",
              run, run / secs, wait, run > 0 ? wait / run : 0);

  std::printf("| t (s) | VmRSS | RssAnon | RssFile |\n|---:|---:|---:|---:|\n");
  for (const auto& [t, m] : samples) {
    std::printf("| %.0f | %.1f MiB | %.1f MiB | %.1f MiB |\n", t, mib(m.vm_rss_kib),
                mib(m.rss_anon_kib), mib(m.rss_file_kib));
  }
  // Growth of the heap (anonymous memory) after the first minute, when
  // allocator pools, thread stacks and LMDB reader slots have settled. The
  // file-backed part grows with the LMDB data file by design.
  if (samples.size() >= 3) {
    const memory* base = &samples.front().second;
    double base_t = samples.front().first;
    for (const auto& [t, m] : samples) {
      if (t >= 60) {
        base = &m;
        base_t = t;
        break;
      }
    }
    const memory& last = samples.back().second;
    const long growth = last.rss_anon_kib - base->rss_anon_kib;
    const bool grew = growth > 1024 + base->rss_anon_kib / 50;
    std::printf("\nRssAnon from t=%.0f s to the end: %+.1f MiB (%s; threshold 1 MiB + 2 %%). "
                "VmRSS from the first sample to the end: %+.1f MiB (RssFile %+.1f MiB).\n\n",
                base_t, mib(growth), grew ? "GREW" : "no growth",
                mib(last.vm_rss_kib - samples.front().second.vm_rss_kib),
                mib(last.rss_file_kib - samples.front().second.rss_file_kib));
  }
  return tail_ok;
}

// ------------------------------------------------------------ idle connections

// Reads one response with a Content-Length from a blocking socket.
bool read_response(int fd) {
  std::string buf;
  char chunk[2048];
  while (true) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return false;
    }
    buf.append(chunk, static_cast<size_t>(n));
    const size_t end = buf.find("\r\n\r\n");
    if (end == std::string::npos) {
      continue;
    }
    const size_t cl = buf.find("Content-Length: ");
    const size_t len = cl == std::string::npos ? 0 : std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
    if (buf.size() >= end + 4 + len) {
      return buf.compare(0, 12, "HTTP/1.1 200") == 0;
    }
  }
}

// Opens |count| connections in batches, each after one GET /healthz
// answered 200; appends their descriptors to |fds|. Returns "" or what failed.
std::string open_idle(const options& o, size_t count, std::vector<int>& fds) {
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o.public_port) + "\r\n\r\n";
  constexpr size_t kBatch = 256;
  while (fds.size() < count) {
    const size_t batch_start = fds.size();
    const size_t batch_end = std::min(count, batch_start + kBatch);
    for (size_t i = batch_start; i < batch_end; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        return std::string("socket: ") + std::strerror(errno) + " (raise ulimit -n)";
      }
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(o.public_port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const std::string e = std::string("connect: ") + std::strerror(errno);
        ::close(fd);
        return e;
      }
      fds.push_back(fd);
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        return "send failed on connection " + std::to_string(i);
      }
    }
    for (size_t i = batch_start; i < fds.size(); ++i) {
      if (!read_response(fds[i])) {
        return "no 200 on connection " + std::to_string(i) +
               " (is limits.max_connections above the count?)";
      }
    }
  }
  return "";
}

bool idle(const options& o, const issuer_view& issuer, error_log& errors) {
  std::printf("## %zu idle keep-alive connections (public listener), %u rounds\n\n",
              o.idle_connections, o.idle_rounds);
  std::printf("| round | daemon memory | VmRSS | RssAnon |\n|---:|---|---:|---:|\n");
  bool ok = true;
  std::vector<std::string> notes;
  memory first_before;
  memory first_held;
  std::vector<long> held_anon;
  for (unsigned round = 1; round <= o.idle_rounds; ++round) {
    const memory before = read_memory(o.pid);
    std::vector<int> fds;
    fds.reserve(o.idle_connections);
    const auto t0 = clock_type::now();
    const std::string failure = open_idle(o, o.idle_connections, fds);
    const double open_secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::this_thread::sleep_for(2s);
    const memory open = read_memory(o.pid);

    // While they are open, the daemon still serves operations.
    int ops_ok = 0;
    {
      client cl(o, issuer, 99 + round);
      for (int i = 0; i < 20; ++i) {
        const op_result r = cl.run_one();
        if (r.ok) {
          ++ops_ok;
        } else {
          errors.add("during idle connections: " + r.error);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_hold_s));
    size_t still_open = 0;
    for (int fd : fds) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) == 0) {
        ++still_open;  // nothing to read: not closed by the daemon
      }
    }
    const memory held = read_memory(o.pid);
    for (int fd : fds) {
      ::close(fd);
    }
    std::this_thread::sleep_for(3s);
    const memory after = read_memory(o.pid);
    if (!failure.empty()) {
      errors.add("idle connections: " + failure);
    }
    ok = ok && failure.empty() && still_open == fds.size() && ops_ok == 20;
    if (round == 1) {
      first_before = before;
      first_held = held;
    }
    held_anon.push_back(held.rss_anon_kib);
    std::printf("| %u | before | %.1f MiB | %.1f MiB |\n", round, mib(before.vm_rss_kib),
                mib(before.rss_anon_kib));
    std::printf("| %u | %zu open (2 s) | %.1f MiB | %.1f MiB |\n", round, fds.size(),
                mib(open.vm_rss_kib), mib(open.rss_anon_kib));
    std::printf("| %u | %zu open (%.0f s) | %.1f MiB | %.1f MiB |\n", round, fds.size(),
                o.idle_hold_s + 2, mib(held.vm_rss_kib), mib(held.rss_anon_kib));
    std::printf("| %u | closed (3 s later) | %.1f MiB | %.1f MiB |\n", round,
                mib(after.vm_rss_kib), mib(after.rss_anon_kib));
    char note[512];
    std::snprintf(note, sizeof note,
                  "Round %u: opened %zu connections in %.1f s, %zu still open after %.0f s idle, "
                  "%d of 20 operations succeeded meanwhile%s%s.",
                  round, fds.size(), open_secs, still_open, o.idle_hold_s + 2, ops_ok,
                  failure.empty() ? "" : "; failure: ", failure.c_str());
    notes.emplace_back(note);
  }
  std::printf("\n");
  for (const auto& n : notes) {
    std::printf("%s\n", n.c_str());
  }
  if (o.idle_connections > 0) {
    const double n = static_cast<double>(o.idle_connections);
    std::printf("\nPer idle connection (round 1): %.1f KiB of VmRSS (%.1f KiB anonymous).\n",
                static_cast<double>(first_held.vm_rss_kib - first_before.vm_rss_kib) / n,
                static_cast<double>(first_held.rss_anon_kib - first_before.rss_anon_kib) / n);
  }
  if (held_anon.size() > 1) {
    // The first round grows the heap; later rounds should reuse it. A leak
    // per connection shows as a steady rise of the held figure per round.
    std::printf("RssAnon with all open, change from the previous round:");
    for (size_t r = 1; r < held_anon.size(); ++r) {
      std::printf(" %+.1f", mib(held_anon[r] - held_anon[r - 1]));
    }
    const double per_round_kib =
        static_cast<double>(held_anon.back() - held_anon[1 < held_anon.size() - 1 ? 1 : 0]) /
        static_cast<double>(held_anon.size() - (1 < held_anon.size() - 1 ? 2 : 1));
    std::printf(" MiB; from round %d to the last: %+.1f KiB per round (%+.0f bytes per "
                "connection opened and closed).\n\n",
                held_anon.size() > 2 ? 2 : 1, per_round_kib,
                per_round_kib * 1024 / static_cast<double>(std::max<size_t>(1, o.idle_connections)));
  } else {
    std::printf("\n");
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--skip-load") {
      o.load = false;
      continue;
    }
    if (k == "--skip-idle") {
      o.idle = false;
      continue;
    }
    if (i + 1 >= argc) {
      return usage();
    }
    const char* v = argv[++i];
    if (k == "--public-port") {
      o.public_port = static_cast<uint16_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--internal-port") {
      o.internal_port = static_cast<uint16_t>(std::strtoul(v, nullptr, 10));
    } else if (k == "--pid") {
      o.pid = std::atoi(v);
    } else if (k == "--duration") {
      o.duration_s = std::strtod(v, nullptr);
    } else if (k == "--fraction") {
      o.fraction = std::strtod(v, nullptr);
    } else if (k == "--rate") {
      o.rate = std::strtod(v, nullptr);
    } else if (k == "--ramp-step") {
      o.ramp_step_s = std::strtod(v, nullptr);
    } else if (k == "--workers") {
      o.workers = std::max(1u, static_cast<unsigned>(std::strtoul(v, nullptr, 10)));
    } else if (k == "--idle-connections") {
      o.idle_connections = std::strtoull(v, nullptr, 10);
    } else if (k == "--idle-rounds") {
      o.idle_rounds = std::max(1u, static_cast<unsigned>(std::strtoul(v, nullptr, 10)));
    } else if (k == "--idle-hold") {
      o.idle_hold_s = std::strtod(v, nullptr);
    } else {
      return usage();
    }
  }
  if (o.public_port == 0 || o.internal_port == 0 || o.pid <= 0 || o.duration_s <= 0 ||
      o.fraction <= 0) {
    return usage();
  }
  if (read_memory(o.pid).vm_rss_kib < 0) {
    std::fprintf(stderr, "athm_soak: cannot read /proc/%d/status\n", o.pid);
    return 2;
  }
  try {
    const issuer_view issuer = fetch_issuer(o.public_port);
    error_log errors;
    if (o.load) {
      double rate = o.rate;
      if (rate <= 0) {
        rate = o.fraction * ramp(o, issuer, errors);
      }
      if (rate <= 0) {
        std::fprintf(stderr, "athm_soak: no capacity measured\n");
        return 2;
      }
      load(o, issuer, rate, errors);
    }
    if (o.idle && o.idle_connections > 0) {
      const bool ok = idle(o, issuer, errors);
      std::printf("Idle connections held and daemon responsive: %s\n\n", ok ? "yes" : "NO");
    }
    std::printf("Errors: %llu%s%s\n", static_cast<unsigned long long>(errors.count.load()),
                errors.first.empty() ? "" : "; first: ", errors.first.c_str());
    return errors.count.load() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "athm_soak: %s\n", e.what());
    return 2;
  }
}
