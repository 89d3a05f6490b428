#include "server/app/attester.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include <optional>
#include <string>
#include <vector>

#include "server/app/builtin_attesters.h"
#include "server/app/cidr.h"

namespace {

using namespace athm::app;
namespace ip = boost::asio::ip;
using namespace std::chrono_literals;

attest_result run(attester& a, attest_request req) {
  std::optional<attest_result> out;
  int calls = 0;
  a.check(std::move(req), [&](attest_result r) {
    ++calls;
    out = std::move(r);
  });
  REQUIRE(calls == 1);  // the built-ins without network complete inline
  return *out;
}

attest_request request_from(const char* address, std::vector<std::pair<std::string, std::string>> headers,
                            uint32_t n = 4) {
  attest_request r;
  r.remote_address = ip::make_address(address);
  r.path = "/request";
  r.headers = std::move(headers);
  r.n_buckets = n;
  return r;
}

std::string describe(const attest_result& r) {
  if (const auto* i = std::get_if<attest_issue>(&r)) {
    return "issue " + std::to_string(i->bucket);
  }
  if (const auto* d = std::get_if<attest_deny>(&r)) {
    return "deny " + std::to_string(d->status) + " retry " + std::to_string(d->retry_after.count());
  }
  return "undecided";
}

}  // namespace

TEST_CASE("cidr parses ranges and matches addresses", "[app][attester]") {
  const auto v4 = cidr::parse("10.1.0.0/16");
  REQUIRE(v4.has_value());
  CHECK(v4->contains(ip::make_address("10.1.2.3")));
  CHECK(v4->contains(ip::make_address("10.1.255.255")));
  CHECK_FALSE(v4->contains(ip::make_address("10.2.0.1")));
  CHECK_FALSE(v4->contains(ip::make_address("::1")));
  // An IPv4 peer seen through a dual-stack socket.
  CHECK(v4->contains(ip::make_address("::ffff:10.1.2.3")));
  CHECK(v4->to_string() == "10.1.0.0/16");

  const auto odd = cidr::parse("192.168.1.128/25");
  REQUIRE(odd.has_value());
  CHECK(odd->contains(ip::make_address("192.168.1.200")));
  CHECK_FALSE(odd->contains(ip::make_address("192.168.1.127")));

  const auto v6 = cidr::parse("::1/128");
  REQUIRE(v6.has_value());
  CHECK(v6->contains(ip::make_address("::1")));
  CHECK_FALSE(v6->contains(ip::make_address("::2")));
  CHECK_FALSE(v6->contains(ip::make_address("127.0.0.1")));

  const auto all = cidr::parse("0.0.0.0/0");
  REQUIRE(all.has_value());
  CHECK(all->contains(ip::make_address("203.0.113.9")));

  for (const char* bad : {"10.0.0.0", "10.0.0.1/8", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1",
                          "10.0.0.0/8x", "host/8", "/8", "fe80::1%eth0/128", "10.0.0.0/0008"}) {
    INFO(bad);
    CHECK_FALSE(cidr::parse(bad).has_value());
  }
}

