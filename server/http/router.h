// Dispatches requests to other handlers on exact path and method.
//
//   router r;
//   r.add(verb::post, "/request", issue_handler);
//   r.add(verb::get, "/.well-known/private-token-issuer-directory", dir_handler);
//
// The path is the request-target without its query (see target.h).
//   - unknown path                    -> 404
//   - known path, method not routed   -> 405 with "Allow: GET, HEAD, ..."
//   - HEAD where only GET is routed   -> the GET handler (it sees method HEAD);
//                                        the transport drops the body and keeps
//                                        Content-Length.
#pragma once

#include "server/http/handler.h"

#include <boost/beast/http/verb.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace athm::http {

class router final : public handler {
 public:
  router() = default;

  // Routes |method| on |path| to |h|. Start-up only: not safe to call
  // concurrently with handle(). Throws std::invalid_argument if |path| does
  // not start with '/' or contains '?', if |h| is null, if |method| is
  // unknown, or if the pair is already routed.
  router& add(boost::beast::http::verb method, std::string path, std::shared_ptr<handler> h);

  // Dispatches as described above. Thread-safe once set up (read-only);
  // completes inline for 404/405, otherwise as the routed handler does.
  void handle(request req, const request_context& ctx, respond done) noexcept override;

  // The Allow value for |path| ("GET, HEAD, POST"), empty if not routed.
  std::string_view allow(std::string_view path) const noexcept;

 private:
  struct route {
    std::string path;
    std::vector<std::pair<boost::beast::http::verb, std::shared_ptr<handler>>> methods;
    std::string allow;  // precomputed Allow header value
  };
  const route* find(std::string_view path) const noexcept;

  // Linear scan: a daemon has a handful of routes, and a scan over a few
  // short strings beats hashing them.
  std::vector<route> routes_;
};

}  // namespace athm::http
