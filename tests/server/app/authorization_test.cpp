#include "server/app/authorization.h"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "crypto/privacypass.h"

using athm::app::authorization_status;
using athm::app::parse_private_token_authorization;

namespace {

// A 132-byte token-shaped value (its content is irrelevant to the parser).
std::vector<uint8_t> sample_token() {
  std::vector<uint8_t> t(athm::pp::kTokenBytes);
  for (size_t i = 0; i < t.size(); ++i) {
    t[i] = static_cast<uint8_t>(i * 7 + 3);
  }
  return t;
}

// A 4-byte value whose base64url needs padding: "AQIDBA" / "AQIDBA==".
const std::vector<uint8_t> kShort = {1, 2, 3, 4};

struct parse_case {
  const char* name;
  std::string value;
  authorization_status expected;
  std::vector<uint8_t> token;  // when ok
};

}  // namespace

TEST_CASE("parse_private_token_authorization: table", "[app][authorization]") {
  const std::vector<uint8_t> tok = sample_token();
  const std::string b64 = athm::pp::base64url_encode(tok);
  REQUIRE(b64.size() == 176);

  const std::vector<parse_case> cases = {
      // Accepted spellings.
      {"unquoted", "PrivateToken token=" + b64, authorization_status::ok, tok},
      {"quoted", "PrivateToken token=\"" + b64 + "\"", authorization_status::ok, tok},
      {"lower-case scheme", "privatetoken token=" + b64, authorization_status::ok, tok},
      {"upper-case scheme", "PRIVATETOKEN token=" + b64, authorization_status::ok, tok},
      {"upper-case parameter name", "PrivateToken TOKEN=" + b64, authorization_status::ok, tok},
      {"other parameter first", "PrivateToken foo=bar, token=" + b64, authorization_status::ok, tok},
      {"other quoted parameter after", "PrivateToken token=" + b64 + ", foo=\"a, b\"",
       authorization_status::ok, tok},
      {"spaces around '='", "PrivateToken token = " + b64, authorization_status::ok, tok},
      {"several spaces after the scheme", "PrivateToken    token=" + b64, authorization_status::ok, tok},
      {"leading and trailing whitespace", " \tPrivateToken token=" + b64 + " \t",
       authorization_status::ok, tok},
      {"empty list elements", "PrivateToken , token=" + b64 + " ,, a=b ,", authorization_status::ok, tok},
      {"padded, unquoted", "PrivateToken token=AQIDBA==", authorization_status::ok, kShort},
      {"unpadded, unquoted", "PrivateToken token=AQIDBA", authorization_status::ok, kShort},
      {"padded, quoted", "PrivateToken token=\"AQIDBA==\"", authorization_status::ok, kShort},
      {"quoted-pair inside the value", "PrivateToken token=\"AQ\\IDBA\"", authorization_status::ok, kShort},
      {"other parameter with escaped quote", "PrivateToken a=\"x\\\"y\", token=AQIDBA",
       authorization_status::ok, kShort},
      // Other schemes and empty input.
      {"empty", "", authorization_status::wrong_scheme, {}},
      {"whitespace only", "   ", authorization_status::wrong_scheme, {}},
      {"Bearer", "Bearer " + b64, authorization_status::wrong_scheme, {}},
      {"Basic", "Basic dXNlcjpwYXNz", authorization_status::wrong_scheme, {}},
      {"scheme prefix", "PrivateTokens token=" + b64, authorization_status::wrong_scheme, {}},
      // Syntax errors.
      {"scheme followed by a comma", "PrivateToken,token=" + b64, authorization_status::syntax, {}},
      {"tab instead of SP after the scheme", "PrivateToken\ttoken=" + b64, authorization_status::syntax, {}},
      {"token68 form", "PrivateToken " + b64, authorization_status::syntax, {}},
      {"missing '='", "PrivateToken token " + b64, authorization_status::syntax, {}},
      {"empty unquoted value", "PrivateToken token=", authorization_status::syntax, {}},
      {"empty value before a comma", "PrivateToken token=, a=b", authorization_status::syntax, {}},
      {"unterminated quote", "PrivateToken token=\"" + b64, authorization_status::syntax, {}},
      {"two values without a comma", "PrivateToken token=" + b64 + " a=b", authorization_status::syntax, {}},
      {"standard base64 characters", "PrivateToken token=ab+/cd==", authorization_status::syntax, {}},
      {"garbage after the value", "PrivateToken token=" + b64 + ";", authorization_status::syntax, {}},
      {"control character in a quoted value", std::string("PrivateToken token=\"AQ\x01IDBA\""),
       authorization_status::syntax, {}},
      {"NUL in the value", std::string("PrivateToken token=AQ\0IDBA", 26), authorization_status::syntax, {}},
      {"padding inside a value", "PrivateToken token=AQ==IDBA", authorization_status::syntax, {}},
      {"parameter name missing", "PrivateToken =" + b64, authorization_status::syntax, {}},
      {"too many parameters",
       "PrivateToken a0=1, a1=1, a2=1, a3=1, a4=1, a5=1, a6=1, a7=1, a8=1, a9=1, b0=1, b1=1, b2=1, "
       "b3=1, b4=1, b5=1, token=AQIDBA",
       authorization_status::syntax, {}},
      // Duplicates.
      {"token twice", "PrivateToken token=" + b64 + ", token=" + b64,
       authorization_status::duplicate_parameter, {}},
      {"token twice, different case", "PrivateToken token=AQIDBA, Token=AQIDBA",
       authorization_status::duplicate_parameter, {}},
      {"other parameter twice", "PrivateToken a=1, token=AQIDBA, A=2",
       authorization_status::duplicate_parameter, {}},
      // Missing token.
      {"scheme only", "PrivateToken", authorization_status::missing_token, {}},
      {"scheme and space", "PrivateToken ", authorization_status::missing_token, {}},
      {"only other parameters", "PrivateToken challenge=" + b64, authorization_status::missing_token, {}},
      {"parameter named like token", "PrivateToken tokens=AQIDBA", authorization_status::missing_token, {}},
      // Bad token encodings.
      {"empty quoted token", "PrivateToken token=\"\"", authorization_status::bad_token_encoding, {}},
      {"quoted token with a space", "PrivateToken token=\"AQ IDBA\"", authorization_status::bad_token_encoding, {}},
      {"quoted standard base64", "PrivateToken token=\"ab+/cd==\"", authorization_status::bad_token_encoding, {}},
      {"wrong padding length", "PrivateToken token=AQIDBA=", authorization_status::bad_token_encoding, {}},
      {"impossible length", "PrivateToken token=A", authorization_status::bad_token_encoding, {}},
      {"non-zero trailing bits", "PrivateToken token=AQIDBB", authorization_status::bad_token_encoding, {}},
  };
  REQUIRE(cases.size() >= 20);

  for (const auto& c : cases) {
    INFO("case: " << c.name);
    const auto r = parse_private_token_authorization(c.value);
    CHECK(athm::app::to_string(r.status) == std::string(athm::app::to_string(c.expected)));
    if (c.expected == authorization_status::ok) {
      CHECK(r.ok());
      CHECK(r.token == c.token);
    } else {
      CHECK_FALSE(r.ok());
      CHECK(r.token.empty());
    }
  }
}

