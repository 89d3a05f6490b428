#include "server/store/spent_store.h"

namespace athm::store {

const char* to_string(spend_result r) noexcept {
  switch (r) {
    case spend_result::fresh:
      return "fresh";
    case spend_result::already_spent:
      return "already_spent";
    case spend_result::unavailable:
      return "unavailable";
  }
  return "unknown";
}

}  // namespace athm::store
