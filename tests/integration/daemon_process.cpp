#include "tests/integration/daemon_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "tests/integration/http_probe.h"

#ifndef ATHMD_PATH
#error "ATHMD_PATH must name the athmd binary"
#endif
#ifndef ATHM_CLI_PATH
#error "ATHM_CLI_PATH must name the athm binary"
#endif

namespace athm::itest {

namespace fs = std::filesystem;

namespace {

std::atomic<uint64_t> g_failed_assertions{0};

// Counts failed assertions so that daemons can print their log when a test
// that used them failed.
struct failure_listener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.succeeded()) {
      g_failed_assertions.fetch_add(1);
    }
    return true;
  }
};

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string tail_lines(const std::string& text, size_t max_lines) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') {
    --pos;  // the final newline does not start a line
  }
  size_t lines = 0;
  while (pos > 0) {
    const size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      return text;
    }
    if (++lines >= max_lines) {
      return text.substr(nl + 1);
    }
    pos = nl;
  }
  return text;
}

exit_status decode_status(int st) {
  exit_status s;
  if (WIFEXITED(st)) {
    s.exited = true;
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
  }
  return s;
}

std::string describe(const exit_status& s) {
  if (s.exited) {
    return "exit code " + std::to_string(s.code);
  }
  return "signal " + std::to_string(s.signal);
}

// fork + exec with stdin from /dev/null and stdout/stderr to the given fds.
// Only async-signal-safe calls happen in the child. The child gets SIGKILL
// when the calling thread exits, so a crashed test leaves no daemon behind.
int spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
    }
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(args[0], args.data());
    static const char msg[] = "exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  return pid;
}

// Waits for |pid| up to |timeout|; nullopt if still running.
std::optional<exit_status> wait_for(int pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      return decode_status(st);
    }
    if (r < 0 && errno != EINTR) {
      throw std::runtime_error(errno_text("waitpid"));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Fails the current test case if |output| (of |what|) holds a sanitizer
// report, and prints the output's end, where the report is.
void fail_on_sanitizer_report(const std::string& what, const std::string& output) {
  const std::string report = sanitizer_report(output);
  if (!report.empty()) {
    std::cerr << "---- " << what << ": sanitizer report, last lines ----\n"
              << tail_lines(output, 120) << "---- end ----\n";
    FAIL_CHECK(what << ": sanitizer report: " << report);
  }
}

}  // namespace

CATCH_REGISTER_LISTENER(failure_listener)

int time_scale() {
  static const int scale = [] {
    const char* v = std::getenv("ATHM_TEST_TIME_SCALE");
    char* end = nullptr;
    const long n = v ? std::strtol(v, &end, 10) : 0;
    return v && *v && *end == '\0' && n >= 1 && n <= 100 ? static_cast<int>(n) : 1;
  }();
  return scale;
}

std::chrono::milliseconds scaled(std::chrono::milliseconds d) { return d * time_scale(); }

std::string sanitizer_report(const std::string& text) {
  static const char* const kMarkers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                         "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
                                         ": runtime error: "};
  size_t first = std::string::npos;
  for (const char* m : kMarkers) {
    first = std::min(first, text.find(m));
  }
  if (first == std::string::npos) {
    return "";
  }
  const size_t begin = text.rfind('\n', first);
  const size_t start = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(start, text.find('\n', first) - start);
}

uint64_t failed_assertions() { return g_failed_assertions.load(); }

// ---------------------------------------------------------------- temp_dir

temp_dir::temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error(errno_text("mkdtemp " + tmpl));
  }
  path_ = buf.data();
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------- helpers

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(errno_text("socket"));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string e = errno_text("bind/getsockname");
    ::close(fd);
    throw std::runtime_error(e);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

