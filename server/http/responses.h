// Small canned responses the transport and the router send on their own
// (400, 404, 405, 413, 431, 500). The application maps its own errors.
#pragma once

#include "server/http/handler.h"

#include <boost/beast/http/status.hpp>

namespace athm::http {

// A response with status |s| and a short text/plain body naming the status
// ("Not Found\n"). Content-Length, Server and Connection are left to the
// transport. Does not throw except std::bad_alloc.
response make_status_response(boost::beast::http::status s);

}  // namespace athm::http
