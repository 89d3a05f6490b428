// The optimized engine against the spec-literal oracle: with the same random
// stream, every procedure produces identical bytes, for n in {1,2,3,4,8,16},
// every bucket and many seeds. The oracle itself is pinned to the vectors.
#include "tests/crypto/oracle.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "crypto/athm.h"
#include "support/chacha_random.h"
#include "support/hex.h"

using athm::testing::chacha_random;
using athm::testing::from_hex;
using athm::testing::to_hex;
namespace oracle = athm::oracle;

namespace {

std::vector<uint8_t> vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("oracle reproduces the reference vectors", "[oracle]") {
  std::ifstream f(std::string(ATHM_VECTORS_DIR) + "/athm-p256-sha256.json");
  REQUIRE(f.good());
  auto all = nlohmann::json::parse(f);
  std::map<std::string, nlohmann::json> by;
  for (auto& v : all) {
    by[v["procedure"].get<std::string>()] = v;
  }
  auto hex = [](const nlohmann::json& j) { return from_hex(j.get<std::string>()); };
  oracle::params p{4, "test_vector_deployment_id"};

  chacha_random rk(hex(by["key_gen"]["args"]["rng_seed"]));
  auto kp = oracle::key_gen(p, rk);
  CHECK(to_hex(kp.private_key) == by["key_gen"]["output"]["private_key"]);
  CHECK(to_hex(kp.token_key) == by["key_gen"]["output"]["public_key"].get<std::string>() +
                                    by["key_gen"]["output"]["public_key_proof"].get<std::string>());

  chacha_random rq(hex(by["token_request"]["args"]["rng_seed"]));
  auto st = oracle::token_request(p, kp.token_key, rq);
  CHECK(to_hex(st.request) == by["token_request"]["output"]["token_request"]);
  CHECK(to_hex(st.context) == by["token_request"]["output"]["token_context"]);

  chacha_random rr(hex(by["token_response"]["args"]["rng_seed"]));
  auto resp = oracle::token_response(p, kp.private_key, kp.token_key, st.request, 3, rr);
  CHECK(to_hex(resp) == by["token_response"]["output"]["token_response"]);

  chacha_random rf(hex(by["finalize_token"]["args"]["rng_seed"]));
  auto tok = oracle::finalize_token(p, st, kp.token_key, resp, rf);
  REQUIRE(tok.has_value());
  CHECK(to_hex(*tok) == by["finalize_token"]["output"]["token"]);
  CHECK(oracle::verify_token(p, kp.private_key, *tok) == std::optional<uint32_t>(3));
}

TEST_CASE("engine and oracle agree byte for byte", "[oracle]") {
  constexpr int kSeedsPerBucket = 6;
  uint64_t seed = 1;
  for (uint32_t n : {1u, 2u, 3u, 4u, 8u, 16u}) {
    const std::string dep = "oracle-" + std::to_string(n);
    auto s = athm::suite::create(n, dep);
    REQUIRE(s.ok());
    oracle::params p{n, dep};
    for (uint32_t bucket = 0; bucket < n; ++bucket) {
      for (int k = 0; k < kSeedsPerBucket; ++k, ++seed) {
        INFO("n=" << n << " bucket=" << bucket << " seed=" << seed);
        // key_gen
        chacha_random r1(seed * 4), o1(seed * 4);
        auto sk = athm::private_key::generate(*s, r1);
        REQUIRE(sk.ok());
        auto kp = oracle::key_gen(p, o1);
        REQUIRE(vec(sk->to_bytes().span()) == kp.private_key);
        REQUIRE(vec(sk->public_part().token_key()) == kp.token_key);

        // token_request
        chacha_random r2(seed * 4 + 1), o2(seed * 4 + 1);
        auto ctx = athm::token_request(sk->public_part(), r2);
        REQUIRE(ctx.ok());
        auto st = oracle::token_request(p, kp.token_key, o2);
        REQUIRE(vec(ctx->request()) == st.request);
        REQUIRE(vec(ctx->to_bytes().span()) == st.context);

        // token_response
        chacha_random r3(seed * 4 + 2), o3(seed * 4 + 2);
        auto resp = sk->token_response(ctx->request(), bucket, r3);
        REQUIRE(resp.ok());
        auto oresp = oracle::token_response(p, kp.private_key, kp.token_key, st.request, bucket, o3);
        REQUIRE(*resp == oresp);
        REQUIRE(oracle::verify_issuance_proof(p, kp.token_key, st.request, *resp));

        // finalize_token
        chacha_random r4(seed * 4 + 3), o4(seed * 4 + 3);
        auto tok = athm::finalize_token(sk->public_part(), *ctx, *resp, r4);
        REQUIRE(tok.ok());
        auto otok = oracle::finalize_token(p, st, kp.token_key, oresp, o4);
        REQUIRE(otok.has_value());
        REQUIRE(vec(*tok) == *otok);

        // verify_token
        auto got = sk->verify_token(*tok);
        REQUIRE(got.ok());
        REQUIRE(*got == bucket);
        REQUIRE(oracle::verify_token(p, kp.private_key, *otok) == std::optional<uint32_t>(bucket));
      }
    }
  }
}

TEST_CASE("engine and oracle agree on rejecting tampered responses and tokens", "[oracle]") {
  auto s = athm::suite::create(4, "oracle-tamper");
  REQUIRE(s.ok());
  oracle::params p{4, "oracle-tamper"};
  chacha_random rng(99);
  auto sk = athm::private_key::generate(*s, rng);
  REQUIRE(sk.ok());
  auto ctx = athm::token_request(sk->public_part(), rng);
  REQUIRE(ctx.ok());
  auto resp = sk->token_response(ctx->request(), 2, rng);
  REQUIRE(resp.ok());
  const auto tk = vec(sk->public_part().token_key());
  const auto req = vec(ctx->request());
  // Flip one bit in every byte position of the response in turn.
  for (size_t i = 0; i < resp->size(); i += 7) {
    auto bad = *resp;
    bad[i] ^= 0x01;
    INFO("byte " << i);
    const bool engine_ok = athm::verify_issuance_proof_public(sk->public_part(), req, bad).ok();
    CHECK_FALSE(engine_ok);
    CHECK(engine_ok == oracle::verify_issuance_proof(p, tk, req, bad));
  }
  auto tok = athm::finalize_token(sk->public_part(), *ctx, *resp, rng);
  REQUIRE(tok.ok());
  const auto priv = vec(sk->to_bytes().span());
  for (size_t i = 0; i < tok->size(); ++i) {
    auto bad = vec(*tok);
    bad[i] ^= 0x80;
    INFO("token byte " << i);
    CHECK_FALSE(sk->verify_token(bad).ok());
    CHECK_FALSE(oracle::verify_token(p, priv, bad).has_value());
  }
}
