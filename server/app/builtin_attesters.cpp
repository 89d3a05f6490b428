#include "server/app/builtin_attesters.h"

#include "config/config.h"

namespace athm::app {

void static_attester::check(attest_request req, attest_handler done) noexcept {
  done(attest_issue{bucket_});
}

header_attester::header_attester(header_attester_options opts) : opts_(std::move(opts)) {
  wanted_.push_back(opts_.header);
}

std::optional<uint32_t> header_attester::parse_bucket(std::string_view v) noexcept {
  if (v.empty() || v.size() > 3 || (v.size() > 1 && v.front() == '0')) {
    return std::nullopt;
  }
  uint32_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    out = out * 10 + static_cast<uint32_t>(c - '0');
  }
  return out;
}

attest_deny header_attester::deny() const {
  return attest_deny{opts_.deny_status, opts_.retry_after};
}

attest_result header_attester::no_header() const {
  if (opts_.default_bucket) {
    return attest_issue{*opts_.default_bucket};
  }
  return deny();
}

void header_attester::check(attest_request req, attest_handler done) noexcept {
  bool trusted = false;
  for (const cidr& c : opts_.trusted) {
    if (c.contains(req.remote_address)) {
      trusted = true;
      break;
    }
  }
  if (!trusted) {
    done(no_header());
    return;
  }
  const std::vector<std::string_view> values = req.values(opts_.header);
  if (values.empty()) {
    done(no_header());
    return;
  }
  if (values.size() != 1) {
    done(deny());
    return;
  }
  const std::optional<uint32_t> b = parse_bucket(values.front());
  if (!b || *b >= req.n_buckets) {
    done(deny());
    return;
  }
  done(attest_issue{*b});
}

std::vector<cidr> parse_trusted_cidrs(const std::vector<std::string>& cidrs) {
  std::vector<cidr> out;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    auto c = cidr::parse(cidrs[i]);
    if (!c) {
      throw config::config_error("attester.header.trusted_cidrs[" + std::to_string(i) +
                                 "]: not a CIDR: \"" + cidrs[i] + "\"");
    }
    out.push_back(*c);
  }
  return out;
}

}  // namespace athm::app
