#include "tests/integration/http_probe.h"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>

namespace athm::itest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bh = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

// Generous: a response of the daemon is at most a few KiB.
constexpr size_t kMaxResponseBody = 8 * 1024 * 1024;
constexpr size_t kMaxResponseHeader = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

http_reply failure(std::string what, const boost::system::error_code& ec) {
  http_reply r;
  r.error = what + ": " + ec.message();
  return r;
}

}  // namespace

std::optional<std::string> http_reply::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) {
      return v;
    }
  }
  return std::nullopt;
}

std::string http_reply::media_type() const {
  auto ct = header("Content-Type");
  if (!ct) {
    return "";
  }
  std::string s = ct->substr(0, ct->find(';'));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string http_reply::describe() const {
  if (status == 0) {
    return "transport failure: " + error;
  }
  std::string b = body.substr(0, 200);
  for (char& c : b) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      c = '.';
    }
  }
  return "status " + std::to_string(status) + ", body \"" + b + "\"";
}

struct http_connection::impl {
  uint16_t port;
  std::chrono::milliseconds timeout;
  net::io_context ioc;
  std::optional<ssl::context> tls_ctx;  // set for HTTPS
  std::optional<beast::tcp_stream> stream;
  std::optional<ssl::stream<beast::tcp_stream>> tls_stream;
  beast::flat_buffer buffer;

  // Runs the io_context until the started operation has completed; the
  // stream's own timer bounds every operation.
  void run() {
    ioc.restart();
    ioc.run();
  }

  beast::tcp_stream& tcp() { return tls_stream ? tls_stream->next_layer() : *stream; }
  bool is_open() const { return stream.has_value() || tls_stream.has_value(); }

  void close() {
    if (is_open()) {
      boost::system::error_code ec;
      tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
      tcp().socket().close(ec);
      stream.reset();
      tls_stream.reset();
    }
    buffer.clear();
  }

  // Empty on success; otherwise which step failed and why.
  std::optional<http_reply> open() {
    if (is_open()) {
      return std::nullopt;
    }
    if (tls_ctx) {
      tls_stream.emplace(ioc, *tls_ctx);
    } else {
      stream.emplace(ioc);
    }
    boost::system::error_code result = net::error::would_block;
    tcp().expires_after(timeout);
    tcp().async_connect(tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), port),
                        [&](boost::system::error_code ec) { result = ec; });
    run();
    if (result) {
      close();
      return failure("connect", result);
    }
    if (tls_stream) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls_stream->native_handle()), "127.0.0.1") != 1) {
        close();
        return failure("handshake", net::error::invalid_argument);
      }
      result = net::error::would_block;
      tcp().expires_after(timeout);
      tls_stream->async_handshake(ssl::stream_base::client,
                                  [&](boost::system::error_code ec) { result = ec; });
      run();
      if (result) {
        close();
        return failure("handshake", result);
      }
    }
    return std::nullopt;
  }

  // Writes |req| and reads one response into |parser|.
  template <class Stream>
  void exchange(Stream& s, const bh::request<bh::string_body>& req,
                bh::response_parser<bh::string_body>& parser, boost::system::error_code& write_ec,
                boost::system::error_code& read_ec) {
    write_ec = net::error::would_block;
    tcp().expires_after(timeout);
    bh::async_write(s, req, [&](boost::system::error_code ec, size_t) { write_ec = ec; });
    run();
    // A server may answer (413, 400) and stop reading before the whole body
    // is written: still try to read its response.
    read_ec = net::error::would_block;
    tcp().expires_after(timeout);
    bh::async_read(s, buffer, parser, [&](boost::system::error_code ec, size_t) { read_ec = ec; });
    run();
  }
};

http_connection::http_connection(uint16_t port, std::chrono::milliseconds timeout,
                                 std::optional<tls_trust> tls)
    : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  impl_->timeout = timeout;
  if (tls) {
    // Start-up of a test client: a bad CA file throws.
    auto& ctx = impl_->tls_ctx.emplace(ssl::context::tls_client);
    ctx.set_options(ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.load_verify_file(tls->ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
  }
}

http_connection::~http_connection() {
  if (impl_) {
    impl_->close();
  }
}

http_connection::http_connection(http_connection&&) noexcept = default;
http_connection& http_connection::operator=(http_connection&&) noexcept = default;

bool http_connection::connect() { return !impl_->open(); }

bool http_connection::is_open() const { return impl_->is_open(); }

void http_connection::close() { impl_->close(); }

http_reply http_connection::send(const http_request& r) {
  if (auto failed = impl_->open()) {
    return std::move(*failed);
  }
  bh::request<bh::string_body> req;
  req.version(11);
  req.method_string(r.method);
  req.target(r.target);
  req.set(bh::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  for (const auto& [k, v] : r.headers) {
    req.insert(k, v);
  }
  req.body() = r.body;
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT") {
    req.prepare_payload();
  }
  req.keep_alive(r.keep_alive);

  bh::response_parser<bh::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  parser.header_limit(kMaxResponseHeader);
  parser.skip(r.method == "HEAD");
  boost::system::error_code write_ec;
  boost::system::error_code read_ec;
  if (impl_->tls_stream) {
    impl_->exchange(*impl_->tls_stream, req, parser, write_ec, read_ec);
  } else {
    impl_->exchange(*impl_->stream, req, parser, write_ec, read_ec);
  }
  if (read_ec) {
    impl_->close();
    if (write_ec) {
      return failure("write", write_ec);
    }
    return failure("read", read_ec);
  }

  auto res = parser.release();
  http_reply out;
  out.status = res.result_int();
  for (const auto& f : res) {
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  out.body = std::move(res.body());
  out.keep_alive = res.keep_alive();
  if (!out.keep_alive || !r.keep_alive || write_ec) {
    impl_->close();
  }
  return out;
}

http_reply http_exchange(uint16_t port, http_request req, std::chrono::milliseconds timeout) {
  http_connection c(port, timeout);
  req.keep_alive = false;
  return c.send(req);
}

http_reply http_get(uint16_t port, const std::string& target,
                    std::vector<std::pair<std::string, std::string>> headers) {
  http_request req;
  req.method = "GET";
  req.target = target;
  req.headers = std::move(headers);
  return http_exchange(port, std::move(req));
}

http_reply http_post(uint16_t port, const std::string& target, const std::string& content_type,
                     std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  http_request req;
  req.method = "POST";
  req.target = target;
  req.headers = std::move(headers);
  if (!content_type.empty()) {
    req.headers.emplace_back("Content-Type", content_type);
  }
  req.body = std::move(body);
  return http_exchange(port, std::move(req));
}

}  // namespace athm::itest
