// The "http" attester: asks an external decision service over plain HTTP.
//
// For each issuance request it POSTs a small JSON document to the configured
// URL (one connection per callout, "Connection: close"):
//   {"remote_address": "192.0.2.1", "path": "/request", "buckets": 4,
//    "headers": {"User-Agent": "...", ...}}
// "headers" holds the configured forward_headers that the request carried
// (several occurrences joined with ", "). Never the body, never a token.
//
// The service answers 200 with a JSON object:
//   {"bucket": b}                          -> issue{b} (range checked by decide())
//   {"deny": 403} / {"deny": 429}          -> deny; an optional
//                                             "retry_after": seconds (1..86400)
//                                             overrides the configured value
// Anything else (another status, other JSON, both keys, a body over
// kMaxDecisionBytes), a connection error or the timeout -> undecided, which the
// fail mode resolves.
//
// Runs on the daemon's io_context (Boost.Beast async client, one strand per
// callout); the timeout bounds resolve + connect + write + read together.
// The completion runs on an I/O thread.
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "server/app/attester.h"

namespace athm::app {

struct http_attester_options {
  std::string host;     // name or IP literal (IPv6 without brackets)
  uint16_t port = 0;
  std::string target = "/";  // path and query
  std::chrono::milliseconds timeout{200};
  std::vector<std::string> forward_headers;
  std::chrono::seconds retry_after{60};  // for a 429 deny without its own
};

// Largest decision response body read; more is undecided.
inline constexpr size_t kMaxDecisionBytes = 4096;

class http_attester final : public attester {
 public:
  // |ex| must be an io_context executor that some thread runs.
  http_attester(boost::asio::any_io_executor ex, http_attester_options opts);

  void check(attest_request req, attest_handler done) noexcept override;
  const std::vector<std::string>& wanted_headers() const noexcept override {
    return opts_.forward_headers;
  }
  std::string_view name() const noexcept override { return "http"; }

  // The JSON document sent for |req|. Pure; for tests and documentation.
  static std::string request_body(const attest_request& req);

  // The result for a response with |status| and |body|. Pure.
  static attest_result interpret(unsigned status, std::string_view body,
                                 std::chrono::seconds default_retry_after);

 private:
  boost::asio::any_io_executor ex_;
  std::shared_ptr<const http_attester_options> opts_ptr_;
  const http_attester_options& opts_;
};

}  // namespace athm::app
