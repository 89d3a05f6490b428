// The fleet on one machine: a real redis-server, three athmd replicas in
// config mode sharing one key directory and the Redis spent store, and nginx
// with the shipped deploy/compose/nginx.conf adapted to loopback
// (tests/integration/fleet/make_nginx_conf.py) as the load balancer.
//
// Proves: issuance and redemption through the balancer and on every replica;
// a concurrent replay storm across all replicas spends each token once; with
// Redis killed no redemption succeeds and issuance goes on, and after its
// restart no token spent before the outage is spent again; a replica stopped
// with SIGTERM under load costs no request; a key rotation across the fleet
// with SIGHUP keeps old tokens redeemable and issues under the new key.
//
// The balancer is driven over its plain-HTTP listener (the test client speaks
// plain HTTP); its TLS listener, with the shipped TLS settings, is checked
// once with curl.
#include "tests/integration/daemon_process.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_probe.h"
#include "tests/integration/token_flow.h"

using namespace athm::itest;
namespace fs = std::filesystem;

namespace {

constexpr size_t kReplicas = 3;
constexpr const char* kDeploymentId = "itest-fleet";

// A long-lived helper process (redis-server, nginx) with its output in a
// log file. Killed with SIGKILL in the destructor if still running; tied to
// the test process with PR_SET_PDEATHSIG.
class child_process {
 public:
  child_process(std::vector<std::string> argv, fs::path log_file)
      : argv_(std::move(argv)), log_file_(std::move(log_file)) {}
  ~child_process() {
    if (pid_ > 0) {
      kill9();
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  void start() {
    if (pid_ > 0) {
      throw std::runtime_error("already running: " + argv_[0]);
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv_) {
        args.push_back(a.data());
      }
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    pid_ = pid;
  }

  bool running() {
    if (pid_ <= 0) {
      return false;
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  void kill9() { stop_with(SIGKILL, std::chrono::seconds(10)); }
  // |sig|, then SIGKILL after |timeout|. True if it exited from |sig|'s
  // handling (exit code 0) before the deadline.
  bool stop_with(int sig, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
      return false;
    }
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int st = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return sig == SIGKILL || (WIFEXITED(st) && WEXITSTATUS(st) == 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return false;
  }

  std::string log_tail() const {
    const std::string all = fs::exists(log_file_) ? read_file(log_file_) : "";
    return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
  }

 private:
  std::vector<std::string> argv_;
  fs::path log_file_;
  pid_t pid_ = -1;
};

// True if a Redis server on 127.0.0.1:|port| answers PING with +PONG.
bool redis_ping(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char ping[] = "PING\r\n";
    if (::send(fd, ping, sizeof ping - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof ping - 1)) {
      char buf[16] = {};
      const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      ok = n >= 5 && std::strncmp(buf, "+PONG", 5) == 0;
    }
  }
  ::close(fd);
  return ok;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

// redis-server on 127.0.0.1:|port| with its data in |dir|: every write is
// in the append-only file, fsynced before the reply.
class redis_server {
 public:
  redis_server(const fs::path& dir, uint16_t port)
      : port_(port),
        proc_({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", std::to_string(port),
               "--dir", dir.string(), "--appendonly", "yes", "--appendfsync", "always",
               "--save", "", "--protected-mode", "yes", "--daemonize", "no"},
              dir / "redis.log") {}

  void start() {
    proc_.start();
    if (!wait_until([&] { return redis_ping(port_); }, kReadyTimeout)) {
      throw std::runtime_error("redis-server did not answer PING:\n" + proc_.log_tail());
    }
  }
  void kill9() { proc_.kill9(); }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  child_process proc_;
};

void keygen(const fs::path& dir, const std::string& not_before) {
  const run_result r = run_athm({"keygen", "--dir", dir.string(), "--buckets", "4",
                                 "--deployment-id", kDeploymentId, "--not-before", not_before,
                                 "--expires", "+3d"});
  INFO("athm keygen: " << r.err << r.out);
  REQUIRE(r.status.exited);
  REQUIRE(r.status.code == 0);
}

// The harness's single-node config with the Redis store instead of LMDB and
// the balancer's URL as the issuer request URI (what clients are told).
std::string replica_config(uint16_t pub, uint16_t internal, const fs::path& key_dir,
                           uint16_t redis_port, uint16_t balancer_port) {
  std::string y = loopback_config_yaml(pub, internal, key_dir, "/nonexistent");
  const size_t s = y.find("store:\n");
  const size_t e = y.find("attester:\n");
  REQUIRE(s != std::string::npos);
  REQUIRE(e != std::string::npos);
  REQUIRE(s < e);
  y.replace(s, e - s,
            "store:\n"
            "  type: redis\n"
            "  redis:\n"
            "    host: 127.0.0.1\n"
            "    port: " + std::to_string(redis_port) + "\n"
            "    timeout_ms: 500\n"
            "    key_prefix: fleet\n"
            "    pool_size: 2\n");
  const std::string old_uri = "request_uri: http://127.0.0.1:" + std::to_string(pub) + "/request";
  const size_t u = y.find(old_uri);
  REQUIRE(u != std::string::npos);
  y.replace(u, old_uri.size(),
            "request_uri: http://127.0.0.1:" + std::to_string(balancer_port) + "/request");
  return y;
}

issuer_view wait_for_key_count(uint16_t port, size_t count) {
  issuer_view v = fetch_issuer(port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (v.keys.size() != count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v = fetch_issuer(port);
  }
  return v;
}

// Per token, the statuses of its redemptions.
using outcome_counts = std::vector<std::map<unsigned, int>>;

}  // namespace

TEST_CASE("a fleet of three replicas on Redis behind nginx", "[integration][fleet]") {
  temp_dir tmp("athm-fleet");
  // nginx workers may run as another user when the test runs as root.
  REQUIRE(::chmod(tmp.path().c_str(), 0755) == 0);
  const fs::path key_dir = tmp / "keys";
  keygen(key_dir, "-2h");

  const fs::path redis_dir = tmp / "redis";
  REQUIRE(::mkdir(redis_dir.c_str(), 0700) == 0);
  redis_server redis(redis_dir, free_port());
  redis.start();

  // Ports: replicas, then the balancer's listeners and the test origin.
  std::set<uint16_t> used{redis.port()};
  auto port = [&] {
    uint16_t p = free_port();
    while (used.count(p) != 0) {
      p = free_port();
    }
    used.insert(p);
    return p;
  };
  std::vector<std::pair<uint16_t, uint16_t>> ports;
  for (size_t i = 0; i < kReplicas; ++i) {
    ports.emplace_back(port(), port());
  }
  const uint16_t lb_tls = port();
  const uint16_t lb_plain = port();
  const uint16_t lb_internal = port();
  const uint16_t origin = port();

  std::vector<std::unique_ptr<daemon_process>> replicas;
  for (size_t i = 0; i < kReplicas; ++i) {
    const fs::path dir = tmp / ("replica-" + std::to_string(i + 1));
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const fs::path config = dir / "athmd.yaml";
    write_file(config, replica_config(ports[i].first, ports[i].second, key_dir, redis.port(), lb_plain));
    const run_result check = run_program({athmd_path(), "--check-config", config.string()});
    INFO("athmd --check-config: " << check.out << check.err);
    REQUIRE(check.status.exited);
    REQUIRE(check.status.code == 0);
    replicas.push_back(std::make_unique<daemon_process>(
        daemon_process::with_config(config, ports[i].first, ports[i].second)));
  }

  // nginx with the shipped config, adapted to these ports.
  const fs::path ngx = tmp / "nginx";
  REQUIRE(::mkdir(ngx.c_str(), 0755) == 0);
  std::string replica_arg;
  for (const auto& [p, i] : ports) {
    replica_arg += (replica_arg.empty() ? "" : ",") + std::to_string(p) + ":" + std::to_string(i);
  }
  const run_result gen = run_program(
      {"/usr/bin/python3", ATHM_FLEET_DIR "/make_nginx_conf.py", "--repo", ATHM_SOURCE_DIR, "--dir",
       ngx.string(), "--replicas", replica_arg, "--tls-port", std::to_string(lb_tls), "--plain-port",
       std::to_string(lb_plain), "--internal-port", std::to_string(lb_internal), "--origin-port",
       std::to_string(origin)});
  INFO("make_nginx_conf.py: " << gen.out << gen.err);
  REQUIRE(gen.status.exited);
  REQUIRE(gen.status.code == 0);
  child_process nginx({"/usr/sbin/nginx", "-c", (ngx / "nginx.conf").string(), "-p", ngx.string() + "/",
                       "-e", (ngx / "log" / "error.log").string(), "-g",
                       "daemon off; pid " + (ngx / "nginx.pid").string() + ";"},
                      ngx / "nginx.out");
  nginx.start();
  const bool lb_up = wait_until([&] { return http_get(lb_plain, "/healthz").status == 200; }, kReadyTimeout);
  INFO("nginx error log:\n" << (fs::exists(ngx / "log" / "error.log") ? read_file(ngx / "log" / "error.log") : "")
                            << nginx.log_tail());
  REQUIRE(lb_up);

  // The client's view, through the balancer: every replica serves the same
  // directory, naming the balancer as the issuer.
  const issuer_view v1 = fetch_issuer(lb_plain);
  REQUIRE(v1.keys.size() == 1);
  CHECK(v1.request_uri == "http://127.0.0.1:" + std::to_string(lb_plain) + "/request");
  const athm::key_id old_id = v1.keys[0].key.id();
  for (const auto& r : replicas) {
    CHECK(fetch_issuer(r->public_port()).raw == v1.raw);
  }

  // The TLS listener answers with the shipped TLS settings.
  {
    const run_result c = run_program(
        {"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
         "--max-time", "10", "--cacert", (ngx / "tls" / "fullchain.pem").string(), "--resolve",
         "localhost:" + std::to_string(lb_tls) + ":127.0.0.1",
         "https://localhost:" + std::to_string(lb_tls) + "/healthz"});
    INFO("curl: " << c.out << c.err);
    CHECK(c.status.exited);
    CHECK(c.out == "200 0");
  }

  // Tokens used across the phases, all issued through the balancer. The
  // balancer decides the bucket (0 on loopback) whatever the client sends.
  const std::vector<encoded_token> storm = issue_tokens(lb_plain, v1, 30, 3, 2);
  const std::vector<encoded_token> spare = issue_tokens(lb_plain, v1, 8, std::nullopt, 2);

  // One pass, no SECTIONs: the fleet is started once.
  {
    // spare[0..2]: one per replica, directly on its internal /redeem.
    for (size_t i = 0; i < kReplicas; ++i) {
      const redeem_result r = redeem(replicas[i]->internal_port(), spare[i]);
      INFO("replica " << i + 1 << ": " << r.reply.describe());
      CHECK(r.status() == 200);
      CHECK(r.bucket == 0u);
      CHECK(r.key_id == hex(old_id));
      // Spent for the whole fleet.
      for (const auto& other : replicas) {
        CHECK(redeem(other->internal_port(), spare[i]).status() == 409);
      }
      CHECK(redeem(lb_internal, spare[i]).status() == 409);
    }
    // Through the balancer's /redeem.
    const redeem_result b = redeem(lb_internal, spare[3]);
    INFO(b.reply.describe());
    CHECK(b.status() == 200);
    CHECK(b.key_id == hex(old_id));
    CHECK(redeem(replicas[2]->internal_port(), spare[3]).status() == 409);

    // The example origin behind auth_request: the bucket reaches the origin
    // and not the client; the spent token is refused.
    const std::string auth = "PrivateToken token=" + base64url(spare[4]);
    const http_reply a = http_get(lb_plain, "/app/page", {{"Authorization", auth}});
    INFO(a.describe());
    CHECK(a.status == 200);
    CHECK(a.body == "origin bucket=0\n");
    CHECK(!a.header("X-Token-Bucket").has_value());
    const http_reply again = http_get(lb_plain, "/app/page", {{"Authorization", auth}});
    CHECK(again.status == 401);
    CHECK(again.header("WWW-Authenticate").has_value());
    CHECK(http_get(lb_plain, "/app/page").status == 401);
    CHECK(redeem(replicas[0]->internal_port(), spare[4]).status() == 409);
  }

  {
    // --- Replay storm: every token redeemed 10 times at once, on the three
    // replicas and through the balancer.
    {
      constexpr unsigned kThreads = 10;
      std::vector<uint16_t> targets;
      for (const auto& r : replicas) {
        targets.push_back(r->internal_port());
      }
      targets.push_back(lb_internal);
      outcome_counts counts(storm.size());
      std::vector<std::vector<unsigned>> seen(kThreads, std::vector<unsigned>(storm.size(), 0));
      std::atomic<unsigned> ready{0};
      std::vector<std::thread> threads;
      for (unsigned t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          http_connection conn(targets[t % targets.size()]);
          conn.connect();
          ready.fetch_add(1);
          while (ready.load() < kThreads) {
            std::this_thread::yield();
          }
          for (size_t k = 0; k < storm.size(); ++k) {
            seen[t][k] = redeem(conn, storm[k]).status();
          }
        });
      }
      for (auto& th : threads) {
        th.join();
      }
      for (size_t k = 0; k < storm.size(); ++k) {
        for (unsigned t = 0; t < kThreads; ++t) {
          ++counts[k][seen[t][k]];
        }
        INFO("token " << k << ": 200 x" << counts[k][200] << ", 409 x" << counts[k][409]);
        CHECK(counts[k][200] == 1);
        CHECK(counts[k][409] == static_cast<int>(kThreads) - 1);
      }
    }

    // --- Redis outage.
    redis.kill9();
    const std::vector<encoded_token> during = issue_tokens(lb_plain, v1, 3, std::nullopt, 1);
    REQUIRE(during.size() == 3);
    for (size_t i = 0; i < kReplicas; ++i) {
      // Fresh tokens and spent ones alike: 503, never 200.
      const redeem_result f = redeem(replicas[i]->internal_port(), during[i]);
      INFO("replica " << i + 1 << ": " << f.reply.describe());
      CHECK(f.status() == 503);
      CHECK(redeem(replicas[i]->internal_port(), storm[i]).status() == 503);
      CHECK(forward_auth(replicas[i]->internal_port(), "PrivateToken token=" + base64url(spare[5]))
                .status == 503);
      CHECK(http_get(replicas[i]->internal_port(), "/readyz").status == 503);
    }
    // The balancer tries every replica and gives up: 503, or 502 once it
    // has marked them all failed. Never a success.
    for (size_t k = 0; k < 3; ++k) {
      const unsigned s = redeem(lb_internal, during[k]).status();
      INFO("through the balancer: " << s);
      CHECK((s == 503 || s == 502));
    }
    // Issuance goes on.
    CHECK(issue_tokens(lb_plain, v1, 2, std::nullopt, 1).size() == 2);

    redis.start();
    for (size_t i = 0; i < kReplicas; ++i) {
      const uint16_t p = replicas[i]->internal_port();
      INFO("replica " << i + 1 << " log:\n" << replicas[i]->log_tail(20));
      REQUIRE(wait_until([&] { return http_get(p, "/readyz").status == 200; }, kReadyTimeout));
    }
    // Nothing spent before the outage can be spent again (the marks came
    // back from the append-only file); tokens refused during it now redeem.
    for (size_t k = 0; k < storm.size(); ++k) {
      CHECK(redeem(replicas[k % kReplicas]->internal_port(), storm[k]).status() == 409);
    }
    for (size_t i = 0; i < kReplicas; ++i) {
      const redeem_result r = redeem(replicas[(i + 1) % kReplicas]->internal_port(), during[i]);
      INFO(r.reply.describe());
      CHECK(r.status() == 200);
      CHECK(redeem(replicas[i]->internal_port(), during[i]).status() == 409);
    }
    // The balancer's failure marks expire (fail_timeout=5s); then it works.
    const bool lb_redeems = wait_until(
        [&] {
          const unsigned s = redeem(lb_internal, storm[0]).status();
          return s == 409;
        },
        std::chrono::seconds(20));
    CHECK(lb_redeems);
    const redeem_result after = redeem(lb_internal, spare[5]);
    INFO(after.reply.describe());
    CHECK(after.status() == 200);

    // --- SIGTERM one replica while issuance runs through the balancer.
    {
      std::atomic<bool> stop{false};
      std::atomic<int> ok{0};
      std::atomic<int> failed{0};
      std::string first_failure;
      std::thread load([&] {
        http_connection conn(lb_plain);
        while (!stop.load()) {
          try {
            (void)issue_token(conn, v1, v1.current(), std::nullopt);
            ok.fetch_add(1);
          } catch (const std::exception& e) {
            if (failed.fetch_add(1) == 0) {
              first_failure = e.what();
            }
          }
        }
      });
      std::thread load_directory([&] {
        http_connection conn(lb_plain);
        while (!stop.load()) {
          const http_reply r = conn.send(http_request{"GET", "/healthz", {}, "", true});
          if (r.status == 200) {
            ok.fetch_add(1);
          } else if (failed.fetch_add(1) == 0) {
            first_failure = "GET /healthz: " + r.describe();
          }
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const int before = ok.load();
      const exit_status st = replicas[1]->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      stop.store(true);
      load.join();
      load_directory.join();
      INFO("first failure: " << first_failure);
      CHECK(st.exited);
      CHECK(st.code == 0);
      CHECK(failed.load() == 0);
      CHECK(before > 0);
      CHECK(ok.load() > before);
      replicas[1]->start();
    }

    // --- Key rotation across the fleet.
    const encoded_token old_unspent = spare[6];
    keygen(key_dir, "-1h");
    for (const auto& r : replicas) {
      r->signal(SIGHUP);
    }
    std::optional<athm::key_id> new_id;
    for (const auto& r : replicas) {
      const issuer_view v = wait_for_key_count(r->public_port(), 2);
      INFO("replica log:\n" << r->log_tail(20));
      REQUIRE(v.keys.size() == 2);
      REQUIRE(v.find(old_id) != nullptr);
      CHECK(v.current().id() != old_id);
      if (!new_id) {
        new_id = v.current().id();
      }
      CHECK(v.current().id() == *new_id);
    }
    REQUIRE(new_id.has_value());
    const issuer_view v2 = fetch_issuer(replicas[0]->public_port());
    // New tokens, issued through the balancer by whichever replica, carry
    // the new key and redeem under it everywhere.
    const std::vector<encoded_token> fresh = issue_tokens(lb_plain, v2, 6, std::nullopt, 2);
    for (size_t k = 0; k < fresh.size(); ++k) {
      CHECK(token_key_id(fresh[k]) == *new_id);
      const uint16_t target = k < kReplicas ? replicas[k]->internal_port() : lb_internal;
      const redeem_result r = redeem(target, fresh[k]);
      INFO(r.reply.describe());
      CHECK(r.status() == 200);
      CHECK(r.key_id == hex(*new_id));
    }
    // The old key still redeems.
    const redeem_result ro = redeem(replicas[2]->internal_port(), old_unspent);
    INFO(ro.reply.describe());
    CHECK(ro.status() == 200);
    CHECK(ro.key_id == hex(old_id));
    CHECK(redeem(lb_internal, old_unspent).status() == 409);
  }

  CHECK(nginx.running());
  for (auto& r : replicas) {
    const exit_status st = r->stop();
    CHECK(st.exited);
    CHECK(st.code == 0);
  }
  nginx.stop_with(SIGQUIT, std::chrono::seconds(10));
  redis.kill9();
}
