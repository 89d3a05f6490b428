// Redemption: a Privacy Pass Token from the network, decoded and verified
// with the fixed key. Decoding must round-trip exactly; a token that
// verifies yields a bucket below n; the spend marker covers t and the key id
// but not P or Q.
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "tests/fuzz/fuzz_support.h"

using athm::errc;
using athm::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& f = athm::fuzz::fixed();
  const std::span<const uint8_t> in(data, size);

  auto tok = athm::pp::token::decode(in);
  if (!tok.ok()) {
    check(tok.error() ==
          (size == athm::pp::kTokenBytes ? errc::bad_encoding : errc::bad_length));
    return 0;
  }
  check(size == athm::pp::kTokenBytes);
  check(data[0] == 0xC0 && data[1] == 0x7E);
  check(athm::fuzz::same_bytes(tok->encode(), in));

  const auto marker = tok->spend_marker();
  check(tok->spend_marker() == marker);
  athm::pp::token other = *tok;
  other.authenticator[40] ^= 0x01;  // inside P
  other.authenticator[90] ^= 0x01;  // inside Q
  check(other.spend_marker() == marker);
  other = *tok;
  other.authenticator[5] ^= 0x01;  // inside t
  check(other.spend_marker() != marker);
  other = *tok;
  other.issuer_key_id[0] ^= 0x01;
  check(other.spend_marker() != marker);

  auto bucket = f.key.verify_token(tok->authenticator);
  if (bucket.ok()) {
    check(*bucket < athm::fuzz::kBuckets);
  } else {
    check(bucket.error() == errc::bad_scalar || bucket.error() == errc::bad_point ||
          bucket.error() == errc::token_invalid);
  }
  return 0;
}
