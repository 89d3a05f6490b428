// The built-in attesters that need no network: "static" and "header".
// The "http" callout lives in http_attester.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/app/attester.h"
#include "server/app/cidr.h"

namespace athm::app {

// Issues every request with one fixed bucket (config attester.static.bucket).
// Completes inline. A bucket >= the key's n is reported as issue{bucket} and
// turned into an undecided by decide().
class static_attester final : public attester {
 public:
  explicit static_attester(uint32_t bucket) : bucket_(bucket) {}
  void check(attest_request req, attest_handler done) noexcept override;
  const std::vector<std::string>& wanted_headers() const noexcept override { return none_; }
  std::string_view name() const noexcept override { return "static"; }

 private:
  uint32_t bucket_;
  std::vector<std::string> none_;
};

struct header_attester_options {
  std::string header = "X-Athm-Bucket";
  std::vector<cidr> trusted;               // peers whose header is believed
  std::optional<uint32_t> default_bucket;  // when no trusted header is present
  unsigned deny_status = 403;              // 403 or 429
  std::chrono::seconds retry_after{60};
};

// Takes the bucket from a header that a trusted upstream attester set.
// Completes inline. Rules, in order:
//   - peer outside every trusted CIDR: the header is ignored;
//     default_bucket if set, else deny;
//   - header absent: default_bucket if set, else deny;
//   - header present more than once, or its value malformed ("", "1x", "-1",
//     " 2", "01", more than 3 digits) or >= n: deny. Never the default.
//   - otherwise: issue with the header's value.
class header_attester final : public attester {
 public:
  explicit header_attester(header_attester_options opts);
  void check(attest_request req, attest_handler done) noexcept override;
  const std::vector<std::string>& wanted_headers() const noexcept override { return wanted_; }
  std::string_view name() const noexcept override { return "header"; }

  // The strict bucket syntax: "0" or a decimal without leading zeros, at
  // most 3 digits. nullopt otherwise. Range against n is checked by check().
  static std::optional<uint32_t> parse_bucket(std::string_view v) noexcept;

 private:
  attest_result no_header() const;
  attest_deny deny() const;

  header_attester_options opts_;
  std::vector<std::string> wanted_;
};

// Parses attester.header.trusted_cidrs; throws config::config_error naming
// "attester.header.trusted_cidrs[i]" for an entry that does not parse.
std::vector<cidr> parse_trusted_cidrs(const std::vector<std::string>& cidrs);

}  // namespace athm::app
