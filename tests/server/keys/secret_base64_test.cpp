#include "server/keys/secret_base64.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "crypto/privacypass.h"

namespace athm::keys {
namespace {

std::string as_string(const athm::secret_buffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

}  // namespace

TEST_CASE("secret base64url: matches the public codec", "[keys][base64]") {
  for (size_t n = 0; n <= 200; ++n) {
    INFO("n = " << n);
    const auto data = pattern(n, static_cast<uint32_t>(n));
    const auto enc = base64url_encode_secret(data);
    CHECK(enc.size() == base64url_length(n));
    CHECK(as_string(enc) == athm::pp::base64url_encode(data));
    auto dec = base64url_decode_secret(as_string(enc), n);
    REQUIRE(dec.has_value());
    CHECK(std::vector<uint8_t>(dec->data(), dec->data() + dec->size()) == data);
  }
}

TEST_CASE("secret base64url: every alphabet character", "[keys][base64]") {
  std::vector<uint8_t> all;
  // 48 bytes carry 64 sextets 0..63 in order.
  for (int i = 0; i < 64; i += 4) {
    const uint32_t v = (uint32_t(i) << 18) | (uint32_t(i + 1) << 12) | (uint32_t(i + 2) << 6) | uint32_t(i + 3);
    all.push_back(static_cast<uint8_t>(v >> 16));
    all.push_back(static_cast<uint8_t>(v >> 8));
    all.push_back(static_cast<uint8_t>(v));
  }
  CHECK(as_string(base64url_encode_secret(all)) ==
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
}

TEST_CASE("secret base64url: rejects malformed input", "[keys][base64]") {
  const std::string good = athm::pp::base64url_encode(pattern(160, 7));
  REQUIRE(base64url_decode_secret(good, 160).has_value());
  CHECK_FALSE(base64url_decode_secret(good, 161).has_value());      // wrong length
  CHECK_FALSE(base64url_decode_secret(good.substr(1), 160).has_value());
  CHECK_FALSE(base64url_decode_secret(good + "==", 160).has_value());
  for (char bad : {'+', '/', '=', ' ', '.', '\0', '\x80', '@', '[', '`', '{'}) {
    std::string s = good;
    s[50] = bad;
    INFO("char " << int(static_cast<unsigned char>(bad)));
    CHECK_FALSE(base64url_decode_secret(s, 160).has_value());
  }
  // Non-zero unused bits in the last character.
  std::string s = good;
  s.back() = 'B';
  CHECK_FALSE(base64url_decode_secret(s, 160).has_value());
  const std::string two = athm::pp::base64url_encode(pattern(2, 1));  // 3 chars, 2 unused bits
  std::string t = two;
  t.back() = static_cast<char>(t.back() == 'A' ? 'B' : t.back() + 1);
  CHECK(base64url_decode_secret(two, 2).has_value());
  CHECK_FALSE(base64url_decode_secret(t, 2).has_value());
}

}  // namespace athm::keys
