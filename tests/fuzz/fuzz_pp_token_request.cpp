// Issuer side of issuance: a Privacy Pass TokenRequest from the network,
// decoded and answered with the fixed key. Bad points must come back as an
// error; every response produced must have the right size and carry a proof
// that verifies.
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

  auto req = athm::pp::token_request::decode(in);
  if (!req.ok()) {
    check(req.error() == (size == athm::pp::kTokenRequestBytes ? errc::bad_encoding
                                                               : errc::bad_length));
    return 0;
  }
  check(size == athm::pp::kTokenRequestBytes);
  check(data[0] == 0xC0 && data[1] == 0x7E);
  check(athm::fuzz::same_bytes(req->encode(), in));

  // A bucket out of range is refused, whatever the point.
  athm::testing::chacha_random bad_rng(athm::fuzz::seed_of(0x03));
  auto refused = f.key.token_response(req->request, athm::fuzz::kBuckets, bad_rng);
  check(!refused.ok() &&
        (refused.error() == errc::bad_bucket || refused.error() == errc::bad_point));

  const uint32_t bucket = data[size - 1] % athm::fuzz::kBuckets;
  athm::testing::chacha_random rng(athm::fuzz::seed_of(0x03));
  auto resp = f.key.token_response(req->request, bucket, rng);
  if (!resp.ok()) {
    check(resp.error() == errc::bad_point);
    return 0;
  }
  check(resp->size() == athm::response_bytes(athm::fuzz::kBuckets));
  check(athm::pp::check_token_response_size(*f.params, *resp).ok());
  check(athm::verify_issuance_proof_public(f.key.public_part(), req->request, *resp).ok());
  return 0;
}
