// RFC 9380 for P-256: expand_message_xmd (Appendix K.1), hash_to_field and
// the simplified SWU map (Appendix J.1.1, vectors/rfc9380-p256-sha256-sswu-ro.json),
// DST and length limits, and hash-to-scalar against a BIGNUM reduction.
#include "crypto/hash_to_curve.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>

#include <array>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "crypto/group.h"
#include "support/hex.h"

using athm::errc;
using athm::point;
using athm::testing::from_hex;
using athm::testing::to_hex;

namespace {

using bytes32 = std::array<uint8_t, 32>;
using bn_ptr = bssl::UniquePtr<BIGNUM>;

constexpr char kFieldPrimeHex[] =
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
constexpr char kOrderHex[] =
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
constexpr std::string_view kExpanderDst = "QUUX-V01-CS02-with-expander-SHA256-128";

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bytes32 to_bytes32(std::string_view hex) {
  auto v = from_hex(hex);
  REQUIRE(v.size() == 32);
  bytes32 out;
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

bn_ptr bn_hex(const char* hex) {
  BIGNUM* b = nullptr;
  REQUIRE(BN_hex2bn(&b, hex) != 0);
  return bn_ptr(b);
}

bytes32 bn_to_bytes32(const BIGNUM* b) {
  bytes32 out{};
  REQUIRE(BN_bn2bin_padded(out.data(), out.size(), b) == 1);
  return out;
}

// SEC1 compressed encoding from affine coordinates: (2 | parity of y) || x.
std::string compressed_hex(std::string_view x_hex, std::string_view y_hex) {
  auto y = from_hex(y_hex);
  REQUIRE(y.size() == 32);
  return std::string((y[31] & 1) != 0 ? "03" : "02") + std::string(x_hex);
}

nlohmann::json load_h2c_vectors() {
  std::ifstream f(std::string(ATHM_VECTORS_DIR) + "/rfc9380-p256-sha256-sswu-ro.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

std::string str(const nlohmann::json& j) { return j.get<std::string>(); }

// RFC 9380 Appendix J.1.1 also lists Q0 = map_to_curve(u[0]) and
// Q1 = map_to_curve(u[1]); the vector file does not carry them.
struct mapped_points {
  const char* q0x;
  const char* q0y;
  const char* q1x;
  const char* q1y;
};

const std::map<std::string, mapped_points>& rfc_q_values() {
  static const std::map<std::string, mapped_points> m = {
      {"",
       {"ab640a12220d3ff283510ff3f4b1953d09fad35795140b1c5d64f313967934d5",
        "dccb558863804a881d4fff3455716c836cef230e5209594ddd33d85c565b19b1",
        "51cce63c50d972a6e51c61334f0f4875c9ac1cd2d3238412f84e31da7d980ef5",
        "b45d1a36d00ad90e5ec7840a60a4de411917fbe7c82c3949a6e699e5a1b66aac"}},
      {"abc",
       {"5219ad0ddef3cc49b714145e91b2f7de6ce0a7a7dc7406c7726c7e373c58cb48",
        "7950144e52d30acbec7b624c203b1996c99617d0b61c2442354301b191d93ecf",
        "019b7cb4efcfeaf39f738fe638e31d375ad6837f58a852d032ff60c69ee3875f",
        "589a62d2b22357fed5449bc38065b760095ebe6aeac84b01156ee4252715446e"}},
      {"abcdef0123456789",
       {"a17bdf2965eb88074bc01157e644ed409dac97cfcf0c61c998ed0fa45e79e4a2",
        "4f1bc80c70d411a3cc1d67aeae6e726f0f311639fee560c7f5a664554e3c9c2e",
        "7da48bb67225c1a17d452c983798113f47e438e4202219dd0715f8419b274d66",
        "b765696b2913e36db3016c47edb99e24b1da30e761a8a3215dc0ec4d8f96e6f9"}},
      {"q128_",
       {"c76aaa823aeadeb3f356909cb08f97eee46ecb157c1f56699b5efebddf0e6398",
        "776a6f45f528a0e8d289a4be12c4fab80762386ec644abf2bffb9b627e4352b1",
        "418ac3d85a5ccc4ea8dec14f750a3a9ec8b85176c95a7022f391826794eb5a75",
        "fd6604f69e9d9d2b74b072d14ea13050db72c932815523305cb9e807cc900aff"}},
      {"a512_",
       {"d88b989ee9d1295df413d4456c5c850b8b2fb0f5402cc5c4c7e815412e926db8",
        "bb4a1edeff506cf16def96afff41b16fc74f6dbd55c2210e5b8f011ba32f4f40",
        "a281e34e628f3a4d2a53fa87ff973537d68ad4fbc28d3be5e8d9f6a2571c5a4b",
        "f6ed88a7aab56a488100e6f1174fa9810b47db13e86be999644922961206e184"}},
  };
  return m;
}

const mapped_points* q_values_for(const std::string& msg) {
  const auto& m = rfc_q_values();
  for (const auto& [prefix, q] : m) {
    if ((prefix.size() == 5 && msg.rfind(prefix, 0) == 0) || msg == prefix) {
      return &q;
    }
  }
  return nullptr;
}

// The RFC's q128_/a512_ messages: the prefix followed by 128 'q' / 512 'a'.
std::string long_message(char c, size_t n) {
  return std::string(1, c) + std::to_string(n) + "_" + std::string(n, c);
}

}  // namespace

TEST_CASE("hash_to_curve reproduces every RFC 9380 J.1.1 vector", "[h2c]") {
  const auto all = load_h2c_vectors();
  const std::string dst = str(all["dst"]);
  REQUIRE(dst == "QUUX-V01-CS02-with-P256_XMD:SHA-256_SSWU_RO_");
  REQUIRE(all["vectors"].size() == 5);
  for (const auto& v : all["vectors"]) {
    const std::string msg = str(v["msg"]);
    CAPTURE(msg);
    auto p = athm::hash_to_curve_p256_public(as_bytes(msg), dst);
    REQUIRE(p.ok());
    CHECK(to_hex(p->encode()) == compressed_hex(str(v["P.x"]), str(v["P.y"])));
    auto affine = point::from_affine_public(to_bytes32(str(v["P.x"])), to_bytes32(str(v["P.y"])));
    REQUIRE(affine.ok());
    CHECK(*affine == *p);
  }
}

TEST_CASE("hash_to_field: u[0], u[1] are expand_message_xmd(msg, 96) mod p", "[h2c]") {
  const auto all = load_h2c_vectors();
  const std::string dst = str(all["dst"]);
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  bn_ptr p = bn_hex(kFieldPrimeHex);
  for (const auto& v : all["vectors"]) {
    const std::string msg = str(v["msg"]);
    CAPTURE(msg);
    auto uniform = athm::expand_message_xmd_sha256(as_bytes(msg), dst, 96);
    REQUIRE(uniform.ok());
    REQUIRE(uniform->size() == 96);
    for (int i = 0; i < 2; ++i) {
      bn_ptr u(BN_bin2bn(uniform->data() + 48 * i, 48, nullptr));
      REQUIRE(BN_nnmod(u.get(), u.get(), p.get(), ctx.get()));
      CHECK(to_hex(bn_to_bytes32(u.get())) == str(v[i == 0 ? "u[0]" : "u[1]"]));
    }
  }
}

TEST_CASE("map_to_curve_sswu_public maps u[0], u[1] to Q0, Q1 and Q0 + Q1 = P", "[h2c]") {
  const auto all = load_h2c_vectors();
  for (const auto& v : all["vectors"]) {
    const std::string msg = str(v["msg"]);
    CAPTURE(msg);
    auto q0 = athm::map_to_curve_sswu_public(to_bytes32(str(v["u[0]"])));
    auto q1 = athm::map_to_curve_sswu_public(to_bytes32(str(v["u[1]"])));
    REQUIRE(q0.ok());
    REQUIRE(q1.ok());
    // P-256 has cofactor 1, so P = Q0 + Q1.
    CHECK(to_hex((*q0 + *q1).encode()) == compressed_hex(str(v["P.x"]), str(v["P.y"])));
    const mapped_points* q = q_values_for(msg);
    REQUIRE(q != nullptr);
    CHECK(to_hex(q0->encode()) == compressed_hex(q->q0x, q->q0y));
    CHECK(to_hex(q1->encode()) == compressed_hex(q->q1x, q->q1y));
  }
  // The long messages in the file are the RFC's q128_ and a512_ strings.
  CHECK(str(all["vectors"][3]["msg"]) == long_message('q', 128));
  CHECK(str(all["vectors"][4]["msg"]) == long_message('a', 512));
}

TEST_CASE("map_to_curve_sswu_public: exceptional and out-of-range inputs", "[h2c]") {
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  bn_ptr p = bn_hex(kFieldPrimeHex);

  SECTION("u = p and u = 2^256 - 1 are not field elements") {
    CHECK(athm::map_to_curve_sswu_public(to_bytes32(kFieldPrimeHex)).error() == errc::bad_params);
    bytes32 ff;
    ff.fill(0xff);
    CHECK(athm::map_to_curve_sswu_public(ff).error() == errc::bad_params);
  }

  SECTION("u = 0 (tv1 = 0) maps to x1 = B / (Z*A) or, if g(x1) is not square, to x2 = 0") {
    // Reference computed here with BIGNUM: A = -3, Z = -10, sgn0(y) = sgn0(0) = 0.
    bn_ptr a(BN_new()), b(BN_new()), t(BN_new()), x(BN_new()), gx(BN_new()), y(BN_new());
    REQUIRE(EC_GROUP_get_curve_GFp(athm::p256(), nullptr, a.get(), b.get(), ctx.get()));
    bn_ptr za(BN_new());
    REQUIRE(BN_set_word(za.get(), 30));  // Z*A = (-10)(-3) = 30
    REQUIRE(BN_mod_inverse(t.get(), za.get(), p.get(), ctx.get()) != nullptr);
    REQUIRE(BN_mod_mul(x.get(), b.get(), t.get(), p.get(), ctx.get()));
    auto g = [&](const BIGNUM* xv, BIGNUM* out) {
      bn_ptr s(BN_new());
      REQUIRE(BN_mod_sqr(s.get(), xv, p.get(), ctx.get()));
      REQUIRE(BN_mod_add(s.get(), s.get(), a.get(), p.get(), ctx.get()));
      REQUIRE(BN_mod_mul(s.get(), s.get(), xv, p.get(), ctx.get()));
      REQUIRE(BN_mod_add(out, s.get(), b.get(), p.get(), ctx.get()));
    };
    g(x.get(), gx.get());
    if (BN_mod_sqrt(y.get(), gx.get(), p.get(), ctx.get()) == nullptr) {
      BN_zero(x.get());  // x2 = Z * 0^2 * x1
      g(x.get(), gx.get());
      REQUIRE(BN_mod_sqrt(y.get(), gx.get(), p.get(), ctx.get()) != nullptr);
    }
    if (BN_is_odd(y.get())) {
      REQUIRE(BN_sub(y.get(), p.get(), y.get()));
    }
    bytes32 zero{};
    auto q = athm::map_to_curve_sswu_public(zero);
    REQUIRE(q.ok());
    auto expected = point::from_affine_public(bn_to_bytes32(x.get()), bn_to_bytes32(y.get()));
    REQUIRE(expected.ok());
    CHECK(*q == *expected);
  }

  SECTION("map(-u) = -map(u): the sign of y follows sgn0(u)") {
    for (uint32_t k : {1u, 2u, 3u, 1000u, 0xdeadbeefu}) {
      CAPTURE(k);
      bn_ptr u(BN_new()), neg(BN_new());
      REQUIRE(BN_set_word(u.get(), k));
      REQUIRE(BN_sub(neg.get(), p.get(), u.get()));
      auto qu = athm::map_to_curve_sswu_public(bn_to_bytes32(u.get()));
      auto qn = athm::map_to_curve_sswu_public(bn_to_bytes32(neg.get()));
      REQUIRE(qu.ok());
      REQUIRE(qn.ok());
      CHECK(*qn == -*qu);
      CHECK_FALSE(*qn == *qu);
      // sgn0(k) = k mod 2 and sgn0(p - k) is the opposite parity.
      CHECK(qu->encode()[0] == ((k & 1) != 0 ? 0x03 : 0x02));
      CHECK(qn->encode()[0] == ((k & 1) != 0 ? 0x02 : 0x03));
    }
  }

  SECTION("u = p - 1 is accepted") {
    bn_ptr u(BN_dup(p.get()));
    REQUIRE(BN_sub_word(u.get(), 1));
    CHECK(athm::map_to_curve_sswu_public(bn_to_bytes32(u.get())).ok());
  }
}

TEST_CASE("expand_message_xmd reproduces RFC 9380 K.1 (SHA-256)", "[h2c]") {
  struct kat {
    std::string msg;
    size_t len;
    const char* uniform;
  };
  const std::vector<kat> kats = {
      {"", 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"},
      {"abc", 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"},
      {"abcdef0123456789", 0x20,
       "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"},
      {long_message('q', 128), 0x20,
       "b23a1d2b4d97b2ef7785562a7e8bac7eed54ed6e97e29aa51bfe3f12ddad1ff9"},
      {long_message('a', 512), 0x20,
       "4623227bcc01293b8c130bf771da8c298dede7383243dc0993d2d94823958c4c"},
      {"", 0x80,
       "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbe"
       "e0d121587713a3e0dd4d5e69e93eb7cd4f5df4cd103e188cf60cb02edc3edf18"
       "eda8576c412b18ffb658e3dd6ec849469b979d444cf7b26911a08e63cf31f9dc"
       "c541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced"},
      {"abc", 0x80,
       "abba86a6129e366fc877aab32fc4ffc70120d8996c88aee2fe4b32d6c7b6437a"
       "647e6c3163d40b76a73cf6a5674ef1d890f95b664ee0afa5359a5c4e07985635"
       "bbecbac65d747d3d2da7ec2b8221b17b0ca9dc8a1ac1c07ea6a1e60583e2cb00"
       "058e77b7b72a298425cd1b941ad4ec65e8afc50303a22c0f99b0509b4c895f40"},
      {"abcdef0123456789", 0x80,
       "ef904a29bffc4cf9ee82832451c946ac3c8f8058ae97d8d629831a74c6572bd9"
       "ebd0df635cd1f208e2038e760c4994984ce73f0d55ea9f22af83ba4734569d4b"
       "c95e18350f740c07eef653cbb9f87910d833751825f0ebefa1abe5420bb52be1"
       "4cf489b37fe1a72f7de2d10be453b2c9d9eb20c7e3f6edc5a60629178d9478df"},
      {long_message('q', 128), 0x80,
       "80be107d0884f0d881bb460322f0443d38bd222db8bd0b0a5312a6fedb49c1bb"
       "d88fd75d8b9a09486c60123dfa1d73c1cc3169761b17476d3c6b7cbbd727acd0"
       "e2c942f4dd96ae3da5de368d26b32286e32de7e5a8cb2949f866a0b80c58116b"
       "29fa7fabb3ea7d520ee603e0c25bcaf0b9a5e92ec6a1fe4e0391d1cdbce8c68a"},
      {long_message('a', 512), 0x80,
       "546aff5444b5b79aa6148bd81728704c32decb73a3ba76e9e75885cad9def1d0"
       "6d6792f8a7d12794e90efed817d96920d728896a4510864370c207f99bd4a608"
       "ea121700ef01ed879745ee3e4ceef777eda6d9e5e38b90c86ea6fb0b36504ba4"
       "a45d22e86f6db5dd43d98a294bebb9125d5b794e9d2a81181066eb954966a487"},
  };
  for (const auto& k : kats) {
    CAPTURE(k.msg.substr(0, 16), k.len);
    auto out = athm::expand_message_xmd_sha256(as_bytes(k.msg), kExpanderDst, k.len);
    REQUIRE(out.ok());
    CHECK(out->size() == k.len);
    CHECK(to_hex(*out) == k.uniform);
  }
}

TEST_CASE("expand_message_xmd: lengths and structure", "[h2c]") {
  const auto msg = as_bytes("abc");
  SECTION("a shorter output is not a prefix of a longer one (l_i_b_str is hashed)") {
    auto a = athm::expand_message_xmd_sha256(msg, kExpanderDst, 48);
    auto b = athm::expand_message_xmd_sha256(msg, kExpanderDst, 64);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->size() == 48);
    CHECK(b->size() == 64);
    CHECK_FALSE(std::equal(a->begin(), a->end(), b->begin()));
  }
  SECTION("odd lengths, 1 byte and the 255-block maximum") {
    for (size_t len : {size_t{1}, size_t{31}, size_t{33}, size_t{255 * 32}}) {
      CAPTURE(len);
      auto out = athm::expand_message_xmd_sha256(msg, kExpanderDst, len);
      REQUIRE(out.ok());
      CHECK(out->size() == len);
    }
  }
  SECTION("len 0 and len > 8160 are rejected") {
    for (size_t len : {size_t{0}, size_t{255 * 32 + 1}, size_t{65535}, size_t{65536},
                       size_t{1} << 20}) {
      CAPTURE(len);
      auto out = athm::expand_message_xmd_sha256(msg, kExpanderDst, len);
      REQUIRE_FALSE(out.ok());
      CHECK(out.error() == errc::bad_params);
    }
  }
  SECTION("DST of 255 bytes is accepted, 256 rejected") {
    const std::string dst255(255, 'D');
    const std::string dst256(256, 'D');
    auto ok = athm::expand_message_xmd_sha256(msg, dst255, 32);
    REQUIRE(ok.ok());
    auto bad = athm::expand_message_xmd_sha256(msg, dst256, 32);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error() == errc::bad_params);
    // A DST that differs in its last byte gives different output.
    std::string dst255b = dst255;
    dst255b.back() = 'E';
    auto other = athm::expand_message_xmd_sha256(msg, dst255b, 32);
    REQUIRE(other.ok());
    CHECK(*other != *ok);
  }
  SECTION("hash_to_curve and hash_to_scalar propagate the DST error") {
    const std::string dst256(256, 'D');
    auto p = athm::hash_to_curve_p256_public(msg, dst256);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error() == errc::bad_params);
    auto s = athm::hash_to_scalar_p256(msg, dst256);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error() == errc::bad_params);
    CHECK(athm::hash_to_curve_p256_public(msg, std::string(255, 'D')).ok());
    CHECK(athm::hash_to_scalar_p256(msg, std::string(255, 'D')).ok());
  }
}

TEST_CASE("hash_to_scalar_p256 is expand_message_xmd(msg, dst, 48) mod n", "[h2c]") {
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  bn_ptr n = bn_hex(kOrderHex);
  const std::vector<std::string> msgs = {"", "abc", std::string(1000, 'x'),
                                         std::string("\0\1\2", 3)};
  const std::vector<std::string> dsts = {"HashToScalar-ATHMV1-P256-4-testKeyCommitments",
                                         "HashToScalar-ATHMV1-P256-4-testTokenResponseProof",
                                         std::string(255, 'z')};
  for (const auto& dst : dsts) {
    for (const auto& m : msgs) {
      CAPTURE(dst, m.size());
      auto s = athm::hash_to_scalar_p256(as_bytes(m), dst);
      REQUIRE(s.ok());
      auto wide = athm::expand_message_xmd_sha256(as_bytes(m), dst, 48);
      REQUIRE(wide.ok());
      bn_ptr w(BN_bin2bn(wide->data(), wide->size(), nullptr));
      REQUIRE(BN_nnmod(w.get(), w.get(), n.get(), ctx.get()));
      CHECK(to_hex(s->to_bytes()) == to_hex(bn_to_bytes32(w.get())));
      // Deterministic.
      auto again = athm::hash_to_scalar_p256(as_bytes(m), dst);
      REQUIRE(again.ok());
      CHECK(*again == *s);
    }
  }
}

TEST_CASE("hash_to_scalar_p256 and hash_to_curve separate domains", "[h2c]") {
  const auto msg = as_bytes("transcript");
  auto a = athm::hash_to_scalar_p256(msg, "HashToScalar-ATHMV1-P256-4-aKeyCommitments");
  auto b = athm::hash_to_scalar_p256(msg, "HashToScalar-ATHMV1-P256-4-bKeyCommitments");
  auto c = athm::hash_to_scalar_p256(msg, "HashToScalar-ATHMV1-P256-4-aTokenResponseProof");
  auto d = athm::hash_to_scalar_p256(as_bytes("transcripT"),
                                     "HashToScalar-ATHMV1-P256-4-aKeyCommitments");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  REQUIRE(d.ok());
  CHECK_FALSE(*a == *b);
  CHECK_FALSE(*a == *c);
  CHECK_FALSE(*a == *d);

  auto p = athm::hash_to_curve_p256_public(msg, "HashToGroup-ATHMV1-P256-4-ageneratorH");
  auto q = athm::hash_to_curve_p256_public(msg, "HashToGroup-ATHMV1-P256-4-bgeneratorH");
  auto p2 = athm::hash_to_curve_p256_public(msg, "HashToGroup-ATHMV1-P256-4-ageneratorH");
  REQUIRE(p.ok());
  REQUIRE(q.ok());
  REQUIRE(p2.ok());
  CHECK_FALSE(*p == *q);
  CHECK(*p == *p2);
  CHECK_FALSE(p->is_identity());
}
