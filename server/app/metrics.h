// Counters for the internal /metrics endpoint, in the Prometheus text format.
//
// Every counter is declared once in the X-macro lists below and is a relaxed
// atomic: cheap on the request path, safe from any thread. Nothing here is
// per bucket: the hidden bucket is not counted anywhere.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

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

enum class endpoint : size_t {
#define ATHM_X(id, label) id,
  ATHM_APP_ENDPOINTS(ATHM_X)
#undef ATHM_X
};
inline constexpr size_t kEndpointCount = 0
#define ATHM_X(id, label) +1
    ATHM_APP_ENDPOINTS(ATHM_X)
#undef ATHM_X
    ;

enum class counter : size_t {
#define ATHM_X(id, family, labels) id,
  ATHM_APP_COUNTERS(ATHM_X)
#undef ATHM_X
};
inline constexpr size_t kCounterCount = 0
#define ATHM_X(id, family, labels) +1
    ATHM_APP_COUNTERS(ATHM_X)
#undef ATHM_X
    ;

inline constexpr unsigned kCountedStatuses[] = {
#define ATHM_X(code) code,
    ATHM_APP_STATUSES(ATHM_X)
#undef ATHM_X
};
inline constexpr size_t kStatusSlots = std::size(kCountedStatuses) + 1;  // + "other"

const char* to_string(endpoint e) noexcept;

// Thread-safe; all operations are relaxed atomics.
class metrics {
 public:
  metrics() = default;
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  void inc(counter c) noexcept { counters_[static_cast<size_t>(c)].fetch_add(1, std::memory_order_relaxed); }
  void count_response(endpoint e, unsigned status) noexcept;

  uint64_t value(counter c) const noexcept {
    return counters_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }
  // Responses counted for |e| with |status| (a status outside the list
  // reads the "other" slot).
  uint64_t responses(endpoint e, unsigned status) const noexcept;

  // The Prometheus text exposition (version 0.0.4) of every counter.
  std::string render_prometheus() const;

 private:
  static size_t slot(unsigned status) noexcept;

  std::array<std::atomic<uint64_t>, kCounterCount> counters_{};
  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kEndpointCount> responses_{};
};

}  // namespace athm::app
