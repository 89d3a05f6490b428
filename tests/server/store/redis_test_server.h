// A real redis-server for the Redis store's tests and benchmark: started on
// a free loopback port with its own data directory (append-only file,
// fsync on every write, no RDB snapshots), stopped with SIGTERM.
//
// No Catch2 here (the benchmark uses it too): failures throw
// std::runtime_error.
#pragma once

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace athm::store::testing {

// A loopback TCP port that was free a moment ago (the kernel's choice).
inline uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("bind 127.0.0.1:0: " + err);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

struct redis_context_deleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using redis_context_ptr = std::unique_ptr<redisContext, redis_context_deleter>;

struct redis_reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using redis_reply_ptr = std::unique_ptr<redisReply, redis_reply_deleter>;

class redis_server {
 public:
  // |dir| must exist; it holds the append-only file and redis.log. With a
  // non-empty |password| the server requires AUTH.
  explicit redis_server(std::filesystem::path dir, std::string password = {})
      : dir_(std::move(dir)), password_(std::move(password)) {}
  ~redis_server() { stop(); }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // Starts the server (on the same port as before when restarting, else on
  // a free one) and waits until it answers PING, at most 20 s.
  void start() {
    if (running()) {
      return;
    }
    const bool fixed_port = port_ != 0;
    for (int attempt = 0;; ++attempt) {
      if (!fixed_port) {
        port_ = free_loopback_port();
      }
      spawn();
      if (wait_ready()) {
        return;
      }
      // Most likely the port was taken in between: try another one. A fixed
      // port may still be in TIME_WAIT use for a moment: try it again.
      kill_hard();
      if (attempt == 4) {
        throw std::runtime_error("redis-server did not start; see " +
                                 (dir_ / "redis.log").string());
      }
    }
  }

  // SIGTERM (after SIGCONT, in case it is stopped), then waits; SIGKILL if
  // it is still there after 20 s.
  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (reap(WNOHANG)) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill_hard();
  }

  // SIGKILL, as a crash: whatever was acknowledged is in the AOF.
  void kill_hard() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGKILL);
    reap(0);
  }

  // SIGSTOP, and waits until the kernel shows the process stopped.
  void pause() {
    signal(SIGSTOP);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until && process_state() != 'T') {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void resume() { signal(SIGCONT); }

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  const std::string& password() const { return password_; }

  // A synchronous connection, authenticated when the server has a password.
  redis_context_ptr connect() const {
    timeval tv{2, 0};
    redis_context_ptr c(redisConnectWithTimeout("127.0.0.1", port_, tv));
    if (!c || c->err != 0) {
      throw std::runtime_error("cannot connect to redis-server on port " +
                               std::to_string(port_));
    }
    redisSetTimeout(c.get(), tv);
    if (!password_.empty()) {
      redis_reply_ptr r(static_cast<redisReply*>(
          redisCommand(c.get(), "AUTH %b", password_.data(), password_.size())));
      if (!r || r->type != REDIS_REPLY_STATUS) {
        throw std::runtime_error("AUTH failed");
      }
    }
    return c;
  }

 private:
  void signal(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  // The state letter of /proc/<pid>/stat ('T' when stopped), or 0.
  char process_state() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
    std::string line;
    std::getline(f, line);
    const auto paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : 0;
  }

  // True once the child is gone (reaped).
  bool reap(int flags) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, flags);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  static std::string find_binary() {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    dirs += ":/usr/bin:/usr/sbin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
      const std::size_t end = std::min(dirs.find(':', start), dirs.size());
      const std::filesystem::path p = std::filesystem::path(dirs.substr(start, end - start)) /
                                      "redis-server";
      if (::access(p.c_str(), X_OK) == 0) {
        return p.string();
      }
      start = end + 1;
    }
    throw std::runtime_error("redis-server not found (install the redis-server package)");
  }

  void spawn() {
    const std::string bin = find_binary();
    const std::string dir = std::filesystem::absolute(dir_).string();
    std::vector<std::string> args = {
        bin,           "--port",       std::to_string(port_), "--bind",  "127.0.0.1",
        "--dir",       dir,            "--appendonly",        "yes",     "--appendfsync",
        "always",      "--save",       "",                    "--daemonize", "no",
        "--logfile",   dir + "/redis.log"};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec. The server dies with
      // the test process, even if that one crashes.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
  }

  bool wait_ready() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      if (reap(WNOHANG)) {
        return false;  // exited: port taken, bad arguments, ...
      }
      timeval tv{0, 200000};
      redis_context_ptr c(redisConnectWithTimeout("127.0.0.1", port_, tv));
      if (c && c->err == 0) {
        redisSetTimeout(c.get(), tv);
        bool ok = true;
        if (!password_.empty()) {
          redis_reply_ptr a(static_cast<redisReply*>(
              redisCommand(c.get(), "AUTH %b", password_.data(), password_.size())));
          ok = a && a->type == REDIS_REPLY_STATUS;
        }
        if (ok) {
          redis_reply_ptr r(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
          if (r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG") {
            return true;  // a loading server answers -LOADING instead
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::filesystem::path dir_;
  std::string password_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace athm::store::testing
