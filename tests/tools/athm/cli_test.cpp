#include "tools/athm/cli.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fake_issuer.h"
#include "server/keys/key_directory.h"
#include "server/keys/key_file.h"

#ifndef ATHM_CLI_BINARY
#error "ATHM_CLI_BINARY must name the athm executable"
#endif

namespace athm::cli {
namespace {

namespace fs = std::filesystem;
using athm::keys::clock;
using namespace std::chrono_literals;

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = "/tmp/athm-cli-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& n) const { return path_ / n; }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs the athm binary with |args|; stdout and stderr go through files in
// |scratch| so that large outputs cannot block the child.
run_result run_athm(const std::vector<std::string>& args, const fs::path& scratch) {
  const fs::path out_path = scratch / ".stdout";
  const fs::path err_path = scratch / ".stderr";
  std::vector<std::string> argv_s{ATHM_CLI_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) {
      ::_exit(127);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  run_result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

// "name: value" lines of |out|.
std::map<std::string, std::string> fields(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const auto c = line.find(": ");
    if (c != std::string::npos) {
      m[line.substr(0, c)] = line.substr(c + 2);
    }
  }
  return m;
}

std::vector<std::vector<std::string>> list_rows(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> cols;
    std::string c;
    while (ls >> c) {
      cols.push_back(c);
    }
    rows.push_back(cols);
  }
  return rows;
}

int64_t now_unix() { return athm::keys::to_unix_seconds(clock::now()); }

athm::private_key new_key() {
  auto s = athm::suite::create(4, "cli-test");
  REQUIRE(s.ok());
  auto k = athm::private_key::generate(s.value());
  REQUIRE(k.ok());
  return std::move(k).value();
}

}  // namespace

TEST_CASE("cli: time specs", "[cli]") {
  const int64_t now = 1'700'000'000;
  CHECK(parse_time_spec("now", 5, now) == now);
  CHECK(parse_time_spec("1800000000", 5, now) == 1'800'000'000);
  CHECK(parse_time_spec("0", 5, now) == 0);
  CHECK(parse_time_spec("+1h", 100, now) == 3700);
  CHECK(parse_time_spec("+30d", 0, now) == 30 * 86400);
  CHECK(parse_time_spec("+2w", 0, now) == 14 * 86400);
  CHECK(parse_time_spec("+90s", 10, now) == 100);
  CHECK(parse_time_spec("+5m", 0, now) == 300);
  CHECK(parse_time_spec("-1h", 7200, now) == 3600);
  for (const char* bad : {"", "+", "+h", "+1", "+1y", "1h", "yesterday", "-1", "+-1h", "+1.5h",
                          "99999999999999", "7258118400", " now", "+1 h"}) {
    INFO(bad);
    CHECK_FALSE(parse_time_spec(bad, now, now).has_value());
  }
  CHECK_FALSE(parse_time_spec("-2h", 3600, now).has_value());  // before 1970
}

TEST_CASE("cli: iso8601 and key status", "[cli]") {
  CHECK(iso8601_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(iso8601_utc(1'717'200'000) == "2024-06-01T00:00:00Z");
  const auto t = athm::keys::from_unix_seconds(1000);
  const athm::keys::key_schedule s{t, t + 10s, t + 20s};
  CHECK(key_status(s, t - 1s) == "pending");
  CHECK(key_status(s, t) == "published");
  CHECK(key_status(s, t + 10s) == "active");
  CHECK(key_status(s, t + 20s) == "expired");
}

TEST_CASE("cli: keygen, inspect, list", "[cli][keys]") {
  temp_dir tmp;
  const fs::path dir = tmp / "keys";  // does not exist yet
  const int64_t before = now_unix();
  auto r = run_athm({"keygen", "--dir", dir.string(), "--deployment-id", "cli-test"}, tmp.path());
  const int64_t after = now_unix();
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto f = fields(r.out);
  REQUIRE(f.count("key_id") == 1);
  REQUIRE(f.count("file") == 1);
  CHECK(f["key_id"].size() == 64);
  const fs::path file = f["file"];
  CHECK(file.parent_path() == dir);
  CHECK(file.filename() == f["key_id"].substr(0, 16) + ".key");

  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(r.err.empty());

  // Defaults: n = 4, not_before = now, publish_at = not_before, +30 days.
  auto key = athm::keys::load_key_file(file);
  CHECK(athm::keys::hex_public(key.pub().id()) == f["key_id"]);
  CHECK(f["truncated_id"] == std::to_string(key.pub().truncated_id()));
  CHECK(key.pub().params().n_buckets() == 4);
  CHECK(key.pub().params().deployment_id() == "cli-test");
  const int64_t nb = athm::keys::to_unix_seconds(key.schedule.not_before);
  CHECK(nb >= before);
  CHECK(nb <= after);
  CHECK(key.schedule.publish_at == key.schedule.not_before);
  CHECK(athm::keys::to_unix_seconds(key.schedule.expires) == nb + 30 * 86400);

  auto ins = run_athm({"inspect", file.string()}, tmp.path());
  INFO(ins.err);
  REQUIRE(ins.code == 0);
  auto fi = fields(ins.out);
  CHECK(fi["key_id"] == f["key_id"]);
  CHECK(fi["truncated_id"] == f["truncated_id"]);
  CHECK(fi["token_type"] == "49278");
  CHECK(fi["n_buckets"] == "4");
  CHECK(fi["deployment_id"] == "cli-test");
  CHECK(fi["not_before"] == iso8601_utc(nb) + " (" + std::to_string(nb) + ")");
  CHECK(fi["status"] == "active");
  CHECK(fi["token_key"] == athm::pp::base64url_encode(key.pub().token_key()));
  CHECK_THAT(fi["valid"], Catch::StartsWith("yes"));
  // Never the private key, not even a piece of it.
  const std::string text = read_file(file);
  const std::string marker = "\nprivate_key: ";
  const std::string priv = text.substr(text.find(marker) + marker.size(), 214);
  for (size_t i = 0; i + 12 <= priv.size(); i += 6) {
    CHECK(ins.out.find(priv.substr(i, 12)) == std::string::npos);
    CHECK(ins.err.find(priv.substr(i, 12)) == std::string::npos);
  }
  CHECK(ins.out.find("private") == std::string::npos);

  auto ls = run_athm({"list", "--dir", dir.string()}, tmp.path());
  REQUIRE(ls.code == 0);
  auto rows = list_rows(ls.out);
  REQUIRE(rows.size() == 1);
  REQUIRE(rows[0].size() == 8);
  CHECK(rows[0][0] == f["key_id"]);
  CHECK(rows[0][1] == f["truncated_id"]);
  CHECK(rows[0][2] == "active");
  CHECK(rows[0][3] == "4");
  CHECK(rows[0][5] == iso8601_utc(nb));
  CHECK(rows[0][7] == file.filename().string());
}

TEST_CASE("cli: keygen warns about a key directory others can write", "[cli][keys]") {
  temp_dir tmp;
  const fs::path dir = tmp / "shared";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(::chmod(dir.c_str(), 0775) == 0);
  auto r = run_athm({"keygen", "--dir", dir.string(), "--deployment-id", "cli-test"}, tmp.path());
  REQUIRE(r.code == 0);  // the key is written all the same
  CHECK(r.err == "athm keygen: warning: " + dir.string() +
                     ": permissions 0775 let other users add or replace key files; athmd refuses such a key "
                     "directory (chmod 700 " +
                     dir.string() + ")\n");
  const fs::path file = fields(r.out)["file"];
  CHECK(fs::is_regular_file(file));
  REQUIRE(::chmod(dir.c_str(), 0755) == 0);
  auto quiet = run_athm({"keygen", "--dir", dir.string(), "--deployment-id", "cli-test"}, tmp.path());
  REQUIRE(quiet.code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("cli: keygen schedules and list statuses", "[cli][keys]") {
  temp_dir tmp;
  const fs::path dir = tmp / "keys";
  const std::string d = dir.string();
  const int64_t t0 = now_unix();

  auto published = run_athm({"keygen", "--dir", d, "--buckets", "2", "--not-before", "+1h",
                             "--publish-at", "-2h", "--expires", "+2d"},
                            tmp.path());
  INFO(published.err);
  REQUIRE(published.code == 0);
  auto pending = run_athm({"keygen", "--dir", d, "--not-before", "+1d", "--publish-at", "-1h"}, tmp.path());
  REQUIRE(pending.code == 0);
  auto fixed = run_athm({"keygen", "--dir", d, "--not-before", "1900000000", "--expires",
                         "1900086400", "--publish-at", "1899990000"},
                        tmp.path());
  REQUIRE(fixed.code == 0);
  auto active = run_athm({"keygen", "--dir", d, "--buckets", "256"}, tmp.path());
  REQUIRE(active.code == 0);
  // An expired key, written directly (keygen refuses to make one).
  const auto t = athm::keys::from_unix_seconds(t0);
  auto expired_path = athm::keys::write_key_file(dir, new_key(), {t - 48h, t - 48h, t - 24h});
  REQUIRE(expired_path.ok());

  auto p = athm::keys::load_key_file(fields(published.out)["file"]);
  const int64_t nb = athm::keys::to_unix_seconds(p.schedule.not_before);
  CHECK(nb >= t0 + 3600);
  CHECK(nb <= now_unix() + 3600);
  CHECK(athm::keys::to_unix_seconds(p.schedule.publish_at) == nb - 7200);
  CHECK(athm::keys::to_unix_seconds(p.schedule.expires) == nb + 2 * 86400);
  CHECK(p.pub().params().n_buckets() == 2);

  auto fx = athm::keys::load_key_file(fields(fixed.out)["file"]);
  CHECK(athm::keys::to_unix_seconds(fx.schedule.publish_at) == 1'899'990'000);
  CHECK(athm::keys::to_unix_seconds(fx.schedule.not_before) == 1'900'000'000);
  CHECK(athm::keys::to_unix_seconds(fx.schedule.expires) == 1'900'086'400);

  auto ls = run_athm({"list", "--dir", d}, tmp.path());
  REQUIRE(ls.code == 0);
  std::map<std::string, std::string> status_by_id;
  for (const auto& row : list_rows(ls.out)) {
    REQUIRE(row.size() == 8);
    status_by_id[row[0]] = row[2];
  }
  REQUIRE(status_by_id.size() == 5);
  CHECK(status_by_id[fields(published.out)["key_id"]] == "published");
  CHECK(status_by_id[fields(pending.out)["key_id"]] == "pending");
  CHECK(status_by_id[fields(fixed.out)["key_id"]] == "pending");
  CHECK(status_by_id[fields(active.out)["key_id"]] == "active");
  auto expired_summary = athm::keys::read_key_file_summary(expired_path.value());
  REQUIRE(expired_summary.ok());
  CHECK(status_by_id[athm::keys::hex_public(expired_summary->id)] == "expired");
}

TEST_CASE("cli: keygen refuses bad arguments", "[cli][keys]") {
  temp_dir tmp;
  const std::string d = (tmp / "keys").string();
  auto r = run_athm({"keygen", "--dir", d, "--expires", "1000"}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("not_before must be before expires"));
  r = run_athm({"keygen", "--dir", d, "--not-before", "1000", "--expires", "2000"}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("already be expired"));
  r = run_athm({"keygen", "--dir", d, "--publish-at", "+1h"}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("publish_at must not be after not_before"));
  r = run_athm({"keygen", "--dir", d, "--not-before", "yesterday"}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("--not-before"));
  r = run_athm({"keygen", "--dir", d, "--deployment-id", std::string(300, 'x')}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("--deployment-id"));
  for (const char* n : {"0", "257", "four"}) {
    r = run_athm({"keygen", "--dir", d, "--buckets", n}, tmp.path());
    CHECK(r.code == 2);
  }
  CHECK(run_athm({"keygen"}, tmp.path()).code == 2);
  CHECK(run_athm({}, tmp.path()).code == 2);
  CHECK(run_athm({"frobnicate"}, tmp.path()).code == 2);
  auto help = run_athm({"--help"}, tmp.path());
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Catch::Contains("keygen") && Catch::Contains("redeem"));
  // Nothing was written.
  CHECK_FALSE(fs::exists(tmp / "keys"));
}

TEST_CASE("cli: inspect and list refuse bad key files", "[cli][keys]") {
  temp_dir tmp;
  const fs::path dir = tmp / "keys";
  REQUIRE(run_athm({"keygen", "--dir", dir.string()}, tmp.path()).code == 0);
  const fs::path file = *athm::keys::list_key_files(dir).value().begin();

  REQUIRE(::chmod(file.c_str(), 0644) == 0);
  auto r = run_athm({"inspect", file.string()}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("permissions 0644 are too open; chmod 600"));
  CHECK(r.out.empty());
  REQUIRE(::chmod(file.c_str(), 0600) == 0);

  std::string text = read_file(file);
  text.replace(text.find("n_buckets: 4"), 12, "n_buckets: 5");
  {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  }
  r = run_athm({"inspect", file.string()}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains(file.string() + ": "));

  {
    std::ofstream(dir / "junk.key") << "junk\n";
  }
  r = run_athm({"list", "--dir", dir.string()}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("junk.key: line 1"));

  CHECK(run_athm({"inspect", (dir / "missing.key").string()}, tmp.path()).code == 1);
  CHECK(run_athm({"list", "--dir", (tmp / "nope").string()}, tmp.path()).code == 1);
  // keygen will not guess around a key file it cannot read.
  r = run_athm({"keygen", "--dir", dir.string()}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("collisions"));
}

TEST_CASE("cli: keygen never reuses a live truncated id; 256 is the limit", "[cli][keys][collision]") {
  temp_dir tmp;
  const fs::path dir = tmp / "keys";
  int ok = 0;
  int full = 0;
  for (int i = 0; i < 300; ++i) {
    auto r = run_athm({"keygen", "--dir", dir.string(), "--buckets", "2"}, tmp.path());
    if (r.code == 0) {
      ++ok;
      CHECK(full == 0);  // no success after the first "full"
    } else {
      INFO(r.err);
      CHECK(r.code == 1);
      CHECK_THAT(r.err, Catch::Contains("all 256 truncated key ids are used by live keys"));
      ++full;
    }
  }
  CHECK(ok == 256);
  CHECK(full == 44);

  auto ls = run_athm({"list", "--dir", dir.string()}, tmp.path());
  REQUIRE(ls.code == 0);
  const auto rows = list_rows(ls.out);
  REQUIRE(rows.size() == 256);
  std::set<std::string> truncated;
  for (const auto& row : rows) {
    truncated.insert(row[1]);
    CHECK(row[2] == "active");
  }
  CHECK(truncated.size() == 256);

  // The daemon's loader accepts the full directory.
  auto loaded = athm::keys::try_load_key_directory(dir);
  INFO(loaded.error());
  REQUIRE(loaded.ok());
  CHECK(loaded->ring->all().size() == 256);
}

TEST_CASE("cli: expired keys do not block truncated ids", "[cli][keys][collision]") {
  temp_dir tmp;
  const fs::path dir = tmp / "keys";
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  const auto t = athm::keys::from_unix_seconds(now_unix());
  std::set<uint8_t> used;
  while (used.size() < 256) {
    auto k = new_key();
    if (used.insert(k.public_part().truncated_id()).second) {
      REQUIRE(athm::keys::write_key_file(dir, k, {t - 48h, t - 48h, t - 1s}).ok());
    }
  }
  auto r = run_athm({"keygen", "--dir", dir.string()}, tmp.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto ls = run_athm({"list", "--dir", dir.string()}, tmp.path());
  REQUIRE(ls.code == 0);
  std::map<std::string, int> by_status;
  for (const auto& row : list_rows(ls.out)) {
    ++by_status[row[2]];
  }
  CHECK(by_status["expired"] == 256);
  CHECK(by_status["active"] == 1);
}

TEST_CASE("cli: keygen() in-process avoids the taken ids", "[cli][keys][collision]") {
  temp_dir tmp;
  keygen_options o;
  o.dir = tmp / "keys";
  const int64_t now = now_unix();
  std::set<uint8_t> seen;
  for (int i = 0; i < 40; ++i) {
    auto r = keygen(o, now);
    INFO(r.error());
    REQUIRE(r.ok());
    CHECK(seen.insert(r->id[athm::kKeyIdBytes - 1]).second);
  }
}

TEST_CASE("cli: issue and redeem against an issuer", "[cli][client]") {
  temp_dir tmp;
  athm::client::testing::fake_issuer server(athm::client::testing::fake_key());
  const std::string base = server.base_url();

  const fs::path tok = tmp / "t1";
  auto r = run_athm({"issue", "--url", base, "--out", tok.string(), "--header", "X-Athm-Bucket: 2"},
                    tmp.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.empty());
  const std::string raw = read_file(tok);
  REQUIRE(raw.size() == 132);
  CHECK(static_cast<uint8_t>(raw[0]) == 0xC0);
  struct stat st {};
  REQUIRE(::stat(tok.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  auto red = run_athm({"redeem", "--url", base + "/redeem", "--token", tok.string()}, tmp.path());
  CHECK(red.code == 0);
  CHECK(red.out == "{\"bucket\":2}\n");
  red = run_athm({"redeem", "--url", base + "/redeem", "--token", tok.string()}, tmp.path());
  CHECK(red.code == 1);  // 409: spent
  CHECK_THAT(red.out, Catch::Contains("double spend"));

  // To stdout as base64url, then redeemed through the Authorization header.
  r = run_athm({"issue", "--url", base, "--header", "X-Athm-Bucket: 3"}, tmp.path());
  REQUIRE(r.code == 0);
  const fs::path tok2 = tmp / "t2";
  {
    std::ofstream(tok2) << r.out;
  }
  CHECK(r.out.size() == 177);  // 176 characters and a newline
  red = run_athm({"redeem", "--auth", "--url", base + "/protected", "--token", tok2.string()}, tmp.path());
  CHECK(red.code == 0);
  CHECK(red.out == "status: 200\nbucket: 3\n");
  red = run_athm({"redeem", "--auth", "--url", base + "/protected", "--token", tok2.string()}, tmp.path());
  CHECK(red.code == 1);
  CHECK(red.out == "status: 409\n");

  // --base64 with --out writes text.
  const fs::path tok3 = tmp / "t3";
  r = run_athm({"issue", "--url", base, "--out", tok3.string(), "--base64"}, tmp.path());
  REQUIRE(r.code == 0);
  CHECK(read_file(tok3).size() == 177);
  CHECK(run_athm({"redeem", "--url", base + "/redeem", "--token", tok3.string()}, tmp.path()).code == 0);
}

TEST_CASE("cli: issue and redeem failures", "[cli][client]") {
  temp_dir tmp;
  athm::client::testing::fake_options o;
  o.override = [](const athm::client::testing::request& r)
      -> std::optional<athm::client::testing::response> {
    if (r.method() == boost::beast::http::verb::post && r.target() == "/request") {
      return athm::client::testing::response{boost::beast::http::status::unprocessable_entity, 11};
    }
    if (r.target() == "/broken") {
      return athm::client::testing::response{boost::beast::http::status::internal_server_error, 11};
    }
    return std::nullopt;
  };
  athm::client::testing::fake_issuer server(athm::client::testing::fake_key(), o);
  auto r = run_athm({"issue", "--url", server.base_url()}, tmp.path());
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Catch::Contains("issuer answered 422"));
  CHECK(r.out.empty());

  CHECK(run_athm({"issue", "--url", server.base_url(), "--header", "Bad Header"}, tmp.path()).code == 2);
  CHECK(run_athm({"issue", "--url", "https://example.com"}, tmp.path()).code == 2);

  // A token to redeem (a well-formed one; the server decides).
  athm::pp::token t;
  const fs::path tok = tmp / "tok";
  {
    std::ofstream(tok) << athm::pp::base64url_encode(t.encode());
  }
  CHECK(run_athm({"redeem", "--url", server.base_url() + "/broken", "--token", tok.string()}, tmp.path()).code == 2);
  CHECK(run_athm({"redeem", "--url", server.base_url() + "/redeem", "--token", tok.string()}, tmp.path()).code == 1);
  CHECK(run_athm({"redeem", "--url", server.base_url() + "/redeem", "--token", (tmp / "none").string()}, tmp.path()).code == 2);
  // Nobody listening.
  uint16_t port = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  r = run_athm({"redeem", "--url", "http://127.0.0.1:" + std::to_string(port) + "/redeem", "--token", tok.string()},
               tmp.path());
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Catch::Contains("cannot connect"));
}

}  // namespace athm::cli
