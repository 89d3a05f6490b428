// athmd configuration: parsed once from YAML, validated fully, then frozen.
//
// load_config() / parse_config() reject unknown keys (at every level),
// duplicate keys, wrong types and out-of-range values with a config_error
// whose message is "<origin>: <key path>: <reason>", e.g.
//   "athmd.yaml: listeners.public.port: must be an integer 1..65535 (line 3)".
// Only the first error is reported. Nothing is clamped silently. Every key is
// optional except keys.directory and, when store.type is lmdb, store.lmdb.path;
// absent keys keep the struct defaults below. The returned object is shared
// as const and is safe to read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace athm::config {

// Thrown only at start-up, by load_config / parse_config.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tls_config {
  std::string cert_file;  // PEM chain
  std::string key_file;   // PEM private key (the path itself is not secret)
};

struct listener_config {
  std::string address;  // IPv4 or IPv6 literal, normalised
  // Config files must give 1..65535. Tests that build a config in code may
  // set 0 to get an ephemeral port.
  uint16_t port = 0;
  std::optional<tls_config> tls;
};

struct limits_config {
  uint32_t max_header_bytes = 8 * 1024;     // requests carry small headers
  uint32_t max_body_bytes = 16 * 1024;      // largest valid body is 132 bytes
  std::chrono::milliseconds read_timeout{10'000};   // whole request, header to body
  std::chrono::milliseconds idle_timeout{60'000};   // keep-alive between requests
  std::chrono::milliseconds write_timeout{10'000};
  uint32_t max_pipelined = 16;              // requests queued per connection
  uint32_t max_connections = 10'000;        // per listener
};

struct issuer_config {
  // Absolute URL advertised as "issuer-request-uri"; its path is the
  // issuance endpoint on the public listener.
  std::string request_uri = "http://127.0.0.1:8080/request";
  std::string request_path = "/request";  // derived from request_uri
  std::chrono::seconds directory_max_age{3600};  // Cache-Control max-age
};

struct keys_config {
  std::string directory;                     // key files (*.key)
  std::chrono::seconds reload_interval{30};  // poll for file changes; 0 = SIGHUP only
};

enum class store_kind { lmdb, memory, redis };

struct lmdb_config {
  std::string path;                 // directory holding the environment
  uint64_t map_size_bytes = 1ull << 30;
};

struct redis_config {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;             // redacted from dumps
  std::chrono::milliseconds timeout{250};
  std::string key_prefix = "athmd";
  uint32_t pool_size = 4;
};

struct store_config {
  store_kind kind = store_kind::lmdb;
  lmdb_config lmdb;
  redis_config redis;
};

enum class fail_mode { open, closed };

struct static_attester_config {
  uint32_t bucket = 0;
};

struct header_attester_config {
  std::string header = "X-Athm-Bucket";
  // e.g. "127.0.0.0/8", "::1/128". Normalised "address/prefix", no host
  // bits set after the prefix.
  std::vector<std::string> trusted_cidrs;
  // Bucket when the header is absent from a trusted source. Unset: deny.
  std::optional<uint32_t> default_bucket;
};

struct http_attester_config {
  std::string url;                                 // http://host:port/path[?query]
  std::chrono::milliseconds timeout{200};
  std::vector<std::string> forward_headers;        // request headers sent along
  // Derived from url by the parser (empty / 0 when url is empty).
  std::string host;    // name or IP literal (IPv6 without brackets)
  uint16_t port = 0;
  std::string target;  // path plus query, for the request line
};

struct attester_config {
  std::string type = "static";  // static | header | http (registry name)
  fail_mode on_error = fail_mode::closed;
  uint32_t fail_open_bucket = 0;      // used when on_error == open
  uint32_t deny_status = 403;         // 403 or 429
  std::chrono::seconds retry_after{60};  // sent with 429
  static_attester_config static_;
  header_attester_config header;
  http_attester_config http;
};

enum class log_format { text, json };

struct logging_config {
  std::string level = "info";  // trace|debug|info|warn|error|off
  log_format format = log_format::text;
  bool access_log = true;
  // Access lines are buffered and written at least this often (and whenever
  // 64 KiB are pending); 0 writes every line at once.
  std::chrono::seconds access_log_flush{1};
};

struct server_config {
  uint32_t io_threads = 0;  // 0 = number of cores
  std::chrono::milliseconds shutdown_grace{10'000};
};

struct config {
  listener_config public_listener{"0.0.0.0", 8080, std::nullopt};
  listener_config internal_listener{"127.0.0.1", 8081, std::nullopt};
  limits_config limits;
  issuer_config issuer;
  keys_config keys;
  store_config store;
  attester_config attester;
  logging_config logging;
  server_config server;
};

// Parses and validates YAML text. |origin| names the source in messages.
// Relative paths (keys.directory, store.lmdb.path, listeners.*.tls.*) are
// resolved against the current directory. TLS cert/key files must exist and
// be readable; keys.directory and store.lmdb.path are not checked on disk.
// Throws config_error. Thread-safe (no shared state).
std::shared_ptr<const config> parse_config(const std::string& yaml_text,
                                           const std::string& origin = "<config>");
// Reads the file at |path| and parses it like parse_config, with |path| as the
// origin and relative paths resolved against the file's directory. Throws
// config_error (also when the file cannot be read).
std::shared_ptr<const config> load_config(const std::string& path);

// The effective config as YAML in the input schema (it parses back to the
// same config). redis.password is replaced by "<redacted>" when non-empty;
// file paths, including the TLS key path, are kept. Derived fields
// (issuer.request_path, attester.http host/port/target) are not emitted.
std::string dump_redacted(const config& c);

}  // namespace athm::config
