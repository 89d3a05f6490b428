// The one place where the application's outcomes become HTTP statuses.
//
// Handlers report what went wrong as an app_error; make_error_response()
// turns it into a response with a short, fixed text body. Clients never see
// a crypto reason code, a key id or anything that depends on a hidden bucket:
// every error of one kind has the same status, headers and body.
#pragma once

#include <string_view>

#include <boost/beast/http/status.hpp>

#include "crypto/result.h"
#include "server/http/handler.h"

namespace athm::app {

enum class app_error {
  unsupported_media_type,  // 415: wrong or missing Content-Type
  invalid_request,         // 422: malformed, unknown key, bad point, invalid token
  unauthorized,            // 401: forward-auth without a usable token
  forbidden,               // 403: the attester denied
  rate_limited,            // 429: the attester denied, retry later
  already_spent,           // 409: the token was redeemed before
  unavailable,             // 503: store down, attester undecided (fail closed),
                           //      no issuing key, not ready
  internal,                // 500: a bug or a failing random source
};

// The HTTP status for |e|. Total; never throws.
boost::beast::http::status to_status(app_error e) noexcept;

// The fixed body text for |e| ("Unprocessable Content\n", ...).
std::string_view error_text(app_error e) noexcept;

// A response with to_status(e), Content-Type text/plain, Cache-Control
// no-store and error_text(e) as the body. Headers specific to one endpoint
// (Retry-After, WWW-Authenticate) are added by the caller. Throws only
// std::bad_alloc.
http::response make_error_response(app_error e);

// Maps a crypto failure on client-supplied input to an app_error. Decoding
// and verification failures are invalid_request; failures of the issuer
// itself (random source, BoringSSL, parameters) are internal.
app_error from_crypto(athm::errc e) noexcept;

}  // namespace athm::app
