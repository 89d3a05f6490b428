// The "Authorization: PrivateToken token=..." parser (server/app) on
// arbitrary field values. It must never crash or throw (other than
// bad_alloc). An accepted value yields a non-empty token, and that token
// written back in the canonical forms (unquoted and quoted, any scheme
// case) parses to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/privacypass.h"
#include "server/app/authorization.h"
#include "tests/fuzz/fuzz_check.h"

using athm::app::authorization_status;
using athm::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  auto r = athm::app::parse_private_token_authorization(value);
  check(athm::app::to_string(r.status) != nullptr);
  if (!r.ok()) {
    check(r.status != authorization_status::ok);
    return 0;
  }
  check(!r.token.empty());
  const std::string enc = athm::pp::base64url_encode(r.token);
  for (const std::string& again : {"PrivateToken token=" + enc,
                                   "privatetoken  token=\"" + enc + "\"",
                                   "PRIVATETOKEN challenge=abc, token=" + enc + ", x=y"}) {
    auto r2 = athm::app::parse_private_token_authorization(again);
    check(r2.ok() && r2.token == r.token);
  }
  return 0;
}
