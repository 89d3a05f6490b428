// The YAML configuration parser on arbitrary text. parse_config may only
// throw config_error; anything else escaping (another exception, a crash, a
// sanitizer report) is a bug. An accepted config must dump (redacted) to
// YAML that parses back to a config with the same dump.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "tests/fuzz/fuzz_check.h"

using athm::fuzz::check;

namespace {

// A real config is a few KiB; larger inputs only slow the fuzzer down.
constexpr size_t kMaxInputBytes = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxInputBytes) {
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const athm::config::config> c;
  try {
    c = athm::config::parse_config(text, "fuzz.yaml");
  } catch (const athm::config::config_error& e) {
    check(std::string(e.what()).rfind("fuzz.yaml: ", 0) == 0);
    return 0;
  }
  check(c != nullptr);
  const std::string dump = athm::config::dump_redacted(*c);
  try {
    auto again = athm::config::parse_config(dump, "dump.yaml");
    check(again != nullptr && athm::config::dump_redacted(*again) == dump);
  } catch (const athm::config::config_error&) {
    check(false);
  }
  return 0;
}
