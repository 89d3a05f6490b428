// dudect-style leak measurement for the hidden bucket (not a unit test).
//
// Runs TokenResponse (or VerifyToken) with bucket 0 and bucket n-1 in a
// random interleaving, times each call with the TSC, and reports Welch's t
// statistic between the two classes, over all samples and over samples
// cropped at several upper percentiles (as dudect does, to discount
// interrupts). |t| < 4.5 is the usual "no leak detected" threshold.
//
//   athm_dudect --op response|verify [--buckets 4] [--samples 200000]
#include <x86intrin.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crypto/athm.h"

namespace {

struct welch {
  double n[2] = {0, 0}, mean[2] = {0, 0}, m2[2] = {0, 0};
  void add(int cls, double x) {
    n[cls] += 1;
    double d = x - mean[cls];
    mean[cls] += d / n[cls];
    m2[cls] += d * (x - mean[cls]);
  }
  double t() const {
    if (n[0] < 2 || n[1] < 2) {
      return 0;
    }
    double v0 = m2[0] / (n[0] - 1), v1 = m2[1] / (n[1] - 1);
    return (mean[0] - mean[1]) / std::sqrt(v0 / n[0] + v1 / n[1]);
  }
};

int usage() {
  std::fprintf(stderr, "usage: athm_dudect --op response|verify [--buckets N] [--samples N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string op;
  uint32_t n = 4;
  size_t samples = 200000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--op") {
      op = v;
    } else if (k == "--buckets") {
      n = static_cast<uint32_t>(std::stoul(v));
    } else if (k == "--samples") {
      samples = std::stoull(v);
    } else {
      return usage();
    }
  }
  if ((op != "response" && op != "verify") || n < 2) {
    return usage();
  }
  auto s = athm::suite::create(n, "dudect");
  auto sk = athm::private_key::generate(*s);
  if (!sk) {
    return 1;
  }
  // Inputs for both classes come from the same distribution: a pool of fresh
  // requests, and for VerifyToken a pool of tokens of each bucket.
  constexpr size_t kPool = 256;
  std::vector<athm::client_context> ctxs;
  for (size_t i = 0; i < kPool; ++i) {
    ctxs.push_back(std::move(*athm::token_request(sk->public_part())));
  }
  const uint32_t bucket_of[2] = {0, n - 1};
  std::vector<athm::token_bytes> tokens[2];
  if (op == "verify") {
    for (int c = 0; c < 2; ++c) {
      for (size_t i = 0; i < kPool; ++i) {
        auto resp = sk->token_response(ctxs[i].request(), bucket_of[c]);
        tokens[c].push_back(*athm::finalize_token(sk->public_part(), ctxs[i], *resp));
      }
    }
  }

  std::mt19937_64 prng(12345);  // schedules classes and inputs; not crypto
  std::vector<uint64_t> times(samples);
  std::vector<uint8_t> cls(samples);
  for (size_t i = 0; i < samples; ++i) {
    cls[i] = static_cast<uint8_t>(prng() & 1);
  }
  uint64_t sink = 0;
  for (size_t i = 0; i < samples; ++i) {
    const int c = cls[i];
    const size_t pick = prng() % kPool;
    unsigned aux;
    uint64_t t0, t1;
    if (op == "response") {
      t0 = __rdtscp(&aux);
      auto r = sk->token_response(ctxs[pick].request(), bucket_of[c]);
      t1 = __rdtscp(&aux);
      sink += r.ok() ? (*r)[0] : 0;
    } else {
      t0 = __rdtscp(&aux);
      auto r = sk->verify_token(tokens[c][pick]);
      t1 = __rdtscp(&aux);
      sink += r.ok() ? *r : 7;
    }
    times[i] = t1 - t0;
  }

  // Percentile thresholds from all samples (both classes together).
  std::vector<uint64_t> sorted(times);
  std::sort(sorted.begin(), sorted.end());
  const double crops[] = {1.0, 0.99, 0.95, 0.90, 0.75, 0.50};
  double max_abs_t = 0;
  std::printf("op=%s n=%u samples=%zu buckets compared: 0 vs %u (sink %llu)\n", op.c_str(), n,
              samples, n - 1, static_cast<unsigned long long>(sink & 1));
  for (double crop : crops) {
    const uint64_t limit = sorted[std::min(samples - 1, static_cast<size_t>(crop * (samples - 1)))];
    welch w;
    for (size_t i = 0; i < samples; ++i) {
      if (times[i] <= limit) {
        w.add(cls[i], static_cast<double>(times[i]));
      }
    }
    const double t = w.t();
    max_abs_t = std::max(max_abs_t, std::fabs(t));
    std::printf("  crop p%-5.1f  n0=%-8.0f n1=%-8.0f mean0=%-10.0f mean1=%-10.0f t=%+.3f\n",
                crop * 100, w.n[0], w.n[1], w.mean[0], w.mean[1], t);
  }
  std::printf("max |t| = %.3f (%s)\n", max_abs_t,
              max_abs_t < 4.5 ? "no leak detected at 4.5" : "LEAK SUSPECTED");
  return 0;
}
