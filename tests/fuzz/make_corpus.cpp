// Writes the seed corpora of the fuzz targets: valid inputs built with the
// engine from deterministic streams (the fixture of fuzz_support.h, which is
// the key of the reference vectors), the reference vectors themselves, the
// example configs, and near-valid variants of each (truncated, extended, one
// field off). Deterministic: running it twice writes the same files.
//
//   fuzz_make_corpus <output dir>     (scripts/fuzz.sh seeds)
//
// Each target gets <output dir>/<target>/<seed name>.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/athm.h"
#include "crypto/group.h"
#include "crypto/privacypass.h"
#include "crypto/scalar.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/chacha_random.h"
#include "tests/support/hex.h"
#if defined(ATHM_FUZZ_WITH_KEYS)
#include "server/keys/key_file.h"
#endif

namespace fs = std::filesystem;
using athm::fuzz::check;
using athm::testing::chacha_random;
using athm::testing::from_hex;
using bytes = std::vector<uint8_t>;

namespace {

fs::path g_out;

bytes vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

bytes cat(bytes a, std::span<const uint8_t> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void put(const std::string& target, const std::string& name, std::span<const uint8_t> data) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  check(f.good());
}
void put(const std::string& target, const std::string& name, std::string_view text) {
  put(target, name, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()),
                                             text.size()));
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  check(f.good());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Truncated by one byte, extended by one byte.
void put_near(const std::string& target, const std::string& name, const bytes& valid) {
  put(target, name + "-truncated", std::span(valid).first(valid.size() - 1));
  put(target, name + "-extended", cat(valid, std::array<uint8_t, 1>{0x00}));
}

struct issued {
  bytes request;   // 33-byte T
  bytes response;  // response_bytes(4)
  bytes token;     // 98-byte ATHM token
};

// A full issuance with the fixture's key and |ctx| for |bucket|.
issued issue(const athm::client_context& ctx, uint32_t bucket, uint8_t stream) {
  const auto& f = athm::fuzz::fixed();
  chacha_random rr(athm::fuzz::seed_of(stream));
  auto resp = f.key.token_response(ctx.request(), bucket, rr);
  check(resp.ok());
  chacha_random rf(athm::fuzz::seed_of(stream + 1));
  auto tok = athm::finalize_token(f.key.public_part(), ctx, *resp, rf);
  check(tok.ok());
  auto b = f.key.verify_token(*tok);
  check(b.ok() && *b == bucket);
  return {vec(ctx.request()), *resp, vec(*tok)};
}

bytes pp_request(std::span<const uint8_t> t) {
  athm::pp::token_request r;
  r.truncated_key_id = athm::fuzz::fixed().key.public_part().truncated_id();
  std::copy(t.begin(), t.end(), r.request.begin());
  return vec(r.encode());
}

bytes pp_token(std::span<const uint8_t> t) {
  athm::pp::token tok;
  tok.issuer_key_id = athm::fuzz::fixed().key.public_part().id();
  std::copy(t.begin(), t.end(), tok.authenticator.begin());
  return vec(tok.encode());
}

// The group order n and the field prime p, big-endian.
const bytes kOrder = from_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const bytes kPrime = from_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

bytes order_minus(uint8_t k) {
  bytes v = kOrder;
  v[31] = static_cast<uint8_t>(v[31] - k);  // no borrow for small k (last byte 0x51)
  return v;
}

