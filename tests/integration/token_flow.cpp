#include "tests/integration/token_flow.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace athm::itest {

namespace {

const EC_GROUP* p256() {
  static EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return g;
}

std::string path_of(const std::string& uri) {
  // "http://host:port/path" -> "/path"; a relative reference is used as is.
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) {
    return uri.empty() || uri[0] != '/' ? "/" + uri : uri;
  }
  const size_t slash = uri.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : uri.substr(slash);
}

}  // namespace

std::string as_string(std::span<const uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string hex(std::span<const uint8_t> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

std::string base64url(std::span<const uint8_t> bytes) { return athm::pp::base64url_encode(bytes); }

athm::key_id token_key_id(const encoded_token& token) {
  athm::key_id id{};
  std::copy(token.begin() + 2, token.begin() + 2 + athm::kKeyIdBytes, id.begin());
  return id;
}

// ---------------------------------------------------------------- directory

const athm::public_key& issuer_view::current() const {
  athm::client::issuer_directory dir;
  for (const auto& k : keys) {
    dir.keys.push_back(k.entry);
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const athm::client::directory_key* chosen = athm::client::select_key(dir, now);
  if (chosen == nullptr) {
    throw std::runtime_error("directory has no key usable now");
  }
  return keys[static_cast<size_t>(chosen - dir.keys.data())].key;
}

const issuer_key_view* issuer_view::find(const athm::key_id& id) const {
  for (const auto& k : keys) {
    if (k.key.id() == id) {
      return &k;
    }
  }
  return nullptr;
}

issuer_view fetch_issuer(uint16_t public_port, const std::optional<tls_trust>& tls) {
  http_connection conn(public_port, std::chrono::seconds(15), tls);
  http_request get;
  get.target = kDirectoryPath;
  get.keep_alive = false;
  http_reply r = conn.send(get);
  if (r.status != 200) {
    throw std::runtime_error("directory: " + r.describe());
  }
  auto parsed = athm::client::parse_directory(r.body);
  if (!parsed) {
    throw std::runtime_error("directory does not parse: " + parsed.error());
  }
  issuer_view v;
  v.raw = r.body;
  v.etag = r.header("ETag").value_or("");
  v.request_uri = parsed->issuer_request_uri;
  v.request_target = path_of(v.request_uri);
  for (const auto& entry : parsed->keys) {
    auto s = athm::suite::create(entry.n_buckets, entry.deployment_id);
    if (!s) {
      throw std::runtime_error(std::string("directory suite: ") + athm::to_string(s.error()));
    }
    auto pk = athm::public_key::from_token_key(*s, entry.token_key);
    if (!pk) {
      throw std::runtime_error(std::string("directory key proof: ") +
                               athm::to_string(pk.error()));
    }
    v.keys.push_back(issuer_key_view{entry, std::move(*pk)});
  }
  return v;
}

// ---------------------------------------------------------------- issuance

pending_request make_request(const athm::public_key& pk) {
  auto ctx = athm::token_request(pk);
  if (!ctx) {
    throw std::runtime_error(std::string("token_request: ") + athm::to_string(ctx.error()));
  }
  athm::pp::token_request tr;
  tr.truncated_key_id = pk.truncated_id();
  tr.request = ctx->request();
  const auto enc = tr.encode();
  return pending_request{std::move(*ctx), as_string(enc)};
}

encoded_token issue_token(http_connection& conn, const issuer_view& issuer,
                          const athm::public_key& pk, std::optional<uint32_t> bucket) {
  pending_request p = make_request(pk);
  http_request req;
  req.method = "POST";
  req.target = issuer.request_target;
  req.headers.emplace_back("Content-Type", kRequestMediaType);
  if (bucket) {
    req.headers.emplace_back(kBucketHeader, std::to_string(*bucket));
  }
  req.body = p.body;
  http_reply r = conn.send(req);
  if (r.status != 200) {
    throw std::runtime_error("issuance: " + r.describe());
  }
  if (r.media_type() != kResponseMediaType) {
    throw std::runtime_error("issuance: Content-Type is \"" + r.media_type() + "\"");
  }
  const auto* body = reinterpret_cast<const uint8_t*>(r.body.data());
  auto tok = athm::finalize_token(pk, p.ctx, std::span<const uint8_t>(body, r.body.size()));
  if (!tok) {
    throw std::runtime_error(std::string("finalize_token: ") + athm::to_string(tok.error()));
  }
  athm::pp::token t;
  t.issuer_key_id = pk.id();
  t.authenticator = *tok;
  return t.encode();
}

encoded_token issue_token(uint16_t public_port, const issuer_view& issuer,
                          std::optional<uint32_t> bucket) {
  http_connection conn(public_port);
  return issue_token(conn, issuer, issuer.current(), bucket);
}

std::vector<encoded_token> issue_tokens(uint16_t public_port, const issuer_view& issuer,
                                        size_t count, std::optional<uint32_t> bucket,
                                        unsigned threads) {
  std::vector<encoded_token> out(count);
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::string first_error;
  const athm::public_key& pk = issuer.current();
  auto work = [&] {
    http_connection conn(public_port);
    while (true) {
      const size_t i = next.fetch_add(1);
      if (i >= count) {
        return;
      }
      try {
        out[i] = issue_token(conn, issuer, pk, bucket);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) {
          first_error = e.what();
        }
        next.store(count);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < std::max(1u, threads); ++i) {
    pool.emplace_back(work);
  }
  for (auto& t : pool) {
    t.join();
  }
  if (!first_error.empty()) {
    throw std::runtime_error(first_error);
  }
  return out;
}

// ---------------------------------------------------------------- redemption

redeem_result redeem(http_connection& internal, std::span<const uint8_t> token) {
  http_request req;
  req.method = "POST";
  req.target = "/redeem";
  req.headers.emplace_back("Content-Type", kTokenMediaType);
  req.body = as_string(token);
  redeem_result out;
  out.reply = internal.send(req);
  if (out.reply.status == 200) {
    const auto j = nlohmann::json::parse(out.reply.body, nullptr, false);
    if (j.is_object() && j.contains("bucket") && j["bucket"].is_number_unsigned() &&
        j.contains("key_id") && j["key_id"].is_string()) {
      out.bucket = j["bucket"].get<uint32_t>();
      out.key_id = j["key_id"].get<std::string>();
    }
  }
  return out;
}

redeem_result redeem(uint16_t internal_port, std::span<const uint8_t> token) {
  http_connection conn(internal_port);
  return redeem(conn, token);
}

http_reply forward_auth(uint16_t internal_port, const std::optional<std::string>& authorization) {
  http_request req;
  req.method = "GET";
  req.target = "/auth";
  if (authorization) {
    req.headers.emplace_back("Authorization", *authorization);
  }
  return http_exchange(internal_port, req);
}

// ---------------------------------------------------------------- crafting

encoded_token rerandomize(const encoded_token& token) {
  constexpr size_t kT = 2 + athm::kKeyIdBytes;          // offset of t
  constexpr size_t kP = kT + athm::kScalarBytes;        // offset of P
  constexpr size_t kQ = kP + athm::kElementBytes;       // offset of Q
  const EC_GROUP* g = p256();
  bssl::UniquePtr<BN_CTX> ctx(BN_CTX_new());
  bssl::UniquePtr<BIGNUM> c(BN_new());
  uint64_t word = 0;
  while (word < 2) {
    RAND_bytes(reinterpret_cast<uint8_t*>(&word), sizeof word);
    word >>= 2;
  }
  if (!ctx || !c || !BN_set_u64(c.get(), word)) {
    throw std::runtime_error("rerandomize: BoringSSL allocation");
  }
  encoded_token out = token;
  for (size_t off : {kP, kQ}) {
    bssl::UniquePtr<EC_POINT> pt(EC_POINT_new(g));
    bssl::UniquePtr<EC_POINT> res(EC_POINT_new(g));
    if (!pt || !res ||
        !EC_POINT_oct2point(g, pt.get(), token.data() + off, athm::kElementBytes, ctx.get()) ||
        !EC_POINT_mul(g, res.get(), nullptr, pt.get(), c.get(), ctx.get()) ||
        EC_POINT_point2oct(g, res.get(), POINT_CONVERSION_COMPRESSED, out.data() + off,
                           athm::kElementBytes, ctx.get()) != athm::kElementBytes) {
      throw std::runtime_error("rerandomize: point arithmetic failed");
    }
  }
  return out;
}

std::array<uint8_t, athm::kElementBytes> off_curve_point() {
  const EC_GROUP* g = p256();
  bssl::UniquePtr<EC_POINT> pt(EC_POINT_new(g));
  std::array<uint8_t, athm::kElementBytes> enc{};
  for (uint8_t x = 1; x != 0; ++x) {
    enc.fill(0);
    enc[0] = 0x02;
    enc[athm::kElementBytes - 1] = x;
    if (!EC_POINT_oct2point(g, pt.get(), enc.data(), enc.size(), nullptr)) {
      ERR_clear_error();
      return enc;
    }
  }
  throw std::runtime_error("no off-curve x below 256 (impossible for P-256)");
}

}  // namespace athm::itest
