// Request-target helpers shared by the router and the access log.
#pragma once

#include <string_view>

namespace athm::http {

// The path of a request-target without its query: "/a?b" -> "/a".
// Absolute-form ("http://host/a?b") yields "/a" (or "/" when no path follows
// the authority). Other forms ("*", authority-form) are returned unchanged
// up to any '?', so they match no route. No allocation; the result views
// |target|.
constexpr std::string_view target_path(std::string_view target) noexcept {
  if (!target.empty() && target.front() != '/') {
    const auto scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      const auto path_start = target.find_first_of("/?", scheme_end + 3);
      if (path_start == std::string_view::npos || target[path_start] == '?') {
        return "/";
      }
      target.remove_prefix(path_start);
    }
  }
  return target.substr(0, target.find('?'));
}

}  // namespace athm::http
