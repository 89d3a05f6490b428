// Test harness: runs the real `athmd` (and `athm`) binaries as child
// processes on free loopback ports, with their own temporary state.
//
// Paths of the binaries come from the compile definitions ATHMD_PATH and
// ATHM_CLI_PATH (set by tests/integration/CMakeLists.txt).
//
// Failure: start-up problems (the binary cannot be run, the daemon exits or is
// not ready before the deadline) throw std::runtime_error with the tail of
// the daemon's log, so Catch2 reports them. When any assertion of the current
// test case failed while a daemon was alive, its log tail is written to stderr
// when the daemon_process is destroyed.
//
// Thread safety: a daemon_process is driven from one thread (the test's main
// thread: the child is tied to it with PR_SET_PDEATHSIG, so it dies with the
// test process). Its ports may be used from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/http_probe.h"

namespace athm::itest {

using namespace std::chrono_literals;

// Readiness deadline: generous, the machine running the tests may be loaded.
inline constexpr std::chrono::milliseconds kReadyTimeout = 30s;
// Time a daemon gets to exit after SIGTERM before it is killed.
inline constexpr std::chrono::milliseconds kStopTimeout = 20s;

// How much slower this build runs than a plain one: ATHM_TEST_TIME_SCALE
// from the environment, which tests/CMakeLists.txt sets in sanitizer trees
// (3 for ASan+UBSan, 5 for TSan); 1 when unset or not a number from 1 to 100.
int time_scale();
// |d| * time_scale(). The harness's own deadlines (readiness, stop,
// run_program) go through it. They bound waits for a daemon or a program
// that should be done well before, so scaling them tightens no assertion
// and loosens none; deadlines that are the behaviour under test (a read
// timeout, a slow sender) are not scaled.
std::chrono::milliseconds scaled(std::chrono::milliseconds d);

// The first line of the first sanitizer report (AddressSanitizer,
// LeakSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer) in |text|,
// or empty. run_program and daemon_process fail the current test case (and
// print the report) when a child's output contains one, so that a report
// from a child that still exited as expected is not lost.
std::string sanitizer_report(const std::string& text);

// A fresh directory under $TMPDIR (or /tmp), mode 0700, removed recursively
// in the destructor. Throws std::runtime_error if it cannot be created.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "athm-itest");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read
// back, closed). Another process could take it before the daemon binds it;
// on loopback in a test run that is rare enough. Throws on socket errors.
uint16_t free_port();

// Writes |text| to |path| with |mode| (the umask does not apply).
void write_file(const std::filesystem::path& path, const std::string& text, unsigned mode = 0600);
std::string read_file(const std::filesystem::path& path);

// The outcome of a finished process.
struct exit_status {
  bool exited = false;   // normal exit (then |code| is set)
  int code = -1;         // exit code
  int signal = 0;        // terminating signal, if !exited
};

// Result of running a short-lived program to completion.
struct run_result {
  exit_status status;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs |argv| (argv[0] is the program path) with stdout/stderr captured, and
// waits for it up to scaled(|timeout|) (then SIGKILL; status.exited is false).
// Throws std::runtime_error if the program cannot be started.
run_result run_program(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout = 60s);

// The `athm` CLI: run_program with ATHM_CLI_PATH prepended.
run_result run_athm(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 60s);

// The athmd binary path (ATHMD_PATH).
std::string athmd_path();

// One athmd child process. The command line is fixed at construction; the
// process can be stopped and started again with it (same ports, same state).
class daemon_process {
 public:
  // `athmd --dev --listen 127.0.0.1:P --internal-listen 127.0.0.1:I
  // --state-dir |state_dir|` on two free ports; starts it and waits until
  // GET /readyz on the public listener answers 200. |extra_args| are
  // appended. Throws std::runtime_error on failure.
  static daemon_process dev(const std::filesystem::path& state_dir,
                            std::vector<std::string> extra_args = {});

  // `athmd --config |config_file|`; the caller wrote the config with
  // |public_port| and |internal_port| (both on 127.0.0.1). Starts and waits
  // for readiness like dev(), over HTTPS with |public_tls| (a public
  // listener with a tls block). The log goes next to the config file.
  static daemon_process with_config(const std::filesystem::path& config_file,
                                    uint16_t public_port, uint16_t internal_port,
                                    std::optional<tls_trust> public_tls = std::nullopt);

  daemon_process(daemon_process&&) noexcept;
  daemon_process& operator=(daemon_process&&) = delete;
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;
  // Stops the process (SIGTERM, then SIGKILL after kStopTimeout) if running.
  // Fails the current test case if the log holds a sanitizer report.
  ~daemon_process();

  uint16_t public_port() const { return public_port_; }
  uint16_t internal_port() const { return internal_port_; }
  // "http://127.0.0.1:<public port>"
  std::string public_url() const;
  std::string internal_url() const;
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }

  // Starts the process again (it must not be running) and waits for
  // readiness. The log file is appended to.
  void start();
  // SIGTERM, wait up to scaled(|timeout|), then SIGKILL. Returns how it ended.
  exit_status stop(std::chrono::milliseconds timeout = kStopTimeout);
  // SIGKILL at once (a crash), then reap.
  exit_status kill9();
  // Sends |sig| (e.g. SIGHUP) to the running process.
  void signal(int sig);
  // Non-blocking check: if the process has exited, reaps it and returns how.
  std::optional<exit_status> poll_exit();

  // Whole log so far (stdout and stderr of every run, in order).
  std::string log() const;
  // The last |max_lines| lines of the log.
  std::string log_tail(size_t max_lines = 60) const;
  const std::filesystem::path& log_file() const { return log_file_; }

 private:
  daemon_process(std::vector<std::string> argv, uint16_t public_port, uint16_t internal_port,
                 std::filesystem::path log_file);
  void wait_ready();

  std::vector<std::string> argv_;
  uint16_t public_port_ = 0;
  uint16_t internal_port_ = 0;
  std::optional<tls_trust> public_tls_;  // readiness over HTTPS
  std::filesystem::path log_file_;
  int pid_ = -1;
  // Catch2 failure count when this process was constructed.
  uint64_t failures_at_start_ = 0;
};

// Writes a YAML config for a single node on loopback: the two listeners on
// |public_port| / |internal_port| of 127.0.0.1, issuer.request_uri on the
// public port, keys.directory = |key_dir| (reload on SIGHUP only), LMDB in
// |lmdb_dir|, the header attester (X-Athm-Bucket trusted from 127.0.0.0/8,
// default bucket 0), text logs at info level, and two I/O threads.
// |extra_yaml| is appended verbatim (top-level sections not used above).
std::string loopback_config_yaml(uint16_t public_port, uint16_t internal_port,
                                 const std::filesystem::path& key_dir,
                                 const std::filesystem::path& lmdb_dir,
                                 const std::string& extra_yaml = "");

// Number of failed assertions so far in this test run (Catch2 listener).
uint64_t failed_assertions();

}  // namespace athm::itest
