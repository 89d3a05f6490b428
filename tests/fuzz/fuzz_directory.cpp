// The issuer directory JSON, client side (tools/athm/directory.h), on
// arbitrary bytes. parse_directory never throws; an accepted directory
// respects every bound the header states, and select_key only ever returns
// one of its keys with a not-before at or before the time asked.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "tools/athm/directory.h"

using athm::fuzz::check;
namespace client = athm::client;

namespace {

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

void check_select(const client::issuer_directory& d, int64_t now) {
  const client::directory_key* k = client::select_key(d, now);
  if (k == nullptr) {
    for (const auto& e : d.keys) {
      check(e.not_before.value_or(0) > now);
    }
    return;
  }
  check(k >= d.keys.data() && k < d.keys.data() + d.keys.size());
  check(k->not_before.value_or(0) <= now);
  for (const auto& e : d.keys) {
    const int64_t nb = e.not_before.value_or(0);
    check(nb > now || nb <= k->not_before.value_or(0));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  auto d = client::parse_directory(json);
  if (!d.ok()) {
    check(!d.error().empty());
    return 0;
  }
  check(size <= client::kMaxDirectoryBytes);
  check(!d->issuer_request_uri.empty());
  check(d->issuer_request_uri.size() <= client::kMaxRequestUriBytes);
  check(printable_ascii(d->issuer_request_uri));
  check(d->keys.size() + d->other_token_types <= client::kMaxDirectoryKeys);
  for (const auto& k : d->keys) {
    check(k.n_buckets >= 1 && k.n_buckets <= athm::kMaxBuckets);
    check(k.deployment_id.size() <= client::kMaxDeploymentIdBytes);
    if (k.not_before) {
      check(*k.not_before >= 0 && *k.not_before < client::kMaxNotBefore);
    }
  }
  check_select(*d, 0);
  check_select(*d, 1717200000);
  check_select(*d, std::numeric_limits<int64_t>::max());
  for (const auto& k : d->keys) {
    check_select(*d, k.not_before.value_or(0));
  }
  return 0;
}
