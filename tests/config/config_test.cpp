#include "config/config.h"

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using athm::config::config;
using athm::config::config_error;
using athm::config::dump_redacted;
using athm::config::load_config;
using athm::config::parse_config;
using namespace std::chrono_literals;

namespace {

// A fresh directory under the system temp dir, removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "athm-config-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    REQUIRE(out.good());
    return p;
  }

 private:
  fs::path path_;
};

// The message of the config_error thrown by |fn|, or a marker if none is.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const config_error& e) {
    return e.what();
  }
  return "<no config_error thrown>";
}

std::string parse_error(const std::string& yaml) {
  return error_of([&] { parse_config(yaml, "t.yaml"); });
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

const std::string keys_ok = "keys: {directory: /k}\n";
const std::string base_ok = keys_ok + "store: {type: memory}\n";

struct invalid_case {
  std::string yaml;
  std::string prefix;  // expected start of the message
};

const std::vector<invalid_case> invalid_cases = {
    // listeners
    {base_ok + "listeners: {public: {port: 0}}", "t.yaml: listeners.public.port: must be an integer 1..65535"},
    {base_ok + "listeners: {public: {port: 65536}}", "t.yaml: listeners.public.port: must be an integer 1..65535"},
    {base_ok + "listeners: {public: {port: -1}}", "t.yaml: listeners.public.port: must be an integer 1..65535"},
    {base_ok + "listeners: {public: {port: \"8080\"}}", "t.yaml: listeners.public.port: must be an integer 1..65535"},
    {base_ok + "listeners: {public: {port: 0x50}}", "t.yaml: listeners.public.port: must be an integer 1..65535"},
    {base_ok + "listeners: {internal: {port: 80.5}}", "t.yaml: listeners.internal.port: must be an integer 1..65535"},
    {base_ok + "listeners: {public: {address: 999.1.1.1}}",
     "t.yaml: listeners.public.address: not an IPv4 or IPv6 address: 999.1.1.1"},
    {base_ok + "listeners: {internal: {address: localhost}}",
     "t.yaml: listeners.internal.address: not an IPv4 or IPv6 address: localhost"},
    {base_ok + "listeners: {public: {address: {a: 1}}}", "t.yaml: listeners.public.address: must be a string"},
    {base_ok + "listeners: {public: {address: 127.0.0.1, port: 9000}, internal: {address: 127.0.0.1, port: 9000}}",
     "t.yaml: listeners.internal: address 127.0.0.1 port 9000 collides with listeners.public"},
    {base_ok + "listeners: {internal: {port: 8080}}",
     "t.yaml: listeners.internal: address 127.0.0.1 port 8080 collides with listeners.public (0.0.0.0 port 8080)"},
    {base_ok + "listeners: {public: {address: \"::\", port: 9000}, internal: {address: 127.0.0.1, port: 9000}}",
     "t.yaml: listeners.internal: address 127.0.0.1 port 9000 collides"},
    {base_ok + "listeners: {admin: {port: 1}}", "t.yaml: listeners.admin: unknown key"},
    {base_ok + "listeners: {public: {tls: {key_file: /etc/hostname}}}",
     "t.yaml: listeners.public.tls.cert_file: required when tls is set"},
    {base_ok + "listeners: {public: {tls: {cert_file: /nonexistent/cert.pem, key_file: /nonexistent/key.pem}}}",
     "t.yaml: listeners.public.tls.cert_file: no such file: /nonexistent/cert.pem"},
    {base_ok + "listeners: {internal: {tls: {cert_file: /, key_file: /}}}",
     "t.yaml: listeners.internal.tls.cert_file: not a regular file: /"},
    {base_ok + "listeners: {public: {tls: }}", "t.yaml: listeners.public.tls.cert_file: required when tls is set"},
    // limits
    {base_ok + "limits: [1, 2]", "t.yaml: limits: must be a mapping"},
    {base_ok + "limits: {max_header_bytes: 1023}", "t.yaml: limits.max_header_bytes: must be an integer 1024..65536"},
    {base_ok + "limits: {max_header_bytes: 65537}", "t.yaml: limits.max_header_bytes: must be an integer 1024..65536"},
    {base_ok + "limits: {max_body_bytes: 0}", "t.yaml: limits.max_body_bytes: must be an integer 1..1048576"},
    {base_ok + "limits: {max_body_bytes: 1048577}", "t.yaml: limits.max_body_bytes: must be an integer 1..1048576"},
    {base_ok + "limits: {read_timeout_ms: 0}", "t.yaml: limits.read_timeout_ms: must be an integer 1..3600000"},
    {base_ok + "limits: {idle_timeout_ms: 3600001}", "t.yaml: limits.idle_timeout_ms: must be an integer 1..3600000"},
    {base_ok + "limits: {write_timeout_ms: 99999999999999999999999}",
     "t.yaml: limits.write_timeout_ms: must be an integer 1..3600000"},
    {base_ok + "limits: {max_pipelined: 1025}", "t.yaml: limits.max_pipelined: must be an integer 1..1024"},
    {base_ok + "limits: {max_connections: 1000001}", "t.yaml: limits.max_connections: must be an integer 1..1000000"},
    {base_ok + "limits: {max_connections: 010}", "t.yaml: limits.max_connections: must be an integer 1..1000000"},
    // issuer
    {base_ok + "issuer: {request_uri: /request}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: not an absolute URL"},
    {base_ok + "issuer: {request_uri: \"ftp://issuer.example/request\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: scheme must be http"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example/request?x=1\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: query is not allowed"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example/request#frag\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: fragment is not allowed"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: missing path"},
    {base_ok + "issuer: {request_uri: \"https:///request\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: missing host"},
    {base_ok + "issuer: {request_uri: \"https://user@issuer.example/request\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: user information"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example:0/request\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: invalid port"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example/re quest\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: contains a space"},
    {base_ok + "issuer: {request_uri: \"https://issuer.example/.well-known/private-token-issuer-directory\"}",
     "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: path is reserved"},
    {base_ok + "issuer: {directory_max_age_s: 604801}", "t.yaml: issuer.directory_max_age_s: must be an integer 0..604800"},
    // keys
    {"store: {type: memory}\n", "t.yaml: keys.directory: required"},
    {"store: {type: memory}\nkeys: {reload_interval_s: 5}\n", "t.yaml: keys.directory: required"},
    {"store: {type: memory}\nkeys: {directory: \"\"}\n", "t.yaml: keys.directory: must be a non-empty path"},
    {"store: {type: memory}\nkeys: {directory: [a]}\n", "t.yaml: keys.directory: must be a string"},
    {"store: {type: memory}\nkeys: {directory: /k, reload_interval_s: 86401}\n",
     "t.yaml: keys.reload_interval_s: must be an integer 0..86400"},
    // store
    {keys_ok + "store: {tyype: memory}", "t.yaml: store.tyype: unknown key"},
    {keys_ok, "t.yaml: store.lmdb.path: required when store.type is lmdb"},
    {keys_ok + "store: {type: lmdb}", "t.yaml: store.lmdb.path: required when store.type is lmdb"},
    {keys_ok + "store: {type: sqlite}", "t.yaml: store.type: must be one of: lmdb, memory, redis"},
    {keys_ok + "store: {lmdb: {path: /s, map_size_mb: 0}}", "t.yaml: store.lmdb.map_size_mb: must be an integer 1..1048576"},
    {keys_ok + "store: {lmdb: {path: /s, map_size_mb: 1048577}}",
     "t.yaml: store.lmdb.map_size_mb: must be an integer 1..1048576"},
    {keys_ok + "store: {type: redis, redis: {port: 0}}", "t.yaml: store.redis.port: must be an integer 1..65535"},
    {keys_ok + "store: {type: redis, redis: {timeout_ms: 0}}", "t.yaml: store.redis.timeout_ms: must be an integer 1..60000"},
    {keys_ok + "store: {type: redis, redis: {timeout_ms: 60001}}",
     "t.yaml: store.redis.timeout_ms: must be an integer 1..60000"},
    {keys_ok + "store: {type: redis, redis: {pool_size: 257}}", "t.yaml: store.redis.pool_size: must be an integer 1..256"},
    {keys_ok + "store: {type: redis, redis: {pool_size: 0}}", "t.yaml: store.redis.pool_size: must be an integer 1..256"},
    {keys_ok + "store: {type: redis, redis: {key_prefix: \"athm d\"}}", "t.yaml: store.redis.key_prefix: must be non-empty"},
    {keys_ok + "store: {type: redis, redis: {key_prefix: \"\"}}", "t.yaml: store.redis.key_prefix: must be non-empty"},
    {keys_ok + "store: {type: redis, redis: {host: \"bad host\"}}",
     "t.yaml: store.redis.host: not a hostname or IP address: \"bad host\""},
    {keys_ok + "store: {type: redis, redis: {password: [a]}}", "t.yaml: store.redis.password: must be a string"},
    // attester
    {base_ok + "attester: {type: \"\"}", "t.yaml: attester.type: must be a non-empty attester name"},
    {base_ok + "attester: {on_error: maybe}", "t.yaml: attester.on_error: must be one of: open, closed"},
    {base_ok + "attester: {fail_open_bucket: 256}", "t.yaml: attester.fail_open_bucket: must be an integer 0..255"},
    {base_ok + "attester: {deny_status: 404}", "t.yaml: attester.deny_status: must be 403 or 429"},
    {base_ok + "attester: {deny_status: \"429\"}", "t.yaml: attester.deny_status: must be 403 or 429"},
    {base_ok + "attester: {retry_after_s: 0}", "t.yaml: attester.retry_after_s: must be an integer 1..86400"},
    {base_ok + "attester: {static: {bucket: 300}}", "t.yaml: attester.static.bucket: must be an integer 0..255"},
    {base_ok + "attester: {static: {bukket: 1}}", "t.yaml: attester.static.bukket: unknown key"},
    {base_ok + "attester: {header: {default_bucket: 256}}",
     "t.yaml: attester.header.default_bucket: must be an integer 0..255"},
    {base_ok + "attester: {header: {name: \"X Bucket\"}}",
     "t.yaml: attester.header.name: not a valid HTTP header name: \"X Bucket\""},
    {base_ok + "attester: {header: {name: \"\"}}", "t.yaml: attester.header.name: not a valid HTTP header name"},
    {base_ok + "attester: {header: {trusted_cidrs: [10.0.0.0/8, 10.0.0.0/33]}}",
     "t.yaml: attester.header.trusted_cidrs[1]: not a CIDR: 10.0.0.0/33"},
    {base_ok + "attester: {header: {trusted_cidrs: [\"::1/129\"]}}",
     "t.yaml: attester.header.trusted_cidrs[0]: not a CIDR: ::1/129"},
    {base_ok + "attester: {header: {trusted_cidrs: [10.0.0.1/8]}}",
     "t.yaml: attester.header.trusted_cidrs[0]: not a CIDR: 10.0.0.1/8 (address has bits set after the prefix)"},
    {base_ok + "attester: {header: {trusted_cidrs: [10.0.0.0]}}",
     "t.yaml: attester.header.trusted_cidrs[0]: not a CIDR: 10.0.0.0 (expected address/prefix)"},
    {base_ok + "attester: {header: {trusted_cidrs: [example.com/8]}}",
     "t.yaml: attester.header.trusted_cidrs[0]: not a CIDR: example.com/8"},
    {base_ok + "attester: {header: {trusted_cidrs: 10.0.0.0/8}}",
     "t.yaml: attester.header.trusted_cidrs: must be a sequence"},
    {base_ok + "attester: {http: {url: \"https://127.0.0.1:9000/attest\"}}",
     "t.yaml: attester.http.url: must be http://host:port/path: the callout is plain http"},
    {base_ok + "attester: {http: {url: \"http://127.0.0.1/attest\"}}",
     "t.yaml: attester.http.url: must be http://host:port/path: missing port"},
    {base_ok + "attester: {http: {url: \"http://127.0.0.1:9000\"}}",
     "t.yaml: attester.http.url: must be http://host:port/path: missing path"},
    {base_ok + "attester: {type: http}", "t.yaml: attester.http.url: required when attester.type is http"},
    {base_ok + "attester: {http: {timeout_ms: 0}}", "t.yaml: attester.http.timeout_ms: must be an integer 1..60000"},
    {base_ok + "attester: {http: {forward_headers: [User-Agent, \"Bad Header\"]}}",
     "t.yaml: attester.http.forward_headers[1]: not a valid HTTP header name"},
    {base_ok + "attester: {http: {forward_headers: [User-Agent, user-agent]}}",
     "t.yaml: attester.http.forward_headers[1]: duplicate header name"},
    // logging and server
    {base_ok + "logging: {level: verbose}",
     "t.yaml: logging.level: must be one of: trace, debug, info, warn, error, off"},
    {base_ok + "logging: {format: xml}", "t.yaml: logging.format: must be one of: text, json"},
    // Bytes that are not well-formed UTF-8 are escaped; valid UTF-8 is kept.
    {base_ok + "logging: {level: \"\xff\xfe\"}", "t.yaml: logging.level: must be one of: trace, debug, info, warn, error, off, got \"\\xff\\xfe\" (quoted)"},
    {base_ok + "logging: {level: \"\xc3\xa9\xc0\xaf\xed\xa0\x80\"}", "t.yaml: logging.level: must be one of: trace, debug, info, warn, error, off, got \"\xc3\xa9\\xc0\\xaf\\xed\\xa0\\x80\" (quoted)"},
    {base_ok + "logging: {access_log: yes}", "t.yaml: logging.access_log: must be true or false"},
    {base_ok + "logging: {access_log: 1}", "t.yaml: logging.access_log: must be true or false"},
    {base_ok + "logging: {access_log_flush_s: 61}", "t.yaml: logging.access_log_flush_s: must be an integer 0..60"},
    {base_ok + "server: {io_threads: 257}", "t.yaml: server.io_threads: must be an integer 0..256"},
    {base_ok + "server: {shutdown_grace_ms: 600001}", "t.yaml: server.shutdown_grace_ms: must be an integer 0..600000"},
    // document shape
    {base_ok + "storee: {}", "t.yaml: storee: unknown key"},
    {"keys: {directory: /a}\nkeys: {directory: /b}\nstore: {type: memory}\n", "t.yaml: keys: duplicate key"},
    {base_ok + "listeners: {public: {port: 1000, port: 2000}}", "t.yaml: listeners.public.port: duplicate key"},
    {"- a\n- b\n", "t.yaml: (root): must be a mapping"},
    {"just text\n", "t.yaml: (root): must be a mapping"},
    {base_ok + "---\n" + base_ok, "t.yaml: (root): more than one YAML document"},
    // yaml-cpp reports empty documents forever on this input; it must end in
    // an error, not in an endless list of documents.
    {"!,", "t.yaml: (root): more than one YAML document"},
    {"keys: [\n", "t.yaml: line "},
    {"", "t.yaml: keys.directory: required"},
};

// Every mapping in the schema; an extra key in each must be reported there.
const std::vector<std::string> mapping_paths = {
    "",           "listeners",       "listeners.public", "listeners.internal", "listeners.public.tls",
    "limits",     "issuer",          "keys",             "store",              "store.lmdb",
    "store.redis", "attester",       "attester.static",  "attester.header",    "attester.http",
    "logging",    "server",
};

// "a.b.c" -> "a: {b: {c: {bogus_key: 1}}}"
std::string nested_with_unknown(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (!path.empty()) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  std::string text = "bogus_key: 1";
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    text = *it + ": {" + text + "}";
  }
  return text + "\n";
}

void check_defaults(const config& c) {
  const config d;
  CHECK(c.public_listener.address == "0.0.0.0");
  CHECK(c.public_listener.port == 8080);
  CHECK_FALSE(c.public_listener.tls);
  CHECK(c.internal_listener.address == "127.0.0.1");
  CHECK(c.internal_listener.port == 8081);
  CHECK_FALSE(c.internal_listener.tls);
  CHECK(c.limits.max_header_bytes == d.limits.max_header_bytes);
  CHECK(c.limits.max_body_bytes == d.limits.max_body_bytes);
  CHECK(c.limits.read_timeout == d.limits.read_timeout);
  CHECK(c.limits.idle_timeout == d.limits.idle_timeout);
  CHECK(c.limits.write_timeout == d.limits.write_timeout);
  CHECK(c.limits.max_pipelined == d.limits.max_pipelined);
  CHECK(c.limits.max_connections == d.limits.max_connections);
  CHECK(c.issuer.request_uri == "http://127.0.0.1:8080/request");
  CHECK(c.issuer.request_path == "/request");
  CHECK(c.issuer.directory_max_age == 3600s);
  CHECK(c.keys.reload_interval == 30s);
  CHECK(c.store.lmdb.map_size_bytes == (1ull << 30));
  CHECK(c.store.redis.host == "127.0.0.1");
  CHECK(c.store.redis.port == 6379);
  CHECK(c.store.redis.password.empty());
  CHECK(c.store.redis.timeout == 250ms);
  CHECK(c.store.redis.key_prefix == "athmd");
  CHECK(c.store.redis.pool_size == 4);
  CHECK(c.attester.type == "static");
  CHECK(c.attester.on_error == athm::config::fail_mode::closed);
  CHECK(c.attester.fail_open_bucket == 0);
  CHECK(c.attester.deny_status == 403);
  CHECK(c.attester.retry_after == 60s);
  CHECK(c.attester.static_.bucket == 0);
  CHECK(c.attester.header.header == "X-Athm-Bucket");
  CHECK(c.attester.header.trusted_cidrs.empty());
  CHECK_FALSE(c.attester.header.default_bucket);
  CHECK(c.attester.http.url.empty());
  CHECK(c.attester.http.timeout == 200ms);
  CHECK(c.attester.http.forward_headers.empty());
  CHECK(c.logging.level == "info");
  CHECK(c.logging.format == athm::config::log_format::text);
  CHECK(c.logging.access_log);
  CHECK(c.logging.access_log_flush == 1s);
  CHECK(c.server.io_threads == 0);
  CHECK(c.server.shutdown_grace == 10'000ms);
}

// Every field set away from its default. TLS files are relative to the file.
const std::string full_yaml = R"(
listeners:
  public:
    address: "::"
    port: 8443
    tls:
      cert_file: tls/cert.pem
      key_file: tls/key.pem
  internal:
    address: 127.0.0.2
    port: 9091
    tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}
limits:
  max_header_bytes: 4096
  max_body_bytes: 1024
  read_timeout_ms: 5000
  idle_timeout_ms: 30000
  write_timeout_ms: 7000
  max_pipelined: 4
  max_connections: 2000
issuer:
  request_uri: "https://issuer.example.net:8443/v1/token-request"
  directory_max_age_s: 600
keys:
  directory: /srv/keys
  reload_interval_s: 0
store:
  type: redis
  lmdb:
    path: /srv/spent
    map_size_mb: 64
  redis:
    host: redis.internal
    port: 6380
    password: "s3cret pass"
    timeout_ms: 500
    key_prefix: "athmd:test"
    pool_size: 16
attester:
  type: http
  on_error: open
  fail_open_bucket: 3
  deny_status: 429
  retry_after_s: 120
  static:
    bucket: 5
  header:
    name: X-Edge-Bucket
    trusted_cidrs: [10.1.0.0/16, "fd00::/8", 192.0.2.7/32]
    default_bucket: 2
  http:
    url: "http://[::1]:9000/attest?v=1"
    timeout_ms: 150
    forward_headers: [User-Agent, X-Forwarded-For]
logging:
  level: debug
  format: json
  access_log: false
  access_log_flush_s: 0
server:
  io_threads: 3
  shutdown_grace_ms: 2500
)";

