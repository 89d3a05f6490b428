#include "server/http/router.h"

#include "server/http/responses.h"
#include "server/http/target.h"

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <stdexcept>

namespace athm::http {

namespace bh = boost::beast::http;

namespace {

std::string_view to_sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool has_method(const std::vector<std::pair<bh::verb, std::shared_ptr<handler>>>& methods,
                bh::verb v) {
  return std::any_of(methods.begin(), methods.end(), [v](const auto& m) { return m.first == v; });
}

// HEAD is listed whenever GET is; methods in a fixed, readable order.
std::string make_allow(const std::vector<std::pair<bh::verb, std::shared_ptr<handler>>>& methods) {
  std::vector<bh::verb> verbs;
  for (const auto& m : methods) {
    verbs.push_back(m.first);
  }
  if (has_method(methods, bh::verb::get) && !has_method(methods, bh::verb::head)) {
    verbs.push_back(bh::verb::head);
  }
  std::sort(verbs.begin(), verbs.end(),
            [](bh::verb a, bh::verb b) { return to_sv(bh::to_string(a)) < to_sv(bh::to_string(b)); });
  std::string allow;
  for (const auto v : verbs) {
    if (!allow.empty()) {
      allow += ", ";
    }
    allow += to_sv(bh::to_string(v));
  }
  return allow;
}

}  // namespace

router& router::add(bh::verb method, std::string path, std::shared_ptr<handler> h) {
  if (path.empty() || path.front() != '/' || path.find('?') != std::string::npos) {
    throw std::invalid_argument("router: path must start with '/' and have no query: " + path);
  }
  if (!h) {
    throw std::invalid_argument("router: null handler for " + path);
  }
  if (method == bh::verb::unknown) {
    throw std::invalid_argument("router: unknown method for " + path);
  }
  auto it = std::find_if(routes_.begin(), routes_.end(), [&](const route& r) { return r.path == path; });
  if (it == routes_.end()) {
    routes_.push_back(route{std::move(path), {}, {}});
    it = std::prev(routes_.end());
  }
  if (has_method(it->methods, method)) {
    throw std::invalid_argument("router: duplicate route " + std::string(to_sv(bh::to_string(method))) +
                                " " + it->path);
  }
  it->methods.emplace_back(method, std::move(h));
  it->allow = make_allow(it->methods);
  return *this;
}

const router::route* router::find(std::string_view path) const noexcept {
  for (const auto& r : routes_) {
    if (r.path == path) {
      return &r;
    }
  }
  return nullptr;
}

std::string_view router::allow(std::string_view path) const noexcept {
  const route* r = find(path);
  return r ? std::string_view(r->allow) : std::string_view();
}

void router::handle(request req, const request_context& ctx, respond done) noexcept {
  const route* r = find(target_path(to_sv(req.target())));
  if (r == nullptr) {
    done(make_status_response(bh::status::not_found));
    return;
  }
  const bh::verb method = req.method();
  handler* target = nullptr;
  handler* get = nullptr;
  for (const auto& m : r->methods) {
    if (m.first == method) {
      target = m.second.get();
      break;
    }
    if (m.first == bh::verb::get) {
      get = m.second.get();
    }
  }
  if (target == nullptr && method == bh::verb::head) {
    target = get;
  }
  if (target == nullptr) {
    response res = make_status_response(bh::status::method_not_allowed);
    res.set(bh::field::allow, r->allow);
    done(std::move(res));
    return;
  }
  target->handle(std::move(req), ctx, std::move(done));
}

}  // namespace athm::http
