// GET /auth, the forward-auth endpoint for reverse proxies (RFC 9577
// Authorization / WWW-Authenticate): 200 with X-Token-Bucket on first valid
// use, otherwise 401 with a challenge for token type 0xC07E.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;

namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

// Parses 'PrivateToken a=b, c="d"' into its lower-cased parameter names and
// unquoted values. nullopt if the scheme is not PrivateToken or the syntax
// is broken.
std::optional<std::map<std::string, std::string>> parse_challenge(const std::string& header) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) {
      ++i;
    }
  };
  skip_ws();
  const size_t scheme_end = header.find(' ', i);
  if (scheme_end == std::string::npos || lower(header.substr(i, scheme_end - i)) != "privatetoken") {
    return std::nullopt;
  }
  i = scheme_end;
  std::map<std::string, std::string> params;
  while (true) {
    skip_ws();
    if (i >= header.size()) {
      break;
    }
    const size_t eq = header.find('=', i);
    if (eq == std::string::npos) {
      return std::nullopt;
    }
    std::string name = header.substr(i, eq - i);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
      name.pop_back();
    }
    i = eq + 1;
    skip_ws();
    std::string value;
    if (i < header.size() && header[i] == '"') {
      const size_t close = header.find('"', i + 1);
      if (close == std::string::npos) {
        return std::nullopt;
      }
      value = header.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const size_t end = header.find(',', i);
      value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.pop_back();
      }
      i = end == std::string::npos ? header.size() : end;
    }
    params[lower(name)] = value;
    skip_ws();
    if (i < header.size()) {
      if (header[i] != ',') {
        return std::nullopt;
      }
      ++i;
    }
  }
  return params;
}

// TokenChallenge (RFC 9577 §2.1):
//   uint16 token_type; opaque issuer_name<1..2^16-1>;
//   opaque redemption_context<0..32>; opaque origin_info<0..2^16-1>;
struct token_challenge {
  uint16_t token_type = 0;
  std::string issuer_name;
  size_t redemption_context_bytes = 0;
  std::string origin_info;
};

std::optional<token_challenge> decode_challenge(const std::vector<uint8_t>& in) {
  size_t i = 0;
  auto u16 = [&](uint16_t& out) {
    if (in.size() - i < 2) {
      return false;
    }
    out = static_cast<uint16_t>((in[i] << 8) | in[i + 1]);
    i += 2;
    return true;
  };
  token_challenge c;
  uint16_t len = 0;
  if (!u16(c.token_type) || !u16(len) || len == 0 || in.size() - i < len) {
    return std::nullopt;
  }
  c.issuer_name.assign(in.begin() + i, in.begin() + i + len);
  i += len;
  if (in.size() - i < 1) {
    return std::nullopt;
  }
  c.redemption_context_bytes = in[i++];
  if (c.redemption_context_bytes != 0 && c.redemption_context_bytes != 32) {
    return std::nullopt;
  }
  if (in.size() - i < c.redemption_context_bytes) {
    return std::nullopt;
  }
  i += c.redemption_context_bytes;
  if (!u16(len) || in.size() - i < len) {
    return std::nullopt;
  }
  c.origin_info.assign(in.begin() + i, in.begin() + i + len);
  i += len;
  if (i != in.size()) {
    return std::nullopt;
  }
  return c;
}

// Checks a 401 answer: the challenge names token type 0xC07E and the
// token-key is the directory's key.
void check_unauthorized(const http_reply& r, const issuer_view& issuer) {
  INFO(r.describe());
  REQUIRE(r.status == 401);
  CHECK_FALSE(r.header("X-Token-Bucket").has_value());
  const auto www = r.header("WWW-Authenticate");
  REQUIRE(www.has_value());
  INFO("WWW-Authenticate: " << *www);
  const auto params = parse_challenge(*www);
  REQUIRE(params.has_value());
  REQUIRE(params->count("challenge") == 1);
  REQUIRE(params->count("token-key") == 1);

  auto challenge = athm::pp::base64url_decode(params->at("challenge"));
  REQUIRE(challenge.ok());
  const auto tc = decode_challenge(*challenge);
  REQUIRE(tc.has_value());
  CHECK(tc->token_type == 0xC07E);
  CHECK(!tc->issuer_name.empty());

  auto key = athm::pp::base64url_decode(params->at("token-key"));
  REQUIRE(key.ok());
  REQUIRE(key->size() == athm::kTokenKeyBytes);
  const auto& expected = issuer.current().token_key();
  CHECK(std::equal(key->begin(), key->end(), expected.begin(), expected.end()));
}

}  // namespace

