// A spec-literal ATHM implementation that follows the pseudocode of
// draft-yun-cfrg-athm line by line: BIGNUM scalars, one EC_POINT_mul per
// multiplication in the text, the bucket branch in CreateIssuanceProof.
// It is the reference the optimized engine is compared against, and the
// performance baseline. Variable time; tests and benchmarks only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/random.h"

namespace athm::oracle {

using bytes = std::vector<uint8_t>;

struct params {
  uint32_t n = 0;
  std::string deployment_id;
};

struct key_pair {
  bytes private_key;  // 160
  bytes token_key;    // 163 = Z || C_x || C_y || e || a_z
};

struct request_state {
  bytes context;  // r || tc
  bytes request;  // T
};

key_pair key_gen(const params& p, random_source& rng);
request_state token_request(const params& p, const bytes& token_key, random_source& rng);
bytes token_response(const params& p, const bytes& private_key, const bytes& token_key,
                     const bytes& request, uint32_t bucket, random_source& rng);
bool verify_issuance_proof(const params& p, const bytes& token_key, const bytes& request,
                           const bytes& response);
std::optional<bytes> finalize_token(const params& p, const request_state& st,
                                    const bytes& token_key, const bytes& response,
                                    random_source& rng);
// The bucket, or nullopt when the token does not verify.
std::optional<uint32_t> verify_token(const params& p, const bytes& private_key,
                                     const bytes& token);

}  // namespace athm::oracle
