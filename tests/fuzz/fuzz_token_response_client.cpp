// Client side of issuance: arbitrary bytes taken as the issuer's
// TokenResponse for the fixed client context. Only a response of exactly
// response_bytes(4) bytes is looked at; anything else is bad_length. When
// the issuance proof verifies, finalize_token must succeed and its token
// must verify under the issuer key (a forged proof would break this).
// Inputs of 33 + response_bytes(4) bytes are also read as request || response
// for the public proof check, which then decodes an arbitrary request point.
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "tests/fuzz/fuzz_support.h"

using athm::errc;
using athm::fuzz::check;

namespace {

bool is_decode_or_proof_error(errc e) {
  return e == errc::bad_point || e == errc::bad_scalar || e == errc::bad_encoding ||
         e == errc::proof_invalid;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& f = athm::fuzz::fixed();
  const auto& pk = f.key.public_part();
  const std::span<const uint8_t> in(data, size);
  const size_t expected = athm::response_bytes(athm::fuzz::kBuckets);

  if (size == athm::kRequestBytes + expected) {
    auto v = athm::verify_issuance_proof_public(pk, in.first(athm::kRequestBytes),
                                                in.subspan(athm::kRequestBytes));
    check(v.ok() || is_decode_or_proof_error(v.error()));
  }

  check(athm::pp::check_token_response_size(*f.params, in).ok() == (size == expected));
  auto v = athm::verify_issuance_proof_public(pk, f.context.request(), in);
  athm::testing::chacha_random rng(athm::fuzz::seed_of(0x04));
  auto t = athm::finalize_token(pk, f.context, in, rng);
  if (size != expected) {
    check(!v.ok() && v.error() == errc::bad_length);
    check(!t.ok() && t.error() == errc::bad_length);
    return 0;
  }
  check(v.ok() == t.ok());
  if (!v.ok()) {
    check(is_decode_or_proof_error(v.error()));
    check(is_decode_or_proof_error(t.error()));
    return 0;
  }
  auto bucket = f.key.verify_token(*t);
  check(bucket.ok() && *bucket < athm::fuzz::kBuckets);
  return 0;
}
