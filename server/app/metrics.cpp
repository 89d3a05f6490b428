#include "server/app/metrics.h"

#include <algorithm>
#include <string_view>

namespace athm::app {
namespace {

constexpr const char* kEndpointLabels[] = {
#define ATHM_X(id, label) label,
    ATHM_APP_ENDPOINTS(ATHM_X)
#undef ATHM_X
};

// A counter or a histogram: its family and labels.
struct series_info {
  const char* family;
  const char* labels;
};
constexpr series_info kCounterInfo[] = {
#define ATHM_X(id, family, labels) {family, labels},
    ATHM_APP_COUNTERS(ATHM_X)
#undef ATHM_X
};

struct family_info {
  const char* name;
  const char* help;
};
constexpr family_info kFamilies[] = {
#define ATHM_X(family, help) {family, help},
    ATHM_APP_COUNTER_FAMILIES(ATHM_X)
#undef ATHM_X
};

constexpr series_info kHistogramInfo[] = {
#define ATHM_X(id, family, labels) {family, labels},
    ATHM_APP_HISTOGRAMS(ATHM_X)
#undef ATHM_X
};
constexpr family_info kHistogramFamilies[] = {
#define ATHM_X(family, help) {family, help},
    ATHM_APP_HISTOGRAM_FAMILIES(ATHM_X)
#undef ATHM_X
};

uint64_t nonnegative_ns(std::chrono::nanoseconds d) noexcept {
  return d.count() > 0 ? static_cast<uint64_t>(d.count()) : 0;
}

void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// |ns| in seconds, exact, without trailing zeros: 1500000 -> "0.0015".
std::string seconds_text(uint64_t ns) {
  std::string out = std::to_string(ns / 1'000'000'000);
  std::string frac = std::to_string(ns % 1'000'000'000);
  frac.insert(0, 9 - frac.size(), '0');
  frac.erase(frac.find_last_not_of('0') + 1);
  if (!frac.empty()) {
    out += '.';
    out += frac;
  }
  return out;
}

// One histogram series: cumulative _bucket lines up to le="+Inf", _sum, _count.
void append_histogram(std::string& out, std::string_view family, std::string_view labels,
                      const latency_histogram& h) {
  const std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  const std::string braced = labels.empty() ? "" : "{" + std::string(labels) + "}";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_histogram::kSlots; ++i) {
    cumulative += h.in_slot(i);
    const std::string le =
        i < kLatencyBoundsUs.size() ? seconds_text(kLatencyBoundsUs[i] * 1000) : "+Inf";
    out += family;
    out += "_bucket{" + sep + "le=\"" + le + "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  out += family;
  out += "_sum" + braced + " " + seconds_text(h.sum_ns()) + "\n";
  out += family;
  out += "_count" + braced + " " + std::to_string(cumulative) + "\n";
}

}  // namespace

const char* to_string(endpoint e) noexcept {
  const auto i = static_cast<size_t>(e);
  return i < kEndpointCount ? kEndpointLabels[i] : "unknown";
}

size_t metrics::slot(unsigned status) noexcept {
  for (size_t i = 0; i < std::size(kCountedStatuses); ++i) {
    if (kCountedStatuses[i] == status) {
      return i;
    }
  }
  return kStatusSlots - 1;
}

void metrics::count_response(endpoint e, unsigned status) noexcept {
  responses_[static_cast<size_t>(e)][slot(status)].fetch_add(1, std::memory_order_relaxed);
}

size_t latency_histogram::slot(std::chrono::nanoseconds d) noexcept {
  const uint64_t ns = nonnegative_ns(d);
  // le is inclusive: the first bound b with ns <= b.
  const auto it = std::lower_bound(kLatencyBoundsUs.begin(), kLatencyBoundsUs.end(), ns,
                                   [](uint64_t bound_us, uint64_t v) { return bound_us * 1000 < v; });
  return static_cast<size_t>(it - kLatencyBoundsUs.begin());
}

void latency_histogram::observe(std::chrono::nanoseconds d) noexcept {
  slots_[slot(d)].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(nonnegative_ns(d), std::memory_order_relaxed);
}

uint64_t latency_histogram::count() const noexcept {
  uint64_t n = 0;
  for (const auto& s : slots_) {
    n += s.load(std::memory_order_relaxed);
  }
  return n;
}

uint64_t metrics::responses(endpoint e, unsigned status) const noexcept {
  return responses_[static_cast<size_t>(e)][slot(status)].load(std::memory_order_relaxed);
}

void metrics::count_issued_by_key(std::span<const uint8_t, kKeyLabelBytes> key_prefix) {
  std::array<uint8_t, kKeyLabelBytes> k;
  std::copy(key_prefix.begin(), key_prefix.end(), k.begin());
  std::lock_guard lock(by_key_mu_);
  ++issued_by_key_[k];
}

uint64_t metrics::issued_by_key(std::span<const uint8_t, kKeyLabelBytes> key_prefix) const {
  std::array<uint8_t, kKeyLabelBytes> k;
  std::copy(key_prefix.begin(), key_prefix.end(), k.begin());
  std::lock_guard lock(by_key_mu_);
  const auto it = issued_by_key_.find(k);
  return it == issued_by_key_.end() ? 0 : it->second;
}

void append_gauge(std::string& out, std::string_view name, std::string_view help, uint64_t value) {
  append_header(out, name, help, "gauge");
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

std::string metrics::render_prometheus() const {
  std::string out;
  out.reserve(32768);
  out += "# HELP athmd_http_responses_total HTTP responses by endpoint and status.\n";
  out += "# TYPE athmd_http_responses_total counter\n";
  for (size_t e = 0; e < kEndpointCount; ++e) {
    for (size_t s = 0; s < kStatusSlots; ++s) {
      const std::string status =
          s < std::size(kCountedStatuses) ? std::to_string(kCountedStatuses[s]) : "other";
      out += "athmd_http_responses_total{endpoint=\"";
      out += kEndpointLabels[e];
      out += "\",status=\"" + status + "\"} ";
      out += std::to_string(responses_[e][s].load(std::memory_order_relaxed));
      out += '\n';
    }
  }
  for (const family_info& f : kFamilies) {
    append_header(out, f.name, f.help, "counter");
    for (size_t c = 0; c < kCounterCount; ++c) {
      if (std::string_view(kCounterInfo[c].family) != f.name) {
        continue;
      }
      out += f.name;
      if (kCounterInfo[c].labels[0] != '\0') {
        out += '{';
        out += kCounterInfo[c].labels;
        out += '}';
      }
      out += ' ';
      out += std::to_string(counters_[c].load(std::memory_order_relaxed));
      out += '\n';
    }
  }
  append_header(out, "athmd_tokens_issued_by_key_total", "Token responses sent, by issuing key (first 8 bytes of its id).",
                "counter");
  {
    static constexpr char hex[] = "0123456789abcdef";
    std::lock_guard lock(by_key_mu_);
    for (const auto& [k, n] : issued_by_key_) {
      out += "athmd_tokens_issued_by_key_total{key_id=\"";
      for (uint8_t b : k) {
        out += hex[b >> 4];
        out += hex[b & 0xf];
      }
      out += "\"} " + std::to_string(n) + '\n';
    }
  }
  append_header(out, kRequestDurationFamily,
                "Time from the handler call to the response, by endpoint.", "histogram");
  for (size_t e = 0; e < kEndpointCount; ++e) {
    append_histogram(out, kRequestDurationFamily, std::string("endpoint=\"") + kEndpointLabels[e] + "\"",
                     requests_[e]);
  }
  for (const family_info& f : kHistogramFamilies) {
    append_header(out, f.name, f.help, "histogram");
    for (size_t h = 0; h < kHistogramCount; ++h) {
      if (std::string_view(kHistogramInfo[h].family) == f.name) {
        append_histogram(out, f.name, kHistogramInfo[h].labels, latency_[h]);
      }
    }
  }
  return out;
}

}  // namespace athm::app
