// `athmd --dev`: a complete local issuer with no config file.
//
// The contract (the README and other tools rely on it; keep it exact):
//   athmd --dev [--listen 127.0.0.1:8080] [--internal-listen 127.0.0.1:8081]
//               [--state-dir ./athmd-dev]
//   - creates the state directory (mode 0700) if needed;
//   - reuses a non-expired key from <state-dir>/keys, or generates one there
//     (n = 4, deployment id "athmd-dev", mode 0600) with the keys module;
//   - stores spends in LMDB at <state-dir>/spent;
//   - plain HTTP; issuer-request-uri http://<listen>/request;
//   - the "header" attester with header X-Athm-Bucket, trusted from
//     127.0.0.0/8 and ::1/128, bucket 0 when the header is absent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "server/keys/key_ring.h"

namespace athm::app {

inline constexpr uint32_t kDevBuckets = 4;
inline constexpr std::string_view kDevDeploymentId = "athmd-dev";
inline constexpr std::string_view kDevBucketHeader = "X-Athm-Bucket";
// Lifetime of a generated dev key; a new one is made once it expires.
inline constexpr std::chrono::hours kDevKeyLifetime{24 * 365};

struct dev_options {
  std::string listen = "127.0.0.1:8080";
  std::string internal_listen = "127.0.0.1:8081";
  std::string state_dir = "./athmd-dev";
};

struct host_port {
  std::string address;  // IP literal, normalised, IPv6 without brackets
  uint16_t port = 0;
};

// "127.0.0.1:8080" or "[::1]:8080" (IP literals only; port 0..65535).
std::optional<host_port> parse_host_port(std::string_view text);

// The config --dev runs with. Throws config::config_error naming the
// option ("--listen: ...") for a bad address. A public port of 0 is replaced
// by a free ephemeral port (so that the issuer-request-uri names a real
// port); the internal port may stay 0.
std::shared_ptr<const config::config> make_dev_config(const dev_options& opts);

struct dev_key {
  std::filesystem::path file;
  bool generated = false;
};

// Makes sure |key_dir| (created with mode 0700 if absent) holds a key that
// is redeemable and issuing at |now|: reuses the newest such key, or
// generates one (kDevBuckets, kDevDeploymentId, published and usable from
// one minute before |now|, expiring after kDevKeyLifetime) and writes it with
// keys::write_key_file. Throws std::runtime_error with a log-safe message
// (a directory that does not load is reported, never overwritten).
dev_key ensure_dev_key(const std::filesystem::path& key_dir, keys::clock::time_point now);

}  // namespace athm::app