void write_file(const fs::path& path, const std::string& text, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(errno_text("open " + path.string()));
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const std::string e = errno_text("write " + path.string());
      ::close(fd);
      throw std::runtime_error(e);
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    const std::string e = errno_text("fchmod " + path.string());
    ::close(fd);
    throw std::runtime_error(e);
  }
  ::close(fd);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

run_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  temp_dir dir("athm-run");
  const fs::path out_path = dir / "stdout";
  const fs::path err_path = dir / "stderr";
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0 || err_fd < 0) {
    throw std::runtime_error(errno_text("open capture files"));
  }
  int pid = -1;
  try {
    pid = spawn(argv, out_fd, err_fd);
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    throw;
  }
  ::close(out_fd);
  ::close(err_fd);
  run_result r;
  auto st = wait_for(pid, scaled(timeout));
  if (!st) {
    ::kill(pid, SIGKILL);
    st = wait_for(pid, std::chrono::seconds(10));
  }
  r.status = st.value_or(exit_status{});
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  fail_on_sanitizer_report(argv.front(), r.err);
  return r;
}

run_result run_athm(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{ATHM_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, timeout);
}

std::string athmd_path() { return ATHMD_PATH; }

std::string loopback_config_yaml(uint16_t public_port, uint16_t internal_port,
                                 const fs::path& key_dir, const fs::path& lmdb_dir,
                                 const std::string& extra_yaml) {
  std::ostringstream y;
  y << "listeners:\n"
    << "  public:\n"
    << "    address: 127.0.0.1\n"
    << "    port: " << public_port << "\n"
    << "  internal:\n"
    << "    address: 127.0.0.1\n"
    << "    port: " << internal_port << "\n"
    << "issuer:\n"
    << "  request_uri: http://127.0.0.1:" << public_port << "/request\n"
    << "keys:\n"
    << "  directory: " << key_dir.string() << "\n"
    << "  reload_interval_s: 0\n"
    << "store:\n"
    << "  type: lmdb\n"
    << "  lmdb:\n"
    << "    path: " << lmdb_dir.string() << "\n"
    << "    map_size_mb: 64\n"
    << "attester:\n"
    << "  type: header\n"
    << "  header:\n"
    << "    name: X-Athm-Bucket\n"
    << "    trusted_cidrs: [127.0.0.0/8]\n"
    << "    default_bucket: 0\n"
    << "logging:\n"
    << "  level: info\n"
    << "  format: text\n"
    << "server:\n"
    << "  io_threads: 2\n"
    << "  shutdown_grace_ms: 5000\n"
    << extra_yaml;
  return y.str();
}

// ---------------------------------------------------------------- daemon

daemon_process::daemon_process(std::vector<std::string> argv, uint16_t public_port,
                               uint16_t internal_port, fs::path log_file)
    : argv_(std::move(argv)),
      public_port_(public_port),
      internal_port_(internal_port),
      log_file_(std::move(log_file)),
      failures_at_start_(failed_assertions()) {}

daemon_process::daemon_process(daemon_process&& o) noexcept
    : argv_(std::move(o.argv_)),
      public_port_(o.public_port_),
      internal_port_(o.internal_port_),
      public_tls_(std::move(o.public_tls_)),
      log_file_(std::move(o.log_file_)),
      pid_(std::exchange(o.pid_, -1)),
      failures_at_start_(o.failures_at_start_) {
  o.log_file_.clear();
}

