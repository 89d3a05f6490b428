#include "server/app/authorization.h"

#include <algorithm>

#include "crypto/privacypass.h"

namespace athm::app {
namespace {

constexpr std::string_view kScheme = "privatetoken";

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
bool is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E) || c >= 0x80;
}

// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
bool is_quotable(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7F); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

class cursor {
 public:
  explicit cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void skip_ows() {
    while (!done() && is_ows(peek())) {
      ++i_;
    }
  }
  std::string_view take_token() {
    const size_t start = i_;
    while (!done() && is_tchar(peek())) {
      ++i_;
    }
    return s_.substr(start, i_ - start);
  }
  // A token optionally followed by "=" padding (token68-like).
  std::string_view take_padded_token() {
    const size_t start = i_;
    while (!done() && is_tchar(peek())) {
      ++i_;
    }
    if (i_ == start) {
      return {};
    }
    while (!done() && peek() == '=') {
      ++i_;
    }
    return s_.substr(start, i_ - start);
  }
  // After the opening quote. Appends the unescaped content to |out|.
  bool take_quoted(std::string& out) {
    while (!done()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') {
        return true;
      }
      if (c == '\\') {
        if (done() || !is_quotable(static_cast<unsigned char>(peek()))) {
          return false;
        }
        out.push_back(s_[i_++]);
      } else if (is_qdtext(c)) {
        out.push_back(static_cast<char>(c));
      } else {
        return false;
      }
    }
    return false;  // unterminated
  }
  bool consume(char c) {
    if (!done() && peek() == c) {
      ++i_;
      return true;
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

authorization_result fail(authorization_status s) {
  authorization_result r;
  r.status = s;
  return r;
}

void put_u16(std::vector<uint8_t>& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

}  // namespace

const char* to_string(authorization_status s) noexcept {
  switch (s) {
    case authorization_status::ok:
      return "ok";
    case authorization_status::wrong_scheme:
      return "wrong_scheme";
    case authorization_status::syntax:
      return "syntax";
    case authorization_status::duplicate_parameter:
      return "duplicate_parameter";
    case authorization_status::missing_token:
      return "missing_token";
    case authorization_status::bad_token_encoding:
      return "bad_token_encoding";
  }
  return "unknown";
}

authorization_result parse_private_token_authorization(std::string_view value) {
  cursor in(value);
  in.skip_ows();
  const std::string_view scheme = in.take_token();
  if (scheme.empty()) {
    return fail(in.done() ? authorization_status::wrong_scheme : authorization_status::syntax);
  }
  if (!iequals(scheme, kScheme)) {
    return fail(authorization_status::wrong_scheme);
  }
  if (!in.done() && in.peek() != ' ') {
    return fail(authorization_status::syntax);  // 1*SP after the scheme
  }

  std::string_view names[kMaxAuthParams];
  size_t n_names = 0;
  bool have_token = false;
  std::string token_value;

  while (true) {
    in.skip_ows();
    if (in.done()) {
      break;
    }
    if (in.consume(',')) {
      continue;  // empty list element
    }
    const std::string_view name = in.take_token();
    if (name.empty()) {
      return fail(authorization_status::syntax);
    }
    in.skip_ows();
    if (!in.consume('=')) {
      return fail(authorization_status::syntax);
    }
    in.skip_ows();
    std::string v;
    if (in.consume('"')) {
      if (!in.take_quoted(v)) {
        return fail(authorization_status::syntax);
      }
    } else {
      const std::string_view t = in.take_padded_token();
      if (t.empty()) {
        return fail(authorization_status::syntax);
      }
      v.assign(t);
    }
    in.skip_ows();
    if (!in.done() && !in.consume(',')) {
      return fail(authorization_status::syntax);
    }

    if (n_names == kMaxAuthParams) {
      return fail(authorization_status::syntax);
    }
    for (size_t i = 0; i < n_names; ++i) {
      if (iequals(names[i], name)) {
        return fail(authorization_status::duplicate_parameter);
      }
    }
    names[n_names++] = name;
    if (iequals(name, "token")) {
      have_token = true;
      token_value = std::move(v);
    }
  }

  if (!have_token) {
    return fail(authorization_status::missing_token);
  }
  if (token_value.empty()) {
    return fail(authorization_status::bad_token_encoding);
  }
  auto decoded = athm::pp::base64url_decode(token_value);
  if (!decoded.ok()) {
    return fail(authorization_status::bad_token_encoding);
  }
  authorization_result r;
  r.status = authorization_status::ok;
  r.token = std::move(decoded).value();
  return r;
}

std::vector<uint8_t> encode_token_challenge(uint16_t token_type, std::string_view issuer_name,
                                            std::span<const uint8_t> redemption_context,
                                            std::span<const uint8_t> origin_info) {
  if (issuer_name.empty() || issuer_name.size() > 0xffff ||
      (redemption_context.size() != 0 && redemption_context.size() != 32) ||
      origin_info.size() > 0xffff) {
    return {};
  }
  std::vector<uint8_t> out;
  out.reserve(2 + 2 + issuer_name.size() + 1 + redemption_context.size() + 2 + origin_info.size());
  put_u16(out, token_type);
  put_u16(out, issuer_name.size());
  out.insert(out.end(), issuer_name.begin(), issuer_name.end());
  out.push_back(static_cast<uint8_t>(redemption_context.size()));
  out.insert(out.end(), redemption_context.begin(), redemption_context.end());
  put_u16(out, origin_info.size());
  out.insert(out.end(), origin_info.begin(), origin_info.end());
  return out;
}

std::string www_authenticate_value(std::span<const uint8_t> challenge,
                                   std::span<const uint8_t> token_key) {
  return "PrivateToken challenge=" + athm::pp::base64url_encode(challenge) +
         ", token-key=" + athm::pp::base64url_encode(token_key);
}

std::string uri_host(std::string_view uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) {
    return {};
  }
  std::string_view rest = uri.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return {};
    }
    return std::string(authority.substr(0, close + 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

}  // namespace athm::app