void check_full(const config& c, const fs::path& dir, const std::string& password) {
  const std::string cert = (dir / "tls/cert.pem").string();
  const std::string key = (dir / "tls/key.pem").string();
  CHECK(c.public_listener.address == "::");
  CHECK(c.public_listener.port == 8443);
  REQUIRE(c.public_listener.tls);
  CHECK(c.public_listener.tls->cert_file == cert);
  CHECK(c.public_listener.tls->key_file == key);
  CHECK(c.internal_listener.address == "127.0.0.2");
  CHECK(c.internal_listener.port == 9091);
  REQUIRE(c.internal_listener.tls);
  CHECK(c.internal_listener.tls->cert_file == cert);
  CHECK(c.internal_listener.tls->key_file == key);
  CHECK(c.limits.max_header_bytes == 4096);
  CHECK(c.limits.max_body_bytes == 1024);
  CHECK(c.limits.read_timeout == 5000ms);
  CHECK(c.limits.idle_timeout == 30'000ms);
  CHECK(c.limits.write_timeout == 7000ms);
  CHECK(c.limits.max_pipelined == 4);
  CHECK(c.limits.max_connections == 2000);
  CHECK(c.issuer.request_uri == "https://issuer.example.net:8443/v1/token-request");
  CHECK(c.issuer.request_path == "/v1/token-request");
  CHECK(c.issuer.directory_max_age == 600s);
  CHECK(c.keys.directory == "/srv/keys");
  CHECK(c.keys.reload_interval == 0s);
  CHECK(c.store.kind == athm::config::store_kind::redis);
  CHECK(c.store.lmdb.path == "/srv/spent");
  CHECK(c.store.lmdb.map_size_bytes == 64ull * 1024 * 1024);
  CHECK(c.store.redis.host == "redis.internal");
  CHECK(c.store.redis.port == 6380);
  CHECK(c.store.redis.password == password);
  CHECK(c.store.redis.timeout == 500ms);
  CHECK(c.store.redis.key_prefix == "athmd:test");
  CHECK(c.store.redis.pool_size == 16);
  CHECK(c.attester.type == "http");
  CHECK(c.attester.on_error == athm::config::fail_mode::open);
  CHECK(c.attester.fail_open_bucket == 3);
  CHECK(c.attester.deny_status == 429);
  CHECK(c.attester.retry_after == 120s);
  CHECK(c.attester.static_.bucket == 5);
  CHECK(c.attester.header.header == "X-Edge-Bucket");
  CHECK(c.attester.header.trusted_cidrs == std::vector<std::string>{"10.1.0.0/16", "fd00::/8", "192.0.2.7/32"});
  REQUIRE(c.attester.header.default_bucket);
  CHECK(*c.attester.header.default_bucket == 2);
  CHECK(c.attester.http.url == "http://[::1]:9000/attest?v=1");
  CHECK(c.attester.http.host == "::1");
  CHECK(c.attester.http.port == 9000);
  CHECK(c.attester.http.target == "/attest?v=1");
  CHECK(c.attester.http.timeout == 150ms);
  CHECK(c.attester.http.forward_headers == std::vector<std::string>{"User-Agent", "X-Forwarded-For"});
  CHECK(c.logging.level == "debug");
  CHECK(c.logging.format == athm::config::log_format::json);
  CHECK_FALSE(c.logging.access_log);
  CHECK(c.logging.access_log_flush == 0s);
  CHECK(c.server.io_threads == 3);
  CHECK(c.server.shutdown_grace == 2500ms);
}

}  // namespace

