// The application's HTTP handlers. Each takes a parsed request and its
// request_context and completes the respond callback exactly once; none sees
// a socket. Verification runs on the calling I/O thread: it is CPU-bound and
// short, and the I/O threads are the worker pool. A TokenResponse, several
// times longer, goes through app_services::background, which lets the
// requests already waiting go first. Store completions arrive on the store's
// thread and respond from there.
//
// Public listener (clients):
//   GET/HEAD  /.well-known/private-token-issuer-directory   directory_handler
//   POST      <issuer.request_path>                         issue_handler
//   GET       /healthz, /readyz                             healthz_handler, readyz_handler
// Internal listener (origin, reverse proxy, operators):
//   POST      /redeem                                       redeem_handler
//   GET (and other methods) /auth                           auth_handler
//   GET       /metrics, /healthz, /readyz
//
// No public response carries the hidden bucket: not in a header, not in a
// size (a TokenResponse is response_bytes(n) for every bucket), not in an
// error (a deny does not depend on the bucket).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "server/app/attester.h"
#include "server/app/directory.h"
#include "server/app/metrics.h"
#include "server/http/handler.h"
#include "server/http/router.h"
#include "server/keys/key_store.h"
#include "server/store/spent_store.h"

namespace athm::app {

inline constexpr std::string_view kTokenRequestMediaType = "application/private-token-request";
inline constexpr std::string_view kTokenResponseMediaType = "application/private-token-response";
inline constexpr std::string_view kTokenMediaType = "application/private-token";
inline constexpr std::string_view kBucketResponseHeader = "X-Token-Bucket";

using time_source = std::function<keys::clock::time_point()>;

// Process state that readiness depends on besides keys and store.
class lifecycle {
 public:
  // From the first shutdown signal on, /readyz answers 503. Thread-safe.
  void begin_shutdown() noexcept { shutting_down_.store(true, std::memory_order_release); }
  bool shutting_down() const noexcept { return shutting_down_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> shutting_down_{false};
};

// Everything the handlers use. Immutable once built; shared as const by all
// handlers and all threads.
struct app_services {
  std::shared_ptr<keys::key_store> keys;  // required
  // Required. NOT owned: it must stay alive until every handler completion
  // has run (the daemon destroys it after the I/O threads stop and before
  // the HTTP server).
  store::spent_store* spent = nullptr;
  std::shared_ptr<attester> attest;       // required
  fail_policy policy;
  std::string request_uri;                // "issuer-request-uri"
  std::string request_path;               // its path: the issuance route
  std::chrono::seconds directory_max_age{3600};
  std::string issuer_name;                // TokenChallenge issuer_name (request URI host)
  std::shared_ptr<metrics> stats;         // required
  std::shared_ptr<lifecycle> life;        // required
  time_source now;                        // required (keys::clock::now in production)
  // Runs CPU-heavy work (a TokenResponse), at once while other I/O threads
  // are free to answer ready requests, else once those have been handled:
  // http::server::dispatch_background in the daemon. Empty: the work runs
  // inline. The job must not throw.
  std::function<void(std::function<void()>)> background;
  // The server's load for /metrics, read at each scrape: the daemon fills
  // it from http::server. Empty: those gauges are left out.
  struct server_load {
    std::size_t connections = 0;        // open client connections, all listeners
    std::size_t in_flight = 0;          // requests read and not yet answered
    std::size_t background_queued = 0;  // background jobs waiting for an I/O thread
  };
  std::function<server_load()> load;
};

// Fills the config-derived fields of app_services (issuer and fail policy)
// and sets now to keys::clock::now. The other fields are left to the caller.
app_services services_from_config(const config::config& cfg);

// ---------------------------------------------------------------- handlers

class directory_handler final : public http::handler {
 public:
  explicit directory_handler(std::shared_ptr<const app_services> s);
  // 200 with the directory, or 304 when If-None-Match matches. Both carry
  // ETag and "Cache-Control: public, max-age=<directory_max_age>". Inline.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  std::shared_ptr<const app_services> s_;
  std::shared_ptr<directory_cache> cache_;
};

class issue_handler final : public http::handler {
 public:
  explicit issue_handler(std::shared_ptr<const app_services> s);
  // 415 unless Content-Type is application/private-token-request; 422 for a
  // request that does not decode or names no issuing key; then asks the
  // attester and answers 200 (TokenResponse, Cache-Control: no-store), 403,
  // 429 (with Retry-After), 503 (fail closed), or 422 if T is not a valid
  // point. Completes on the attester's completion thread. Counts the
  // attester's result and its latency (call to verdict) in stats.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  std::shared_ptr<const app_services> s_;
};

class healthz_handler final : public http::handler {
 public:
  // Always 200 "ok" while the process serves. Inline.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;
};

class readyz_handler final : public http::handler {
 public:
  explicit readyz_handler(std::shared_ptr<const app_services> s) : s_(std::move(s)) {}
  // 200 iff there is an issuing key, the store is healthy and no shutdown
  // has begun; 503 otherwise. Inline.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  std::shared_ptr<const app_services> s_;
};

// The outcome of redeeming one Privacy Pass Token.
enum class redeem_status { fresh, already_spent, invalid, unavailable };
struct redeem_outcome {
  redeem_status status = redeem_status::invalid;
  uint32_t bucket = 0;     // when fresh
  athm::key_id key_id{};   // when fresh
};

// Decodes |token| (132 bytes), finds its non-expired key, verifies it, and
// only then check-and-marks its spend marker until the key's expiry.
// Completes inline for invalid, else on the store's thread. Counts the
// outcome, and the check-and-mark latency by store outcome, in s->stats.
// Never throws.
void redeem_token(const std::shared_ptr<const app_services>& s, std::span<const uint8_t> token,
                  std::function<void(redeem_outcome)> done) noexcept;

class redeem_handler final : public http::handler {
 public:
  explicit redeem_handler(std::shared_ptr<const app_services> s) : s_(std::move(s)) {}
  // 415 unless Content-Type is application/private-token; then
  // 200 {"bucket": n, "key_id": "<hex>"}, 409 spent, 422 invalid, 503 store
  // unavailable.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  std::shared_ptr<const app_services> s_;
};

class auth_handler final : public http::handler {
 public:
  explicit auth_handler(std::shared_ptr<const app_services> s);
  // Forward-auth. Exactly one "Authorization: PrivateToken token=..." with a
  // token on its first valid use -> 200 with "X-Token-Bucket: n". Missing,
  // repeated, unparsable, invalid or spent -> 401 with
  // "WWW-Authenticate: PrivateToken challenge=..., token-key=..." naming the
  // current issuing key. Store unavailable or no issuing key -> 503.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

