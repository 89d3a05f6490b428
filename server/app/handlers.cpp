#include "server/app/handlers.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "crypto/privacypass.h"
#include "server/app/authorization.h"
#include "server/app/errors.h"
#include "server/http/target.h"
#include "server/keys/key_file.h"

namespace athm::app {
namespace {

namespace bh = boost::beast::http;

std::string_view sv(boost::beast::string_view v) { return {v.data(), v.size()}; }
boost::beast::string_view bsv(std::string_view v) { return {v.data(), v.size()}; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Builds a response with |make| and sends it. If building throws (only
// std::bad_alloc can), a 500 goes out instead. |done| is called exactly once.
template <class Make>
void respond_with(const http::respond& done, Make&& make) noexcept {
  http::response res;
  try {
    res = make();
  } catch (...) {
    try {
      res = make_error_response(app_error::internal);
    } catch (...) {
      res = http::response{bh::status::internal_server_error, 11};
    }
  }
  done(std::move(res));
}

http::response text_response(bh::status s, std::string body) {
  http::response res{s, 11};
  res.set(bh::field::content_type, "text/plain; charset=utf-8");
  res.set(bh::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

http::response denied(const issuance_decision& d) {
  if (d.status == 429) {
    http::response res = make_error_response(app_error::rate_limited);
    res.set(bh::field::retry_after, std::to_string(d.retry_after.count()));
    return res;
  }
  return make_error_response(app_error::forbidden);
}

// 401 with a challenge naming the current issuing key; 503 if there is none.
http::response unauthorized_response(const app_services& s, const std::vector<uint8_t>& challenge) {
  const auto key = s.keys->current()->issuing_key(s.now());
  if (!key || challenge.empty()) {
    return make_error_response(app_error::unavailable);
  }
  http::response res = make_error_response(app_error::unauthorized);
  res.set(bh::field::www_authenticate, www_authenticate_value(challenge, key->pub().token_key()));
  return res;
}

// |took|: from the attester call to its verdict.
void count_attester(metrics& m, const attest_result& r, const issuance_decision& d,
                    std::chrono::nanoseconds took) {
  if (std::holds_alternative<attest_issue>(r)) {
    m.inc(counter::attester_issue);
    m.observe(histogram::attester_issue, took);
  } else if (std::holds_alternative<attest_deny>(r)) {
    m.inc(counter::attester_deny);
    m.observe(histogram::attester_deny, took);
  } else {
    m.inc(counter::attester_undecided);
    m.observe(histogram::attester_undecided, took);
  }
  if (d.from == issuance_decision::source::fail_open) {
    m.inc(counter::fail_open);
  } else if (d.from == issuance_decision::source::fail_closed) {
    m.inc(counter::fail_closed);
  }
}

}  // namespace

bool has_media_type(const http::request& req, std::string_view media_type) {
  if (req.count(bh::field::content_type) != 1) {
    return false;
  }
  std::string_view v = sv(req[bh::field::content_type]);
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  if (v.size() != media_type.size()) {
    return false;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (lower(v[i]) != lower(media_type[i])) {
      return false;
    }
  }
  return true;
}

app_services services_from_config(const config::config& cfg) {
  app_services s;
  s.policy.mode = cfg.attester.on_error;
  s.policy.fail_open_bucket = cfg.attester.fail_open_bucket;
  s.request_uri = cfg.issuer.request_uri;
  s.request_path = cfg.issuer.request_path;
  s.directory_max_age = cfg.issuer.directory_max_age;
  s.issuer_name = uri_host(cfg.issuer.request_uri);
  s.now = [] { return keys::clock::now(); };
  return s;
}

// ---------------------------------------------------------------- directory

directory_handler::directory_handler(std::shared_ptr<const app_services> s)
    : s_(std::move(s)), cache_(std::make_shared<directory_cache>(s_->request_uri)) {}

void directory_handler::handle(http::request req, const http::request_context&,
                               http::respond done) noexcept {
  respond_with(done, [&] {
    const auto doc = cache_->get(s_->keys->current(), s_->now());
    const std::string cache_control =
        "public, max-age=" + std::to_string(s_->directory_max_age.count());
    bool not_modified = false;
    for (auto [it, end] = req.equal_range(bh::field::if_none_match); it != end; ++it) {
      not_modified = not_modified || if_none_match_matches(sv(it->value()), doc->etag);
    }
    if (not_modified) {
      http::response res{bh::status::not_modified, 11};
      res.set(bh::field::etag, doc->etag);
      res.set(bh::field::cache_control, cache_control);
      return res;
    }
    http::response res{bh::status::ok, 11};
    res.set(bh::field::content_type, bsv(kDirectoryMediaType));
    res.set(bh::field::etag, doc->etag);
    res.set(bh::field::cache_control, cache_control);
    res.body() = doc->body;
    return res;
  });
}

// ---------------------------------------------------------------- issuance

namespace {

// The answer to a TokenRequest the attester let through: 200 with the
// TokenResponse for |bucket|.
http::response token_response_for(const app_services& s, const keys::issuer_key& key,
                                  const athm::pp::token_request& tr, uint32_t bucket) {
  auto response = key.key.token_response(tr.request, bucket);
  if (!response.ok()) {
    return make_error_response(from_crypto(response.error()));
  }
  s.stats->inc(counter::tokens_issued);
  s.stats->count_issued_by_key(
      std::span<const uint8_t, kKeyLabelBytes>(key.pub().id().data(), kKeyLabelBytes));
  http::response res{bh::status::ok, 11};
  res.set(bh::field::content_type, bsv(kTokenResponseMediaType));
  res.set(bh::field::cache_control, "no-store");
  res.body().assign(response->begin(), response->end());
  return res;
}

}  // namespace

issue_handler::issue_handler(std::shared_ptr<const app_services> s) : s_(std::move(s)) {}

void issue_handler::handle(http::request req, const http::request_context& ctx,
                           http::respond done) noexcept {
  std::shared_ptr<const keys::issuer_key> key;
  athm::pp::token_request tr;
  attest_request ar;
  try {
    if (!has_media_type(req, kTokenRequestMediaType)) {
      respond_with(done, [] { return make_error_response(app_error::unsupported_media_type); });
      return;
    }
    auto decoded = athm::pp::token_request::decode(bytes_of(req.body()));
    if (!decoded.ok()) {
      respond_with(done, [&] { return make_error_response(from_crypto(decoded.error())); });
      return;
    }
    tr = decoded.value();
    key = s_->keys->current()->find_issuing(tr.truncated_key_id, s_->now());
    if (!key) {
      respond_with(done, [] { return make_error_response(app_error::invalid_request); });
      return;
    }
    ar.remote_address = ctx.remote_address;
    ar.path = std::string(http::target_path(sv(req.target())));
    ar.n_buckets = key->pub().params().n_buckets();
    for (const std::string& name : s_->attest->wanted_headers()) {
      for (auto [it, end] = req.equal_range(bsv(name)); it != end; ++it) {
        ar.headers.emplace_back(name, std::string(sv(it->value())));
      }
    }
  } catch (...) {
    respond_with(done, [] { return make_error_response(app_error::internal); });
    return;
  }

  const uint32_t n = ar.n_buckets;
  attest_handler on_verdict;
  try {
    on_verdict = [s = s_, key, tr, n, done, timer = stopwatch()](attest_result r) {
      const auto took = timer.elapsed();
      issuance_decision d;
      try {
        d = decide(r, s->policy, n);
        count_attester(*s->stats, r, d, took);
      } catch (...) {
        respond_with(done, [] { return make_error_response(app_error::internal); });
        return;
      }
      if (d.what == issuance_decision::kind::deny) {
        respond_with(done, [&] { return denied(d); });
        return;
      }
      if (d.what == issuance_decision::kind::unavailable) {
        spdlog::debug("issuance undecided: {}", d.reason);
        respond_with(done, [] { return make_error_response(app_error::unavailable); });
        return;
      }
      // The TokenResponse, about five redemptions of CPU, is background
      // work (app_services::background): it may wait for ready requests.
      std::function<void()> issue = [s, key, tr, bucket = d.bucket, done] {
        respond_with(done, [&] { return token_response_for(*s, *key, tr, bucket); });
      };
      if (!s->background) {
        issue();
        return;
      }
      try {
        s->background(issue);  // a copy: if queueing throws, nothing was queued
      } catch (...) {
        issue();
      }
    };
  } catch (...) {
    respond_with(done, [] { return make_error_response(app_error::internal); });
    return;
  }
  s_->attest->check(std::move(ar), std::move(on_verdict));
}

// ---------------------------------------------------------------- health

void healthz_handler::handle(http::request, const http::request_context&,
                             http::respond done) noexcept {
  respond_with(done, [] { return text_response(bh::status::ok, "ok\n"); });
}

void readyz_handler::handle(http::request, const http::request_context&,
                            http::respond done) noexcept {
  respond_with(done, [&] {
    const bool keys_ok = s_->keys->current()->issuing_key(s_->now()) != nullptr;
    const bool ready = keys_ok && s_->spent->healthy() && !s_->life->shutting_down();
    return ready ? text_response(bh::status::ok, "ready\n")
                 : text_response(bh::status::service_unavailable, "not ready\n");
  });
}

// ---------------------------------------------------------------- redemption

void redeem_token(const std::shared_ptr<const app_services>& s, std::span<const uint8_t> token,
                  std::function<void(redeem_outcome)> done) noexcept {
  auto invalid = [&] {
    s->stats->inc(counter::redemption_invalid);
    done(redeem_outcome{redeem_status::invalid, 0, {}});
  };
  const auto decoded = athm::pp::token::decode(token);
  if (!decoded.ok()) {
    invalid();
    return;
  }
  const athm::pp::token& tok = decoded.value();
  const auto key = s->keys->current()->find_redeemable(tok.issuer_key_id, s->now());
  if (!key) {
    invalid();
    return;
  }
  const auto bucket = key->key.verify_token(tok.authenticator);
  if (!bucket.ok()) {
    invalid();
    return;
  }
  const uint32_t b = bucket.value();
  const athm::key_id id = tok.issuer_key_id;
  store::spend_handler on_spend;
  try {
    on_spend = [stats = s->stats, b, id, done, timer = stopwatch()](store::spend_result r) {
      const auto took = timer.elapsed();
      switch (r) {
        case store::spend_result::fresh:
          stats->observe(histogram::store_fresh, took);
          stats->inc(counter::redemption_fresh);
          done(redeem_outcome{redeem_status::fresh, b, id});
          return;
        case store::spend_result::already_spent:
          stats->observe(histogram::store_already_spent, took);
          stats->inc(counter::redemption_already_spent);
          done(redeem_outcome{redeem_status::already_spent, 0, {}});
          return;
        case store::spend_result::unavailable:
          break;
      }
      stats->observe(histogram::store_unavailable, took);
      stats->inc(counter::redemption_unavailable);
      done(redeem_outcome{redeem_status::unavailable, 0, {}});
    };
  } catch (...) {
    s->stats->inc(counter::redemption_unavailable);
    done(redeem_outcome{redeem_status::unavailable, 0, {}});
    return;
  }
  s->spent->check_and_mark(id, tok.spend_marker(), key->schedule.expires, std::move(on_spend));
}

void redeem_handler::handle(http::request req, const http::request_context&,
                            http::respond done) noexcept {
  if (!has_media_type(req, kTokenMediaType)) {
    respond_with(done, [] { return make_error_response(app_error::unsupported_media_type); });
    return;
  }
  redeem_token(s_, bytes_of(req.body()), [done](redeem_outcome o) {
    respond_with(done, [&] {
      switch (o.status) {
        case redeem_status::fresh: {
          nlohmann::ordered_json j = nlohmann::ordered_json::object();
          j["bucket"] = o.bucket;
          j["key_id"] = keys::hex_public(o.key_id);
          http::response res{bh::status::ok, 11};
          res.set(bh::field::content_type, "application/json");
          res.set(bh::field::cache_control, "no-store");
          res.body() = j.dump() + "\n";
          return res;
        }
        case redeem_status::already_spent:
          return make_error_response(app_error::already_spent);
        case redeem_status::invalid:
          return make_error_response(app_error::invalid_request);
        case redeem_status::unavailable:
          break;
      }
      return make_error_response(app_error::unavailable);
    });
  });
}

// ---------------------------------------------------------------- forward-auth

auth_handler::auth_handler(std::shared_ptr<const app_services> s) : s_(std::move(s)) {
  challenge_ = encode_token_challenge(athm::pp::kTokenType, s_->issuer_name, {}, {});
}

http::response auth_handler::unauthorized() const { return unauthorized_response(*s_, challenge_); }

void auth_handler::handle(http::request req, const http::request_context&,
                          http::respond done) noexcept {
  authorization_result parsed;
  try {
    if (req.count(bh::field::authorization) != 1) {
      respond_with(done, [&] { return unauthorized(); });
      return;
    }
    parsed = parse_private_token_authorization(sv(req[bh::field::authorization]));
    if (!parsed.ok()) {
      respond_with(done, [&] { return unauthorized(); });
      return;
    }
  } catch (...) {
    respond_with(done, [] { return make_error_response(app_error::internal); });
    return;
  }
  redeem_token(s_, parsed.token, [s = s_, challenge = challenge_, done](redeem_outcome o) {
    respond_with(done, [&] {
      if (o.status == redeem_status::fresh) {
        http::response res{bh::status::ok, 11};
        res.set(bsv(kBucketResponseHeader), std::to_string(o.bucket));
        res.set(bh::field::content_type, "text/plain; charset=utf-8");
        res.set(bh::field::cache_control, "no-store");
        res.body() = "OK\n";
        return res;
      }
      if (o.status == redeem_status::unavailable) {
        return make_error_response(app_error::unavailable);
      }
      return unauthorized_response(*s, challenge);
    });
  });
}

// ---------------------------------------------------------------- metrics

void metrics_handler::handle(http::request, const http::request_context&,
                             http::respond done) noexcept {
  respond_with(done, [&] {
    http::response res{bh::status::ok, 11};
    res.set(bh::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.set(bh::field::cache_control, "no-store");
    std::string body = s_->stats->render_prometheus();
    // Gauges read from the current key ring: when each loaded key stops
    // redeeming (the rotation alert watches the smallest).
    body += "# HELP athmd_key_expiry_timestamp_seconds Expiry of each loaded, unexpired key (unix seconds).\n"
            "# TYPE athmd_key_expiry_timestamp_seconds gauge\n";
    const auto now = s_->now();
    for (const auto& k : s_->keys->current()->all()) {
      if (!k->redeemable(now)) {
        continue;
      }
      const athm::key_id& id = k->pub().id();
      body += "athmd_key_expiry_timestamp_seconds{key_id=\"" +
              keys::hex_public(std::span<const uint8_t>(id.data(), 8)) + "\"} " +
              std::to_string(keys::to_unix_seconds(k->schedule.expires)) + "\n";
    }
    if (s_->load) {
      const app_services::server_load l = s_->load();
      append_gauge(body, "athmd_connections_open", "Open client connections, all listeners.", l.connections);
      append_gauge(body, "athmd_requests_in_flight", "Requests read and not yet answered.", l.in_flight);
      append_gauge(body, "athmd_background_jobs_queued", "TokenResponses queued for an I/O thread.",
                   l.background_queued);
    }
    res.body() = std::move(body);
    return res;
  });
}

void metered_handler::handle(http::request req, const http::request_context& ctx,
                             http::respond done) noexcept {
  http::respond counted;
  try {
    counted = [m = m_, e = e_, done, timer = stopwatch()](http::response res) {
      m->observe(e, timer.elapsed());
      m->count_response(e, res.result_int());
      done(std::move(res));
    };
  } catch (...) {
    respond_with(done, [] { return make_error_response(app_error::internal); });
    return;
  }
  inner_->handle(std::move(req), ctx, std::move(counted));
}

// ---------------------------------------------------------------- routers

std::shared_ptr<http::router> make_public_router(const std::shared_ptr<const app_services>& s) {
  auto r = std::make_shared<http::router>();
  auto metered = [&](endpoint e, std::shared_ptr<http::handler> h) {
    return std::make_shared<metered_handler>(e, s->stats, std::move(h));
  };
  r->add(bh::verb::get, std::string(kDirectoryPath),
         metered(endpoint::directory, std::make_shared<directory_handler>(s)));
  r->add(bh::verb::post, s->request_path, metered(endpoint::issue, std::make_shared<issue_handler>(s)));
  r->add(bh::verb::get, "/healthz", metered(endpoint::healthz, std::make_shared<healthz_handler>()));
  r->add(bh::verb::get, "/readyz", metered(endpoint::readyz, std::make_shared<readyz_handler>(s)));
  return r;
}

std::shared_ptr<http::router> make_internal_router(const std::shared_ptr<const app_services>& s) {
  auto r = std::make_shared<http::router>();
  auto metered = [&](endpoint e, std::shared_ptr<http::handler> h) {
    return std::make_shared<metered_handler>(e, s->stats, std::move(h));
  };
  r->add(bh::verb::post, "/redeem", metered(endpoint::redeem, std::make_shared<redeem_handler>(s)));
  // Proxies call forward-auth with GET (nginx auth_request, Traefik) or with
  // the original method (Envoy ext_authz HTTP).
  const auto auth = metered(endpoint::auth, std::make_shared<auth_handler>(s));
  for (const bh::verb v : {bh::verb::get, bh::verb::post, bh::verb::put, bh::verb::patch,
                           bh::verb::delete_, bh::verb::options}) {
    r->add(v, "/auth", auth);
  }
  r->add(bh::verb::get, "/metrics", metered(endpoint::metrics, std::make_shared<metrics_handler>(s)));
  r->add(bh::verb::get, "/healthz", metered(endpoint::healthz, std::make_shared<healthz_handler>()));
  r->add(bh::verb::get, "/readyz", metered(endpoint::readyz, std::make_shared<readyz_handler>(s)));
  return r;
}

}  // namespace athm::app
