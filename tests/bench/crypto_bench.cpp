// Engine benchmarks: every ATHM operation at n in {2, 4, 8}, the spec-literal
// oracle's TokenResponse and VerifyToken, and the BoringSSL primitives they
// are built from, in one run so that ratios are meaningful.
// tests/bench/ratios.py turns the JSON output into multiples of one
// variable-base multiplication.
#include <benchmark/benchmark.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

#include "crypto/athm.h"
#include "crypto/group.h"
#include "tests/crypto/oracle.h"

namespace {

struct fixture {
  std::shared_ptr<const athm::suite> s;
  std::optional<athm::private_key> sk;
  std::optional<athm::client_context> ctx;
  std::vector<uint8_t> response;
  athm::token_bytes token{};
  athm::oracle::params op;
  athm::oracle::key_pair okp;

  explicit fixture(uint32_t n) {
    s = *athm::suite::create(n, "bench");
    sk.emplace(std::move(*athm::private_key::generate(s)));
    ctx.emplace(std::move(*athm::token_request(sk->public_part())));
    response = *sk->token_response(ctx->request(), n - 1);
    token = *athm::finalize_token(sk->public_part(), *ctx, response);
    op = {n, "bench"};
    auto priv = sk->to_bytes();
    okp.private_key.assign(priv.data(), priv.data() + priv.size());
    okp.token_key.assign(sk->public_part().token_key().begin(), sk->public_part().token_key().end());
  }
};

fixture& get(uint32_t n) {
  static std::map<uint32_t, std::unique_ptr<fixture>> cache;
  auto& f = cache[n];
  if (!f) {
    f = std::make_unique<fixture>(n);
  }
  return *f;
}

// --- primitives -----------------------------------------------------------

const EC_GROUP* group() { return EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1); }

bssl::UniquePtr<BIGNUM> random_bn() {
  bssl::UniquePtr<BIGNUM> k(BN_new());
  BN_rand_range_ex(k.get(), 1, EC_GROUP_get0_order(group()));
  return k;
}

void BM_ec_mul_variable_base(benchmark::State& st) {
  auto k = random_bn();
  bssl::UniquePtr<EC_POINT> p(EC_POINT_new(group())), r(EC_POINT_new(group()));
  EC_POINT_mul(group(), p.get(), random_bn().get(), nullptr, nullptr, nullptr);
  for (auto _ : st) {
    EC_POINT_mul(group(), r.get(), nullptr, p.get(), k.get(), nullptr);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_ec_mul_variable_base);

void BM_ec_mul_base(benchmark::State& st) {
  auto k = random_bn();
  bssl::UniquePtr<EC_POINT> r(EC_POINT_new(group()));
  for (auto _ : st) {
    EC_POINT_mul(group(), r.get(), k.get(), nullptr, nullptr, nullptr);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_ec_mul_base);

void BM_ec_mul_double(benchmark::State& st) {  // s*G + t*Q
  auto s = random_bn(), t = random_bn();
  bssl::UniquePtr<EC_POINT> q(EC_POINT_new(group())), r(EC_POINT_new(group()));
  EC_POINT_mul(group(), q.get(), random_bn().get(), nullptr, nullptr, nullptr);
  for (auto _ : st) {
    EC_POINT_mul(group(), r.get(), s.get(), q.get(), t.get(), nullptr);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_ec_mul_double);

void BM_ec_add(benchmark::State& st) {
  bssl::UniquePtr<EC_POINT> a(EC_POINT_new(group())), b(EC_POINT_new(group())),
      r(EC_POINT_new(group()));
  EC_POINT_mul(group(), a.get(), random_bn().get(), nullptr, nullptr, nullptr);
  EC_POINT_mul(group(), b.get(), random_bn().get(), nullptr, nullptr, nullptr);
  for (auto _ : st) {
    EC_POINT_add(group(), r.get(), a.get(), b.get(), nullptr);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_ec_add);

void BM_point_encode(benchmark::State& st) {  // one affine conversion
  athm::point p = athm::point::mul_base_ct(athm::scalar::from_u64(12345));
  p = p + p;  // Jacobian Z != 1
  for (auto _ : st) {
    benchmark::DoNotOptimize(p.encode());
  }
}
BENCHMARK(BM_point_encode);

void BM_point_decode(benchmark::State& st) {  // decompression: one square root
  const auto bytes = athm::point::mul_base_ct(athm::scalar::from_u64(12345)).encode();
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::point::decode(bytes));
  }
}
BENCHMARK(BM_point_decode);

// --- engine -------------------------------------------------------------

void BM_key_gen(benchmark::State& st) {
  auto& f = get(st.range(0));
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::private_key::generate(f.s));
  }
}
BENCHMARK(BM_key_gen)->Arg(4);

void BM_token_request(benchmark::State& st) {
  auto& f = get(st.range(0));
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::token_request(f.sk->public_part()));
  }
}
BENCHMARK(BM_token_request)->Arg(4);

void BM_token_response(benchmark::State& st) {
  auto& f = get(st.range(0));
  const uint32_t bucket = static_cast<uint32_t>(st.range(0) - 1);
  for (auto _ : st) {
    benchmark::DoNotOptimize(f.sk->token_response(f.ctx->request(), bucket));
  }
}
BENCHMARK(BM_token_response)->Arg(2)->Arg(4)->Arg(8);

void BM_oracle_token_response(benchmark::State& st) {
  auto& f = get(st.range(0));
  const uint32_t bucket = static_cast<uint32_t>(st.range(0) - 1);
  const std::vector<uint8_t> req(f.ctx->request().begin(), f.ctx->request().end());
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::oracle::token_response(f.op, f.okp.private_key, f.okp.token_key,
                                                          req, bucket, athm::system_random()));
  }
}
BENCHMARK(BM_oracle_token_response)->Arg(2)->Arg(4)->Arg(8);

void BM_verify_issuance_proof(benchmark::State& st) {
  auto& f = get(st.range(0));
  for (auto _ : st) {
    benchmark::DoNotOptimize(
        athm::verify_issuance_proof_public(f.sk->public_part(), f.ctx->request(), f.response));
  }
}
BENCHMARK(BM_verify_issuance_proof)->Arg(2)->Arg(4)->Arg(8);

void BM_finalize_token(benchmark::State& st) {  // includes the proof check
  auto& f = get(st.range(0));
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::finalize_token(f.sk->public_part(), *f.ctx, f.response));
  }
}
BENCHMARK(BM_finalize_token)->Arg(2)->Arg(4)->Arg(8);

void BM_verify_token(benchmark::State& st) {  // deserialization included
  auto& f = get(st.range(0));
  for (auto _ : st) {
    benchmark::DoNotOptimize(f.sk->verify_token(f.token));
  }
}
BENCHMARK(BM_verify_token)->Arg(2)->Arg(4)->Arg(8);

void BM_oracle_verify_token(benchmark::State& st) {
  auto& f = get(st.range(0));
  const std::vector<uint8_t> tok(f.token.begin(), f.token.end());
  for (auto _ : st) {
    benchmark::DoNotOptimize(athm::oracle::verify_token(f.op, f.okp.private_key, tok));
  }
}
BENCHMARK(BM_oracle_verify_token)->Arg(2)->Arg(4)->Arg(8);

}  // namespace

BENCHMARK_MAIN();