TEST_CASE("the base config used by the invalid table is valid") {
  CHECK_NOTHROW(parse_config(base_ok, "t.yaml"));
}

TEST_CASE("invalid configs are rejected with the exact key path") {
  size_t checked = 0;
  for (const invalid_case& c : invalid_cases) {
    INFO("yaml:\n" << c.yaml);
    const std::string msg = parse_error(c.yaml);
    INFO("message: " << msg);
    CHECK(starts_with(msg, c.prefix));
    ++checked;
  }
  CHECK(checked >= 25);
}

TEST_CASE("an unknown key is rejected at every level") {
  for (const std::string& path : mapping_paths) {
    std::string yaml = nested_with_unknown(path);
    if (path.rfind("keys", 0) != 0 && path.rfind("store", 0) != 0 && path.rfind("listeners", 0) != 0 &&
        path.rfind("limits", 0) != 0 && path.rfind("issuer", 0) != 0) {
      yaml = base_ok + yaml;
    } else if (path.rfind("store", 0) == 0) {
      yaml = keys_ok + yaml;
    }
    const std::string expected = "t.yaml: " + (path.empty() ? std::string() : path + ".") + "bogus_key: unknown key";
    INFO("yaml: " << yaml);
    const std::string msg = parse_error(yaml);
    INFO("message: " << msg);
    CHECK(starts_with(msg, expected));
  }
}

