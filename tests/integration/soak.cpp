// Load and soak run against a running athmd on loopback (not a unit test:
// it reports figures; scripts/soak.sh starts the daemon and runs it).
//
//   athm_soak --public-port P --internal-port I --pid PID --tokens FILE
//             [--duration 180] [--fraction 0.8] [--rate OPS] [--ramp-step 5]
//             [--workers 16] [--idle-connections 10000] [--idle-hold 10]
//             [--idle-rounds 2] [--skip-load] [--skip-idle] [--tls-ca FILE]
//
// An operation of the ramp and the load is one issuance (POST /request with
// X-Athm-Bucket at random) and one redemption (POST /redeem of a token
// minted with the issuer's key file, --tokens, from `athm_loadgen mint`).
// Their inputs are prepared beforehand, so the client does only HTTP while
// it measures; every 64th issuance is finalized (issuance proof checked) and
// redeemed after the load, with the bucket it asked for. The latencies of
// the two exchanges are recorded separately.
//
// 1. Ramp: closed loop with 1, 2, 4, 8 concurrent clients for --ramp-step
//    seconds each; the capacity is the best throughput seen.
// 2. Load: open loop at --rate operations/s (default --fraction of the
//    capacity) for --duration seconds: operation k's issuance is due at
//    start + k/rate and its redemption half an interval later, each picked
//    up by one of --workers threads. Reports p50/p99 of each exchange per
//    minute and the daemon's memory (/proc/PID/status VmRSS, RssAnon,
//    RssFile) every 10 s, then whether p99 <= 3 x p50 and whether the
//    anonymous memory grew.
// 3. Idle connections: opens --idle-connections keep-alive connections to
//    the public listener, each after one GET /healthz, holds them
//    --idle-hold seconds, checks the daemon still serves 20 full client
//    flows (TokenRequest, issuance, FinalizeToken, redemption), and
//    reports the daemon's memory before, with them open, and after closing;
//    --idle-rounds times, so that memory not reused after a close shows up.
//
// With --tls-ca the public listener is reached over HTTPS (TLS 1.2 or 1.3,
// the daemon's chain verified against FILE and its leaf for 127.0.0.1):
// issuance in the ramp and the load, the directory, and every idle
// connection, each of which then holds a TLS session. Redemption stays on
// the internal listener, over plain HTTP.
//
// Exit code: 0 when every request got its expected answer, 1 otherwise,
// 2 on usage or set-up errors. The verdicts are printed, not enforced.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
#include <iterator>
#include <map>
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
  std::string tokens_path;  // minted tokens for the ramp and the load
  bool load = true;
  bool idle = true;
  std::optional<tls_trust> tls;  // the public listener over HTTPS
};

int usage() {
  std::fprintf(stderr,
               "usage: athm_soak --public-port P --internal-port I --pid PID\n"
               "                 --tokens FILE (unless --skip-load) [--duration S]\n"
               "                 [--fraction F] [--rate OPS] [--ramp-step S] [--workers W]\n"
               "                 [--idle-connections N] [--idle-hold S] [--idle-rounds R]\n"
               "                 [--skip-load] [--skip-idle] [--tls-ca FILE]\n");
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
struct sched_time {
  double run_s = 0;
  double wait_s = 0;
};
struct sched_totals : sched_time {
  std::map<std::string, sched_time> by_name;  // summed over threads of one name
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
      std::ifstream comm(e.path() / "comm");
      std::string name;
      std::getline(comm, name);
      t.run_s += run_ns / 1e9;
      t.wait_s += wait_ns / 1e9;
      sched_time& n = t.by_name[name];
      n.run_s += run_ns / 1e9;
      n.wait_s += wait_ns / 1e9;
    }
  }
  return t;
}

// The whole machine's CPU time (/proc/stat, all CPUs) and this process's own.
struct cpu_times {
  double busy_s = 0;   // user, nice, system, irq, softirq (guest time is in user)
  double idle_s = 0;   // idle and iowait
  double steal_s = 0;  // taken by the hypervisor for other guests
  double self_s = 0;   // this process, all threads (getrusage)
};

