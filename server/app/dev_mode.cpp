#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include "server/app/dev_mode.h"

#include <sys/stat.h>

#include <charconv>
#include <stdexcept>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "crypto/athm.h"
#include "server/keys/key_directory.h"
#include "server/keys/key_file.h"

namespace athm::app {
namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;

std::string authority(const host_port& hp) {
  const bool v6 = hp.address.find(':') != std::string::npos;
  return (v6 ? "[" + hp.address + "]" : hp.address) + ":" + std::to_string(hp.port);
}

// Binds an ephemeral port on |address| and releases it. Another process
// could take it before athmd binds it; acceptable for a development mode.
uint16_t free_port(const std::string& address) {
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, net::ip::tcp::endpoint(net::ip::make_address(address), 0));
  return a.local_endpoint().port();
}

void make_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    return;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error(dir.string() + ": cannot create directory: " + ec.message());
  }
  ::chmod(dir.c_str(), 0700);
}

}  // namespace

std::optional<host_port> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::nullopt;  // IPv6 needs brackets
    }
  }
  if (port.empty() || port.size() > 5 || host.empty()) {
    return std::nullopt;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  boost::system::error_code bec;
  const net::ip::address a = net::ip::make_address(std::string(host), bec);
  if (bec) {
    return std::nullopt;
  }
  if (a.is_v6() && a.to_v6().scope_id() != 0) {
    return std::nullopt;
  }
  return host_port{a.to_string(), static_cast<uint16_t>(value)};
}

std::shared_ptr<const config::config> make_dev_config(const dev_options& opts) {
  auto pub = parse_host_port(opts.listen);
  if (!pub) {
    throw config::config_error("--listen: expected ADDRESS:PORT with an IP address, e.g. "
                               "127.0.0.1:8080 or [::1]:8080, got \"" + opts.listen + "\"");
  }
  const auto internal = parse_host_port(opts.internal_listen);
  if (!internal) {
    throw config::config_error("--internal-listen: expected ADDRESS:PORT with an IP address, e.g. "
                               "127.0.0.1:8081, got \"" + opts.internal_listen + "\"");
  }
  if (pub->port == 0) {
    try {
      pub->port = free_port(pub->address);
    } catch (const std::exception& e) {
      throw config::config_error("--listen: cannot find a free port on " + pub->address + ": " +
                                 e.what());
    }
  }
  const fs::path state = fs::absolute(opts.state_dir).lexically_normal();

  auto c = std::make_shared<config::config>();
  c->public_listener = config::listener_config{pub->address, pub->port, std::nullopt};
  c->internal_listener = config::listener_config{internal->address, internal->port, std::nullopt};
  c->issuer.request_uri = "http://" + authority(*pub) + "/request";
  c->issuer.request_path = "/request";
  c->keys.directory = (state / "keys").string();
  c->store.kind = config::store_kind::lmdb;
  c->store.lmdb.path = (state / "spent").string();
  c->attester.type = "header";
  c->attester.on_error = config::fail_mode::closed;
  c->attester.header.header = std::string(kDevBucketHeader);
  c->attester.header.trusted_cidrs = {"127.0.0.0/8", "::1/128"};
  c->attester.header.default_bucket = 0;
  c->logging.level = "info";
  c->logging.format = config::log_format::text;
  return c;
}

dev_key ensure_dev_key(const fs::path& key_dir, keys::clock::time_point now) {
  make_private_dir(key_dir.parent_path().empty() ? fs::path(".") : key_dir.parent_path());
  make_private_dir(key_dir);

  auto loaded = keys::try_load_key_directory(key_dir, now);
  if (!loaded.ok()) {
    throw std::runtime_error(loaded.error());
  }
  if (const auto k = loaded->ring->issuing_key(now)) {
    return dev_key{k->file, false};
  }

  auto suite = athm::suite::create(kDevBuckets, kDevDeploymentId);
  if (!suite.ok()) {
    throw std::runtime_error(std::string("dev key: ") + athm::to_string(suite.error()));
  }
  auto key = athm::private_key::generate(suite.value());
  if (!key.ok()) {
    throw std::runtime_error(std::string("dev key: ") + athm::to_string(key.error()));
  }
  keys::key_schedule schedule;
  schedule.publish_at = now - std::chrono::minutes(1);
  schedule.not_before = schedule.publish_at;
  schedule.expires = now + kDevKeyLifetime;
  auto written = keys::write_key_file(key_dir, key.value(), schedule);
  if (!written.ok()) {
    throw std::runtime_error(written.error());
  }
  return dev_key{written.value(), true};
}

}  // namespace athm::app
