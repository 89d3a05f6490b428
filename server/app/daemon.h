// The athmd daemon: wires config, logging, keys, the spent store, the
// attester and the two listeners together, and runs until shutdown.
//
//   auto cfg = athm::config::load_config(path);
//   athm::app::configure_logging(cfg->logging);
//   athm::app::issuer_daemon d(cfg);     // loads keys, opens the store, binds
//   return d.run();                 // serves until SIGTERM/SIGINT
//
// A listener with a tls section serves HTTPS (server/http/tls_session.h).
//
// Signals (when daemon_options::handle_signals):
//   SIGHUP           reload the key directory and the TLS certificates; a
//                    broken directory or certificate keeps the old one and
//                    is logged. Connections are untouched.
//   SIGTERM, SIGINT  /readyz answers 503 at once; graceful shutdown with
//                    server.shutdown_grace; a second signal stops at once.
// Timers: the key directory is polled every keys.reload_interval (0: never)
// and reloaded when its fingerprint changed; expired spends are purged at
// start and every daemon_options::purge_interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/config.h"
#include "server/app/attester.h"
#include "server/app/handlers.h"
#include "server/keys/key_store.h"

namespace athm::http {
class server;
class tls_context;
}
namespace athm::store {
class spent_store;
}

namespace athm::app {

// A start-up failure other than config_error / key_error (bind, store,
// TLS files). The message is log-safe and names what failed.
class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class issuer_daemon;

struct daemon_options {
  // Called by run() once on its thread, right after serving started (e.g. to
  // print the URLs). Exceptions propagate out of run().
  std::function<void(const issuer_daemon&)> on_listening;
  // Install the SIGHUP/SIGTERM/SIGINT handlers. Tests turn this off and call
  // shutdown() / reload_keys() instead.
  bool handle_signals = true;
  // Built-in attesters by name; null: builtin_attester_registry().
  const attester_registry* registry = nullptr;
  // How often expired spends are purged (also once at start).
  std::chrono::seconds purge_interval{3600};
};

class issuer_daemon {
 public:
  // Loads the keys (keys::key_error), builds the store (startup_error), the
  // attester (config::config_error) and the routers, and binds both
  // listeners (startup_error naming the listener). Nothing is served until
  // run(). Logs through spdlog's default logger.
  explicit issuer_daemon(std::shared_ptr<const config::config> cfg, daemon_options opts = {});
  // Stops everything still running, lets the store complete what it holds,
  // then closes the listeners.
  ~issuer_daemon();
  issuer_daemon(const issuer_daemon&) = delete;
  issuer_daemon& operator=(const issuer_daemon&) = delete;

  // Serves on server.io_threads I/O threads and blocks the calling thread
  // (which runs signals and timers) until the shutdown completes. Returns 0.
  // Call once.
  int run();

  // As a SIGTERM: the first call starts a graceful shutdown, a later call
  // forces it. Thread-safe; before run() it makes run() return at once.
  void shutdown() noexcept;

  // As a SIGHUP: reloads the key directory now. Thread-safe.
  keys::reload_result reload_keys();
  // As a SIGHUP: reloads the TLS certificate of each HTTPS listener and logs
  // the outcome. Thread-safe.
  void reload_tls();

  // The bound ports (the real ones when the config asked for port 0).
  uint16_t public_port() const noexcept;
  uint16_t internal_port() const noexcept;

  const config::config& cfg() const noexcept { return *cfg_; }
  const std::shared_ptr<const app_services>& services() const noexcept { return services_; }

 private:
  struct maintenance;

  void log_started() const;
  void on_shutdown_request();
  void purge();

  std::shared_ptr<const config::config> cfg_;
  daemon_options opts_;
  std::shared_ptr<lifecycle> life_;
  std::shared_ptr<http::tls_context> public_tls_;    // null: plain HTTP
  std::shared_ptr<http::tls_context> internal_tls_;
  std::unique_ptr<maintenance> maint_;             // signals and timers; destroyed last of these
  std::unique_ptr<http::server> server_;           // outlives the store (see ~issuer_daemon)
  std::shared_ptr<keys::key_store> keys_;
  std::unique_ptr<store::spent_store> store_;
  std::shared_ptr<attester> attester_;
  std::shared_ptr<const app_services> services_;
  uint16_t public_port_ = 0;
  uint16_t internal_port_ = 0;
  int shutdown_requests_ = 0;  // on the maintenance thread only
};

// The TLS context for |l| (null when it has no tls section), built from its
// cert_file and key_file. Throws startup_error
// "listeners.<name>.tls.<file field> <path>: <problem>". Start-up only.
std::shared_ptr<http::tls_context> make_tls_context(const config::listener_config& l,
                                                   const char* name);

// One log-safe line per key: "<first 8 hex of the key id> n=<n> <state>"
// where state is issuing, published, pending or expired at |now|.
std::string describe_keys(const keys::key_ring& ring, keys::clock::time_point now);

}  // namespace athm::app
