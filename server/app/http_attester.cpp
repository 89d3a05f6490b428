#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/app/http_attester.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

namespace athm::app {
namespace {

namespace net = boost::asio;
namespace bh = boost::beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::ordered_json;

// Limit on the decision response's header block.
constexpr uint32_t kMaxDecisionHeaderBytes = 8192;
constexpr int64_t kMaxRetryAfterSeconds = 86400;

// One POST to the decision service. Everything runs on one strand; the
// deadline timer cancels whatever is outstanding, and finish() guarantees a
// single completion.
class callout : public std::enable_shared_from_this<callout> {
 public:
  callout(net::any_io_executor ex, std::shared_ptr<const http_attester_options> opts,
          std::string body, attest_handler done)
      : strand_(net::make_strand(ex)),
        opts_(std::move(opts)),
        resolver_(strand_),
        socket_(strand_),
        timer_(strand_),
        done_(std::move(done)) {
    req_.method(bh::verb::post);
    req_.target(opts_->target);
    req_.version(11);
    const bool v6 = opts_->host.find(':') != std::string::npos;
    req_.set(bh::field::host, (v6 ? "[" + opts_->host + "]" : opts_->host) + ":" +
                                  std::to_string(opts_->port));
    req_.set(bh::field::user_agent, "athmd");
    req_.set(bh::field::content_type, "application/json");
    req_.set(bh::field::accept, "application/json");
    req_.set(bh::field::connection, "close");
    req_.body() = std::move(body);
    req_.prepare_payload();
    parser_.header_limit(kMaxDecisionHeaderBytes);
    parser_.body_limit(kMaxDecisionBytes);
  }

  void start() {
    net::post(strand_, [self = shared_from_this()] { self->on_start(); });
  }

 private:
  void on_start() {
    timer_.expires_after(opts_->timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) {
        self->finish(attest_undecided{"decision service timeout"});
      }
    });
    boost::system::error_code ec;
    const net::ip::address literal = net::ip::make_address(opts_->host, ec);
    if (!ec) {
      const tcp::endpoint ep(literal, opts_->port);
      socket_.async_connect(ep, [self = shared_from_this()](boost::system::error_code e) {
        self->on_connect(e);
      });
      return;
    }
    resolver_.async_resolve(opts_->host, std::to_string(opts_->port),
                            [self = shared_from_this()](boost::system::error_code e,
                                                        tcp::resolver::results_type results) {
                              self->on_resolve(e, std::move(results));
                            });
  }

  void on_resolve(boost::system::error_code ec, tcp::resolver::results_type results) {
    if (finished_) {
      return;
    }
    if (ec) {
      finish(attest_undecided{"decision service name resolution failed"});
      return;
    }
    net::async_connect(socket_, results,
                       [self = shared_from_this()](boost::system::error_code e, const tcp::endpoint&) {
                         self->on_connect(e);
                       });
  }

  void on_connect(boost::system::error_code ec) {
    if (finished_) {
      return;
    }
    if (ec) {
      finish(attest_undecided{"decision service connection failed"});
      return;
    }
    bh::async_write(socket_, req_, [self = shared_from_this()](boost::system::error_code e, size_t) {
      self->on_write(e);
    });
  }

  void on_write(boost::system::error_code ec) {
    if (finished_) {
      return;
    }
    if (ec) {
      finish(attest_undecided{"decision service write failed"});
      return;
    }
    bh::async_read_header(socket_, buffer_, parser_,
                          [self = shared_from_this()](boost::system::error_code e, size_t) {
                            self->on_header(e);
                          });
  }

  // Boost 1.74's eager parse (what async_read turns on) does not report a
  // response Content-Length over body_limit, so the length is checked here,
  // before any of the body is read. Chunked and read-to-EOF bodies are
  // bounded by body_limit as they arrive.
  void on_header(boost::system::error_code ec) {
    if (finished_) {
      return;
    }
    if (ec) {
      finish(attest_undecided{"decision service read failed"});
      return;
    }
    const auto length = parser_.content_length();
    if (length && *length > kMaxDecisionBytes) {
      finish(attest_undecided{"decision service response too large"});
      return;
    }
    bh::async_read(socket_, buffer_, parser_,
                   [self = shared_from_this()](boost::system::error_code e, size_t) {
                     self->on_read(e);
                   });
  }

