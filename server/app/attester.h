// The attester hook: who decides whether a client gets a token, and with
// which hidden bucket. Shaped like Envoy's ext_authz:
//   - an interface with an asynchronous check(attest_request, done);
//   - a three-way result: issue{bucket}, deny{403|429}, undecided{reason};
//   - a named fail mode (config attester.on_error): open issues with
//     attester.fail_open_bucket, closed answers 503;
//   - implementations are injected through constructors (tests pass their
//     own), and the built-ins are chosen by name from an attester_registry
//     that start-up fills with explicit add() calls (no static
//     self-registration).
//
// PRIVACY: the bucket must not be observable by the client. An attester whose
// latency or error behaviour depends on its verdict leaks the bucket through
// timing. Decide off the request path (precompute, cache) or pad to a fixed
// time. See docs/attesters.md.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>

#include "config/config.h"

namespace athm::app {

// What an attester may look at: the connection's peer, the request path and
// the request headers it asked for (attester::wanted_headers()). Never the
// body. Owned by the attester for the duration of the check.
struct attest_request {
  boost::asio::ip::address remote_address;
  std::string path;
  // (name as the attester spelled it in wanted_headers(), value) for each
  // occurrence in the request, in request order. A header sent twice appears
  // twice.
  std::vector<std::pair<std::string, std::string>> headers;
  // Buckets of the key the client named: a valid bucket is < n_buckets.
  uint32_t n_buckets = 0;

  // Values of |name| (case-insensitive), in order.
  std::vector<std::string_view> values(std::string_view name) const;
};

struct attest_issue {
  uint32_t bucket = 0;
};
struct attest_deny {
  unsigned status = 403;                 // 403 or 429 (anything else is sent as 403)
  std::chrono::seconds retry_after{60};  // sent with 429 only
};
struct attest_undecided {
  std::string reason;  // short, log-safe; never sent to the client
};
using attest_result = std::variant<attest_issue, attest_deny, attest_undecided>;

// Called exactly once per check, from any thread (inline is allowed).
using attest_handler = std::function<void(attest_result)>;

class attester {
 public:
  virtual ~attester() = default;

  // Decides for one issuance request. Must call |done| exactly once, must not
  // throw, and must bound its own latency (a timeout is its job).
  // Thread-safe: called concurrently from many I/O threads.
  virtual void check(attest_request req, attest_handler done) noexcept = 0;

  // Header names the issuance handler copies into attest_request::headers.
  virtual const std::vector<std::string>& wanted_headers() const noexcept = 0;

  // Registry name, for logs ("static", "header", "http", ...).
  virtual std::string_view name() const noexcept = 0;
};

// What the issuance handler does once the attester answered.
struct issuance_decision {
  enum class kind { issue, deny, unavailable };
  enum class source { attester, fail_open, fail_closed };
  kind what = kind::unavailable;
  source from = source::fail_closed;
  uint32_t bucket = 0;                   // kind::issue
  unsigned status = 503;                 // 200-to-be, 403, 429 or 503
  std::chrono::seconds retry_after{0};   // kind::deny with 429
  std::string reason;                    // why undecided (log-safe), if it was
};

// The fail mode applied to undecided results.
struct fail_policy {
  config::fail_mode mode = config::fail_mode::closed;
  uint32_t fail_open_bucket = 0;
};

// Applies |policy| to |r| for a key with |n_buckets| buckets:
//   issue{b}, b < n        -> issue b
//   issue{b}, b >= n       -> treated as undecided ("bucket out of range")
//   deny{429}              -> deny 429 with Retry-After; any other status -> 403
//   undecided, mode open   -> issue fail_open_bucket, if < n; else 503
//   undecided, mode closed -> 503
// Pure and thread-safe.
issuance_decision decide(const attest_result& r, const fail_policy& policy, uint32_t n_buckets);

// What a built-in may need from the daemon to exist.
struct attester_env {
  boost::asio::any_io_executor executor;  // I/O for network attesters
};

// Built-ins by name. Filled at start-up by explicit add() calls, then only
// read. Not thread-safe while being filled; create() is const and
// thread-safe afterwards.
class attester_registry {
 public:
  // Throws config::config_error for an invalid attester section
  // (message "attester.<...>: <reason>").
  using factory = std::function<std::shared_ptr<attester>(const config::attester_config&,
                                                          const attester_env&)>;

  // Throws std::invalid_argument if |name| is empty, taken, or |f| is null.
  attester_registry& add(std::string name, factory f);

  // Builds the attester named by cfg.type. Throws config::config_error
  // ("attester.type: unknown attester \"x\" (known: header, http, static)")
  // or whatever the factory throws.
  std::shared_ptr<attester> create(const config::attester_config& cfg,
                                   const attester_env& env) const;

  // Registered names, sorted.
  std::vector<std::string> names() const;

 private:
  std::map<std::string, factory, std::less<>> factories_;
};

// Adds the built-ins "static", "header" and "http" to |r| (explicit calls,
// see builtin_attesters.h) and returns it.
attester_registry& add_builtin_attesters(attester_registry& r);

// A registry with the built-ins only.
attester_registry builtin_attester_registry();

}  // namespace athm::app