daemon_process::~daemon_process() {
  if (log_file_.empty()) {
    return;  // moved from
  }
  try {
    if (running()) {
      stop();
    }
    fail_on_sanitizer_report("athmd (log " + log_file_.string() + ")", log());
    if (failed_assertions() != failures_at_start_) {
      std::cerr << "---- athmd log (" << log_file_.string() << "), last lines ----\n"
                << log_tail(80) << "---- end of athmd log ----\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "daemon_process: " << e.what() << "\n";
  }
}

daemon_process daemon_process::dev(const fs::path& state_dir,
                                   std::vector<std::string> extra_args) {
  const uint16_t pub = free_port();
  uint16_t internal = free_port();
  while (internal == pub) {
    internal = free_port();
  }
  std::vector<std::string> argv{ATHMD_PATH,
                                "--dev",
                                "--listen",
                                "127.0.0.1:" + std::to_string(pub),
                                "--internal-listen",
                                "127.0.0.1:" + std::to_string(internal),
                                "--state-dir",
                                state_dir.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // The log lives next to the state directory so that it survives restarts
  // and does not disturb what the daemon keeps in its state directory.
  daemon_process d(std::move(argv), pub, internal,
                   state_dir.parent_path() / (state_dir.filename().string() + ".athmd.log"));
  d.start();
  return d;
}

daemon_process daemon_process::with_config(const fs::path& config_file, uint16_t public_port,
                                           uint16_t internal_port,
                                           std::optional<tls_trust> public_tls) {
  daemon_process d({ATHMD_PATH, "--config", config_file.string()}, public_port, internal_port,
                   config_file.parent_path() / (config_file.filename().string() + ".athmd.log"));
  d.public_tls_ = std::move(public_tls);
  d.start();
  return d;
}

std::string daemon_process::public_url() const {
  return "http://127.0.0.1:" + std::to_string(public_port_);
}

std::string daemon_process::internal_url() const {
  return "http://127.0.0.1:" + std::to_string(internal_port_);
}

void daemon_process::start() {
  if (running()) {
    throw std::logic_error("daemon_process::start: already running");
  }
  int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(errno_text("open " + log_file_.string()));
  }
  try {
    pid_ = spawn(argv_, fd, fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  wait_ready();
}

void daemon_process::wait_ready() {
  const auto deadline = std::chrono::steady_clock::now() + scaled(kReadyTimeout);
  std::string last = "no answer yet";
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto st = poll_exit()) {
      throw std::runtime_error("athmd exited during start-up (" + describe(*st) +
                               "); log tail:\n" + log_tail());
    }
    http_connection c(public_port_, std::chrono::seconds(5), public_tls_);
    http_reply r = c.send(http_request{"GET", "/readyz", {}, "", false});
    if (r.status == 200) {
      return;
    }
    last = r.describe();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string tail = log_tail();
  kill9();
  throw std::runtime_error("athmd not ready within " +
                           std::to_string(scaled(kReadyTimeout).count() / 1000) +
                           " s (last /readyz: " + last + "); log tail:\n" + tail);
}

std::optional<exit_status> daemon_process::poll_exit() {
  if (!running()) {
    return std::nullopt;
  }
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return decode_status(st);
  }
  return std::nullopt;
}

exit_status daemon_process::stop(std::chrono::milliseconds timeout) {
  if (!running()) {
    throw std::logic_error("daemon_process::stop: not running");
  }
  ::kill(pid_, SIGTERM);
  auto st = wait_for(pid_, scaled(timeout));
  if (!st) {
    ::kill(pid_, SIGKILL);
    st = wait_for(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
  return st.value_or(exit_status{});
}

exit_status daemon_process::kill9() {
  if (!running()) {
    throw std::logic_error("daemon_process::kill9: not running");
  }
  ::kill(pid_, SIGKILL);
  auto st = wait_for(pid_, std::chrono::seconds(10));
  pid_ = -1;
  return st.value_or(exit_status{});
}

void daemon_process::signal(int sig) {
  if (!running()) {
    throw std::logic_error("daemon_process::signal: not running");
  }
  if (::kill(pid_, sig) != 0) {
    throw std::runtime_error(errno_text("kill"));
  }
}

std::string daemon_process::log() const {
  std::error_code ec;
  if (!fs::exists(log_file_, ec)) {
    return "";
  }
  return read_file(log_file_);
}

std::string daemon_process::log_tail(size_t max_lines) const {
  return tail_lines(log(), max_lines);
}

}  // namespace athm::itest
