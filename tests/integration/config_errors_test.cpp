// `athmd --check-config` and `athmd --config` on bad input: a non-zero exit
// and a message naming the offending key path or file.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/integration/http_probe.h"

using namespace athm::itest;

namespace {

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

std::string first_line_with(const std::string& text, const std::string& prefix) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(start, end - start);
    if (line.rfind(prefix, 0) == 0) {
      return line;
    }
    start = end + 1;
  }
  FAIL("no line starting with " << prefix);
  return "";
}

void keygen(const std::filesystem::path& dir) {
  const run_result r = run_athm({"keygen", "--dir", dir.string(), "--buckets", "4",
                                 "--deployment-id", "itest-config", "--not-before", "-1h",
                                 "--expires", "+2d"});
  INFO(r.err << r.out);
  REQUIRE(r.status.exited);
  REQUIRE(r.status.code == 0);
}

std::filesystem::path only_key_file(const std::filesystem::path& dir) {
  std::filesystem::path found;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".key") {
      found = e.path();
      ++n;
    }
  }
  REQUIRE(n == 1);
  return found;
}

struct bad_config {
  std::string name;
  std::string yaml;
  std::vector<std::string> expected;  // substrings of the output
};

}  // namespace

TEST_CASE("athmd --check-config reports each error with its message", "[integration]") {
  temp_dir tmp;
  const auto keys = tmp / "keys";
  const auto lmdb = tmp / "spent";
  REQUIRE(::mkdir(lmdb.c_str(), 0700) == 0);
  keygen(keys);
  const std::string good = loopback_config_yaml(18080, 18081, keys, lmdb);

  // A key file readable by others.
  const auto open_keys = tmp / "open-keys";
  keygen(open_keys);
  const auto open_file = only_key_file(open_keys);
  REQUIRE(::chmod(open_file.c_str(), 0644) == 0);

  // A key file whose private half belongs to another key.
  const auto other_keys = tmp / "other-keys";
  keygen(other_keys);
  const auto mismatch_keys = tmp / "mismatch-keys";
  REQUIRE(::mkdir(mismatch_keys.c_str(), 0700) == 0);
  const std::string key_a = read_file(only_key_file(keys));
  const std::string key_b = read_file(only_key_file(other_keys));
  const std::string mixed =
      replace_once(key_a, first_line_with(key_a, "token_key: "), first_line_with(key_b, "token_key: "));
  const auto mismatch_file = mismatch_keys / "mismatch.key";
  write_file(mismatch_file, mixed, 0600);

  const std::vector<bad_config> cases = {
      {"unknown key",
       replace_once(good, "  reload_interval_s: 0\n", "  reload_intervall_s: 0\n"),
       {"keys.reload_intervall_s", "unknown key"}},
      {"unknown top-level section", good + "bogus_section:\n  enabled: true\n",
       {"bogus_section", "unknown key"}},
      {"port out of range", replace_once(good, "port: 18080", "port: 70000"),
       {"listeners.public.port"}},
      {"port not a number", replace_once(good, "port: 18081", "port: eighty"),
       {"listeners.internal.port"}},
      {"missing keys.directory",
       replace_once(good, "  directory: " + keys.string() + "\n", ""),
       {"keys.directory"}},
      {"bad CIDR", replace_once(good, "[127.0.0.0/8]", "[127.0.0.0/33]"),
       {"attester.header.trusted_cidrs", "CIDR"}},
      {"CIDR with host bits", replace_once(good, "[127.0.0.0/8]", "[127.0.0.1/8]"),
       {"attester.header.trusted_cidrs"}},
      {"unknown attester", replace_once(good, "type: header", "type: oracle"),
       {"oracle"}},
      {"bad deny status", replace_once(good, "attester:\n", "attester:\n  deny_status: 500\n"),
       {"attester.deny_status"}},
      {"key file readable by others",
       replace_once(good, "directory: " + keys.string(), "directory: " + open_keys.string()),
       {open_file.filename().string(), "too open"}},
      {"key with mismatched halves",
       replace_once(good, "directory: " + keys.string(), "directory: " + mismatch_keys.string()),
       {"mismatch.key", "key_mismatch"}},
      {"key directory does not exist",
       replace_once(good, "directory: " + keys.string(),
                    "directory: " + (tmp / "no-such-dir").string()),
       {"no-such-dir"}},
      {"not YAML", "listeners: [unclosed\n", {"athmd.yaml"}},
  };

  SECTION("each bad config fails with its message") {
    for (const auto& c : cases) {
      INFO("case: " << c.name);
      const auto file = tmp / "athmd.yaml";
      write_file(file, c.yaml, 0600);
      const run_result r = run_program({athmd_path(), "--check-config", file.string()},
                                       std::chrono::seconds(30));
      INFO("exit " << r.status.code << " (signal " << r.status.signal << ")\nstderr: " << r.err
                   << "\nstdout: " << r.out);
      CHECK(r.status.exited);
      CHECK(r.status.code != 0);
      const std::string output = r.err + r.out;
      for (const auto& e : c.expected) {
        CHECK(output.find(e) != std::string::npos);
      }
    }
  }

  SECTION("a good config passes") {
    const auto file = tmp / "good.yaml";
    write_file(file, good, 0600);
    const run_result r = run_program({athmd_path(), "--check-config", file.string()},
                                     std::chrono::seconds(30));
    INFO("stderr: " << r.err << "\nstdout: " << r.out);
    CHECK(r.status.exited);
    CHECK(r.status.code == 0);
  }

  SECTION("a missing config file") {
    const run_result r = run_program(
        {athmd_path(), "--check-config", (tmp / "absent.yaml").string()}, std::chrono::seconds(30));
    INFO("stderr: " << r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code != 0);
    CHECK((r.err + r.out).find("absent.yaml") != std::string::npos);
  }

  SECTION("the daemon refuses to start on the same errors") {
    const auto file = tmp / "athmd.yaml";
    write_file(file,
               replace_once(good, "directory: " + keys.string(),
                            "directory: " + open_keys.string()),
               0600);
    const run_result r =
        run_program({athmd_path(), "--config", file.string()}, std::chrono::seconds(30));
    INFO("stderr: " << r.err << "\nstdout: " << r.out);
    CHECK(r.status.exited);
    CHECK(r.status.code != 0);
    CHECK((r.err + r.out).find("too open") != std::string::npos);

    write_file(file, replace_once(good, "port: 18080", "port: 0"), 0600);
    const run_result r2 =
        run_program({athmd_path(), "--config", file.string()}, std::chrono::seconds(30));
    INFO("stderr: " << r2.err);
    CHECK(r2.status.exited);
    CHECK(r2.status.code != 0);
    CHECK((r2.err + r2.out).find("listeners.public.port") != std::string::npos);
  }
}
