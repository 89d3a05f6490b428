#include "tools/athm/http_client.h"

// <utility> before Asio: Boost 1.74's awaitable.hpp needs std::exchange.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <exception>

namespace athm::client {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

std::string user_agent() { return "athm/0.1"; }

struct exchange_state {
  http_response response;
  std::string error;
  bool done = false;
};

net::awaitable<void> run_exchange(const http_request& req, const http_limits& limits,
                                  exchange_state& st) {
  auto ex = co_await net::this_coro::executor;
  beast::error_code ec;
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;

  // The resolver has no timeout of its own.
  tcp::resolver resolver(ex);
  net::steady_timer resolve_timer(ex);
  resolve_timer.expires_at(deadline);
  bool resolve_timed_out = false;
  resolve_timer.async_wait([&](beast::error_code e) {
    if (!e) {
      resolve_timed_out = true;
      resolver.cancel();
    }
  });
  auto endpoints = co_await resolver.async_resolve(
      req.url.host, std::to_string(req.url.port), net::redirect_error(net::use_awaitable, ec));
  resolve_timer.cancel();
  if (ec) {
    st.error = "cannot resolve " + req.url.host + ": " +
               (resolve_timed_out ? std::string("timed out") : ec.message());
    co_return;
  }

  beast::tcp_stream stream(ex);
  // One deadline for every following operation on the stream.
  stream.expires_at(deadline);
  co_await stream.async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    st.error = "cannot connect to " + req.url.host_header + ": " + ec.message();
    co_return;
  }

  http::request<http::string_body> msg;
  msg.method(req.method == "POST" ? http::verb::post : http::verb::get);
  msg.target(req.url.target);
  msg.version(11);
  msg.set(http::field::host, req.url.host_header);
  msg.set(http::field::user_agent, user_agent());
  msg.set(http::field::connection, "close");
  for (const auto& h : req.headers) {
    msg.insert(h.name, h.value);
  }
  msg.body() = req.body;
  if (req.method == "POST" || !req.body.empty()) {
    msg.prepare_payload();
  }
  co_await http::async_write(stream, msg, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    st.error = "cannot send the request to " + req.url.host_header + ": " + ec.message();
    co_return;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
  // Header first: Beast 1.74's eager full-message read drops the body_limit
  // error when the header and body bytes arrive in one buffer, so the
  // declared length is checked here before any body is read.
  co_await http::async_read_header(stream, buffer, parser,
                                   net::redirect_error(net::use_awaitable, ec));
  if (!ec && parser.content_length() && *parser.content_length() > limits.max_body_bytes) {
    ec = http::error::body_limit;
  }
  if (!ec && !parser.is_done()) {
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  }
  if (ec) {
    if (ec == beast::error::timeout) {
      st.error = "no complete response from " + req.url.host_header + " in time";
    } else if (ec == http::error::body_limit || ec == http::error::header_limit) {
      st.error = "response from " + req.url.host_header + " is too large";
    } else {
      st.error = "cannot read the response from " + req.url.host_header + ": " + ec.message();
    }
    co_return;
  }
  auto res = parser.release();
  st.response.status = res.result_int();
  for (const auto& f : res) {
    st.response.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  st.response.body = std::move(res.body());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  st.done = true;
}

}  // namespace

std::string http_url::to_string() const { return "http://" + host_header + target; }

outcome<http_url> parse_http_url(std::string_view url) {
  using R = outcome<http_url>;
  for (char c : url) {
    if (c <= 0x20 || c > 0x7e) {
      return R::failure("URL contains spaces or non-printable characters");
    }
  }
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return R::failure("URL must start with http://");
  }
  const std::string scheme = lower(url.substr(0, sep));
  if (scheme == "https") {
    return R::failure("https URLs are not supported yet (use http://)");
  }
  if (scheme != "http") {
    return R::failure("unsupported URL scheme \"" + scheme + "\" (use http://)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) {
    rest = rest.substr(0, hash);
  }
  const size_t auth_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, auth_end);
  std::string target(auth_end == std::string_view::npos ? "" : rest.substr(auth_end));
  if (target.empty() || target[0] == '?') {
    target.insert(0, "/");
  }
  if (authority.find('@') != std::string_view::npos) {
    return R::failure("URLs with user info are not supported");
  }
  http_url out;
  std::string_view port_part;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      return R::failure("malformed IPv6 address in URL");
    }
    out.host = std::string(authority.substr(1, close - 1));
    for (char c : out.host) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return R::failure("malformed IPv6 address in URL");
      }
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return R::failure("malformed URL authority");
      }
      port_part = after.substr(1);
      if (port_part.empty()) {
        return R::failure("empty port in URL");
      }
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_part = authority.substr(colon + 1);
      if (port_part.empty()) {
        return R::failure("empty port in URL");
      }
    }
    if (out.host.empty()) {
      return R::failure("URL has no host");
    }
    if (!std::all_of(out.host.begin(), out.host.end(), is_host_char)) {
      return R::failure("URL host contains invalid characters");
    }
  }
  if (!port_part.empty()) {
    if (port_part.size() > 5 ||
        !std::all_of(port_part.begin(), port_part.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return R::failure("URL port must be 1..65535");
    }
    const unsigned long p = std::stoul(std::string(port_part));
    if (p < 1 || p > 65535) {
      return R::failure("URL port must be 1..65535");
    }
    out.port = static_cast<uint16_t>(p);
  }
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = v6 ? "[" + out.host + "]" : out.host;
  if (out.port != 80) {
    out.host_header += ":" + std::to_string(out.port);
  }
  out.target = std::move(target);
  return out;
}