TEST_CASE("messages carry the line of the offending key") {
  const std::string msg = parse_error(base_ok + "listeners:\n  public:\n    port: 0\n");
  CHECK(starts_with(msg, "t.yaml: listeners.public.port: must be an integer 1..65535, got 0"));
  CHECK(msg.find("(line 5)") != std::string::npos);
}

TEST_CASE("the default origin names the source") {
  const std::string msg = error_of([] { parse_config("store: {type: memory}\n"); });
  CHECK(msg == "<config>: keys.directory: required");
}

TEST_CASE("absent keys keep the struct defaults") {
  const auto c = parse_config("keys: {directory: /var/lib/athmd/keys}\nstore: {lmdb: {path: /var/lib/athmd/spent}}\n");
  check_defaults(*c);
  CHECK(c->keys.directory == "/var/lib/athmd/keys");
  CHECK(c->store.kind == athm::config::store_kind::lmdb);
  CHECK(c->store.lmdb.path == "/var/lib/athmd/spent");
}

TEST_CASE("empty sections are allowed and keep defaults") {
  const auto c = parse_config(base_ok + "limits:\nissuer: {}\nattester:\nlogging: {}\nserver:\nlisteners: {public: {}}\n");
  check_defaults(*c);
  CHECK(c->store.kind == athm::config::store_kind::memory);
}

