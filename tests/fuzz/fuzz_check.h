// Invariant checks for the libFuzzer targets: a violated invariant becomes a
// crash (__builtin_trap) that libFuzzer reports and saves as a reproducer.
// Header-only, no dependencies beyond the standard library.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

namespace athm::fuzz {

// Traps unless |ok|. Use for every invariant a target asserts.
inline void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// Byte-wise equality of two contiguous byte ranges (arrays, vectors, spans).
template <class A, class B>
bool same_bytes(const A& a, const B& b) {
  std::span<const uint8_t> x(a), y(b);
  return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
}

}  // namespace athm::fuzz
