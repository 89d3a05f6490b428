// Counters and latency histograms for the internal /metrics endpoint, in the
// Prometheus text format (exposition version 0.0.4).
//
// Every counter and histogram is declared once in the X-macro lists below and
// is made of relaxed atomics: cheap on the request path (no lock, no
// allocation), safe from any thread. Nothing here is per bucket: the hidden
// bucket is not counted anywhere, nor is it a label of any series.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace athm::app {

// Endpoints whose responses are counted: X(id, label)
#define ATHM_APP_ENDPOINTS(X) \
  X(directory, "directory")   \
  X(issue, "issue")           \
  X(healthz, "healthz")       \
  X(readyz, "readyz")         \
  X(redeem, "redeem")         \
  X(auth, "auth")             \
  X(metrics, "metrics")

// Statuses counted one by one; others are counted as "other".
#define ATHM_APP_STATUSES(X) \
  X(200) X(304) X(401) X(403) X(409) X(413) X(415) X(422) X(429) X(500) X(503)

// Plain counters: X(id, family, labels). Families are declared in
// ATHM_APP_COUNTER_FAMILIES with their help text.
#define ATHM_APP_COUNTERS(X)                                                        \
  X(redemption_fresh, "athmd_redemptions_total", "outcome=\"fresh\"")               \
  X(redemption_already_spent, "athmd_redemptions_total", "outcome=\"already_spent\"") \
  X(redemption_invalid, "athmd_redemptions_total", "outcome=\"invalid\"")           \
  X(redemption_unavailable, "athmd_redemptions_total", "outcome=\"unavailable\"")   \
  X(attester_issue, "athmd_attester_results_total", "result=\"issue\"")             \
  X(attester_deny, "athmd_attester_results_total", "result=\"deny\"")               \
  X(attester_undecided, "athmd_attester_results_total", "result=\"undecided\"")     \
  X(fail_open, "athmd_attester_fail_mode_total", "mode=\"open\"")                   \
  X(fail_closed, "athmd_attester_fail_mode_total", "mode=\"closed\"")               \
  X(tokens_issued, "athmd_tokens_issued_total", "")                                 \
  X(key_reload_ok, "athmd_key_reloads_total", "result=\"ok\"")                      \
  X(key_reload_failed, "athmd_key_reloads_total", "result=\"failed\"")

// X(family, help)
#define ATHM_APP_COUNTER_FAMILIES(X)                                                         \
  X("athmd_redemptions_total", "Token redemptions (/redeem and /auth) by outcome.")           \
  X("athmd_attester_results_total", "Attester verdicts by result.")                          \
  X("athmd_attester_fail_mode_total", "Undecided attester results resolved by the fail mode.") \
  X("athmd_tokens_issued_total", "Token responses sent.")                                    \
  X("athmd_key_reloads_total", "Key directory reloads by result.")

// Latency histograms besides the per-endpoint request latency:
// X(id, family, labels). Families are declared in ATHM_APP_HISTOGRAM_FAMILIES.
#define ATHM_APP_HISTOGRAMS(X)                                                          \
  X(attester_issue, "athmd_attester_duration_seconds", "result=\"issue\"")              \
  X(attester_deny, "athmd_attester_duration_seconds", "result=\"deny\"")                \
  X(attester_undecided, "athmd_attester_duration_seconds", "result=\"undecided\"")      \
  X(store_fresh, "athmd_store_duration_seconds", "outcome=\"fresh\"")                   \
  X(store_already_spent, "athmd_store_duration_seconds", "outcome=\"already_spent\"")   \
  X(store_unavailable, "athmd_store_duration_seconds", "outcome=\"unavailable\"")

// X(family, help)
#define ATHM_APP_HISTOGRAM_FAMILIES(X)                                                             \
  X("athmd_attester_duration_seconds", "Attester check, from the call to its verdict, by result.") \
  X("athmd_store_duration_seconds", "Spent-store check-and-mark, from the call to its completion, by outcome.")

// The request latency family, one series per endpoint (label "endpoint").
inline constexpr const char* kRequestDurationFamily = "athmd_request_duration_seconds";

