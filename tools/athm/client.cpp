#include "tools/athm/client.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace athm::client {
namespace {

// Token files are 132 bytes raw or 176 characters of base64url.
constexpr size_t kMaxTokenFileBytes = 4096;

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

outcome<http_url> directory_url(std::string_view base_url) {
  auto base = parse_http_url(base_url);
  if (!base) {
    return base;
  }
  http_url u = std::move(base).value();
  std::string path = u.target.substr(0, u.target.find('?'));
  if (!path.ends_with(kDirectoryPath)) {
    while (!path.empty() && path.back() == '/') {
      path.pop_back();
    }
    path += kDirectoryPath;
  }
  u.target = std::move(path);
  return u;
}

outcome<issuer_directory> fetch_directory(std::string_view base_url, const http_limits& limits) {
  using R = outcome<issuer_directory>;
  auto url = directory_url(base_url);
  if (!url) {
    return R::failure("issuer URL: " + url.error());
  }
  http_request req;
  req.url = url.value();
  req.headers.push_back({"Accept", std::string(kDirectoryMediaType)});
  auto res = http_send(req, limits);
  if (!res) {
    return R::failure("directory: " + res.error());
  }
  if (res->status != 200) {
    return R::failure("directory: " + url->to_string() + " answered " + std::to_string(res->status));
  }
  return parse_directory(res->body);
}

outcome<issued_token> issue_with_key(const http_url& dir_url, const issuer_directory& directory,
                                     const directory_key& key, const issue_options& options,
                                     unsigned* http_status) {
  using R = outcome<issued_token>;
  if (http_status != nullptr) {
    *http_status = 0;
  }
  auto suite = athm::suite::create(key.n_buckets, key.deployment_id);
  if (!suite) {
    return R::failure(std::string("directory key: unusable parameters (") +
                      athm::to_string(suite.error()) + ")");
  }
  auto pk = athm::public_key::from_token_key(suite.value(), key.token_key);
  if (!pk) {
    return R::failure(std::string("directory key: token-key rejected (") +
                      athm::to_string(pk.error()) + ")");
  }
  auto ctx = athm::token_request(pk.value());
  if (!ctx) {
    return R::failure(std::string("token request: ") + athm::to_string(ctx.error()));
  }
  auto target = resolve_url(dir_url, directory.issuer_request_uri);
  if (!target) {
    return R::failure("issuer-request-uri: " + target.error());
  }

  athm::pp::token_request tr;
  tr.truncated_key_id = pk->truncated_id();
  tr.request = ctx->request();
  const auto wire = tr.encode();

  http_request req;
  req.method = "POST";
  req.url = target.value();
  req.headers.push_back({"Content-Type", std::string(kRequestMediaType)});
  req.headers.push_back({"Accept", std::string(kResponseMediaType)});
  for (const auto& h : options.extra_headers) {
    req.headers.push_back(h);
  }
  req.body.assign(reinterpret_cast<const char*>(wire.data()), wire.size());
  auto res = http_send(req, options.limits);
  if (!res) {
    return R::failure("issuance: " + res.error());
  }
  if (res->status != 200) {
    if (http_status != nullptr) {
      *http_status = res->status;
    }
    return R::failure("issuer answered " + std::to_string(res->status) + " to the token request at " +
                      target->to_string());
  }
  if (res->media_type() != kResponseMediaType) {
    return R::failure("issuance: response Content-Type is not " + std::string(kResponseMediaType));
  }
  const std::span<const uint8_t> body(reinterpret_cast<const uint8_t*>(res->body.data()),
                                      res->body.size());
  if (auto sz = athm::pp::check_token_response_size(pk->params(), body); !sz) {
    return R::failure("issuance: response has " + std::to_string(body.size()) + " bytes, expected " +
                      std::to_string(pk->params().response_size()));
  }
  auto tok = athm::finalize_token(pk.value(), ctx.value(), body);
  if (!tok) {
    return R::failure(std::string("issuance: response rejected (") + athm::to_string(tok.error()) +
                      ")");
  }
  athm::pp::token t;
  t.issuer_key_id = pk->id();
  t.authenticator = tok.value();

  issued_token out;
  out.token = t.encode();
  out.key_id = pk->id();
  out.n_buckets = key.n_buckets;
  out.deployment_id = key.deployment_id;
  out.request_url = target->to_string();
  return out;
}

outcome<issued_token> issue_token(const issue_options& options, unsigned* http_status) {
  using R = outcome<issued_token>;
  if (http_status != nullptr) {
    *http_status = 0;
  }
  auto url = directory_url(options.base_url);
  if (!url) {
    return R::failure("issuer URL: " + url.error());
  }
  auto dir = fetch_directory(options.base_url, options.limits);
  if (!dir) {
    return R::failure(dir.error());
  }
  const auto now = options.now.value_or(std::chrono::system_clock::now());
  const int64_t now_unix =
      std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  const directory_key* key = select_key(dir.value(), now_unix);
  if (key == nullptr) {
    return R::failure(dir->keys.empty()
                          ? "directory: no ATHM (49278) key listed"
                          : "directory: no ATHM key is valid yet (all not-before are in the future)");
  }
  return issue_with_key(url.value(), dir.value(), *key, options, http_status);
}

outcome<redeem_reply> redeem_token(const redeem_options& options, std::span<const uint8_t> token) {
  using R = outcome<redeem_reply>;
  auto url = parse_http_url(options.url);
  if (!url) {
    return R::failure("redeem URL: " + url.error());
  }
  http_request req;
  req.url = url.value();
  if (options.mode == redeem_mode::internal) {
    req.method = "POST";
    req.headers.push_back({"Content-Type", std::string(kTokenMediaType)});
    req.body.assign(reinterpret_cast<const char*>(token.data()), token.size());
  } else {
    req.method = "GET";
    req.headers.push_back({"Authorization", "PrivateToken token=" + athm::pp::base64url_encode(token)});
  }
  for (const auto& h : options.extra_headers) {
    req.headers.push_back(h);
  }
  auto res = http_send(req, options.limits);
  if (!res) {
    return R::failure("redeem: " + res.error());
  }
  redeem_reply out;
  out.status = res->status;
  out.media_type = res->media_type();
  out.body = std::move(res->body);
  out.token_bucket = res->header("X-Token-Bucket");
  out.www_authenticate = res->header("WWW-Authenticate");
  return out;
}

int redeem_exit_code(unsigned status) {
  if (status == 200) {
    return 0;
  }
  if (status >= 400 && status < 500) {
    return 1;
  }
  return 2;
}

outcome<encoded_token> decode_token_text(std::span<const uint8_t> bytes) {
  using R = outcome<encoded_token>;
  std::vector<uint8_t> raw;
  if (bytes.size() == athm::pp::kTokenBytes && bytes[0] == 0xC0 && bytes[1] == 0x7E) {
    raw.assign(bytes.begin(), bytes.end());
  } else {
    size_t b = 0;
    size_t e = bytes.size();
    while (b < e && is_space(bytes[b])) {
      ++b;
    }
    while (e > b && is_space(bytes[e - 1])) {
      --e;
    }
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + b, e - b);
    auto decoded = athm::pp::base64url_decode(text);
    if (!decoded) {
      return R::failure("token: neither 132 raw bytes nor base64url text");
    }
    raw = std::move(decoded).value();
  }
  auto tok = athm::pp::token::decode(raw);
  if (!tok) {
    return R::failure(std::string("token: not an ATHM Privacy Pass token (") +
                      athm::to_string(tok.error()) + ")");
  }
  encoded_token out{};
  std::memcpy(out.data(), raw.data(), out.size());
  return out;
}

outcome<encoded_token> read_token_file(const std::filesystem::path& path) {
  using R = outcome<encoded_token>;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return R::failure(path.string() + ": cannot open");
  }
  std::vector<uint8_t> bytes;
  char buf[1024];
  while (in && bytes.size() <= kMaxTokenFileBytes) {
    in.read(buf, sizeof buf);
    bytes.insert(bytes.end(), buf, buf + in.gcount());
  }
  if (bytes.size() > kMaxTokenFileBytes) {
    return R::failure(path.string() + ": too large for a token file");
  }
  auto t = decode_token_text(bytes);
  if (!t) {
    return R::failure(path.string() + ": " + t.error());
  }
  return t;
}

}  // namespace athm::client
