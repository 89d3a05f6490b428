#include "server/http/session.h"

namespace athm::http {

// The plain-TCP session is compiled once here; other stream types are
// instantiated where they are used.
template class session<boost::asio::ip::tcp::socket>;

}  // namespace athm::http