void engine_seeds() {
  const auto& f = athm::fuzz::fixed();
  const auto& pk = f.key.public_part();

  // The reference vectors (tests/crypto/vectors): request, response, token.
  std::ifstream vf(std::string(ATHM_SOURCE_DIR) + "/tests/crypto/vectors/athm-p256-sha256.json");
  check(vf.good());
  auto all = nlohmann::json::parse(vf);
  std::map<std::string, nlohmann::json> by;
  for (auto& v : all) {
    by[v["procedure"].get<std::string>()] = v;
  }
  auto hex = [](const nlohmann::json& j) { return from_hex(j.get<std::string>()); };
  const bytes v_request = hex(by["token_request"]["output"]["token_request"]);
  const bytes v_response = hex(by["token_response"]["output"]["token_response"]);
  const bytes v_token = hex(by["finalize_token"]["output"]["token"]);
  // The fixture is the vectors' key and request: the vectors are valid seeds.
  check(v_request == vec(f.context.request()));
  check(vec(pk.token_key()) ==
        cat(hex(by["key_gen"]["output"]["public_key"]), hex(by["key_gen"]["output"]["public_key_proof"])));

  // fuzz_pp_token_request
  const std::string tr = "fuzz_pp_token_request";
  put(tr, "vector", pp_request(v_request));
  for (uint8_t s = 0x10; s < 0x13; ++s) {
    chacha_random rng(athm::fuzz::seed_of(s));
    auto ctx = athm::token_request(pk, rng);
    check(ctx.ok());
    put(tr, "valid-" + std::to_string(s - 0x10), pp_request(ctx->request()));
  }
  put_near(tr, "vector", pp_request(v_request));
  {
    bytes wrong_type = pp_request(v_request);
    wrong_type[1] = 0x02;  // 0xC002
    put(tr, "wrong-type", wrong_type);
    bytes identity(athm::kRequestBytes, 0);
    put(tr, "identity", pp_request(identity));
    bytes uncompressed = v_request;
    uncompressed[0] = 0x04;
    put(tr, "prefix-04", pp_request(uncompressed));
    bytes x_is_p = cat({0x02}, kPrime);
    put(tr, "x-equals-p", pp_request(x_is_p));
    bytes off_curve = v_request;
    off_curve[32] ^= 0x01;  // x+1 or x-1: on the curve about half the time
    put(tr, "x-changed", pp_request(off_curve));
    put(tr, "generator", pp_request(athm::point::generator().encode()));
  }

  // fuzz_pp_token and fuzz_token_response_client
  const std::string tt = "fuzz_pp_token";
  const std::string rc = "fuzz_token_response_client";
  put(tt, "vector", pp_token(v_token));
  put(rc, "vector-bucket-3", v_response);
  for (uint32_t bucket = 0; bucket < athm::fuzz::kBuckets; ++bucket) {
    const issued is = issue(f.context, bucket, static_cast<uint8_t>(0x20 + 2 * bucket));
    put(tt, "bucket-" + std::to_string(bucket), pp_token(is.token));
    put(rc, "bucket-" + std::to_string(bucket), is.response);
  }
  put_near(tt, "vector", pp_token(v_token));
  put_near(rc, "vector", v_response);
  {
    // Re-randomized: (t, c*P, c*Q) verifies too.
    auto p = athm::point::decode(std::span(v_token).subspan(32, 33));
    auto q = athm::point::decode(std::span(v_token).subspan(65, 33));
    check(p.ok() && q.ok());
    const athm::scalar c = athm::scalar::from_u64(7);
    bytes rr = cat(cat(bytes(v_token.begin(), v_token.begin() + 32), p->mul_ct(c).encode()),
                   q->mul_ct(c).encode());
    check(f.key.verify_token(rr).ok());
    put(tt, "rerandomized", pp_token(rr));

    bytes t_is_n = cat(kOrder, std::span(v_token).subspan(32));
    put(tt, "t-equals-n", pp_token(t_is_n));
    bytes p_identity = v_token;
    std::fill(p_identity.begin() + 32, p_identity.begin() + 65, 0);
    put(tt, "p-identity", pp_token(p_identity));
    bytes q_is_p = cat(bytes(v_token.begin(), v_token.begin() + 65), std::span(v_token).subspan(32, 33));
    put(tt, "q-equals-p", pp_token(q_is_p));
    bytes wrong_type = pp_token(v_token);
    wrong_type[0] = 0x00;
    put(tt, "wrong-type", wrong_type);
    bytes other_key = pp_token(v_token);
    other_key[2] ^= 0xff;
    put(tt, "other-key-id", other_key);

    bytes flipped = v_response;
    flipped[100] ^= 0x01;
    put(rc, "flipped-proof-byte", flipped);
    bytes with_request = cat(v_request, v_response);
    put(rc, "request-and-response", with_request);
  }

  // fuzz_point_scalar: points and scalars at the edges, in windows.
  const std::string ps = "fuzz_point_scalar";
  const auto g = athm::point::generator().encode();
  const auto h = f.params->generator_h();
  const auto minus_g = (-athm::point::generator()).encode();
  put(ps, "generators", cat(cat(vec(g), h), minus_g));
  put(ps, "bad-points", cat(cat(cat({0x02}, kPrime), cat({0x05}, bytes(32, 0x11))), bytes(33, 0)));
  put(ps, "token-points", std::span(v_token).subspan(32));
  put(ps, "scalars-edge", cat(cat(cat(order_minus(1), kOrder), bytes(32, 0xff)), bytes(32, 0)));
  put(ps, "scalars-token", std::span(v_token).first(32));

  // fuzz_scalar_differential: op || a || b (|| more ops).
  const std::string sd = "fuzz_scalar_differential";
  const bytes one = cat(bytes(31, 0), std::array<uint8_t, 1>{1});
  const char* op_names[] = {"add", "sub", "mul", "inverse", "neg", "wide", "u64", "masks"};
  for (uint8_t op = 0; op < 8; ++op) {
    put(sd, std::string(op_names[op]) + "-edge",
        cat(cat(bytes{op}, order_minus(1)), order_minus(2)));
  }
  put(sd, "inverse-one", cat(cat(bytes{3}, one), one));
  put(sd, "mul-chain", cat(cat(cat(bytes{2}, order_minus(1)), kPrime),
                           bytes{2, 3, 0x82, 1, 0x84, 5, 6, 7, 0x83, 2, 2, 2}));
  put(sd, "wide-all-ones", cat(bytes{5}, bytes(64, 0xff)));

  // fuzz_engine_oracle: n_sel || bucket_sel || seed[32] || dep_len || dep || edits.
  const std::string eo = "fuzz_engine_oracle";
  for (uint8_t n_sel = 0; n_sel < 8; n_sel += 3) {
    bytes in{n_sel, static_cast<uint8_t>(n_sel + 1)};
    in.resize(34, static_cast<uint8_t>(0x40 + n_sel));
    in.push_back(4);
    for (char c : std::string_view("fuzz")) {
      in.push_back(static_cast<uint8_t>(c));
    }
    put(eo, "n" + std::to_string(n_sel + 1), in);
  }
  {
    bytes in{3, 2};
    in.resize(34, 0x01);
    in.push_back(0);
    put(eo, "n4-no-edits", in);
    in.insert(in.end(), {0x00, 0x10, 0x01, 0x01, 0x00, 0x80});
    put(eo, "n4-edits", in);
  }

  // fuzz_base64url
  const std::string b64 = "fuzz_base64url";
  put(b64, "token-key", athm::pp::base64url_encode(pk.token_key()));
  put(b64, "token", athm::pp::base64url_encode(pp_token(v_token)));
  put(b64, "padded-1", std::string_view("YQ=="));
  put(b64, "padded-2", std::string_view("YWI="));
  put(b64, "unpadded", std::string_view("YWJj-_8"));
  put(b64, "bad-trailing-bits", std::string_view("YR"));
  put(b64, "std-alphabet", std::string_view("ab+/"));
  put(b64, "bad-padding", std::string_view("Y==="));
}

