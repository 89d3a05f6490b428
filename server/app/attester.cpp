#include "server/app/attester.h"

#include <stdexcept>

#include "server/app/builtin_attesters.h"
#include "server/app/http_attester.h"

namespace athm::app {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

issuance_decision undecided(const fail_policy& policy, uint32_t n_buckets, std::string reason) {
  issuance_decision d;
  d.reason = std::move(reason);
  if (policy.mode == config::fail_mode::open && policy.fail_open_bucket < n_buckets) {
    d.what = issuance_decision::kind::issue;
    d.from = issuance_decision::source::fail_open;
    d.bucket = policy.fail_open_bucket;
    d.status = 200;
    return d;
  }
  if (policy.mode == config::fail_mode::open) {
    d.reason += "; fail_open_bucket out of range";
  }
  d.what = issuance_decision::kind::unavailable;
  d.from = issuance_decision::source::fail_closed;
  d.status = 503;
  return d;
}

}  // namespace

std::vector<std::string_view> attest_request::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) {
      out.emplace_back(v);
    }
  }
  return out;
}

issuance_decision decide(const attest_result& r, const fail_policy& policy, uint32_t n_buckets) {
  if (const auto* i = std::get_if<attest_issue>(&r)) {
    if (i->bucket >= n_buckets) {
      return undecided(policy, n_buckets, "attester bucket out of range");
    }
    issuance_decision d;
    d.what = issuance_decision::kind::issue;
    d.from = issuance_decision::source::attester;
    d.bucket = i->bucket;
    d.status = 200;
    return d;
  }
  if (const auto* x = std::get_if<attest_deny>(&r)) {
    issuance_decision d;
    d.what = issuance_decision::kind::deny;
    d.from = issuance_decision::source::attester;
    d.status = x->status == 429 ? 429 : 403;
    d.retry_after = x->retry_after;
    return d;
  }
  return undecided(policy, n_buckets, std::get<attest_undecided>(r).reason);
}

attester_registry& attester_registry::add(std::string name, factory f) {
  if (name.empty() || !f) {
    throw std::invalid_argument("attester_registry::add: empty name or factory");
  }
  if (!factories_.emplace(std::move(name), std::move(f)).second) {
    throw std::invalid_argument("attester_registry::add: name already registered");
  }
  return *this;
}

std::shared_ptr<attester> attester_registry::create(const config::attester_config& cfg,
                                                    const attester_env& env) const {
  const auto it = factories_.find(cfg.type);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& n : names()) {
      known += (known.empty() ? "" : ", ") + n;
    }
    throw config::config_error("attester.type: unknown attester \"" + cfg.type + "\" (known: " +
                               known + ")");
  }
  auto a = it->second(cfg, env);
  if (!a) {
    throw config::config_error("attester.type: attester \"" + cfg.type + "\" could not be built");
  }
  return a;
}

std::vector<std::string> attester_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) {
    out.push_back(n);
  }
  return out;
}

attester_registry& add_builtin_attesters(attester_registry& r) {
  r.add("static", [](const config::attester_config& c, const attester_env&) {
    return std::make_shared<static_attester>(c.static_.bucket);
  });
  r.add("header", [](const config::attester_config& c, const attester_env&) {
    header_attester_options o;
    o.header = c.header.header;
    o.trusted = parse_trusted_cidrs(c.header.trusted_cidrs);
    o.default_bucket = c.header.default_bucket;
    o.deny_status = c.deny_status;
    o.retry_after = c.retry_after;
    return std::make_shared<header_attester>(std::move(o));
  });
  r.add("http", [](const config::attester_config& c, const attester_env& env) {
    if (c.http.host.empty() || c.http.port == 0) {
      throw config::config_error("attester.http.url: required when attester.type is http");
    }
    if (!env.executor) {
      throw config::config_error("attester.http: no executor to run the callout on");
    }
    http_attester_options o;
    o.host = c.http.host;
    o.port = c.http.port;
    o.target = c.http.target.empty() ? "/" : c.http.target;
    o.timeout = c.http.timeout;
    o.forward_headers = c.http.forward_headers;
    o.retry_after = c.retry_after;
    return std::make_shared<http_attester>(env.executor, std::move(o));
  });
  return r;
}

attester_registry builtin_attester_registry() {
  attester_registry r;
  add_builtin_attesters(r);
  return r;
}

}  // namespace athm::app