  // The TokenChallenge this handler sends (token type 0xC07E, issuer_name,
  // empty redemption_context and origin_info).
  const std::vector<uint8_t>& challenge() const noexcept { return challenge_; }

 private:
  http::response unauthorized() const;

  std::shared_ptr<const app_services> s_;
  std::vector<uint8_t> challenge_;
};

class metrics_handler final : public http::handler {
 public:
  explicit metrics_handler(std::shared_ptr<const app_services> s) : s_(std::move(s)) {}
  // 200, Prometheus text format: every counter and histogram in metrics.h, plus the gauge
  // athmd_key_expiry_timestamp_seconds{key_id="<16 hex>"} for each loaded,
  // unexpired key. Inline.
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  std::shared_ptr<const app_services> s_;
};

// Counts the status of every response |inner| sends under |e|, and observes
// its latency (from this handler's call to the response reaching |done|,
// which excludes reading the request and writing the response).
class metered_handler final : public http::handler {
 public:
  metered_handler(endpoint e, std::shared_ptr<metrics> m, std::shared_ptr<http::handler> inner)
      : e_(e), m_(std::move(m)), inner_(std::move(inner)) {}
  void handle(http::request req, const http::request_context& ctx,
              http::respond done) noexcept override;

 private:
  endpoint e_;
  std::shared_ptr<metrics> m_;
  std::shared_ptr<http::handler> inner_;
};

// The two routers, with every handler metered. Throw std::invalid_argument
// (router::add) if request_path collides with another route.
std::shared_ptr<http::router> make_public_router(const std::shared_ptr<const app_services>& s);
std::shared_ptr<http::router> make_internal_router(const std::shared_ptr<const app_services>& s);

// True if the request has exactly one Content-Type whose media type (before
// any parameters) equals |media_type|, case-insensitively.
bool has_media_type(const http::request& req, std::string_view media_type);

}  // namespace athm::app
