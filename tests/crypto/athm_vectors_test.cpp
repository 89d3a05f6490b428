// Known-answer tests: every procedure of vectors/athm-p256-sha256.json,
// randomized ones included, reproduced byte for byte.
#include "crypto/athm.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "crypto/group.h"
#include "crypto/privacypass.h"
#include "support/chacha_random.h"
#include "support/hex.h"

using athm::testing::chacha_random;
using athm::testing::from_hex;
using athm::testing::to_hex;

namespace {

nlohmann::json load_vectors() {
  std::ifstream f(std::string(ATHM_VECTORS_DIR) + "/athm-p256-sha256.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

const nlohmann::json& procedure(const nlohmann::json& all, const std::string& name) {
  for (const auto& v : all) {
    if (v["procedure"] == name) {
      return v;
    }
  }
  FAIL("no vector for " << name);
  static nlohmann::json none;
  return none;
}

std::string str(const nlohmann::json& j) { return j.get<std::string>(); }

std::shared_ptr<const athm::suite> vector_suite(const nlohmann::json& all) {
  const auto& p = procedure(all, "params")["output"];
  auto s = athm::suite::create(std::stoul(str(p["n_buckets"])), str(p["deployment_id"]));
  REQUIRE(s.ok());
  return *s;
}

athm::private_key vector_key(const nlohmann::json& all) {
  const auto& kg = procedure(all, "key_gen")["output"];
  auto tk = from_hex(str(kg["public_key"]) + str(kg["public_key_proof"]));
  auto sk = athm::private_key::from_bytes(vector_suite(all), from_hex(str(kg["private_key"])), tk);
  REQUIRE(sk.ok());
  return std::move(*sk);
}

}  // namespace

TEST_CASE("params: generators G and H", "[vectors]") {
  auto all = load_vectors();
  const auto& p = procedure(all, "params")["output"];
  auto s = vector_suite(all);
  CHECK(s->context() == "ATHMV1-P256-4-test_vector_deployment_id");
  CHECK(to_hex(athm::point::generator().encode()) == str(p["generator_g"]));
  CHECK(to_hex(s->generator_h()) == str(p["generator_h"]));
}

TEST_CASE("key_gen reproduces key, public key, proof and key id", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "key_gen");
  chacha_random rng(from_hex(str(v["args"]["rng_seed"])));
  auto sk = athm::private_key::generate(vector_suite(all), rng);
  REQUIRE(sk.ok());
  const auto& out = v["output"];
  auto priv = sk->to_bytes();
  CHECK(to_hex(priv.span()) == str(out["private_key"]));
  CHECK(to_hex(sk->public_part().bytes()) == str(out["public_key"]));
  CHECK(to_hex(std::span(sk->public_part().token_key()).subspan(99)) ==
        str(out["public_key_proof"]));
  CHECK(to_hex(sk->public_part().id()) == str(out["key_id"]));
}

TEST_CASE("public key rebuilt from the private key; proof verifies", "[vectors]") {
  auto all = load_vectors();
  const auto& out = procedure(all, "key_gen")["output"];
  auto sk = vector_key(all);
  CHECK(to_hex(sk.public_part().bytes()) == str(out["public_key"]));
  auto pk = athm::public_key::from_token_key(vector_suite(all),
                                             from_hex(str(out["public_key"]) + str(out["public_key_proof"])));
  REQUIRE(pk.ok());
  CHECK(to_hex(pk->id()) == str(out["key_id"]));
}

TEST_CASE("token_request reproduces context and request", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "token_request");
  auto pk = athm::public_key::from_token_key(
      vector_suite(all), from_hex(str(v["args"]["public_key"]) + str(v["args"]["public_key_proof"])));
  REQUIRE(pk.ok());
  chacha_random rng(from_hex(str(v["args"]["rng_seed"])));
  auto ctx = athm::token_request(*pk, rng);
  REQUIRE(ctx.ok());
  CHECK(to_hex(ctx->request()) == str(v["output"]["token_request"]));
  CHECK(to_hex(ctx->to_bytes().span()) == str(v["output"]["token_context"]));
}

TEST_CASE("token_response reproduces the response for bucket 3", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "token_response");
  auto sk = vector_key(all);
  chacha_random rng(from_hex(str(v["args"]["rng_seed"])));
  auto resp = sk.token_response(from_hex(str(v["args"]["token_request"])),
                                std::stoul(str(v["args"]["hidden_metadata"])), rng);
  REQUIRE(resp.ok());
  CHECK(resp->size() == athm::response_bytes(4));
  CHECK(to_hex(*resp) == str(v["output"]["token_response"]));
}

TEST_CASE("issuance proof of the vector response verifies", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "finalize_token");
  auto pk = athm::public_key::from_token_key(
      vector_suite(all), from_hex(str(v["args"]["public_key"]) +
                                  str(procedure(all, "key_gen")["output"]["public_key_proof"])));
  REQUIRE(pk.ok());
  auto ok = athm::verify_issuance_proof_public(*pk, from_hex(str(v["args"]["token_request"])),
                                               from_hex(str(v["args"]["token_response"])));
  CHECK(ok.ok());
}

TEST_CASE("finalize_token reproduces the token", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "finalize_token");
  auto pk = athm::public_key::from_token_key(
      vector_suite(all), from_hex(str(v["args"]["public_key"]) +
                                  str(procedure(all, "key_gen")["output"]["public_key_proof"])));
  REQUIRE(pk.ok());
  auto ctx = athm::client_context::from_bytes(from_hex(str(v["args"]["token_context"])),
                                              from_hex(str(v["args"]["token_request"])));
  REQUIRE(ctx.ok());
  chacha_random rng(from_hex(str(v["args"]["rng_seed"])));
  auto tok = athm::finalize_token(*pk, *ctx, from_hex(str(v["args"]["token_response"])), rng);
  REQUIRE(tok.ok());
  CHECK(to_hex(*tok) == str(v["output"]["token"]));
}

TEST_CASE("verify_token returns bucket 3", "[vectors]") {
  auto all = load_vectors();
  const auto& v = procedure(all, "verify_token");
  auto sk = vector_key(all);
  auto bucket = sk.verify_token(from_hex(str(v["args"]["token"])));
  REQUIRE(bucket.ok());
  CHECK(*bucket == std::stoul(str(v["output"]["hidden_metadata"])));
}
