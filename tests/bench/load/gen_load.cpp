// athm_loadgen: inputs and the engine-only bound for the daemon load test
// (scripts/loadtest.sh). Not a test; never run by ctest.
//
//   athm_loadgen requests --url URL --count N --out FILE
//       N TokenRequest bodies (36 bytes each, concatenated) for the issuer's
//       current key, each from a fresh client context.
//   athm_loadgen tokens --url URL --count N --out FILE [--threads T]
//       N tokens (132 bytes each, concatenated) through the real issuance
//       protocol (directory, key proof, TokenRequest, issuance proof); the
//       bucket header X-Athm-Bucket cycles through 0..n-1.
//   athm_loadgen mint --key-file PATH --count N --out FILE [--threads T]
//       N tokens minted locally with the issuer's own key file (what a
//       completed issuance yields: random t and P, Q = (x + t*z + b*y)*P, b
//       cycling through 0..n-1). Much faster than `tokens`; the first tokens
//       are checked with the engine's verify_token.
//   athm_loadgen engine [--seconds S] [--threads T]
//       The engine-only bound: token_response and verify_token (n = 4) on T
//       threads for S seconds each. Prints key=value lines.
//
// Exit code 0 on success, 1 on any failure (message on stderr).
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/nid.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "server/keys/key_file.h"
#include "tools/athm/client.h"

namespace {

using clock_type = std::chrono::steady_clock;

struct args {
  std::string command;
  std::map<std::string, std::string> options;

  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = options.find(name);
    if (it == options.end()) {
      if (fallback.empty()) {
        throw std::runtime_error("missing --" + name);
      }
      return fallback;
    }
    return it->second;
  }
  unsigned number(const std::string& name, const std::string& fallback = "") const {
    const std::string v = get(name, fallback);
    size_t used = 0;
    const unsigned long n = std::stoul(v, &used);
    if (used != v.size() || n == 0 || n > 10'000'000) {
      throw std::runtime_error("--" + name + ": expected a positive integer");
    }
    return static_cast<unsigned>(n);
  }
};

args parse_args(int argc, char** argv) {
  if (argc < 2) {
    throw std::runtime_error("usage: athm_loadgen requests|tokens|mint|engine [--option value]...");
  }
  args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      throw std::runtime_error("bad argument: " + k);
    }
    a.options[k.substr(2)] = argv[++i];
  }
  return a;
}

template <class T>
T must(athm::result<T> r, const char* what) {
  if (!r) {
    throw std::runtime_error(std::string(what) + ": " + athm::to_string(r.error()));
  }
  return std::move(r).value();
}