cpu_times read_cpu() {
  cpu_times t;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream in("/proc/stat");
  std::string label;
  double v[8] = {};
  if (in >> label && label == "cpu") {
    for (double& x : v) {
      in >> x;
    }
    t.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    t.idle_s = (v[3] + v[4]) / hz;
    t.steal_s = v[7] / hz;
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    t.self_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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

// The whole client flow for one token, with one keep-alive connection to
// each listener (the check during the idle connections).
class client {
 public:
  client(const options& o, const issuer_view& issuer, uint64_t seed)
      : issuer_(issuer), pub_(o.public_port, 15s, o.tls), internal_(o.internal_port), prng_(seed) {}

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

// ------------------------------------------------------------ timed inputs

// What the ramp and the load send, prepared before them so that the client
// does no ATHM work while it measures (a client-side FinalizeToken costs more
// CPU than the issuer's TokenResponse, and a busy client delays reading its
// answers): a pool of TokenRequests, reused (the issuer keeps no state per
// request), and tokens minted with the issuer's key file by
// `athm_loadgen mint` (bucket = index mod n), each redeemed once.
struct timed_inputs {
  std::vector<pending_request> pool;
  std::vector<encoded_token> tokens;
  uint32_t n_buckets = 0;
  size_t response_size = 0;
  std::atomic<size_t> next_token{0};

  // The next unused token; nullptr once all are used.
  const encoded_token* take_token(uint32_t& bucket) {
    const size_t i = next_token.fetch_add(1);
    if (i >= tokens.size()) {
      return nullptr;
    }
    bucket = static_cast<uint32_t>(i % n_buckets);
    return &tokens[i];
  }
};

constexpr size_t kRequestPool = 2048;

void prepare_inputs(const options& o, const issuer_view& issuer, timed_inputs& in) {
  const athm::public_key& pk = issuer.current();
  in.n_buckets = pk.params().n_buckets();
  in.response_size = pk.params().response_size();
  std::ifstream f(o.tokens_path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) {
    throw std::runtime_error("cannot read " + o.tokens_path);
  }
  if (data.empty() || data.size() % athm::pp::kTokenBytes != 0) {
    throw std::runtime_error(o.tokens_path + ": expected whole 132-byte tokens");
  }
  in.tokens.resize(data.size() / athm::pp::kTokenBytes);
  for (size_t i = 0; i < in.tokens.size(); ++i) {
    std::memcpy(in.tokens[i].data(), data.data() + i * athm::pp::kTokenBytes,
                athm::pp::kTokenBytes);
    if (token_key_id(in.tokens[i]) != pk.id()) {
      throw std::runtime_error(o.tokens_path + ": token " + std::to_string(i) +
                               " is not for the issuer's current key");
    }
  }
  in.pool.reserve(kRequestPool);
  for (size_t i = 0; i < kRequestPool; ++i) {
    in.pool.push_back(make_request(pk));
  }
  std::printf("Inputs: %zu TokenRequests (reused), %zu minted tokens (each redeemed once).\n\n",
              in.pool.size(), in.tokens.size());
}

// One timed HTTP exchange: how long it took, and what was wrong ("" if
// nothing).
struct exchange {
  double ms = 0;
  std::string error;
};

// POST /request; success is a 200 with a TokenResponse of the right size.
// |body|, if given, receives the response.
exchange issue_exchange(http_connection& pub, const issuer_view& issuer, const timed_inputs& in,
                        const std::string& request, uint32_t bucket, std::string* body) {
  http_request req;
  req.method = "POST";
  req.target = issuer.request_target;
  req.headers.emplace_back("Content-Type", kRequestMediaType);
  req.headers.emplace_back(kBucketHeader, std::to_string(bucket));
  req.body = request;
  exchange x;
  const auto t0 = clock_type::now();
  http_reply reply = pub.send(req);
  x.ms = ms_since(t0);
  if (reply.status != 200 || reply.media_type() != kResponseMediaType ||
      reply.body.size() != in.response_size) {
    x.error = "issuance: " + reply.describe();
  } else if (body != nullptr) {
    *body = std::move(reply.body);
  }
  return x;
}

// POST /redeem; success is a 200 naming |bucket|.
exchange redeem_exchange(http_connection& internal, const encoded_token& token, uint32_t bucket) {
  exchange x;
  const auto t0 = clock_type::now();
  const redeem_result r = redeem(internal, token);
  x.ms = ms_since(t0);
  if (r.status() != 200 || r.bucket != bucket) {
    x.error = "redemption: " + r.reply.describe();
  }
  return x;
}

constexpr const char* kOutOfTokens =
    "redemption: ran out of minted tokens (mint more: scripts/soak.sh --tokens)";

// ------------------------------------------------------------ ramp

// One operation here is one issuance and one redemption, independent of each
// other (the load phase's unit too).
double ramp(const options& o, const issuer_view& issuer, timed_inputs& in, error_log& errors) {
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
        http_connection pub(o.public_port, 15s, o.tls);
        http_connection internal(o.internal_port);
        std::mt19937_64 prng(1000 + i);
        for (size_t k = i; !stop.load(); k += c) {
          const uint32_t bucket = static_cast<uint32_t>(prng() % in.n_buckets);
          const exchange a = issue_exchange(pub, issuer, in, in.pool[k % in.pool.size()].body,
                                            bucket, nullptr);
          uint32_t token_bucket = 0;
          const encoded_token* tok = in.take_token(token_bucket);
          if (tok == nullptr) {
            errors.add(kOutOfTokens);
            return;
          }
          const exchange b = redeem_exchange(internal, *tok, token_bucket);
          if (!a.error.empty() || !b.error.empty()) {
            errors.add(a.error.empty() ? b.error : a.error);
            continue;
          }
          done.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          issue_ms.push_back(a.ms);
          redeem_ms.push_back(b.ms);
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

// Every kSampleEvery-th issuance of the load uses a request of its own and
// keeps its response, which is finalized (issuance proof checked) and
// redeemed after the load, so the bucket the issuer hid is checked too.
constexpr uint64_t kSampleEvery = 64;

struct issued_sample {
  uint32_t bucket = 0;
  std::string response;
};

// Finalizes and redeems the samples; returns how many passed.
size_t check_samples(const options& o, const issuer_view& issuer,
                     const std::vector<pending_request>& requests,
                     const std::vector<issued_sample>& samples, error_log& errors) {
  const athm::public_key& pk = issuer.current();
  http_connection internal(o.internal_port);
  size_t passed = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].response.empty()) {
      continue;  // that issuance failed and was counted as an error
    }
    const auto* body = reinterpret_cast<const uint8_t*>(samples[i].response.data());
    auto tok = athm::finalize_token(pk, requests[i].ctx,
                                    std::span<const uint8_t>(body, samples[i].response.size()));
    if (!tok) {
      errors.add(std::string("sampled issuance: finalize_token: ") + athm::to_string(tok.error()));
      continue;
    }
    athm::pp::token t;
    t.issuer_key_id = pk.id();
    t.authenticator = *tok;
    const encoded_token encoded = t.encode();
    const exchange x = redeem_exchange(internal, encoded, samples[i].bucket);
    if (!x.error.empty()) {
      errors.add("sampled issuance, " + x.error);
      continue;
    }
    ++passed;
  }
  return passed;
}

bool load(const options& o, const issuer_view& issuer, timed_inputs& in, double rate,
          error_log& errors) {
  const auto duration = std::chrono::duration<double>(o.duration_s);
  const size_t minutes = static_cast<size_t>(std::ceil(o.duration_s / 60.0));
  std::vector<minute_stats> per_minute(minutes);
  std::mutex mu;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> issued{0};
  std::atomic<uint64_t> redeemed{0};
  // Operation k's issuance is due at k/rate and its redemption half an
  // interval later: two interleaved streams at |rate| each.
  const auto half = std::chrono::duration<double>(0.5 / rate);
  const uint64_t operations = static_cast<uint64_t>(rate * o.duration_s);
  const size_t sample_count = static_cast<size_t>(operations / kSampleEvery + 1);
  std::vector<pending_request> sample_requests;
  sample_requests.reserve(sample_count);
  for (size_t i = 0; i < sample_count; ++i) {
    sample_requests.push_back(make_request(issuer.current()));
  }
  std::vector<issued_sample> samples(sample_count);
  if (in.tokens.size() - std::min(in.tokens.size(), in.next_token.load()) < operations) {
    std::printf("Warning: %zu minted tokens left for %llu redemptions; the rest will fail.\n\n",
                in.tokens.size() - std::min(in.tokens.size(), in.next_token.load()),
                static_cast<unsigned long long>(operations));
  }
  const auto start = clock_type::now() + 200ms;
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(duration);

  std::printf("## Load (open loop at %.1f operations/s for %.0f s, %u workers)\n\n", rate,
              o.duration_s, o.workers);
  std::printf("Each operation is one issuance, due at k/rate, and one redemption of another "
              "(minted) token, due half an interval later.\n\n");
  const std::string window_start = utc_now();
  const sched_totals sched_start = read_sched(o.pid);
  const cpu_times cpu_start = read_cpu();
  std::fflush(stdout);

  // Memory sampler: every 10 s from the start to the end.
  std::vector<std::pair<double, memory>> mem_samples;
  std::atomic<bool> stop_sampler{false};
  std::thread sampler([&] {
    auto due = start;
    while (!stop_sampler.load()) {
      if (clock_type::now() >= due) {
        mem_samples.emplace_back(std::chrono::duration<double>(clock_type::now() - start).count(),
                                 read_memory(o.pid));
        due += 10s;
      }
      std::this_thread::sleep_for(50ms);
    }
    mem_samples.emplace_back(std::chrono::duration<double>(clock_type::now() - start).count(),
                             read_memory(o.pid));
  });

  std::vector<std::thread> pool;
  for (unsigned w = 0; w < o.workers; ++w) {
    pool.emplace_back([&, w] {
      http_connection pub(o.public_port, 15s, o.tls);
      http_connection internal(o.internal_port);
      std::mt19937_64 prng(5000 + w);
      while (true) {
        const uint64_t e = next.fetch_add(1);
        const uint64_t k = e / 2;
        const bool issuance = e % 2 == 0;
        const auto due = start + std::chrono::duration_cast<clock_type::duration>(
                                     half * static_cast<double>(e));
        if (due >= end || k >= operations) {
          return;
        }
        exchange x;
        std::this_thread::sleep_until(due);
        const bool late = clock_type::now() - due > 100ms;
        if (issuance) {
          const uint32_t bucket = static_cast<uint32_t>(prng() % in.n_buckets);
          if (k % kSampleEvery == 0) {
            issued_sample& s = samples[k / kSampleEvery];
            s.bucket = bucket;
            x = issue_exchange(pub, issuer, in, sample_requests[k / kSampleEvery].body, bucket,
                               &s.response);
          } else {
            x = issue_exchange(pub, issuer, in, in.pool[k % in.pool.size()].body, bucket, nullptr);
          }
        } else {
          uint32_t bucket = 0;
          const encoded_token* tok = in.take_token(bucket);
          if (tok == nullptr) {
            x.error = kOutOfTokens;
          } else {
            x = redeem_exchange(internal, *tok, bucket);
          }
        }
        if (!x.error.empty()) {
          errors.add(x.error);
          continue;
        }
        const size_t m = std::min(minutes - 1, static_cast<size_t>(
                                                   std::chrono::duration<double>(due - start).count() / 60.0));
        (issuance ? issued : redeemed).fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        (issuance ? per_minute[m].issue_ms : per_minute[m].redeem_ms).push_back(x.ms);
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
  const cpu_times cpu_end = read_cpu();
  // scripts/soak.sh reads this line to pick the daemon's access-log lines of
  // the load phase.
  std::printf("Load window (UTC): %s to %s\n\n", window_start.c_str(), utc_now().c_str());

  std::printf("Completed %llu issuances and %llu redemptions in %.0f s (%.1f operations/s), "
              "%llu errors.\n\n",
              static_cast<unsigned long long>(issued.load()),
              static_cast<unsigned long long>(redeemed.load()), secs,
              static_cast<double>(std::min(issued.load(), redeemed.load())) / secs,
              static_cast<unsigned long long>(errors.count.load()));
  std::printf("| minute | issuances | issuance p50 | issuance p99 | p99/p50 | redemption p50 | redemption p99 | p99/p50 | started >100 ms late |\n");
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
  // How busy "80 % of capacity" keeps the machine, and who else used it.
  const double busy = cpu_end.busy_s - cpu_start.busy_s;
  const double idle = cpu_end.idle_s - cpu_start.idle_s;
  const double steal = cpu_end.steal_s - cpu_start.steal_s;
  const double all = busy + idle + steal;
  std::printf("Machine during the load: %u CPUs, %.0f %% busy, %.1f %% stolen by the hypervisor; "
              "this client used %.2f cores.\n\n",
              std::thread::hardware_concurrency(), all > 0 ? 100 * busy / all : 0,
              all > 0 ? 100 * steal / all : 0, (cpu_end.self_s - cpu_start.self_s) / secs);
  std::printf("| daemon threads | on a CPU | runnable, waiting for a CPU |\n|---|---:|---:|\n");
  for (const auto& [name, end] : sched_end.by_name) {
    const auto it = sched_start.by_name.find(name);
    const sched_time begin = it == sched_start.by_name.end() ? sched_time{} : it->second;
    std::printf("| %s | %.1f s | %.1f s |\n", name.c_str(), end.run_s - begin.run_s,
                end.wait_s - begin.wait_s);
  }
  std::printf("\n");

  std::printf("| t (s) | VmRSS | RssAnon | RssFile |\n|---:|---:|---:|---:|\n");
  for (const auto& [t, m] : mem_samples) {
    std::printf("| %.0f | %.1f MiB | %.1f MiB | %.1f MiB |\n", t, mib(m.vm_rss_kib),
                mib(m.rss_anon_kib), mib(m.rss_file_kib));
  }
  // Growth of the heap (anonymous memory) after the first minute, when
  // allocator pools, thread stacks and LMDB reader slots have settled. The
  // file-backed part grows with the LMDB data file by design.
  if (mem_samples.size() >= 3) {
    const memory* base = &mem_samples.front().second;
    double base_t = mem_samples.front().first;
    for (const auto& [t, m] : mem_samples) {
      if (t >= 60) {
        base = &m;
        base_t = t;
        break;
      }
    }
    const memory& last = mem_samples.back().second;
    const long growth = last.rss_anon_kib - base->rss_anon_kib;
    const bool grew = growth > 1024 + base->rss_anon_kib / 50;
    std::printf("\nRssAnon from t=%.0f s to the end: %+.1f MiB (%s; threshold 1 MiB + 2 %%). "
                "VmRSS from the first sample to the end: %+.1f MiB (RssFile %+.1f MiB).\n\n",
                base_t, mib(growth), grew ? "GREW" : "no growth",
                mib(last.vm_rss_kib - mem_samples.front().second.vm_rss_kib),
                mib(last.rss_file_kib - mem_samples.front().second.rss_file_kib));
  }
  const size_t kept = static_cast<size_t>(std::count_if(
      samples.begin(), samples.end(), [](const issued_sample& x) { return !x.response.empty(); }));
  const size_t passed = check_samples(o, issuer, sample_requests, samples, errors);
  std::printf("Sampled issuances (every %llu-th, with a request of its own): %zu of %zu finalized "
              "with the issuance proof checked, then redeemed with the bucket asked for.\n\n",
              static_cast<unsigned long long>(kSampleEvery), passed, kept);
  return tail_ok;
}

// ------------------------------------------------------------ idle connections

// Idle connections: blocking sockets, each with its TLS session over HTTPS.
class idle_set {
 public:
  explicit idle_set(const std::optional<tls_trust>& tls) {
    if (!tls) {
      return;
    }
    ctx_.reset(SSL_CTX_new(TLS_method()));
    if (!ctx_ || !SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION) ||
        !SSL_CTX_load_verify_locations(ctx_.get(), tls->ca_file.c_str(), nullptr)) {
      throw std::runtime_error("TLS client context: cannot load " + tls->ca_file);
    }
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
  ~idle_set() { close_all(); }
  idle_set(const idle_set&) = delete;
  idle_set& operator=(const idle_set&) = delete;

  size_t size() const { return fds_.size(); }
  int fd(size_t i) const { return fds_[i]; }

  // Connects (and handshakes) a new connection and sends |request| on it.
  // Returns "" or what failed.
  std::string open_and_send(uint16_t port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return std::string("socket: ") + std::strerror(errno) + " (raise ulimit -n)";
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const std::string e = std::string("connect: ") + std::strerror(errno);
      ::close(fd);
      return e;
    }
    fds_.push_back(fd);
    if (!ctx_) {
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
        return "send failed on connection " + std::to_string(fds_.size() - 1);
      }
      return "";
    }
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    if (!ssl || !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1") ||
        !SSL_set_fd(ssl.get(), fd)) {
      return "SSL_new failed on connection " + std::to_string(fds_.size() - 1);
    }
    if (SSL_connect(ssl.get()) != 1) {
      char why[256];
      ERR_error_string_n(ERR_get_error(), why, sizeof why);
      return "TLS handshake failed on connection " + std::to_string(fds_.size() - 1) + ": " + why;
    }
    const int n = SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    ssls_.push_back(std::move(ssl));
    if (n != static_cast<int>(request.size())) {
      return "TLS write failed on connection " + std::to_string(fds_.size() - 1);
    }
    return "";
  }

  // Reads one response with a Content-Length on connection |i|; true if 200.
  bool read_ok(size_t i) {
    std::string buf;
    char chunk[2048];
    while (true) {
      const ssize_t n = ctx_ ? SSL_read(ssls_[i].get(), chunk, sizeof chunk)
                             : ::recv(fds_[i], chunk, sizeof chunk, 0);
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

  // Closes every connection (without a TLS close_notify, as a client that
  // goes away would).
  void close_all() {
    ssls_.clear();
    for (int fd : fds_) {
      ::close(fd);
    }
    fds_.clear();
  }

 private:
  bssl::UniquePtr<SSL_CTX> ctx_;  // null for plain HTTP
  std::vector<int> fds_;
  std::vector<bssl::UniquePtr<SSL>> ssls_;  // one per fd over HTTPS
};

// Opens |count| connections in batches, each after one GET /healthz
// answered 200. Returns "" or what failed.
std::string open_idle(const options& o, size_t count, idle_set& conns) {
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o.public_port) + "\r\n\r\n";
  constexpr size_t kBatch = 256;
  while (conns.size() < count) {
    const size_t batch_start = conns.size();
    const size_t batch_end = std::min(count, batch_start + kBatch);
    for (size_t i = batch_start; i < batch_end; ++i) {
      if (std::string e = conns.open_and_send(o.public_port, request); !e.empty()) {
        return e;
      }
    }
    for (size_t i = batch_start; i < conns.size(); ++i) {
      if (!conns.read_ok(i)) {
        return "no 200 on connection " + std::to_string(i) +
               " (is limits.max_connections above the count?)";
      }
    }
  }
  return "";
}

bool idle(const options& o, const issuer_view& issuer, error_log& errors) {
  std::printf("## %zu idle keep-alive connections (public listener, %s), %u rounds\n\n",
              o.idle_connections, o.tls ? "HTTPS" : "plain HTTP", o.idle_rounds);
  std::printf("| round | daemon memory | VmRSS | RssAnon |\n|---:|---|---:|---:|\n");
  bool ok = true;
  std::vector<std::string> notes;
  memory first_before;
  memory first_held;
  std::vector<long> held_anon;
  for (unsigned round = 1; round <= o.idle_rounds; ++round) {
    const memory before = read_memory(o.pid);
    idle_set conns(o.tls);
    const auto t0 = clock_type::now();
    const std::string failure = open_idle(o, o.idle_connections, conns);
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
    for (size_t i = 0; i < conns.size(); ++i) {
      pollfd p{conns.fd(i), POLLIN, 0};
      if (::poll(&p, 1, 0) == 0) {
        ++still_open;  // nothing to read: not closed by the daemon
      }
    }
    const memory held = read_memory(o.pid);
    const size_t opened = conns.size();
    conns.close_all();
    std::this_thread::sleep_for(3s);
    const memory after = read_memory(o.pid);
    if (!failure.empty()) {
      errors.add("idle connections: " + failure);
    }
    ok = ok && failure.empty() && still_open == opened && ops_ok == 20;
    if (round == 1) {
      first_before = before;
      first_held = held;
    }
    held_anon.push_back(held.rss_anon_kib);
    std::printf("| %u | before | %.1f MiB | %.1f MiB |\n", round, mib(before.vm_rss_kib),
                mib(before.rss_anon_kib));
    std::printf("| %u | %zu open (2 s) | %.1f MiB | %.1f MiB |\n", round, opened,
                mib(open.vm_rss_kib), mib(open.rss_anon_kib));
    std::printf("| %u | %zu open (%.0f s) | %.1f MiB | %.1f MiB |\n", round, opened,
                o.idle_hold_s + 2, mib(held.vm_rss_kib), mib(held.rss_anon_kib));
    std::printf("| %u | closed (3 s later) | %.1f MiB | %.1f MiB |\n", round,
                mib(after.vm_rss_kib), mib(after.rss_anon_kib));
    char note[512];
    std::snprintf(note, sizeof note,
                  "Round %u: opened %zu connections in %.1f s, %zu still open after %.0f s idle, "
                  "%d of 20 operations succeeded meanwhile%s%s.",
                  round, opened, open_secs, still_open, o.idle_hold_s + 2, ops_ok,
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
    } else if (k == "--tokens") {
      o.tokens_path = v;
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
    } else if (k == "--tls-ca") {
      o.tls = tls_trust{v};
    } else {
      return usage();
    }
  }
  if (o.public_port == 0 || o.internal_port == 0 || o.pid <= 0 || o.duration_s <= 0 ||
      o.fraction <= 0 || (o.load && o.tokens_path.empty())) {
    return usage();
  }
  if (read_memory(o.pid).vm_rss_kib < 0) {
    std::fprintf(stderr, "athm_soak: cannot read /proc/%d/status\n", o.pid);
    return 2;
  }
  try {
    const issuer_view issuer = fetch_issuer(o.public_port, o.tls);
    error_log errors;
    if (o.load) {
      timed_inputs in;
      prepare_inputs(o, issuer, in);
      double rate = o.rate;
      if (rate <= 0) {
        rate = o.fraction * ramp(o, issuer, in, errors);
      }
      if (rate <= 0) {
        std::fprintf(stderr, "athm_soak: no capacity measured\n");
        return 2;
      }
      load(o, issuer, in, rate, errors);
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
