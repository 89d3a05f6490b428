#include "server/app/cli.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "server/app/dev_mode.h"
#include "server/keys/key_directory.h"
#include "server/keys/key_file.h"
#include "tests/server/app/app_test_support.h"

using namespace athm::app;
using namespace athm::app::testing;

namespace {

cli_parse_result parse(std::vector<std::string> args) {
  std::vector<const char*> argv{"athmd"};
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  return parse_cli(static_cast<int>(argv.size()), argv.data());
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

// A key directory with one live key (mode 0600, as the loader requires).
void write_live_key(const fs::path& dir) {
  fs::create_directories(dir);
  const auto now = clock::now();
  auto w = athm::keys::write_key_file(dir, make_private_key(4, "cli-test"),
                                      {now - 1h, now - 1h, now + 24h});
  REQUIRE(w.ok());
}

std::string good_config(const fs::path& keys, const std::string& extra = "") {
  return "listeners:\n  public:\n    address: 127.0.0.1\n    port: 18080\n"
         "  internal:\n    address: 127.0.0.1\n    port: 18081\n"
         "keys:\n  directory: " + keys.string() + "\n"
         "store:\n  type: memory\n" + extra;
}

}  // namespace

TEST_CASE("parse_cli: modes and options", "[app][cli]") {
  auto r = parse({"--config", "/etc/athmd.yaml"});
  REQUIRE(r.options);
  CHECK(r.options->mode == cli_mode::run);
  CHECK(r.options->config_path == "/etc/athmd.yaml");

  r = parse({"--check-config", "a.yaml"});
  REQUIRE(r.options);
  CHECK(r.options->mode == cli_mode::check_config);
  CHECK(r.options->config_path == "a.yaml");

  r = parse({"--dev"});
  REQUIRE(r.options);
  CHECK(r.options->mode == cli_mode::dev);
  CHECK(r.options->dev.listen == "127.0.0.1:8080");
  CHECK(r.options->dev.internal_listen == "127.0.0.1:8081");
  CHECK(r.options->dev.state_dir == "./athmd-dev");

  r = parse({"--dev", "--listen", "127.0.0.1:9000", "--internal-listen", "[::1]:9001", "--state-dir", "/tmp/x"});
  REQUIRE(r.options);
  CHECK(r.options->dev.listen == "127.0.0.1:9000");
  CHECK(r.options->dev.internal_listen == "[::1]:9001");
  CHECK(r.options->dev.state_dir == "/tmp/x");

  r = parse({"--help"});
  CHECK_FALSE(r.options);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--check-config") != std::string::npos);

  r = parse({"--version"});
  CHECK_FALSE(r.options);
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("athmd ", 0) == 0);

  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--config"},
      {"--config", "a", "--dev"},
      {"--config", "a", "--check-config", "b"},
      {"--check-config", "a", "--dev"},
      {"--listen", "127.0.0.1:1"},
      {"--config", "a", "--state-dir", "x"},
      {"--bogus"},
      {"positional"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const auto& a : args) {
      joined += a + " ";
    }
    INFO("args: " << joined);
    r = parse(args);
    CHECK_FALSE(r.options);
    CHECK(r.exit_code == kExitStartup);
    CHECK_FALSE(r.err.empty());
  }
}

TEST_CASE("parse_host_port", "[app][cli]") {
  auto hp = parse_host_port("127.0.0.1:8080");
  REQUIRE(hp);
  CHECK(hp->address == "127.0.0.1");
  CHECK(hp->port == 8080);
  hp = parse_host_port("[::1]:0");
  REQUIRE(hp);
  CHECK(hp->address == "::1");
  CHECK(hp->port == 0);
  hp = parse_host_port("0.0.0.0:65535");
  REQUIRE(hp);
  CHECK(hp->port == 65535);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":8080", "localhost:8080", "::1:8080",
                          "[::1]8080", "[::1]:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                          "[127.0.0.1:80", "256.0.0.1:80"}) {
    INFO(bad);
    CHECK_FALSE(parse_host_port(bad));
  }
}

TEST_CASE("make_dev_config follows the dev contract", "[app][cli][dev]") {
  dev_options o;
  o.listen = "127.0.0.1:18090";
  o.internal_listen = "127.0.0.1:18091";
  o.state_dir = "/tmp/some-state";
  const auto c = make_dev_config(o);
  CHECK(c->public_listener.address == "127.0.0.1");
  CHECK(c->public_listener.port == 18090);
  CHECK_FALSE(c->public_listener.tls);
  CHECK(c->internal_listener.port == 18091);
  CHECK(c->issuer.request_uri == "http://127.0.0.1:18090/request");
  CHECK(c->issuer.request_path == "/request");
  CHECK(c->keys.directory == "/tmp/some-state/keys");
  CHECK(c->store.kind == athm::config::store_kind::lmdb);
  CHECK(c->store.lmdb.path == "/tmp/some-state/spent");
  CHECK(c->attester.type == "header");
  CHECK(c->attester.header.header == "X-Athm-Bucket");
  CHECK(c->attester.header.trusted_cidrs == std::vector<std::string>{"127.0.0.0/8", "::1/128"});
  CHECK(c->attester.header.default_bucket == 0u);

  o.listen = "[::1]:18092";
  CHECK(make_dev_config(o)->issuer.request_uri == "http://[::1]:18092/request");

  // Port 0: a real port is chosen so that the request URI is usable.
  o.listen = "127.0.0.1:0";
  const auto c0 = make_dev_config(o);
  CHECK(c0->public_listener.port != 0);
  CHECK(c0->issuer.request_uri == "http://127.0.0.1:" + std::to_string(c0->public_listener.port) + "/request");

  o.listen = "localhost:8080";
  CHECK_THROWS_WITH(make_dev_config(o), Catch::Contains("--listen"));
  o.listen = "127.0.0.1:8080";
  o.internal_listen = "nope";
  CHECK_THROWS_WITH(make_dev_config(o), Catch::Contains("--internal-listen"));
}