TEST_CASE("every field is read, and the dump parses back to the same config") {
  temp_dir dir;
  dir.write("tls/cert.pem", "not checked here\n");
  dir.write("tls/key.pem", "not checked here\n");
  const fs::path file = dir.write("athmd.yaml", full_yaml);

  const auto c = load_config(file.string());
  check_full(*c, dir.path(), "s3cret pass");

  const std::string dump = dump_redacted(*c);
  INFO("dump:\n" << dump);
  CHECK(dump.find("s3cret") == std::string::npos);
  CHECK(dump.find("<redacted>") != std::string::npos);

  const auto again = parse_config(dump, "dump");
  check_full(*again, dir.path(), "<redacted>");
  CHECK(dump_redacted(*again) == dump);
}

TEST_CASE("optional values round-trip when unset") {
  const auto c = parse_config(base_ok + "attester: {header: {default_bucket: ~}}\n");
  CHECK_FALSE(c->attester.header.default_bucket);
  const std::string dump = dump_redacted(*c);
  const auto again = parse_config(dump, "dump");
  CHECK_FALSE(again->attester.header.default_bucket);
  CHECK_FALSE(again->public_listener.tls);
  CHECK(again->attester.http.url.empty());
  CHECK(again->store.kind == athm::config::store_kind::memory);
  CHECK(dump_redacted(*again) == dump);
}

