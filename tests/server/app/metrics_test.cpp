#include "server/app/metrics.h"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/app/app_test_support.h"

using namespace athm::app;
using namespace std::chrono_literals;

namespace {

// One histogram series as rendered: its le labels and cumulative counts in
// order, its _sum and _count text.
struct series {
  std::vector<std::string> le;
  std::vector<uint64_t> cumulative;
  std::string sum;
  std::string count;
};

// "name{labels} value" split into name, labels without le, le, value.
struct sample {
  std::string name, labels, le, value;
};
sample parse_sample(const std::string& line) {
  sample s;
  const size_t space = line.rfind(' ');
  REQUIRE(space != std::string::npos);
  s.value = line.substr(space + 1);
  const std::string key = line.substr(0, space);
  const size_t brace = key.find('{');
  if (brace == std::string::npos) {
    s.name = key;
    return s;
  }
  REQUIRE(key.back() == '}');
  s.name = key.substr(0, brace);
  std::string labels = key.substr(brace + 1, key.size() - brace - 2);
  const size_t le = labels.find("le=\"");
  if (le != std::string::npos) {
    s.le = labels.substr(le + 4, labels.size() - le - 5);
    labels.erase(le == 0 ? 0 : le - 1);
  }
  s.labels = labels;
  return s;
}

// Every series of histogram |family| in |text|, by its labels. Checks that
// the family is introduced by exactly one "# HELP" and one "# TYPE ... histogram"
// before its first sample.
std::map<std::string, series> histogram_family(const std::string& text, const std::string& family) {
  std::istringstream in(text);
  std::string line;
  int help = 0;
  int type = 0;
  std::map<std::string, series> out;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP " + family + " ", 0) == 0) {
      ++help;
      continue;
    }
    if (line == "# TYPE " + family + " histogram") {
      CHECK(help == 1);
      ++type;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const sample s = parse_sample(line);
    if (s.name.rfind(family + "_", 0) != 0) {
      continue;
    }
    CHECK(type == 1);
    series& se = out[s.labels];
    const std::string suffix = s.name.substr(family.size());
    if (suffix == "_bucket") {
      se.le.push_back(s.le);
      se.cumulative.push_back(std::stoull(s.value));
    } else if (suffix == "_sum") {
      se.sum = s.value;
    } else if (suffix == "_count") {
      se.count = s.value;
    } else {
      FAIL("unexpected sample " << line);
    }
  }
  CHECK(help == 1);
  CHECK(type == 1);
  return out;
}

// The le labels every histogram has, in order.
const std::vector<std::string> kLe = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                      "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
                                      "1",      "2.5",     "5",      "10",    "+Inf"};

// The exposition rules for one series: every le in order, cumulative counts
// that never decrease, +Inf equal to _count, and a _sum.
void check_series(const std::string& labels, const series& s) {
  INFO(labels);
  CHECK(s.le == kLe);
  REQUIRE(s.cumulative.size() == kLe.size());
  for (size_t i = 1; i < s.cumulative.size(); ++i) {
    CHECK(s.cumulative[i - 1] <= s.cumulative[i]);
  }
  CHECK(std::to_string(s.cumulative.back()) == s.count);
  CHECK_FALSE(s.sum.empty());
}

std::set<std::string> labels_of(const std::map<std::string, series>& family) {
  std::set<std::string> out;
  for (const auto& [labels, s] : family) {
    check_series(labels, s);
    out.insert(labels);
  }
  return out;
}

}  // namespace