void parser_seeds() {
  const auto& f = athm::fuzz::fixed();
  const auto& pk = f.key.public_part();
  const std::string token_key = athm::pp::base64url_encode(pk.token_key());
  const issued is = issue(f.context, 1, 0x30);
  const std::string token = athm::pp::base64url_encode(pp_token(is.token));

  // fuzz_config
  const std::string cf = "fuzz_config";
  const fs::path configs = fs::path(ATHM_SOURCE_DIR) / "deploy" / "config";
  for (const char* name : {"athmd.yaml", "athmd-fleet.yaml"}) {
    if (fs::exists(configs / name)) {
      put(cf, name, read_file(configs / name));
    }
  }
  put(cf, "minimal.yaml", std::string_view("keys:\n  directory: /var/lib/athmd/keys\n"));
  put(cf, "memory-store.yaml",
      std::string_view("keys: {directory: keys}\nstore: {type: memory}\n"
                       "attester: {type: static, static: {bucket: 3}}\n"));
  put(cf, "unknown-key.yaml", std::string_view("keys:\n  directory: k\n  colour: blue\n"));
  put(cf, "duplicate-key.yaml", std::string_view("keys:\n  directory: a\n  directory: b\n"));
  put(cf, "bad-port.yaml",
      std::string_view("keys: {directory: k}\nlisteners: {public: {port: 70000}}\n"));
  put(cf, "anchors.yaml", std::string_view("a: &x {directory: k}\nkeys: *x\n"));
  // yaml-cpp 0.7's LoadAll never returns on this one: its parser reports an
  // empty document forever and LoadAll allocates until the process dies
  // (found by fuzz_config; parse_config must refuse it).
  put(cf, "endless-documents.yaml", std::string_view("!,"));

  // fuzz_authorization
  const std::string au = "fuzz_authorization";
  put(au, "plain", "PrivateToken token=" + token);
  put(au, "quoted", "privatetoken token=\"" + token + "\"");
  put(au, "with-challenge", "PrivateToken challenge=abc, token=" + token + "==, x=\"y\\\"z\"");
  put(au, "duplicate", "PrivateToken token=" + token + ", Token=" + token);
  put(au, "empty-elements", "PrivateToken , , token=" + token + " ,");
  put(au, "other-scheme", "Bearer token=" + token);
  put(au, "missing-token", std::string_view("PrivateToken challenge=abc"));
  put(au, "bad-base64", std::string_view("PrivateToken token=ab+/"));

  // fuzz_directory
  const std::string di = "fuzz_directory";
  auto entry = [&](int not_before) {
    nlohmann::json e = {{"token-type", 49278},
                        {"token-key", token_key},
                        {"athm-deployment-id", std::string(athm::fuzz::kDeploymentId)},
                        {"athm-buckets", athm::fuzz::kBuckets}};
    if (not_before >= 0) {
      e["not-before"] = not_before;
    }
    return e;
  };
  nlohmann::json dir = {{"issuer-request-uri", "https://issuer.example/request"},
                        {"token-keys", {entry(1717200000), entry(-1)}}};
  put(di, "valid.json", dir.dump(2));
  dir["token-keys"].push_back({{"token-type", 2}, {"token-key", "AAAA"}});
  put(di, "mixed-types.json", dir.dump());
  put(di, "no-keys.json",
      std::string_view("{\"issuer-request-uri\":\"http://127.0.0.1:8080/request\",\"token-keys\":[]}"));
  nlohmann::json bad = {{"issuer-request-uri", "https://issuer.example/request"},
                        {"token-keys", {entry(1)}}};
  bad["token-keys"][0]["athm-buckets"] = 0;
  put(di, "zero-buckets.json", bad.dump());
  bad["token-keys"][0]["athm-buckets"] = 4.0;
  put(di, "float-buckets.json", bad.dump());
  put(di, "not-object.json", std::string_view("[1, 2, 3]"));

#if defined(ATHM_FUZZ_WITH_KEYS)
  // fuzz_key_file
  const std::string kf = "fuzz_key_file";
  athm::keys::key_schedule sched;
  sched.publish_at = athm::keys::from_unix_seconds(1717200000);
  sched.not_before = athm::keys::from_unix_seconds(1717200000);
  sched.expires = athm::keys::from_unix_seconds(1719792000);
  auto text = athm::keys::format_key_file(f.key, sched);
  check(text.ok());
  const std::string valid(reinterpret_cast<const char*>(text->data()), text->size());
  put(kf, "valid.key", valid);
  put(kf, "truncated.key", std::string_view(valid).substr(0, valid.size() - 1));
  put(kf, "crlf.key", std::string_view("athm-key v1\r\ntoken_type: 49278\r\n"));
  std::string reordered = valid;
  const size_t first = reordered.find('\n') + 1;
  const size_t second = reordered.find('\n', first) + 1;
  reordered = reordered.substr(0, first) + reordered.substr(second) + reordered.substr(first, second - first);
  put(kf, "reordered.key", reordered);
  std::string bad_schedule = valid;
  const size_t at = bad_schedule.find("expires: ");
  check(at != std::string::npos);
  bad_schedule.replace(at, 19, "expires: 1717200000");
  put(kf, "bad-schedule.key", bad_schedule);
  std::string v2 = valid;
  v2[10] = '2';
  put(kf, "version-2.key", v2);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus <output dir>\n";
    return 2;
  }
  g_out = argv[1];
  engine_seeds();
  parser_seeds();
  return 0;
}
