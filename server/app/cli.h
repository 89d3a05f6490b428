// The athmd command line. main() only calls run_cli(); everything else is
// here so that tests can drive it.
//
//   athmd --config FILE          run with a YAML config
//   athmd --check-config FILE    validate the config and load its keys and
//                                attester, print "OK" (stdout) or the error
//                                (stderr); never prints secrets
//   athmd --dev [--listen ADDR:PORT] [--internal-listen ADDR:PORT]
//               [--state-dir DIR]
//                                development mode (see dev_mode.h)
//   athmd --help | --version
//
// Exit codes: 0 success (including a graceful shutdown), 2 usage, config,
// key or other start-up error, 1 an unexpected failure while running.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "server/app/dev_mode.h"

namespace athm::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitStartup = 2;

enum class cli_mode { run, check_config, dev, done };

struct cli_options {
  cli_mode mode = cli_mode::run;
  std::string config_path;  // run, check_config
  dev_options dev;          // dev
};

struct cli_parse_result {
  std::optional<cli_options> options;  // set unless parsing ended the program
  int exit_code = kExitOk;             // when options is empty
  std::string out;                     // help or version text (stdout)
  std::string err;                     // usage error (stderr)
};

// Parses argv without side effects. --help and --version yield
// mode done with their text in |out|; usage errors yield kExitStartup and a
// message in |err|. Exactly one of --config, --check-config, --dev is
// required; --listen, --internal-listen and --state-dir need --dev.
cli_parse_result parse_cli(int argc, const char* const* argv);

// --check-config FILE: prints "OK ..." to |out| and returns 0, or prints
// "athmd: <error>" to |err| and returns kExitStartup. Binds nothing, opens no
// store, starts no thread beyond the call.
int check_config(const std::string& path, std::ostream& out, std::ostream& err);

// The whole program. Start-up errors are printed to |err| as
// "athmd: <message>" with kExitStartup; the dev mode prints its URLs to |out|.
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace athm::app
