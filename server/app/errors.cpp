#include "server/app/errors.h"

#include <boost/beast/http/field.hpp>

namespace athm::app {

namespace bh = boost::beast::http;

bh::status to_status(app_error e) noexcept {
  switch (e) {
    case app_error::unsupported_media_type:
      return bh::status::unsupported_media_type;
    case app_error::invalid_request:
      return bh::status::unprocessable_entity;
    case app_error::unauthorized:
      return bh::status::unauthorized;
    case app_error::forbidden:
      return bh::status::forbidden;
    case app_error::rate_limited:
      return bh::status::too_many_requests;
    case app_error::already_spent:
      return bh::status::conflict;
    case app_error::unavailable:
      return bh::status::service_unavailable;
    case app_error::internal:
      return bh::status::internal_server_error;
  }
  return bh::status::internal_server_error;
}

std::string_view error_text(app_error e) noexcept {
  switch (e) {
    case app_error::unsupported_media_type:
      return "Unsupported Media Type\n";
    case app_error::invalid_request:
      return "Unprocessable Content\n";
    case app_error::unauthorized:
      return "Unauthorized\n";
    case app_error::forbidden:
      return "Forbidden\n";
    case app_error::rate_limited:
      return "Too Many Requests\n";
    case app_error::already_spent:
      return "Token Already Spent\n";
    case app_error::unavailable:
      return "Service Unavailable\n";
    case app_error::internal:
      return "Internal Server Error\n";
  }
  return "Internal Server Error\n";
}

http::response make_error_response(app_error e) {
  http::response res{to_status(e), 11};
  res.set(bh::field::content_type, "text/plain; charset=utf-8");
  res.set(bh::field::cache_control, "no-store");
  res.body() = std::string(error_text(e));
  return res;
}

app_error from_crypto(athm::errc e) noexcept {
  switch (e) {
    case athm::errc::bad_length:
    case athm::errc::bad_encoding:
    case athm::errc::bad_point:
    case athm::errc::bad_scalar:
    case athm::errc::token_invalid:
    case athm::errc::unknown_key:
      return app_error::invalid_request;
    case athm::errc::bad_params:
    case athm::errc::bad_bucket:
    case athm::errc::proof_invalid:
    case athm::errc::key_mismatch:
    case athm::errc::rng_failure:
    case athm::errc::internal:
      return app_error::internal;
  }
  return app_error::internal;
}

}  // namespace athm::app
