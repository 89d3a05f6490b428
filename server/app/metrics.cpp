#include "server/app/metrics.h"

#include <string_view>

namespace athm::app {
namespace {

constexpr const char* kEndpointLabels[] = {
#define ATHM_X(id, label) label,
    ATHM_APP_ENDPOINTS(ATHM_X)
#undef ATHM_X
};

struct counter_info {
  const char* family;
  const char* labels;
};
constexpr counter_info kCounterInfo[] = {
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

uint64_t metrics::responses(endpoint e, unsigned status) const noexcept {
  return responses_[static_cast<size_t>(e)][slot(status)].load(std::memory_order_relaxed);
}

std::string metrics::render_prometheus() const {
  std::string out;
  out.reserve(8192);
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
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += f.help;
    out += "\n# TYPE ";
    out += f.name;
    out += " counter\n";
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
  return out;
}

}  // namespace athm::app