TEST_CASE("latency histogram: an observation lands in the first bucket whose bound is >= it",
          "[app][metrics]") {
  CHECK(latency_histogram::slot(0ns) == 0);
  CHECK(latency_histogram::slot(-5ns) == 0);
  for (size_t i = 0; i < kLatencyBoundsUs.size(); ++i) {
    const std::chrono::nanoseconds bound = std::chrono::microseconds(kLatencyBoundsUs[i]);
    INFO(i);
    CHECK(latency_histogram::slot(bound) == i);  // le is inclusive
    CHECK(latency_histogram::slot(bound - 1ns) == i);
    CHECK(latency_histogram::slot(bound + 1ns) == i + 1);
  }
  CHECK(latency_histogram::slot(1h) == latency_histogram::kSlots - 1);

  latency_histogram h;
  h.observe(50us);
  h.observe(300us);
  h.observe(300us);
  h.observe(2ms);
  h.observe(20s);
  h.observe(-1ms);  // counts as zero
  CHECK(h.in_slot(0) == 2);
  CHECK(h.in_slot(1) == 0);
  CHECK(h.in_slot(2) == 2);
  CHECK(h.in_slot(4) == 1);
  CHECK(h.in_slot(latency_histogram::kSlots - 1) == 1);
  CHECK(h.count() == 6);
  CHECK(h.sum_ns() == 20'002'650'000);
}

TEST_CASE("latency histogram: concurrent observations are all counted", "[app][metrics]") {
  latency_histogram h;
  constexpr int kThreads = 4;
  constexpr int kEach = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < kEach; ++i) {
        h.observe(1ms);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(h.count() == kThreads * kEach);
  CHECK(h.in_slot(3) == kThreads * kEach);
  CHECK(h.sum_ns() == uint64_t{kThreads} * kEach * 1'000'000);
}

TEST_CASE("metrics: histograms in the Prometheus text format", "[app][metrics]") {
  metrics m;
  m.observe(endpoint::redeem, 50us);
  m.observe(endpoint::redeem, 300us);
  m.observe(endpoint::redeem, 300us);
  m.observe(endpoint::redeem, 2ms);
  m.observe(endpoint::redeem, 20s);
  m.observe(histogram::attester_deny, 7ms);
  m.observe(histogram::store_fresh, 1500us);
  const std::string text = m.render_prometheus();

  SECTION("request latency: one series per endpoint, cumulative counts") {
    const auto family = histogram_family(text, "athmd_request_duration_seconds");
    std::set<std::string> want;
    for (size_t e = 0; e < kEndpointCount; ++e) {
      want.insert(std::string("endpoint=\"") + to_string(static_cast<endpoint>(e)) + "\"");
    }
    CHECK(labels_of(family) == want);
    const series& redeem = family.at("endpoint=\"redeem\"");
    CHECK(redeem.cumulative ==
          std::vector<uint64_t>{1, 1, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5});
    CHECK(redeem.sum == "20.00265");
    CHECK(redeem.count == "5");
    const series& issue = family.at("endpoint=\"issue\"");
    CHECK(issue.cumulative == std::vector<uint64_t>(kLe.size(), 0));
    CHECK(issue.sum == "0");
    // The exact lines, as a scraper reads them.
    CHECK(text.find("athmd_request_duration_seconds_bucket{endpoint=\"redeem\",le=\"0.0005\"} 3\n") !=
          std::string::npos);
    CHECK(text.find("athmd_request_duration_seconds_bucket{endpoint=\"redeem\",le=\"+Inf\"} 5\n") !=
          std::string::npos);
    CHECK(text.find("athmd_request_duration_seconds_sum{endpoint=\"redeem\"} 20.00265\n") != std::string::npos);
    CHECK(text.find("athmd_request_duration_seconds_count{endpoint=\"redeem\"} 5\n") != std::string::npos);
  }
  SECTION("attester latency by result") {
    const auto family = histogram_family(text, "athmd_attester_duration_seconds");
    CHECK(labels_of(family) ==
          std::set<std::string>{"result=\"issue\"", "result=\"deny\"", "result=\"undecided\""});
    const series& deny = family.at("result=\"deny\"");
    CHECK(deny.cumulative[4] == 0);  // le 0.0025
    CHECK(deny.cumulative[5] == 0);  // le 0.005
    CHECK(deny.cumulative[6] == 1);  // le 0.01
    CHECK(deny.sum == "0.007");
    CHECK(family.at("result=\"issue\"").count == "0");
  }
  SECTION("store latency by outcome") {
    const auto family = histogram_family(text, "athmd_store_duration_seconds");
    CHECK(labels_of(family) == std::set<std::string>{"outcome=\"fresh\"", "outcome=\"already_spent\"",
                                                     "outcome=\"unavailable\""});
    const series& fresh = family.at("outcome=\"fresh\"");
    CHECK(fresh.cumulative[3] == 0);  // le 0.001
    CHECK(fresh.cumulative[4] == 1);  // le 0.0025
    CHECK(fresh.sum == "0.0015");
    CHECK(fresh.count == "1");
  }
  SECTION("one TYPE per family, no bucket label") {
    std::istringstream in(text);
    std::string line;
    std::set<std::string> typed;
    while (std::getline(in, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        const std::string name = line.substr(7, line.find(' ', 7) - 7);
        CHECK(typed.insert(name).second);
      }
    }
    CHECK(typed.count("athmd_request_duration_seconds") == 1);
    CHECK(typed.count("athmd_http_responses_total") == 1);
    CHECK(athm::app::testing::without_histogram_buckets(text).find("bucket") == std::string::npos);
  }
}

TEST_CASE("metrics: token responses counted by issuing key", "[app][metrics]") {
  metrics m;
  const std::array<uint8_t, kKeyLabelBytes> a{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  const std::array<uint8_t, kKeyLabelBytes> b{0xff, 0, 0, 0, 0, 0, 0, 0x10};
  CHECK(m.issued_by_key(a) == 0);
  m.count_issued_by_key(a);
  m.count_issued_by_key(b);
  m.count_issued_by_key(a);
  CHECK(m.issued_by_key(a) == 2);
  CHECK(m.issued_by_key(b) == 1);
  const std::string text = m.render_prometheus();
  const auto pa = text.find("athmd_tokens_issued_by_key_total{key_id=\"0123456789abcdef\"} 2\n");
  const auto pb = text.find("athmd_tokens_issued_by_key_total{key_id=\"ff00000000000010\"} 1\n");
  CHECK(pa != std::string::npos);
  CHECK(pb != std::string::npos);
  CHECK(pa < pb);  // sorted by key id
  CHECK(text.find("# TYPE athmd_tokens_issued_by_key_total counter\n") < pa);
}

TEST_CASE("metrics: an unlabelled gauge in the Prometheus text format", "[app][metrics]") {
  std::string out = "x\n";
  append_gauge(out, "athmd_example", "An example.", 42);
  CHECK(out == "x\n# HELP athmd_example An example.\n# TYPE athmd_example gauge\nathmd_example 42\n");
}