  void on_read(boost::system::error_code ec) {
    if (finished_) {
      return;
    }
    if (ec) {
      finish(attest_undecided{"decision service read failed"});
      return;
    }
    const auto& res = parser_.get();
    if (res.body().size() > kMaxDecisionBytes) {
      finish(attest_undecided{"decision service response too large"});
      return;
    }
    finish(http_attester::interpret(res.result_int(), res.body(), opts_->retry_after));
  }

  void finish(attest_result r) {
    if (finished_) {
      return;
    }
    finished_ = true;
    timer_.cancel();
    resolver_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    attest_handler done = std::move(done_);
    done(std::move(r));
  }

  net::strand<net::any_io_executor> strand_;
  std::shared_ptr<const http_attester_options> opts_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  net::steady_timer timer_;
  bh::request<bh::string_body> req_;
  boost::beast::flat_buffer buffer_;
  bh::response_parser<bh::string_body> parser_;
  attest_handler done_;
  bool finished_ = false;
};

}  // namespace

http_attester::http_attester(net::any_io_executor ex, http_attester_options opts)
    : ex_(std::move(ex)),
      opts_ptr_(std::make_shared<const http_attester_options>(std::move(opts))),
      opts_(*opts_ptr_) {}

std::string http_attester::request_body(const attest_request& req) {
  json headers = json::object();
  for (const auto& [name, value] : req.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      *it = it->get<std::string>() + ", " + value;
    }
  }
  json doc = json::object();
  doc["remote_address"] = req.remote_address.to_string();
  doc["path"] = req.path;
  doc["buckets"] = req.n_buckets;
  doc["headers"] = std::move(headers);
  // Header values are client bytes; replace invalid UTF-8 rather than throw.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

attest_result http_attester::interpret(unsigned status, std::string_view body,
                                       std::chrono::seconds default_retry_after) {
  if (status != 200) {
    return attest_undecided{"decision service status " + std::to_string(status)};
  }
  const json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return attest_undecided{"decision service sent no JSON object"};
  }
  const auto bucket = doc.find("bucket");
  const auto deny = doc.find("deny");
  if (bucket != doc.end() && deny != doc.end()) {
    return attest_undecided{"decision service sent both bucket and deny"};
  }
  if (bucket != doc.end()) {
    if (!bucket->is_number_unsigned() || bucket->get<uint64_t>() > UINT32_MAX) {
      return attest_undecided{"decision service bucket is not an unsigned integer"};
    }
    return attest_issue{static_cast<uint32_t>(bucket->get<uint64_t>())};
  }
  if (deny != doc.end()) {
    if (!deny->is_number_unsigned() ||
        (deny->get<uint64_t>() != 403 && deny->get<uint64_t>() != 429)) {
      return attest_undecided{"decision service deny is not 403 or 429"};
    }
    attest_deny d{static_cast<unsigned>(deny->get<uint64_t>()), default_retry_after};
    const auto ra = doc.find("retry_after");
    if (ra != doc.end()) {
      if (!ra->is_number_unsigned() || ra->get<uint64_t>() < 1 ||
          ra->get<uint64_t>() > static_cast<uint64_t>(kMaxRetryAfterSeconds)) {
        return attest_undecided{"decision service retry_after out of range"};
      }
      d.retry_after = std::chrono::seconds(ra->get<uint64_t>());
    }
    return d;
  }
  return attest_undecided{"decision service sent neither bucket nor deny"};
}

void http_attester::check(attest_request req, attest_handler done) noexcept {
  try {
    auto c = std::make_shared<callout>(ex_, opts_ptr_, request_body(req), done);
    c->start();
  } catch (const std::exception&) {
    done(attest_undecided{"decision service callout could not start"});
  }
}

}  // namespace athm::app