// Upper bounds (le) of the latency histogram buckets in microseconds,
// 100 µs to 10 s in 1-2.5-5 steps; a last +Inf bucket follows.
inline constexpr std::array<uint64_t, 16> kLatencyBoundsUs = {
    100,     250,     500,     1'000,     2'500,     5'000,     10'000,    25'000,
    50'000,  100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000};

// An enum of the ids in an X-macro list, and the number of entries.
#define ATHM_APP_X_ID(id, ...) id,
#define ATHM_APP_X_ONE(...) +1
enum class endpoint : size_t { ATHM_APP_ENDPOINTS(ATHM_APP_X_ID) };
inline constexpr size_t kEndpointCount = 0 ATHM_APP_ENDPOINTS(ATHM_APP_X_ONE);

enum class counter : size_t { ATHM_APP_COUNTERS(ATHM_APP_X_ID) };
inline constexpr size_t kCounterCount = 0 ATHM_APP_COUNTERS(ATHM_APP_X_ONE);

enum class histogram : size_t { ATHM_APP_HISTOGRAMS(ATHM_APP_X_ID) };
inline constexpr size_t kHistogramCount = 0 ATHM_APP_HISTOGRAMS(ATHM_APP_X_ONE);
#undef ATHM_APP_X_ID
#undef ATHM_APP_X_ONE

inline constexpr unsigned kCountedStatuses[] = {
#define ATHM_X(code) code,
    ATHM_APP_STATUSES(ATHM_X)
#undef ATHM_X
};
inline constexpr size_t kStatusSlots = std::size(kCountedStatuses) + 1;  // + "other"

const char* to_string(endpoint e) noexcept;

// Appends the unlabelled gauge |name| with its HELP and TYPE lines and
// |value|, in the same text format as metrics::render_prometheus. For gauges
// read at scrape time from outside the metrics object.
void append_gauge(std::string& out, std::string_view name, std::string_view help, uint64_t value);

// One latency histogram: a count per bucket (not cumulative) and the sum of
// all observations. Thread-safe; observe() is a few relaxed atomic adds.
// Readers see each value exactly, but not necessarily all values from the
// same instant (a scrape may count an observation in a bucket and not yet in
// the sum).
class latency_histogram {
 public:
  static constexpr size_t kSlots = kLatencyBoundsUs.size() + 1;  // + "+Inf"

  // Adds |d| to the first bucket whose bound is >= |d| (or to +Inf) and to
  // the sum. A negative |d| counts as zero.
  void observe(std::chrono::nanoseconds d) noexcept;

  // Observations in slot |i| alone (i < kSlots; kSlots - 1 is +Inf).
  uint64_t in_slot(size_t i) const noexcept { return slots_[i].load(std::memory_order_relaxed); }
  // Observations in all slots.
  uint64_t count() const noexcept;
  // Sum of all observations, nanoseconds (wraps after 584 years of summed
  // latency).
  uint64_t sum_ns() const noexcept { return sum_ns_.load(std::memory_order_relaxed); }

  // The slot |d| falls in.
  static size_t slot(std::chrono::nanoseconds d) noexcept;

 private:
  std::array<std::atomic<uint64_t>, kSlots> slots_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// The start of a measured interval on std::chrono::steady_clock.
class stopwatch {
 public:
  stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  std::chrono::nanoseconds elapsed() const noexcept { return std::chrono::steady_clock::now() - start_; }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Thread-safe; all operations are relaxed atomics.
// Bytes of a key id shown in key_id labels (16 hex digits).
inline constexpr size_t kKeyLabelBytes = 8;

class metrics {
 public:
  metrics() = default;
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  void inc(counter c) noexcept { counters_[static_cast<size_t>(c)].fetch_add(1, std::memory_order_relaxed); }
  void count_response(endpoint e, unsigned status) noexcept;
  // Request latency of |e|: from the handler call to the response.
  void observe(endpoint e, std::chrono::nanoseconds d) noexcept { requests_[static_cast<size_t>(e)].observe(d); }
  void observe(histogram h, std::chrono::nanoseconds d) noexcept { latency_[static_cast<size_t>(h)].observe(d); }

  // One token response sent under the key whose id starts with |key_prefix|
  // (the first 8 bytes, as in the key expiry gauge). Takes a lock: called
  // once per issuance, next to a TokenResponse of about a millisecond.
  void count_issued_by_key(std::span<const uint8_t, kKeyLabelBytes> key_prefix);
  uint64_t issued_by_key(std::span<const uint8_t, kKeyLabelBytes> key_prefix) const;

  uint64_t value(counter c) const noexcept {
    return counters_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }
  // Responses counted for |e| with |status| (a status outside the list
  // reads the "other" slot).
  uint64_t responses(endpoint e, unsigned status) const noexcept;
  const latency_histogram& latency(endpoint e) const noexcept { return requests_[static_cast<size_t>(e)]; }
  const latency_histogram& latency(histogram h) const noexcept { return latency_[static_cast<size_t>(h)]; }

  // The Prometheus text exposition (version 0.0.4) of every counter and
  // histogram. Histogram buckets are rendered cumulative, ending with
  // le="+Inf", whose value is also _count; _sum is in seconds.
  // Allocates; meant for the scrape, not the request path.
  std::string render_prometheus() const;

 private:
  static size_t slot(unsigned status) noexcept;

  std::array<std::atomic<uint64_t>, kCounterCount> counters_{};
  mutable std::mutex by_key_mu_;
  std::map<std::array<uint8_t, kKeyLabelBytes>, uint64_t> issued_by_key_;  // guarded by by_key_mu_
  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kEndpointCount> responses_{};
  std::array<latency_histogram, kEndpointCount> requests_{};
  std::array<latency_histogram, kHistogramCount> latency_{};
};

}  // namespace athm::app