TEST_CASE("forward-auth refuses with a PrivateToken challenge", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());
  const std::vector<encoded_token> tokens = issue_tokens(d.public_port(), issuer, 2, 1);
  const encoded_token& tok = tokens[0];
  const std::string b64 = base64url(tok);
  encoded_token tampered = tok;
  tampered[2 + athm::kKeyIdBytes + 5] ^= 0x10;
  const std::string short_b64 =
      base64url(std::span<const uint8_t>(tok.data(), athm::pp::kTokenBytes - 1));

  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"missing Authorization", std::nullopt},
      {"Bearer scheme", "Bearer " + b64},
      {"Basic scheme", "Basic dXNlcjpwYXNz"},
      {"scheme only", "PrivateToken"},
      {"empty token", "PrivateToken token="},
      {"garbage base64", "PrivateToken token=!!not*base64!!"},
      {"standard base64 alphabet", "PrivateToken token=ab+/cd=="},
      {"token of 131 bytes", "PrivateToken token=" + short_b64},
      {"tampered token", "PrivateToken token=" + base64url(tampered)},
      {"no token parameter", "PrivateToken challenge=" + b64},
  };
  for (const auto& [name, value] : cases) {
    INFO(name);
    check_unauthorized(forward_auth(d.internal_port(), value), issuer);
  }

  // None of that spent the token; a valid use works once, then 401.
  const http_reply ok = forward_auth(d.internal_port(), "PrivateToken token=" + b64);
  INFO(ok.describe());
  REQUIRE(ok.status == 200);
  CHECK(ok.header("X-Token-Bucket") == "1");
  CHECK_FALSE(ok.header("WWW-Authenticate").has_value());
  {
    INFO("spent token");
    check_unauthorized(forward_auth(d.internal_port(), "PrivateToken token=" + b64), issuer);
  }
  {
    INFO("spent token, quoted");
    check_unauthorized(forward_auth(d.internal_port(), "PrivateToken token=\"" + b64 + "\""),
                       issuer);
  }
}

TEST_CASE("forward-auth accepts the valid spellings of a token", "[integration]") {
  temp_dir tmp;
  auto d = daemon_process::dev(tmp / "state");
  const issuer_view issuer = fetch_issuer(d.public_port());

  // A 132-byte token has no base64 padding (132 = 3 * 44), so the padded
  // and unpadded spellings are the same string; both quoting styles, the
  // scheme's case and the parameter order are what vary.
  const std::vector<std::pair<std::string, std::string>> spellings = {
      {"unquoted", "PrivateToken token=%"},
      {"quoted", "PrivateToken token=\"%\""},
      {"lower-case scheme", "privatetoken token=%"},
      {"another parameter first", "PrivateToken foo=bar, token=%"},
      {"another quoted parameter after", "PrivateToken token=%, foo=\"a, b\""},
  };
  const std::vector<encoded_token> tokens =
      issue_tokens(d.public_port(), issuer, spellings.size(), 3);
  for (size_t i = 0; i < spellings.size(); ++i) {
    std::string value = spellings[i].second;
    value.replace(value.find('%'), 1, base64url(tokens[i]));
    INFO(spellings[i].first << ": " << value.substr(0, 40) << "...");
    const http_reply r = forward_auth(d.internal_port(), value);
    INFO(r.describe());
    CHECK(r.status == 200);
    CHECK(r.header("X-Token-Bucket") == "3");
    // Spent now, whatever the spelling.
    CHECK(forward_auth(d.internal_port(), "PrivateToken token=" + base64url(tokens[i])).status ==
          401);
  }
}
