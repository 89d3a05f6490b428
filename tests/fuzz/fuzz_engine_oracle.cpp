// The optimized engine against the spec-literal oracle (tests/crypto/oracle),
// byte for byte, on parameters and random streams drawn from the input.
//
// Input: n_sel || bucket_sel || seed[32] || dep_len || dep[dep_len] || edits...
//   n = 1 + n_sel % 8, bucket = bucket_sel % n, deployment id = dep (dep_len
//   % 24 bytes, any bytes). Missing bytes read as zero. Each procedure gets its
//   own ChaCha20 stream (the seed with its last byte xored with the step).
// Both sides run KeyGen, TokenRequest, TokenResponse, FinalizeToken and
//   VerifyToken; every output must be identical. Then the remaining input is
//   read as edits (position hi, position lo, xor mask) applied to the
//   response and, separately, to the token: both sides must agree on whether
//   the edited response's proof verifies and on the edited token's bucket.
#include "tests/crypto/oracle.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/athm.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/chacha_random.h"

using athm::fuzz::check;
using athm::testing::chacha_random;
namespace oracle = athm::oracle;

namespace {

constexpr size_t kHeadBytes = 2 + 32 + 1;
constexpr size_t kMaxDeploymentId = 24;
constexpr size_t kMaxEdits = 8;

std::vector<uint8_t> vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

std::array<uint8_t, 32> step_seed(std::span<const uint8_t> seed, uint8_t step) {
  std::array<uint8_t, 32> s{};
  std::copy(seed.begin(), seed.end(), s.begin());
  s[31] ^= step;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::array<uint8_t, kHeadBytes> head{};
  std::memcpy(head.data(), data, std::min(size, head.size()));
  const uint32_t n = 1 + head[0] % 8;
  const uint32_t bucket = head[1] % n;
  const std::span<const uint8_t> seed(head.data() + 2, 32);
  std::span<const uint8_t> rest(data, size);
  rest = rest.subspan(std::min(size, kHeadBytes));
  const size_t dep_len = std::min<size_t>(head[34] % kMaxDeploymentId, rest.size());
  const std::string dep(reinterpret_cast<const char*>(rest.data()), dep_len);
  rest = rest.subspan(dep_len);

  auto s = athm::suite::create(n, dep);
  check(s.ok());
  const oracle::params p{n, dep};

  chacha_random r1(step_seed(seed, 1)), o1(step_seed(seed, 1));
  auto sk = athm::private_key::generate(*s, r1);
  check(sk.ok());
  const auto kp = oracle::key_gen(p, o1);
  const auto priv = vec(sk->to_bytes().span());
  check(priv == kp.private_key);
  check(vec(sk->public_part().token_key()) == kp.token_key);

  chacha_random r2(step_seed(seed, 2)), o2(step_seed(seed, 2));
  auto ctx = athm::token_request(sk->public_part(), r2);
  check(ctx.ok());
  const auto st = oracle::token_request(p, kp.token_key, o2);
  check(vec(ctx->request()) == st.request);
  check(vec(ctx->to_bytes().span()) == st.context);

  chacha_random r3(step_seed(seed, 3)), o3(step_seed(seed, 3));
  auto resp = sk->token_response(ctx->request(), bucket, r3);
  check(resp.ok());
  const auto oresp =
      oracle::token_response(p, kp.private_key, kp.token_key, st.request, bucket, o3);
  check(*resp == oresp);
  check(oracle::verify_issuance_proof(p, kp.token_key, st.request, oresp));

  chacha_random r4(step_seed(seed, 4)), o4(step_seed(seed, 4));
  auto tok = athm::finalize_token(sk->public_part(), *ctx, *resp, r4);
  check(tok.ok());
  const auto otok = oracle::finalize_token(p, st, kp.token_key, oresp, o4);
  check(otok.has_value() && vec(*tok) == *otok);

  auto got = sk->verify_token(*tok);
  check(got.ok() && *got == bucket);
  check(oracle::verify_token(p, kp.private_key, *otok) == std::optional<uint32_t>(bucket));

  if (rest.size() < 3) {
    return 0;
  }
  auto bad_resp = *resp;
  auto bad_tok = vec(*tok);
  for (size_t i = 0; i + 3 <= rest.size() && i / 3 < kMaxEdits; i += 3) {
    const size_t pos = size_t{rest[i]} << 8 | rest[i + 1];
    const uint8_t mask = rest[i + 2];
    bad_resp[pos % bad_resp.size()] ^= mask;
    bad_tok[pos % bad_tok.size()] ^= mask;
  }
  const bool engine_proof =
      athm::verify_issuance_proof_public(sk->public_part(), ctx->request(), bad_resp).ok();
  check(engine_proof == oracle::verify_issuance_proof(p, kp.token_key, st.request, bad_resp));
  chacha_random r5(step_seed(seed, 5)), o5(step_seed(seed, 5));
  auto etok = athm::finalize_token(sk->public_part(), *ctx, bad_resp, r5);
  auto eotok = oracle::finalize_token(p, st, kp.token_key, bad_resp, o5);
  check(etok.ok() == eotok.has_value());
  if (etok.ok()) {
    check(vec(*etok) == *eotok);
  }

  auto ebucket = sk->verify_token(bad_tok);
  auto obucket = oracle::verify_token(p, kp.private_key, bad_tok);
  check(ebucket.ok() == obucket.has_value());
  if (ebucket.ok()) {
    check(*ebucket == *obucket);
  }
  return 0;
}