TEST_CASE("header attester: the decision table", "[app][attester]") {
  const std::vector<cidr> trusted = parse_trusted_cidrs({"127.0.0.0/8", "::1/128", "10.0.0.0/8"});

  struct row {
    const char* name;
    std::optional<uint32_t> default_bucket;
    const char* peer;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string expected;
  };
  const std::vector<row> table = {
      // Trusted peers: the header decides.
      {"trusted, bucket 0", std::nullopt, "127.0.0.1", {{"X-Athm-Bucket", "0"}}, "issue 0"},
      {"trusted, bucket 3", std::nullopt, "127.0.0.1", {{"X-Athm-Bucket", "3"}}, "issue 3"},
      {"trusted IPv6 loopback", std::nullopt, "::1", {{"X-Athm-Bucket", "2"}}, "issue 2"},
      {"trusted via IPv4-mapped address", std::nullopt, "::ffff:10.9.9.9", {{"X-Athm-Bucket", "1"}}, "issue 1"},
      {"header name case-insensitive", std::nullopt, "10.0.0.7", {{"x-athm-bucket", "1"}}, "issue 1"},
      {"header wins over the default", 0u, "127.0.0.1", {{"X-Athm-Bucket", "2"}}, "issue 2"},
      // Absent header.
      {"trusted, absent, default 1", 1u, "127.0.0.1", {}, "issue 1"},
      {"trusted, absent, no default", std::nullopt, "127.0.0.1", {}, "deny 403 retry 60"},
      // Untrusted peers: the header is ignored.
      {"untrusted, header ignored, default", 0u, "192.0.2.1", {{"X-Athm-Bucket", "3"}}, "issue 0"},
      {"untrusted, header ignored, no default", std::nullopt, "192.0.2.1", {{"X-Athm-Bucket", "3"}},
       "deny 403 retry 60"},
      {"untrusted, malformed header ignored", 2u, "192.0.2.1", {{"X-Athm-Bucket", "1x"}}, "issue 2"},
      {"untrusted IPv6", std::nullopt, "2001:db8::1", {{"X-Athm-Bucket", "1"}}, "deny 403 retry 60"},
      // Malformed or out of range from a trusted peer: deny, never the default.
      {"malformed 1x", 0u, "127.0.0.1", {{"X-Athm-Bucket", "1x"}}, "deny 403 retry 60"},
      {"malformed -1", 0u, "127.0.0.1", {{"X-Athm-Bucket", "-1"}}, "deny 403 retry 60"},
      {"malformed empty", 0u, "127.0.0.1", {{"X-Athm-Bucket", ""}}, "deny 403 retry 60"},
      {"malformed leading space", 0u, "127.0.0.1", {{"X-Athm-Bucket", " 2"}}, "deny 403 retry 60"},
      {"malformed trailing space", 0u, "127.0.0.1", {{"X-Athm-Bucket", "2 "}}, "deny 403 retry 60"},
      {"malformed +1", 0u, "127.0.0.1", {{"X-Athm-Bucket", "+1"}}, "deny 403 retry 60"},
      {"malformed leading zero", 0u, "127.0.0.1", {{"X-Athm-Bucket", "01"}}, "deny 403 retry 60"},
      {"malformed hex", 0u, "127.0.0.1", {{"X-Athm-Bucket", "0x1"}}, "deny 403 retry 60"},
      {"malformed huge", 0u, "127.0.0.1", {{"X-Athm-Bucket", "99999999999"}}, "deny 403 retry 60"},
      {"malformed list", 0u, "127.0.0.1", {{"X-Athm-Bucket", "1,2"}}, "deny 403 retry 60"},
      {"out of range n", 0u, "127.0.0.1", {{"X-Athm-Bucket", "4"}}, "deny 403 retry 60"},
      {"out of range 255", 0u, "127.0.0.1", {{"X-Athm-Bucket", "255"}}, "deny 403 retry 60"},
      {"header twice", 0u, "127.0.0.1", {{"X-Athm-Bucket", "1"}, {"X-Athm-Bucket", "1"}},
       "deny 403 retry 60"},
  };
  for (const auto& r : table) {
    INFO("case: " << r.name);
    header_attester_options o;
    o.trusted = trusted;
    o.default_bucket = r.default_bucket;
    header_attester a(o);
    CHECK(describe(run(a, request_from(r.peer, r.headers))) == r.expected);
  }
}

TEST_CASE("header attester: configured header, deny status and n", "[app][attester]") {
  header_attester_options o;
  o.header = "X-Upstream-Verdict";
  o.trusted = parse_trusted_cidrs({"127.0.0.0/8"});
  o.deny_status = 429;
  o.retry_after = 7s;
  header_attester a(o);
  REQUIRE(a.wanted_headers() == std::vector<std::string>{"X-Upstream-Verdict"});
  CHECK(a.name() == "header");
  CHECK(describe(run(a, request_from("127.0.0.1", {{"X-Upstream-Verdict", "7"}}, 8))) == "issue 7");
  CHECK(describe(run(a, request_from("127.0.0.1", {{"X-Upstream-Verdict", "8"}}, 8))) == "deny 429 retry 7");
  // The default header name is not consulted.
  CHECK(describe(run(a, request_from("127.0.0.1", {{"X-Athm-Bucket", "1"}}, 8))) == "deny 429 retry 7");
  // No trusted ranges at all: every header is ignored.
  header_attester_options none;
  none.default_bucket = 1;
  header_attester b(none);
  CHECK(describe(run(b, request_from("127.0.0.1", {{"X-Athm-Bucket", "3"}}))) == "issue 1");
}

TEST_CASE("header attester: parse_bucket", "[app][attester]") {
  CHECK(header_attester::parse_bucket("0") == 0u);
  CHECK(header_attester::parse_bucket("9") == 9u);
  CHECK(header_attester::parse_bucket("10") == 10u);
  CHECK(header_attester::parse_bucket("255") == 255u);
  CHECK(header_attester::parse_bucket("999") == 999u);
  for (const char* bad : {"", " ", "00", "007", "1000", "1.0", "1e2", "١", "-0", "+0", "0 "}) {
    INFO(bad);
    CHECK_FALSE(header_attester::parse_bucket(bad).has_value());
  }
}