TEST_CASE("dump redacts the redis password only when set") {
  auto c = std::make_shared<config>(*parse_config(keys_ok + "store: {type: redis, redis: {password: hunter2}}\n"));
  CHECK(c->store.redis.password == "hunter2");
  std::string dump = dump_redacted(*c);
  CHECK(dump.find("hunter2") == std::string::npos);
  CHECK(dump.find("password: \"<redacted>\"") != std::string::npos);

  c->store.redis.password.clear();
  dump = dump_redacted(*c);
  CHECK(dump.find("<redacted>") == std::string::npos);
  CHECK(dump.find("password: \"\"") != std::string::npos);
}

TEST_CASE("derived fields: request path, http callout parts") {
  const auto c = parse_config(base_ok +
                              "issuer: {request_uri: \"HTTPS://Issuer.Example:443/a/b%2Fc\"}\n"
                              "attester: {http: {url: \"http://attester.local:8088/check\"}}\n");
  CHECK(c->issuer.request_path == "/a/b%2Fc");
  CHECK(c->attester.http.host == "attester.local");
  CHECK(c->attester.http.port == 8088);
  CHECK(c->attester.http.target == "/check");
  CHECK(starts_with(parse_error(base_ok + "issuer: {request_uri: \"https://x.example/a%2\"}\n"),
                    "t.yaml: issuer.request_uri: must be an absolute http(s) URL with a host and a path: invalid character in path"));
}