void write_records(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

// Runs |work(thread index, stop flag)| on |threads| threads.
template <class F>
void run_threads(unsigned threads, F work) {
  std::vector<std::thread> pool;
  std::mutex mu;
  std::string error;
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      try {
        work(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (error.empty()) {
          error = e.what();
        }
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  if (!error.empty()) {
    throw std::runtime_error(error);
  }
}

struct issuer {
  athm::client::http_url directory_url;
  athm::client::issuer_directory directory;
  const athm::client::directory_key* key = nullptr;
  std::optional<athm::public_key> pk;
};

issuer fetch(const std::string& url) {
  issuer is;
  auto du = athm::client::directory_url(url);
  if (!du) {
    throw std::runtime_error(du.error());
  }
  is.directory_url = du.value();
  auto dir = athm::client::fetch_directory(url);
  if (!dir) {
    throw std::runtime_error("directory: " + dir.error());
  }
  is.directory = std::move(dir).value();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  is.key = athm::client::select_key(is.directory, now);
  if (is.key == nullptr) {
    throw std::runtime_error("directory: no usable key");
  }
  auto s = must(athm::suite::create(is.key->n_buckets, is.key->deployment_id), "suite");
  is.pk.emplace(must(athm::public_key::from_token_key(s, is.key->token_key), "key proof"));
  return is;
}

// ---- requests ---------------------------------------------------------------

int cmd_requests(const args& a) {
  const issuer is = fetch(a.get("url"));
  const unsigned count = a.number("count");
  std::vector<uint8_t> out;
  out.reserve(size_t{count} * athm::pp::kTokenRequestBytes);
  for (unsigned i = 0; i < count; ++i) {
    auto ctx = must(athm::token_request(*is.pk), "token_request");
    athm::pp::token_request tr;
    tr.truncated_key_id = is.pk->truncated_id();
    tr.request = ctx.request();
    const auto enc = tr.encode();
    out.insert(out.end(), enc.begin(), enc.end());
  }
  write_records(a.get("out"), out);
  std::cerr << "wrote " << count << " token requests for key "
            << athm::keys::hex_public(is.pk->id()).substr(0, 16) << "\n";
  return 0;
}

// ---- tokens (real issuance) ------------------------------------------------

int cmd_tokens(const args& a) {
  const std::string url = a.get("url");
  const issuer is = fetch(url);
  const unsigned count = a.number("count");
  const unsigned threads = a.number("threads", "2");
  std::vector<uint8_t> out(size_t{count} * athm::pp::kTokenBytes);
  std::atomic<unsigned> next{0};
  run_threads(threads, [&](unsigned) {
    while (true) {
      const unsigned i = next.fetch_add(1);
      if (i >= count) {
        return;
      }
      athm::client::issue_options o;
      o.base_url = url;
      o.extra_headers.push_back({"X-Athm-Bucket", std::to_string(i % is.key->n_buckets)});
      unsigned status = 0;
      auto t = athm::client::issue_with_key(is.directory_url, is.directory, *is.key, o, &status);
      if (!t) {
        next.store(count);
        throw std::runtime_error("issuance " + std::to_string(i) + ": " + t.error());
      }
      std::memcpy(out.data() + size_t{i} * athm::pp::kTokenBytes, t->token.data(),
                  athm::pp::kTokenBytes);
    }
  });
  write_records(a.get("out"), out);
  std::cerr << "issued " << count << " tokens\n";
  return 0;
}

// ---- mint (local, with the issuer key) -------------------------------------

struct bn_clear_free {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using secret_bn = std::unique_ptr<BIGNUM, bn_clear_free>;

int cmd_mint(const args& a) {
  const athm::keys::issuer_key key = athm::keys::load_key_file(a.get("key-file"));
  const unsigned count = a.number("count");
  const unsigned threads = a.number("threads", "2");
  const uint32_t n = key.key.params().n_buckets();
  const athm::key_id id = key.pub().id();

  const EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  const BIGNUM* order = EC_GROUP_get0_order(g);
  const auto priv = key.key.to_bytes();  // x || y || z || r_x || r_y
  secret_bn x(BN_bin2bn(priv.data(), 32, nullptr));
  secret_bn y(BN_bin2bn(priv.data() + 32, 32, nullptr));
  secret_bn z(BN_bin2bn(priv.data() + 64, 32, nullptr));
  if (!x || !y || !z) {
    throw std::runtime_error("BoringSSL allocation failed");
  }

  std::vector<uint8_t> out(size_t{count} * athm::pp::kTokenBytes);
  std::atomic<unsigned> next{0};
  run_threads(threads, [&](unsigned) {
    bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
    bssl::UniquePtr<BIGNUM> t(BN_new());
    bssl::UniquePtr<BIGNUM> r(BN_new());
    secret_bn s(BN_new());
    secret_bn tmp(BN_new());
    bssl::UniquePtr<BIGNUM> b(BN_new());
    bssl::UniquePtr<EC_POINT> p(EC_POINT_new(g));
    bssl::UniquePtr<EC_POINT> q(EC_POINT_new(g));
    if (!ctx || !t || !r || !s || !tmp || !b || !p || !q) {
      throw std::runtime_error("BoringSSL allocation failed");
    }
    while (true) {
      const unsigned i = next.fetch_add(1);
      if (i >= count) {
        return;
      }
      uint8_t* rec = out.data() + size_t{i} * athm::pp::kTokenBytes;
      // s = x + t*z + b*y mod order; P = r*G; Q = s*P
      bool ok = BN_rand_range_ex(t.get(), 0, order) && BN_rand_range_ex(r.get(), 1, order) &&
                BN_set_word(b.get(), i % n) &&
                BN_mod_mul(s.get(), t.get(), z.get(), order, ctx.get()) &&
                BN_mod_mul(tmp.get(), b.get(), y.get(), order, ctx.get()) &&
                BN_mod_add(s.get(), s.get(), tmp.get(), order, ctx.get()) &&
                BN_mod_add(s.get(), s.get(), x.get(), order, ctx.get()) && !BN_is_zero(s.get()) &&
                EC_POINT_mul(g, p.get(), r.get(), nullptr, nullptr, ctx.get()) &&
                EC_POINT_mul(g, q.get(), nullptr, p.get(), s.get(), ctx.get());
      if (!ok) {
        throw std::runtime_error("minting token " + std::to_string(i) + " failed");
      }
      rec[0] = 0xC0;
      rec[1] = 0x7E;
      std::memcpy(rec + 2, id.data(), id.size());
      uint8_t* tok = rec + 2 + athm::kKeyIdBytes;
      if (!BN_bn2bin_padded(tok, 32, t.get()) ||
          EC_POINT_point2oct(g, p.get(), POINT_CONVERSION_COMPRESSED, tok + 32, 33, ctx.get()) !=
              33 ||
          EC_POINT_point2oct(g, q.get(), POINT_CONVERSION_COMPRESSED, tok + 65, 33, ctx.get()) !=
              33) {
        throw std::runtime_error("encoding token " + std::to_string(i) + " failed");
      }
    }
  });

  // The daemon runs exactly this check; make sure the minted tokens pass it.
  const unsigned checked = std::min(count, 16u);
  for (unsigned i = 0; i < checked; ++i) {
    auto tok = athm::pp::token::decode(
        std::span<const uint8_t>(out.data() + size_t{i} * athm::pp::kTokenBytes,
                                 athm::pp::kTokenBytes));
    if (!tok) {
      throw std::runtime_error("minted token does not decode");
    }
    const uint32_t bucket = must(key.key.verify_token(tok->authenticator), "verify_token");
    if (bucket != i % n) {
      throw std::runtime_error("minted token has the wrong bucket");
    }
  }
  write_records(a.get("out"), out);
  std::cerr << "minted " << count << " tokens for key " << athm::keys::hex_public(id).substr(0, 16)
            << " (" << checked << " checked with verify_token)\n";
  return 0;
}

// ---- engine-only bound -------------------------------------------------------

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct rate {
  double per_second = 0;      // wall clock, all threads together
  double per_cpu_second = 0;  // per second of CPU time this process used
};

// Runs |op(thread, iteration)| on |threads| threads for |seconds|. On a
// machine shared with other work the wall-clock rate drops with the CPU
// share; the rate per CPU second does not.
template <class F>
rate throughput(unsigned threads, double seconds, F op) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  const double cpu_start = process_cpu_seconds();
  const auto start = clock_type::now();
  std::thread timer([&] {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
  });
  run_threads(threads, [&](unsigned tid) {
    uint64_t done = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      op(tid, done);
      ++done;
    }
    total.fetch_add(done);
  });
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  const double cpu = process_cpu_seconds() - cpu_start;
  timer.join();
  rate r;
  r.per_second = static_cast<double>(total.load()) / elapsed;
  r.per_cpu_second = cpu > 0 ? static_cast<double>(total.load()) / cpu : 0;
  return r;
}

int cmd_engine(const args& a) {
  const double seconds = a.number("seconds", "5");
  const unsigned threads = a.number("threads", "2");
  constexpr uint32_t kBuckets = 4;
  auto s = must(athm::suite::create(kBuckets, "athmd-dev"), "suite");
  const athm::private_key sk = must(athm::private_key::generate(s), "keygen");
  const athm::public_key& pk = sk.public_part();

  constexpr size_t kInputs = 64;
  std::vector<athm::request_bytes> requests;
  std::vector<athm::token_bytes> tokens;
  for (size_t i = 0; i < kInputs; ++i) {
    auto ctx = must(athm::token_request(pk), "token_request");
    auto resp = must(sk.token_response(ctx.request(), i % kBuckets), "token_response");
    tokens.push_back(must(athm::finalize_token(pk, ctx, resp), "finalize_token"));
    requests.push_back(ctx.request());
  }

  std::atomic<uint64_t> failures{0};
  const rate issue = throughput(threads, seconds, [&](unsigned, uint64_t i) {
    auto r = sk.token_response(requests[i % kInputs], static_cast<uint32_t>(i % kBuckets));
    if (!r) {
      failures.fetch_add(1);
    }
  });
  const rate verify = throughput(threads, seconds, [&](unsigned, uint64_t i) {
    auto r = sk.verify_token(tokens[i % kInputs]);
    if (!r) {
      failures.fetch_add(1);
    }
  });
  if (failures.load() != 0) {
    throw std::runtime_error("engine operations failed");
  }
  std::printf("engine.threads=%u\n", threads);
  std::printf("engine.seconds=%.0f\n", seconds);
  std::printf("engine.n_buckets=%u\n", kBuckets);
  std::printf("engine.token_response.ops_per_s=%.1f\n", issue.per_second);
  std::printf("engine.token_response.ops_per_cpu_s=%.1f\n", issue.per_cpu_second);
  std::printf("engine.verify_token.ops_per_s=%.1f\n", verify.per_second);
  std::printf("engine.verify_token.ops_per_cpu_s=%.1f\n", verify.per_cpu_second);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const args a = parse_args(argc, argv);
    if (a.command == "requests") {
      return cmd_requests(a);
    }
    if (a.command == "tokens") {
      return cmd_tokens(a);
    }
    if (a.command == "mint") {
      return cmd_mint(a);
    }
    if (a.command == "engine") {
      return cmd_engine(a);
    }
    throw std::runtime_error("unknown command " + a.command);
  } catch (const std::exception& e) {
    std::cerr << "athm_loadgen: " << e.what() << "\n";
    return 1;
  }
}