TEST_CASE("ensure_dev_key generates once, then reuses", "[app][cli][dev]") {
  temp_dir tmp;
  const fs::path keys = tmp / "state" / "keys";
  const auto now = clock::now();
  const dev_key first = ensure_dev_key(keys, now);
  CHECK(first.generated);
  REQUIRE(fs::exists(first.file));
  struct stat st{};
  REQUIRE(::stat(first.file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(keys.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);

  const auto summary = athm::keys::read_key_file_summary(first.file);
  REQUIRE(summary.ok());
  CHECK(summary->n_buckets == 4);
  CHECK(summary->deployment_id == "athmd-dev");
  CHECK(summary->schedule.not_before <= now);

  const dev_key second = ensure_dev_key(keys, now + 1h);
  CHECK_FALSE(second.generated);
  CHECK(second.file == first.file);
  CHECK(athm::keys::list_key_files(keys)->size() == 1);

  // Once the key has expired a new one is made next to it.
  const dev_key third = ensure_dev_key(keys, now + kDevKeyLifetime + 1h);
  CHECK(third.generated);
  CHECK(third.file != first.file);

  // A directory that does not load is reported, not overwritten.
  temp_dir bad;
  fs::create_directories(bad / "keys");
  write_text(bad / "keys" / "broken.key", "not a key\n");
  ::chmod((bad / "keys" / "broken.key").c_str(), 0600);
  CHECK_THROWS_WITH(ensure_dev_key(bad / "keys", now), Catch::Contains("broken.key"));
}

TEST_CASE("check_config: OK, or the error with exit 2", "[app][cli]") {
  temp_dir tmp;
  write_live_key(tmp / "keys");
  const fs::path file = tmp / "athmd.yaml";

  write_text(file, good_config(tmp / "keys"));
  std::ostringstream out, err;
  CHECK(check_config(file.string(), out, err) == 0);
  CHECK(out.str().rfind("OK", 0) == 0);
  CHECK(out.str().find("issuing") != std::string::npos);

  struct row {
    const char* name;
    std::string yaml;
    std::string expected;
  };
  const std::vector<row> table = {
      {"unknown attester", good_config(tmp / "keys", "attester:\n  type: oracle\n"), "attester.type"},
      {"unknown key", good_config(tmp / "keys", "bogus: 1\n"), "bogus"},
      {"missing key directory", good_config(tmp / "nope"), "nope"},
      {"the redis password is never printed",
       "keys:\n  directory: " + (tmp / "keys").string() +
           "\nstore:\n  type: memory\n  redis:\n    password: hunter2-secret\n"
           "attester:\n  type: oracle\n",
       "attester.type"},
  };
  for (const auto& r : table) {
    INFO(r.name);
    write_text(file, r.yaml);
    std::ostringstream o2, e2;
    CHECK(check_config(file.string(), o2, e2) == kExitStartup);
    CHECK(o2.str().empty());
    CHECK(e2.str().find(r.expected) != std::string::npos);
    CHECK(e2.str().find("hunter2") == std::string::npos);
  }

  // A key file others can read: refused with the keys module's message.
  const auto files = athm::keys::list_key_files(tmp / "keys");
  REQUIRE(files.ok());
  ::chmod(files->front().c_str(), 0644);
  write_text(file, good_config(tmp / "keys"));
  std::ostringstream o3, e3;
  CHECK(check_config(file.string(), o3, e3) == kExitStartup);
  CHECK(e3.str().find("too open") != std::string::npos);

  std::ostringstream o4, e4;
  CHECK(check_config((tmp / "absent.yaml").string(), o4, e4) == kExitStartup);
  CHECK(e4.str().find("absent.yaml") != std::string::npos);
}

TEST_CASE("run_cli: usage errors exit 2 without starting", "[app][cli]") {
  std::vector<const char*> argv{"athmd", "--dev", "--listen", "not-an-address"};
  std::ostringstream out, err;
  temp_dir tmp;
  const std::string state = (tmp / "state").string();
  argv.push_back("--state-dir");
  argv.push_back(state.c_str());
  CHECK(run_cli(static_cast<int>(argv.size()), argv.data(), out, err) == kExitStartup);
  CHECK(err.str().find("--listen") != std::string::npos);
  CHECK(out.str().empty());
}