TEST_CASE("addresses and CIDRs are normalised") {
  const auto c = parse_config(base_ok +
                              "listeners: {internal: {address: \"0:0::1\"}}\n"
                              "attester: {header: {trusted_cidrs: [\"0::0/0\", 0.0.0.0/0, \"2001:DB8::/32\"]}}\n");
  CHECK(c->internal_listener.address == "::1");
  CHECK(c->attester.header.trusted_cidrs == std::vector<std::string>{"::/0", "0.0.0.0/0", "2001:db8::/32"});
}

TEST_CASE("listeners on different families with the same port do not collide") {
  const auto c = parse_config(base_ok + "listeners: {public: {address: 0.0.0.0, port: 9000}, internal: {address: \"::1\", port: 9000}}\n");
  CHECK(c->public_listener.port == c->internal_listener.port);
}

TEST_CASE("relative paths resolve against the config file's directory") {
  temp_dir dir;
  dir.write("certs/c.pem", "x");
  dir.write("certs/k.pem", "x");
  const fs::path file = dir.write("conf/athmd.yaml",
                                  "keys: {directory: keys/}\n"
                                  "store: {lmdb: {path: ./data/../spent}}\n"
                                  "listeners: {public: {tls: {cert_file: ../certs/c.pem, key_file: ../certs/k.pem}}}\n");
  const auto c = load_config(file.string());
  CHECK(c->keys.directory == (dir.path() / "conf/keys").string());
  CHECK(c->store.lmdb.path == (dir.path() / "conf/spent").string());
  REQUIRE(c->public_listener.tls);
  CHECK(c->public_listener.tls->cert_file == (dir.path() / "certs/c.pem").string());
  CHECK(c->public_listener.tls->key_file == (dir.path() / "certs/k.pem").string());

  // The same file seen from parse_config resolves against the current directory,
  // where the TLS files do not exist.
  const std::string msg = error_of([&] {
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    parse_config(text, "p.yaml");
  });
  const std::string missing = (fs::current_path() / "../certs/c.pem").lexically_normal().string();
  CHECK(starts_with(msg, "p.yaml: listeners.public.tls.cert_file: no such file: " + missing));
}

