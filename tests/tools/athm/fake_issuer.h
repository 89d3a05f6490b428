// A minimal ATHM issuer and origin on 127.0.0.1 for client tests: it serves
// the directory, answers TokenRequests with the real issuer crypto, and
// redeems tokens (internal POST and Authorization header). Each behaviour
// can be overridden to produce the failures a client must handle.
#pragma once

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"

namespace athm::client::testing {

namespace net = boost::asio;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using request = bh::request<bh::string_body>;
using response = bh::response<bh::string_body>;

inline std::shared_ptr<const athm::suite> fake_suite(uint32_t n, const std::string& dep) {
  auto s = athm::suite::create(n, dep);
  REQUIRE(s.ok());
  return s.value();
}

inline athm::private_key fake_key(uint32_t n = 4, const std::string& dep = "client-test") {
  auto k = athm::private_key::generate(fake_suite(n, dep));
  REQUIRE(k.ok());
  return std::move(k).value();
}

inline std::string body_string(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::span<const uint8_t> body_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Optional override: return a response to bypass the default behaviour.
using hook = std::function<std::optional<response>(const request&)>;

// Fixed before the server thread starts.
struct fake_options {
  std::string request_path = "/request";  // where TokenRequests are answered
  std::string request_uri;                // advertised; default: request_path
  std::optional<int64_t> not_before;      // advertised "not-before"
  hook override;
  bool hang = false;  // read requests, never answer
};

class fake_issuer {
 public:
  explicit fake_issuer(athm::private_key key, fake_options options = {})
      : key_(std::move(key)),
        options_(std::move(options)),
        acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    do_accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  fake_issuer(const fake_issuer&) = delete;
  fake_issuer& operator=(const fake_issuer&) = delete;
  ~fake_issuer() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const athm::private_key& key() const { return key_; }

  // The requests seen so far (copy, synchronized).
  std::vector<request> requests() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

  std::string directory_json() const {
    nlohmann::json key = {
        {"token-type", athm::pp::kTokenType},
        {"token-key", athm::pp::base64url_encode(key_.public_part().token_key())},
        {"athm-deployment-id", key_.params().deployment_id()},
        {"athm-buckets", key_.params().n_buckets()},
    };
    if (options_.not_before) {
      key["not-before"] = *options_.not_before;
    }
    const std::string uri = options_.request_uri.empty() ? options_.request_path : options_.request_uri;
    nlohmann::json doc = {{"issuer-request-uri", uri}, {"token-keys", {key}}};
    return doc.dump();
  }

 private:
  void do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        return;
      }
      serve(std::move(s));
      do_accept();
    });
  }

  // One request per connection, synchronously: the clients under test are
  // well-behaved or time out on their own.
  void serve(tcp::socket s) {
    boost::beast::flat_buffer buf;
    request req;
    boost::system::error_code ec;
    bh::read(s, buf, req, ec);
    if (ec) {
      return;
    }
    {
      std::lock_guard lock(mu_);
      seen_.push_back(req);
    }
    if (options_.hang) {
      parked_.push_back(std::move(s));
      return;
    }
    response res = handle(req);
    res.version(11);
    res.keep_alive(false);
    res.prepare_payload();
    bh::write(s, res, ec);
    s.shutdown(tcp::socket::shutdown_both, ec);
  }

  static response reply(unsigned status, std::string type, std::string body) {
    response r{static_cast<bh::status>(status), 11};
    if (!type.empty()) {
      r.set(bh::field::content_type, type);
    }
    r.body() = std::move(body);
    return r;
  }

  response redeem(std::span<const uint8_t> raw) {
    auto tok = athm::pp::token::decode(raw);
    if (!tok || tok->issuer_key_id != key_.public_part().id()) {
      return reply(401, "application/json", R"({"error":"invalid token"})");
    }
    auto bucket = key_.verify_token(tok->authenticator);
    if (!bucket) {
      return reply(401, "application/json", R"({"error":"invalid token"})");
    }
    if (!spent_.insert(tok->spend_marker()).second) {
      return reply(409, "application/json", R"({"error":"double spend"})");
    }
    response r = reply(200, "application/json", "{\"bucket\":" + std::to_string(bucket.value()) + "}");
    r.set("X-Token-Bucket", std::to_string(bucket.value()));
    return r;
  }

  response handle(const request& req) {
    if (options_.override) {
      if (auto r = options_.override(req)) {
        return *r;
      }
    }
    const std::string target(req.target());
    if (req.method() == bh::verb::get && target == "/.well-known/private-token-issuer-directory") {
      return reply(200, "application/private-token-issuer-directory", directory_json());
    }
    if (req.method() == bh::verb::post && target == options_.request_path) {
      if (req[bh::field::content_type] != "application/private-token-request") {
        return reply(415, "", "");
      }
      auto tr = athm::pp::token_request::decode(body_bytes(req.body()));
      if (!tr || tr->truncated_key_id != key_.public_part().truncated_id()) {
        return reply(422, "", "");
      }
      uint32_t bucket = 0;
      if (auto h = req.find("X-Athm-Bucket"); h != req.end()) {
        bucket = static_cast<uint32_t>(std::stoul(std::string(h->value())));
      }
      auto resp = key_.token_response(tr->request, bucket);
      if (!resp) {
        return reply(422, "", "");
      }
      return reply(200, "application/private-token-response", body_string(resp.value()));
    }
    if (req.method() == bh::verb::post && target == "/redeem") {
      return redeem(body_bytes(req.body()));
    }
    if (req.method() == bh::verb::get && target == "/protected") {
      const std::string auth(req[bh::field::authorization]);
      const std::string prefix = "PrivateToken token=";
      if (auth.rfind(prefix, 0) != 0) {
        return reply(401, "", "");
      }
      auto raw = athm::pp::base64url_decode(auth.substr(prefix.size()));
      if (!raw) {
        return reply(401, "", "");
      }
      return redeem(raw.value());
    }
    return reply(404, "", "");
  }

  athm::private_key key_;
  const fake_options options_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<request> seen_;
  std::set<std::array<uint8_t, 32>> spent_;
  std::vector<tcp::socket> parked_;
};

// Answers every connection with the same raw bytes after reading the
// request header, for malformed or hostile responses.
class raw_server {
 public:
  explicit raw_server(std::string reply)
      : reply_(std::move(reply)), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    do_accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;
  ~raw_server() {
    ioc_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        return;
      }
      boost::system::error_code e;
      std::string got;
      char buf[1024];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const size_t n = s.read_some(net::buffer(buf), e);
        if (e) {
          break;
        }
        got.append(buf, n);
      }
      net::write(s, net::buffer(reply_), e);
      s.shutdown(tcp::socket::shutdown_both, e);
      do_accept();
    });
  }

  std::string reply_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace athm::client::testing
