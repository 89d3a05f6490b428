// Runs one engine operation N times, for instruction counting under
// `valgrind --tool=callgrind` (load-independent, unlike wall time).
// tests/bench/count_ops.sh drives it and prints multiples of one
// variable-base EC_POINT_mul.
//
//   athm_op_count OP N [n_buckets]
//   OP: none | varmul | basemul | response | oracle_response | verify | oracle_verify
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/nid.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "crypto/athm.h"
#include "tests/crypto/oracle.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: athm_op_count OP N [n_buckets]\n");
    return 2;
  }
  const std::string op = argv[1];
  const int count = std::atoi(argv[2]);
  const uint32_t n = argc > 3 ? static_cast<uint32_t>(std::atoi(argv[3])) : 4;

  // Identical set-up for every OP, so that (OP, N) - (none, N) is the cost of N ops.
  auto s = *athm::suite::create(n, "count");
  auto sk = *athm::private_key::generate(s);
  auto ctx = *athm::token_request(sk.public_part());
  auto resp = *sk.token_response(ctx.request(), n - 1);
  auto tok = *athm::finalize_token(sk.public_part(), ctx, resp);
  athm::oracle::params op_params{n, "count"};
  auto priv = sk.to_bytes();
  const std::vector<uint8_t> okey(priv.data(), priv.data() + priv.size());
  const std::vector<uint8_t> otk(sk.public_part().token_key().begin(), sk.public_part().token_key().end());
  const std::vector<uint8_t> oreq(ctx.request().begin(), ctx.request().end());
  const std::vector<uint8_t> otok(tok.begin(), tok.end());
  const EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  bssl::UniquePtr<BIGNUM> k(BN_new());
  BN_rand_range_ex(k.get(), 1, EC_GROUP_get0_order(g));
  bssl::UniquePtr<EC_POINT> p(EC_POINT_new(g)), r(EC_POINT_new(g));
  EC_POINT_mul(g, p.get(), k.get(), nullptr, nullptr, nullptr);

  unsigned long sink = 0;
  for (int i = 0; i < count; ++i) {
    if (op == "varmul") {
      sink += EC_POINT_mul(g, r.get(), nullptr, p.get(), k.get(), nullptr);
    } else if (op == "basemul") {
      sink += EC_POINT_mul(g, r.get(), k.get(), nullptr, nullptr, nullptr);
    } else if (op == "response") {
      sink += sk.token_response(ctx.request(), n - 1).ok();
    } else if (op == "oracle_response") {
      sink += athm::oracle::token_response(op_params, okey, otk, oreq, n - 1, athm::system_random()).size();
    } else if (op == "verify") {
      sink += sk.verify_token(tok).ok();
    } else if (op == "oracle_verify") {
      sink += athm::oracle::verify_token(op_params, okey, otok).has_value();
    } else if (op != "none") {
      std::fprintf(stderr, "unknown OP\n");
      return 2;
    }
  }
  std::printf("%lu\n", sink);
  return 0;
}
