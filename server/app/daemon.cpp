#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/app/daemon.h"

#include <csignal>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "server/app/logging.h"
#include "server/http/config_limits.h"
#include "server/http/server.h"
#include "server/http/tls_session.h"
#include "server/keys/key_file.h"
#include "server/store/factory.h"
#include "server/store/spent_store.h"

namespace athm::app {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string url_text(const config::listener_config& l, uint16_t port) {
  const bool v6 = l.address.find(':') != std::string::npos;
  return std::string(l.tls ? "https://" : "http://") + (v6 ? "[" + l.address + "]" : l.address) + ":" +
         std::to_string(port);
}

std::string endpoint_text(const std::string& address, uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

tcp::endpoint make_endpoint(const config::listener_config& l, const char* name) {
  boost::system::error_code ec;
  const net::ip::address a = net::ip::make_address(l.address, ec);
  if (ec) {
    throw startup_error(std::string("listeners.") + name + ".address: not an IP address: " + l.address);
  }
  return tcp::endpoint(a, l.port);
}

const char* key_state(const keys::issuer_key& k, keys::clock::time_point now) {
  if (k.issuing(now)) {
    return "issuing";
  }
  if (k.published(now)) {
    return "published";
  }
  if (k.redeemable(now)) {
    return "pending";
  }
  return "expired";
}

}  // namespace

std::shared_ptr<http::tls_context> make_tls_context(const config::listener_config& l,
                                                   const char* name) {
  if (!l.tls) {
    return nullptr;
  }
  try {
    return std::make_shared<http::tls_context>(http::tls_files{l.tls->cert_file, l.tls->key_file});
  } catch (const std::exception& e) {
    throw startup_error(std::string("listeners.") + name + ".tls." + e.what());
  }
}

std::string describe_keys(const keys::key_ring& ring, keys::clock::time_point now) {
  if (ring.all().empty()) {
    return "none";
  }
  std::string out;
  for (const auto& k : ring.all()) {
    if (!out.empty()) {
      out += ", ";
    }
    const athm::key_id& id = k->pub().id();
    out += keys::hex_public(std::span<const uint8_t>(id.data(), 4));
    out += " n=" + std::to_string(k->pub().params().n_buckets());
    out += " ";
    out += key_state(*k, now);
  }
  return out;
}

struct issuer_daemon::maintenance {
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work{ioc.get_executor()};
  net::signal_set signals{ioc};
  net::steady_timer reload_timer{ioc};
  net::steady_timer purge_timer{ioc};
};

issuer_daemon::issuer_daemon(std::shared_ptr<const config::config> cfg, daemon_options opts)
    : cfg_(std::move(cfg)),
      opts_(std::move(opts)),
      life_(std::make_shared<lifecycle>()),
      maint_(std::make_unique<maintenance>()) {
  const config::config& c = *cfg_;
  public_tls_ = make_tls_context(c.public_listener, "public");
  internal_tls_ = make_tls_context(c.internal_listener, "internal");

  server_ = std::make_unique<http::server>(c.server.io_threads);

  keys_ = std::make_shared<keys::key_store>(c.keys.directory);
  for (const std::string& w : keys_->initial_warnings()) {
    spdlog::warn("keys: {}", w);
  }

  try {
    store_ = store::make_store(c.store);
  } catch (const std::exception& e) {
    throw startup_error(std::string("store: ") + e.what());
  }
  if (c.store.kind == config::store_kind::memory) {
    spdlog::warn("store: the memory store forgets every spend on restart; use it for tests only");
  }

  const attester_registry builtins = builtin_attester_registry();
  const attester_registry& registry = opts_.registry != nullptr ? *opts_.registry : builtins;
  attester_ = registry.create(c.attester, attester_env{server_->get_executor()});

  auto stats = std::make_shared<metrics>();
  app_services s = services_from_config(c);
  s.keys = keys_;
  s.spent = store_.get();
  s.attest = attester_;
  s.stats = stats;
  s.life = life_;
  s.background = [srv = server_.get()](std::function<void()> job) {
    srv->dispatch_background(std::move(job));
  };
  s.load = [srv = server_.get()] {
    return app_services::server_load{srv->active_connections(), srv->in_flight(),
                                     srv->background_pending()};
  };
  services_ = std::make_shared<const app_services>(std::move(s));

  const auto now = keys::clock::now();
  if (const auto k = keys_->current()->issuing_key(now)) {
    const uint32_t n = k->pub().params().n_buckets();
    if (c.attester.type == "static" && c.attester.static_.bucket >= n) {
      spdlog::warn("attester.static.bucket {} is out of range for the issuing key (n = {}): "
                   "every issuance will use the fail mode",
                   c.attester.static_.bucket, n);
    }
    if (c.attester.on_error == config::fail_mode::open && c.attester.fail_open_bucket >= n) {
      spdlog::warn("attester.fail_open_bucket {} is out of range for the issuing key (n = {}): "
                   "undecided requests will get 503",
                   c.attester.fail_open_bucket, n);
    }
  } else {
    spdlog::warn("keys: no key is issuing now; /readyz answers 503 until one is");
  }

  const http::limits lim = http::to_limits(c.limits);
  const http::access_log_hook hook = make_access_log_hook(c.logging);
  auto bind = [&](const char* name, const config::listener_config& l,
                  const std::shared_ptr<http::tls_context>& tls,
                  std::shared_ptr<http::handler> h) -> uint16_t {
    http::listener_options o;
    o.name = name;
    o.endpoint = make_endpoint(l, name);
    o.lim = lim;
    o.handler = std::move(h);
    o.access_log = hook;
    try {
      if (tls) {
        return server_->add_listener(std::move(o), http::tls_session_factory(tls))->port();
      }
      return server_->add_listener(std::move(o))->port();
    } catch (const std::exception& e) {
      throw startup_error(std::string("listeners.") + name + ": cannot listen on " +
                          endpoint_text(l.address, l.port) + ": " + e.what());
    }
  };
  public_port_ = bind("public", c.public_listener, public_tls_, make_public_router(services_));
  internal_port_ = bind("internal", c.internal_listener, internal_tls_, make_internal_router(services_));
}

issuer_daemon::~issuer_daemon() {
  // Stop the I/O threads first (no-op after a completed run()), then destroy
  // the store while the server still exists: the store runs its pending
  // completions, whose responses go to the (stopped) server.
  if (server_) {
    server_->stop();
    server_->join();
  }
  services_.reset();
  attester_.reset();
  store_.reset();
}

uint16_t issuer_daemon::public_port() const noexcept { return public_port_; }
uint16_t issuer_daemon::internal_port() const noexcept { return internal_port_; }

void issuer_daemon::log_started() const {
  const config::config& c = *cfg_;
  spdlog::info(
      "athmd started: public {} (issuance {}), internal {}, io_threads {}, "
      "keys [{}], store {}, attester {} (on_error {})",
      url_text(c.public_listener, public_port_), c.issuer.request_path,
      url_text(c.internal_listener, internal_port_), server_->io_threads(),
      describe_keys(*keys_->current(), keys::clock::now()), store_->name(), attester_->name(),
      c.attester.on_error == config::fail_mode::open ? "open" : "closed");
}

keys::reload_result issuer_daemon::reload_keys() {
  keys::reload_result r = keys_->reload();
  if (r.ok) {
    services_->stats->inc(counter::key_reload_ok);
    spdlog::info("keys reloaded: [{}]", describe_keys(*r.ring, keys::clock::now()));
  } else {
    services_->stats->inc(counter::key_reload_failed);
    spdlog::error("key reload failed, keeping the current keys: {}", r.error);
  }
  for (const std::string& w : r.warnings) {
    spdlog::warn("keys: {}", w);
  }
  return r;
}

void issuer_daemon::reload_tls() {
  for (const auto& [name, tls] : {std::pair<const char*, const std::shared_ptr<http::tls_context>*>{
                                      "public", &public_tls_},
                                  {"internal", &internal_tls_}}) {
    if (!*tls) {
      continue;
    }
    const http::tls_reload_result r = (*tls)->reload();
    if (r.ok) {
      spdlog::info("listeners.{}.tls: certificate reloaded: {}", name, r.certificate.summary());
    } else {
      spdlog::error("listeners.{}.tls: reload failed, keeping the current certificate: {}", name,
                    r.error);
    }
  }
}

void issuer_daemon::purge() {
  const int64_t removed = store_->purge_expired(store::clock::now());
  if (removed < 0) {
    spdlog::error("store: purging expired spends failed");
  } else if (removed > 0) {
    spdlog::info("store: purged {} expired spends", removed);
  }
}

void issuer_daemon::shutdown() noexcept {
  try {
    net::post(maint_->ioc, [this] { on_shutdown_request(); });
  } catch (...) {
    server_->stop();
  }
}

void issuer_daemon::on_shutdown_request() {
  ++shutdown_requests_;
  if (shutdown_requests_ == 1) {
    life_->begin_shutdown();
    spdlog::info("shutting down: draining connections for up to {} ms",
                 cfg_->server.shutdown_grace.count());
    server_->begin_shutdown(cfg_->server.shutdown_grace, [this](http::shutdown_outcome o) {
      spdlog::info("shutdown complete ({})",
                   o == http::shutdown_outcome::drained ? "drained" : "forced");
      net::post(maint_->ioc, [this] {
        maint_->signals.cancel();
        maint_->reload_timer.cancel();
        maint_->purge_timer.cancel();
        maint_->work.reset();
      });
    });
  } else {
    spdlog::warn("second shutdown request: closing every connection now");
    server_->begin_shutdown(std::chrono::milliseconds(0));
  }
}

int issuer_daemon::run() {
  maintenance& m = *maint_;

  std::function<void()> arm_signals;
  if (opts_.handle_signals) {
    m.signals.add(SIGHUP);
    m.signals.add(SIGTERM);
    m.signals.add(SIGINT);
    arm_signals = [this, &m, &arm_signals] {
      m.signals.async_wait([this, &arm_signals](boost::system::error_code ec, int sig) {
        if (ec) {
          return;
        }
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading keys{}", public_tls_ || internal_tls_ ? " and TLS certificates" : "");
          reload_keys();
          reload_tls();
        } else {
          spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          on_shutdown_request();
        }
        arm_signals();
      });
    };
    arm_signals();
  }

  std::function<void()> arm_reload;
  if (cfg_->keys.reload_interval.count() > 0) {
    arm_reload = [this, &m, &arm_reload] {
      m.reload_timer.expires_after(cfg_->keys.reload_interval);
      m.reload_timer.async_wait([this, &arm_reload](boost::system::error_code ec) {
        if (ec || life_->shutting_down()) {
          return;
        }
        if (keys_->changed_on_disk()) {
          spdlog::info("key directory changed: reloading keys");
          reload_keys();
        }
        arm_reload();
      });
    };
    arm_reload();
  }

  std::function<void()> arm_purge = [this, &m, &arm_purge] {
    m.purge_timer.expires_after(opts_.purge_interval);
    m.purge_timer.async_wait([this, &arm_purge](boost::system::error_code ec) {
      if (ec || life_->shutting_down()) {
        return;
      }
      purge();
      arm_purge();
    });
  };

  purge();
  arm_purge();
  server_->start();
  log_started();
  if (opts_.on_listening) {
    opts_.on_listening(*this);
  }
  m.ioc.run();
  server_->join();
  return 0;
}

}  // namespace athm::app
