// RFC 9577 HTTP authentication for Privacy Pass: parsing the
// "Authorization: PrivateToken token=..." credentials and building the
// "WWW-Authenticate: PrivateToken challenge=..., token-key=..." challenge.
//
// No Asio, no Beast, no allocation beyond the decoded token: the parser is a
// pure function so that it can be unit-tested and fuzzed on its own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace athm::app {

enum class authorization_status {
  ok,
  wrong_scheme,         // not "PrivateToken" (case-insensitive), or empty
  syntax,               // not "scheme 1*SP #auth-param", bad quoting, stray bytes
  duplicate_parameter,  // a parameter name given twice (case-insensitive)
  missing_token,        // no "token" parameter
  bad_token_encoding,   // token value empty or not base64url
};

// Short, stable name for logs and tests ("syntax", ...).
const char* to_string(authorization_status s) noexcept;

struct authorization_result {
  authorization_status status = authorization_status::syntax;
  std::vector<uint8_t> token;  // the decoded token bytes when ok (length unchecked)

  bool ok() const noexcept { return status == authorization_status::ok; }
};

// At most this many auth-params are read; more is a syntax error. It bounds
// the duplicate check on hostile input (the header size bounds the rest).
inline constexpr size_t kMaxAuthParams = 16;

// Parses one Authorization field value (RFC 9110 §11.4 credentials):
//   credentials = auth-scheme 1*SP [ #auth-param ]
//   auth-param  = token BWS "=" BWS ( token / quoted-string )
// - the scheme "PrivateToken" is matched case-insensitively;
// - parameters come in any order; names are case-insensitive; a name given
//   twice is an error; parameters other than "token" are ignored;
// - values may be tokens or quoted strings (with quoted-pairs); an unquoted
//   value may end in "=" padding, as base64url values do;
// - empty list elements ("a=b, , c=d") are skipped, as RFC 9110 §5.6.1 asks;
// - leading and trailing whitespace (SP, HTAB) is ignored;
// - the token value is base64url, padded or not (RFC 4648 §5).
// Never throws except std::bad_alloc. Thread-safe (pure).
authorization_result parse_private_token_authorization(std::string_view value);

// RFC 9577 §2.1 TokenChallenge:
//   u16 token_type || u16-length issuer_name || u8-length redemption_context
//   || u16-length origin_info.
// Returns an empty vector if a field is longer than its length prefix allows
// (issuer_name must be 1..65535 bytes, redemption_context 0 or 32 bytes,
// origin_info at most 65535 bytes).
std::vector<uint8_t> encode_token_challenge(uint16_t token_type, std::string_view issuer_name,
                                            std::span<const uint8_t> redemption_context,
                                            std::span<const uint8_t> origin_info);

// The WWW-Authenticate value
//   PrivateToken challenge=<base64url challenge>, token-key=<base64url key>
// with unpadded base64url values (valid as unquoted tokens).
std::string www_authenticate_value(std::span<const uint8_t> challenge,
                                   std::span<const uint8_t> token_key);

// The host of an absolute http(s) URL ("https://issuer.example:8443/request"
// -> "issuer.example"; "http://[::1]:8080/x" -> "[::1]"), without userinfo or
// port. Empty if |uri| has no authority. Used as the TokenChallenge
// issuer_name.
std::string uri_host(std::string_view uri);

}  // namespace athm::app
