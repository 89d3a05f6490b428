#include "server/http/responses.h"

#include <boost/beast/http/field.hpp>

#include <string>

namespace athm::http {

response make_status_response(boost::beast::http::status s) {
  namespace bh = boost::beast::http;
  response res{s, 11};
  res.set(bh::field::content_type, "text/plain; charset=utf-8");
  const auto reason = bh::obsolete_reason(s);
  std::string body;
  body.reserve(reason.size() + 1);
  body.append(reason.data(), reason.size());
  body.push_back('\n');
  res.body() = std::move(body);
  return res;
}

}  // namespace athm::http
