#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/app/cli.h"

#include <ostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "server/app/attester.h"
#include "server/app/daemon.h"
#include "server/app/directory.h"
#include "server/app/logging.h"
#include "server/keys/key_directory.h"
#include "server/keys/outcome.h"

#ifndef ATHMD_VERSION
#define ATHMD_VERSION "0.1.0"
#endif

namespace athm::app {
namespace {

namespace fs = std::filesystem;

// The TLS files load as the daemon would load them (no socket).
void check_tls(const config::config& c) {
  (void)make_tls_context(c.public_listener, "public");
  (void)make_tls_context(c.internal_listener, "internal");
}

void print_dev_banner(std::ostream& out, const issuer_daemon& d, const dev_options& opts,
                      const dev_key& key) {
  const config::config& c = d.cfg();
  auto url = [](const std::string& address, uint16_t port) {
    const bool v6 = address.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
  };
  const std::string pub = url(c.public_listener.address, d.public_port());
  const std::string internal = url(c.internal_listener.address, d.internal_port());
  out << "athmd --dev: development issuer (plain HTTP; not for production)\n"
      << "  state directory:   " << fs::absolute(opts.state_dir).lexically_normal().string() << "\n"
      << "  key file:          " << key.file.filename().string()
      << (key.generated ? " (generated)" : " (reused)") << ", n=" << kDevBuckets
      << ", deployment id " << kDevDeploymentId << "\n"
      << "  issuer directory:  " << pub << kDirectoryPath << "\n"
      << "  token requests:    " << c.issuer.request_uri << "  (bucket: header " << kDevBucketHeader
      << " from loopback, default 0)\n"
      << "  redeem:            " << internal << "/redeem\n"
      << "  forward auth:      " << internal << "/auth\n"
      << "  metrics:           " << internal << "/metrics\n"
      << "  health:            " << pub << "/healthz, " << pub << "/readyz\n";
  out.flush();
}

int serve(std::shared_ptr<const config::config> cfg, daemon_options opts, std::ostream& err) {
  struct flush_at_exit {
    ~flush_at_exit() { flush_logs(); }
  } flush_guard;
  std::unique_ptr<issuer_daemon> d;
  try {
    d = std::make_unique<issuer_daemon>(std::move(cfg), std::move(opts));
  } catch (const std::exception& e) {
    err << "athmd: " << e.what() << "\n";
    spdlog::error("start-up failed: {}", e.what());
    return kExitStartup;
  }
  try {
    return d->run();
  } catch (const std::exception& e) {
    err << "athmd: " << e.what() << "\n";
    spdlog::critical("stopped by an unexpected error: {}", e.what());
    return kExitFailure;
  }
}

}  // namespace

cli_parse_result parse_cli(int argc, const char* const* argv) {
  cli_parse_result r;
  cli_options o;
  CLI::App app{"athmd: Privacy Pass issuer and origin daemon for ATHM tokens (type 0xC07E)", "athmd"};
  std::string config_path;
  std::string check_path;
  bool dev = false;
  bool version = false;
  auto* o_config = app.add_option("--config", config_path, "Run with this YAML config file")
                       ->type_name("FILE");
  auto* o_check =
      app.add_option("--check-config", check_path,
                     "Validate the config file and load its keys, print OK or the error, and exit")
          ->type_name("FILE");
  auto* o_dev = app.add_flag("--dev", dev,
                             "Development mode: no config file, a generated key, LMDB and the "
                             "header attester under --state-dir");
  auto* o_listen = app.add_option("--listen", o.dev.listen, "Public listener in --dev mode")
                       ->type_name("ADDR:PORT")
                       ->capture_default_str();
  auto* o_internal =
      app.add_option("--internal-listen", o.dev.internal_listen, "Internal listener in --dev mode")
          ->type_name("ADDR:PORT")
          ->capture_default_str();
  auto* o_state = app.add_option("--state-dir", o.dev.state_dir, "State directory in --dev mode")
                      ->type_name("DIR")
                      ->capture_default_str();
  app.add_flag("--version", version, "Print the version and exit");
  o_config->excludes(o_check)->excludes(o_dev);
  o_check->excludes(o_dev);
  o_listen->needs(o_dev);
  o_internal->needs(o_dev);
  o_state->needs(o_dev);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    r.out = app.help();
    r.exit_code = kExitOk;
    return r;
  } catch (const CLI::ParseError& e) {
    r.err = std::string("athmd: ") + e.what() + "\nRun with --help for usage.\n";
    r.exit_code = kExitStartup;
    return r;
  }
  if (version) {
    r.out = std::string("athmd ") + ATHMD_VERSION + "\n";
    r.exit_code = kExitOk;
    return r;
  }
  const int modes = (o_config->count() > 0) + (o_check->count() > 0) + (dev ? 1 : 0);
  if (modes != 1) {
    r.err = "athmd: one of --config FILE, --check-config FILE or --dev is required\n"
            "Run with --help for usage.\n";
    r.exit_code = kExitStartup;
    return r;
  }
  if (dev) {
    o.mode = cli_mode::dev;
  } else if (o_check->count() > 0) {
    o.mode = cli_mode::check_config;
    o.config_path = check_path;
  } else {
    o.mode = cli_mode::run;
    o.config_path = config_path;
  }
  r.options = std::move(o);
  return r;
}