outcome<http_url> resolve_url(const http_url& base, std::string_view ref) {
  using R = outcome<http_url>;
  if (ref.empty()) {
    return R::failure("empty URL reference");
  }
  if (ref.find("://") != std::string_view::npos) {
    return parse_http_url(ref);
  }
  if (ref.starts_with("//")) {
    return parse_http_url("http:" + std::string(ref));
  }
  for (char c : ref) {
    if (c <= 0x20 || c > 0x7e) {
      return R::failure("URL contains spaces or non-printable characters");
    }
  }
  std::string path(ref.substr(0, ref.find('#')));
  http_url out = base;
  if (path.empty()) {
    return R::failure("empty URL reference");
  }
  if (path[0] == '/') {
    out.target = path;
  } else {
    std::string dir = base.target.substr(0, base.target.find('?'));
    dir = dir.substr(0, dir.rfind('/') + 1);
    out.target = (dir.empty() ? "/" : dir) + path;
  }
  return out;
}

outcome<header_field> parse_header_arg(std::string_view arg) {
  using R = outcome<header_field>;
  const size_t colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return R::failure("header must look like \"Name: value\"");
  }
  const std::string_view name = arg.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), is_tchar)) {
    return R::failure("invalid character in header name");
  }
  std::string_view value = arg.substr(colon + 1);
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return R::failure("header value must not contain CR, LF or NUL");
    }
  }
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  return header_field{std::string(name), std::string(value)};
}

std::optional<std::string> http_response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

std::string http_response::media_type() const {
  const auto ct = header("Content-Type");
  if (!ct) {
    return {};
  }
  std::string_view v = *ct;
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  return lower(v);
}

outcome<http_response> http_send(const http_request& req, const http_limits& limits) {
  using R = outcome<http_response>;
  if (req.method != "GET" && req.method != "POST") {
    return R::failure("unsupported HTTP method " + req.method);
  }
  try {
    net::io_context ioc;
    exchange_state st;
    std::exception_ptr failure;
    net::co_spawn(ioc, run_exchange(req, limits, st),
                  [&failure](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) {
      std::rethrow_exception(failure);
    }
    if (!st.done) {
      return R::failure(st.error.empty() ? "HTTP exchange did not complete" : st.error);
    }
    return std::move(st.response);
  } catch (const std::exception& e) {
    return R::failure(std::string("HTTP exchange failed: ") + e.what());
  } catch (...) {
    return R::failure("HTTP exchange failed");
  }
}

}  // namespace athm::client