TEST_CASE("static attester issues its bucket", "[app][attester]") {
  static_attester a(3);
  CHECK(describe(run(a, request_from("192.0.2.1", {}))) == "issue 3");
  CHECK(a.wanted_headers().empty());
}

TEST_CASE("decide applies range checks and the fail mode", "[app][attester]") {
  const fail_policy closed{athm::config::fail_mode::closed, 0};
  const fail_policy open{athm::config::fail_mode::open, 2};
  const fail_policy open_out_of_range{athm::config::fail_mode::open, 4};
  using kind = issuance_decision::kind;
  using source = issuance_decision::source;

  auto d = decide(attest_issue{3}, closed, 4);
  CHECK(d.what == kind::issue);
  CHECK(d.bucket == 3);
  CHECK(d.from == source::attester);

  d = decide(attest_issue{4}, closed, 4);  // out of range: undecided -> closed
  CHECK(d.what == kind::unavailable);
  CHECK(d.status == 503);
  CHECK(d.from == source::fail_closed);

  d = decide(attest_issue{4}, open, 4);  // out of range: undecided -> open
  CHECK(d.what == kind::issue);
  CHECK(d.bucket == 2);
  CHECK(d.from == source::fail_open);

  d = decide(attest_deny{429, 9s}, open, 4);
  CHECK(d.what == kind::deny);
  CHECK(d.status == 429);
  CHECK(d.retry_after == 9s);

  d = decide(attest_deny{403, 9s}, open, 4);
  CHECK(d.what == kind::deny);
  CHECK(d.status == 403);

  d = decide(attest_deny{500, 9s}, open, 4);  // not a deny status: 403
  CHECK(d.status == 403);

  d = decide(attest_undecided{"down"}, closed, 4);
  CHECK(d.what == kind::unavailable);
  CHECK(d.reason == "down");

  d = decide(attest_undecided{"down"}, open, 4);
  CHECK(d.what == kind::issue);
  CHECK(d.bucket == 2);

  d = decide(attest_undecided{"down"}, open_out_of_range, 4);
  CHECK(d.what == kind::unavailable);
  CHECK(d.from == source::fail_closed);

  d = decide(attest_undecided{"down"}, open, 2);  // the key has fewer buckets
  CHECK(d.what == kind::unavailable);
}

TEST_CASE("attester registry builds the built-ins by name", "[app][attester]") {
  boost::asio::io_context ioc;
  const attester_env env{ioc.get_executor()};
  const attester_registry r = builtin_attester_registry();
  CHECK(r.names() == std::vector<std::string>{"header", "http", "static"});

  athm::config::attester_config c;
  c.type = "static";
  c.static_.bucket = 2;
  auto a = r.create(c, env);
  REQUIRE(a);
  CHECK(a->name() == "static");

  c.type = "header";
  c.header.trusted_cidrs = {"127.0.0.0/8"};
  a = r.create(c, env);
  CHECK(a->name() == "header");

  c.header.trusted_cidrs = {"127.0.0.1/8"};
  try {
    (void)r.create(c, env);
    FAIL("a bad CIDR was accepted");
  } catch (const athm::config::config_error& e) {
    CHECK(std::string(e.what()).find("attester.header.trusted_cidrs[0]") != std::string::npos);
  }

  c.type = "http";
  c.http.url = "http://127.0.0.1:9/decide";
  c.http.host = "127.0.0.1";
  c.http.port = 9;
  c.http.target = "/decide";
  a = r.create(c, env);
  CHECK(a->name() == "http");

  c.type = "oracle";
  try {
    (void)r.create(c, env);
    FAIL("an unknown attester was accepted");
  } catch (const athm::config::config_error& e) {
    const std::string m = e.what();
    CHECK(m.find("attester.type") != std::string::npos);
    CHECK(m.find("oracle") != std::string::npos);
    CHECK(m.find("header, http, static") != std::string::npos);
  }

  // Registration is explicit: a custom registry can add its own.
  attester_registry custom;
  custom.add("always-two", [](const athm::config::attester_config&, const attester_env&) {
    return std::make_shared<static_attester>(2);
  });
  c.type = "always-two";
  CHECK(custom.create(c, env)->name() == "static");
  CHECK_THROWS_AS(custom.add("always-two", [](const auto&, const auto&) { return nullptr; }),
                  std::invalid_argument);
}