TEST_CASE("parse_config resolves relative paths against the current directory") {
  const auto c = parse_config("keys: {directory: k}\nstore: {lmdb: {path: s}}\n");
  CHECK(c->keys.directory == (fs::current_path() / "k").string());
  CHECK(c->store.lmdb.path == (fs::current_path() / "s").string());
  const auto abs = parse_config("keys: {directory: /a/b/../c}\nstore: {type: memory}\n");
  CHECK(abs->keys.directory == "/a/c");
}

TEST_CASE("a missing TLS key file is named with its resolved path") {
  temp_dir dir;
  dir.write("cert.pem", "x");
  const fs::path file = dir.write("athmd.yaml", base_ok + "listeners:\n  internal:\n    tls: {cert_file: cert.pem, key_file: key.pem}\n");
  const std::string msg = error_of([&] { load_config(file.string()); });
  CHECK(starts_with(msg, file.string() + ": listeners.internal.tls.key_file: no such file: " + (dir.path() / "key.pem").string()));
}

TEST_CASE("load_config errors start with the file name") {
  CHECK(error_of([] { load_config("/nonexistent-athm-dir/athmd.yaml"); }) ==
        "/nonexistent-athm-dir/athmd.yaml: cannot read config file: no such file");

  temp_dir dir;
  CHECK(error_of([&] { load_config(dir.path().string()); }) ==
        dir.path().string() + ": cannot read config file: not a regular file");

  const fs::path bad = dir.write("bad.yaml", base_ok + "listeners: {public: {port: 0}}\n");
  CHECK(starts_with(error_of([&] { load_config(bad.string()); }),
                    bad.string() + ": listeners.public.port: must be an integer 1..65535"));

  const fs::path big = dir.write("big.yaml", std::string(2 * 1024 * 1024, '#'));
  CHECK(starts_with(error_of([&] { load_config(big.string()); }), big.string() + ": cannot read config file: larger than"));
}

TEST_CASE("the shipped example configs load") {
  const fs::path deploy = fs::path(ATHM_SOURCE_DIR) / "deploy" / "config";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(deploy)) {
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 2);
  for (const fs::path& f : files) {
    INFO("file: " << f);
    std::shared_ptr<const config> c;
    REQUIRE_NOTHROW(c = load_config(f.string()));
    // The dump of each example parses back to the same dump.
    const std::string dump = dump_redacted(*c);
    CHECK(dump_redacted(*parse_config(dump, "dump")) == dump);
  }

  const auto single = load_config((deploy / "athmd.yaml").string());
  CHECK(single->store.kind == athm::config::store_kind::lmdb);
  CHECK(single->store.lmdb.path == "/var/lib/athmd/spent");
  CHECK(single->keys.directory == "/var/lib/athmd/keys");
  CHECK(single->attester.type == "static");

  const auto fleet = load_config((deploy / "athmd-fleet.yaml").string());
  CHECK(fleet->store.kind == athm::config::store_kind::redis);
  CHECK(fleet->store.redis.key_prefix == "athmd:prod");
  CHECK(fleet->attester.type == "header");
  CHECK(fleet->attester.deny_status == 429);
  CHECK(fleet->attester.header.trusted_cidrs == std::vector<std::string>{"10.0.1.0/24", "fd00:10:0:1::/64"});
  CHECK_FALSE(fleet->attester.header.default_bucket);
}