TEST_CASE("parse_private_token_authorization never reads past its input", "[app][authorization]") {
  // Every prefix of a valid value parses without crashing and is either the
  // full token or an error.
  const std::string full = "PrivateToken a=\"x\\\"y\", token=\"AQIDBA==\"";
  for (size_t n = 0; n <= full.size(); ++n) {
    const auto r = parse_private_token_authorization(std::string_view(full).substr(0, n));
    if (n == full.size()) {
      CHECK(r.ok());
    } else {
      CHECK_FALSE(r.ok());
    }
  }
}

TEST_CASE("encode_token_challenge follows RFC 9577 §2.1", "[app][authorization]") {
  const auto c = athm::app::encode_token_challenge(0xC07E, "issuer.example", {}, {});
  const std::vector<uint8_t> expected = {
      0xC0, 0x7E,                                        // token_type
      0x00, 0x0E, 'i', 's', 's', 'u', 'e', 'r', '.',     // issuer_name
      'e', 'x', 'a', 'm', 'p', 'l', 'e',
      0x00,                                              // redemption_context<0..32>
      0x00, 0x00,                                        // origin_info
  };
  CHECK(c == expected);

  std::array<uint8_t, 32> ctx{};
  ctx.fill(0xAB);
  const std::vector<uint8_t> origin = {'o'};
  const auto c2 = athm::app::encode_token_challenge(0x0002, "i", ctx, origin);
  REQUIRE(c2.size() == 2 + 2 + 1 + 1 + 32 + 2 + 1);
  CHECK(c2[5] == 32);
  CHECK(c2[6] == 0xAB);
  CHECK(c2[38] == 0x00);
  CHECK(c2[39] == 0x01);
  CHECK(c2[40] == 'o');

  // Lengths the prefixes cannot carry.
  CHECK(athm::app::encode_token_challenge(0xC07E, "", {}, {}).empty());
  std::array<uint8_t, 5> bad_ctx{};
  CHECK(athm::app::encode_token_challenge(0xC07E, "i", bad_ctx, {}).empty());
}

TEST_CASE("www_authenticate_value and uri_host", "[app][authorization]") {
  const std::vector<uint8_t> challenge = {0xC0, 0x7E};
  const std::vector<uint8_t> key = {0xFF, 0xFE, 0xFD};
  CHECK(athm::app::www_authenticate_value(challenge, key) == "PrivateToken challenge=wH4, token-key=__79");

  CHECK(athm::app::uri_host("https://issuer.example/request") == "issuer.example");
  CHECK(athm::app::uri_host("http://issuer.example:8443/request") == "issuer.example");
  CHECK(athm::app::uri_host("http://user@issuer.example:1/r") == "issuer.example");
  CHECK(athm::app::uri_host("http://127.0.0.1:8080/request") == "127.0.0.1");
  CHECK(athm::app::uri_host("http://[::1]:8080/request") == "[::1]");
  CHECK(athm::app::uri_host("http://host") == "host");
  CHECK(athm::app::uri_host("no scheme") == "");
}