int check_config(const std::string& path, std::ostream& out, std::ostream& err) {
  try {
    const auto cfg = config::load_config(path);
    check_tls(*cfg);
    const keys::loaded_keys loaded = keys::load_key_directory(cfg->keys.directory);
    boost::asio::io_context ioc;
    const attester_registry registry = builtin_attester_registry();
    const auto attester = registry.create(cfg->attester, attester_env{ioc.get_executor()});
    for (const std::string& w : loaded.warnings) {
      err << "athmd: warning: " << w << "\n";
    }
    const auto now = keys::clock::now();
    if (!loaded.ring->issuing_key(now)) {
      err << "athmd: warning: no key is issuing now; /readyz would answer 503\n";
    }
    out << "OK: " << path << ": keys [" << describe_keys(*loaded.ring, now) << "], store "
        << (cfg->store.kind == config::store_kind::lmdb     ? "lmdb"
            : cfg->store.kind == config::store_kind::memory ? "memory"
                                                            : "redis")
        << ", attester " << attester->name() << "\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "athmd: " << e.what() << "\n";
    return kExitStartup;
  }
}

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  const cli_parse_result parsed = parse_cli(argc, argv);
  if (!parsed.options) {
    out << parsed.out;
    err << parsed.err;
    return parsed.exit_code;
  }
  const cli_options& o = *parsed.options;
  switch (o.mode) {
    case cli_mode::done:
      return kExitOk;
    case cli_mode::check_config:
      return check_config(o.config_path, out, err);
    case cli_mode::run: {
      std::shared_ptr<const config::config> cfg;
      try {
        cfg = config::load_config(o.config_path);
        configure_logging(cfg->logging);
      } catch (const std::exception& e) {
        err << "athmd: " << e.what() << "\n";
        return kExitStartup;
      }
      return serve(std::move(cfg), daemon_options{}, err);
    }
    case cli_mode::dev: {
      std::shared_ptr<const config::config> cfg;
      dev_key key;
      try {
        cfg = make_dev_config(o.dev);
        configure_logging(cfg->logging);
        key = ensure_dev_key(cfg->keys.directory, keys::clock::now());
      } catch (const std::exception& e) {
        err << "athmd: " << e.what() << "\n";
        return kExitStartup;
      }
      if (key.generated) {
        spdlog::info("dev: generated key {}", key.file.filename().string());
      }
      daemon_options opts;
      opts.on_listening = [&out, &o, key](const issuer_daemon& d) { print_dev_banner(out, d, o.dev, key); };
      return serve(std::move(cfg), std::move(opts), err);
    }
  }
  return kExitFailure;
}

}  // namespace athm::app
