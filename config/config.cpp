#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace athm::config {
namespace {

namespace fs = std::filesystem;
namespace ip = boost::asio::ip;

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * 1024;
constexpr uint64_t hour_ms = 3'600'000;
constexpr uint64_t day_s = 86'400;
constexpr uint64_t week_s = 7 * day_s;
// A config file is a few kilobytes; anything near this is a mistake.
constexpr uint64_t max_config_file_bytes = 1 * mib;
// The issuer directory is served here, so issuance cannot share the path.
constexpr std::string_view directory_path = "/.well-known/private-token-issuer-directory";

// One value in the document and the key path that led to it.
struct field {
  std::string path;
  YAML::Node node;
  int line = 0;  // 1-based line of the key or item; 0 when unknown
};

// Length of the well-formed UTF-8 sequence at the start of |s| (RFC 3629:
// no overlong forms, no surrogates, at most U+10FFFF), or 0.
size_t utf8_sequence_length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
  const unsigned char c = b(0);
  if (c >= 0xc2 && c <= 0xdf) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) > 0x9f)) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if ((c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) > 0x8f)) return 0;
    return 4;
  }
  return 0;
}

// Keeps user text in messages readable, valid UTF-8 and on one line:
// control characters and bytes that are not part of well-formed UTF-8
// become \xNN.
std::string printable(std::string_view s) {
  constexpr size_t max_len = 200;
  const std::string_view head = s.substr(0, std::min(s.size(), max_len));
  std::string out;
  for (size_t i = 0; i < head.size();) {
    const auto ch = static_cast<unsigned char>(head[i]);
    if (ch >= 0x20 && ch < 0x7f) {
      out += static_cast<char>(ch);
      ++i;
      continue;
    }
    if (ch >= 0x80) {
      if (const size_t n = utf8_sequence_length(head.substr(i)); n > 0) {
        out.append(head.substr(i, n));
        i += n;
        continue;
      }
    }
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[ch >> 4];
    out += hex[ch & 0xf];
    ++i;
  }
  if (s.size() > max_len) {
    out += "...";
  }
  return out;
}

std::string join(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) {
    out += '.';
  }
  out += printable(key);
  return out;
}

int line_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

[[noreturn]] void fail(const std::string& path, int line, const std::string& reason) {
  std::string msg = path.empty() ? std::string("(root)") : path;
  msg += ": ";
  msg += reason;
  if (line > 0) {
    msg += " (line " + std::to_string(line) + ")";
  }
  throw config_error(msg);
}

[[noreturn]] void fail(const field& f, const std::string& reason) {
  fail(f.path, f.line, reason);
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) {
    return "nothing";
  }
  if (n.IsMap()) {
    return "a mapping";
  }
  if (n.IsSequence()) {
    return "a sequence";
  }
  if (n.Tag() == "!") {
    return "\"" + printable(n.Scalar()) + "\" (quoted)";
  }
  return printable(n.Scalar());
}

// A mapping whose keys have been checked against the allowed set, in
// document order, so the first unknown or repeated key is the one reported.
class section {
 public:
  section(const field& f, std::initializer_list<std::string_view> known)
      : path_(f.path), line_(f.line) {
    if (!f.node.IsDefined() || f.node.IsNull()) {
      return;
    }
    if (!f.node.IsMap()) {
      fail(f, "must be a mapping, got " + describe(f.node));
    }
    for (const auto& kv : f.node) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        fail(path_, line_of(key), "keys must be plain strings");
      }
      const std::string& name = key.Scalar();
      field child{join(path_, name), kv.second, line_of(key)};
      if (std::find(known.begin(), known.end(), std::string_view(name)) == known.end()) {
        fail(child, "unknown key");
      }
      if (get(name) != nullptr) {
        fail(child, "duplicate key");
      }
      entries_.emplace_back(name, std::move(child));
    }
  }

  const field* get(std::string_view key) const {
    for (const auto& [name, f] : entries_) {
      if (name == key) {
        return &f;
      }
    }
    return nullptr;
  }

  std::string child_path(std::string_view key) const { return join(path_, key); }
  const std::string& path() const { return path_; }
  int line() const { return line_; }

 private:
  std::string path_;
  int line_ = 0;
  std::vector<std::pair<std::string, field>> entries_;
};

// Strict decimal: digits only, no sign, no leading zeros (YAML 1.1 reads
// those as octal), no separators.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    const uint64_t d = static_cast<uint64_t>(ch - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return std::nullopt;
    }
    v = v * 10 + d;
  }
  return v;
}

bool is_plain_or_tagged(const YAML::Node& n, std::string_view tag) {
  return n.IsScalar() && (n.Tag() == "?" || n.Tag() == tag);
}

std::optional<uint64_t> integer_of(const YAML::Node& n) {
  if (!is_plain_or_tagged(n, "tag:yaml.org,2002:int")) {
    return std::nullopt;
  }
  return parse_decimal(n.Scalar());
}

uint64_t read_uint(const field& f, uint64_t lo, uint64_t hi) {
  const std::optional<uint64_t> v = integer_of(f.node);
  if (!v || *v < lo || *v > hi) {
    fail(f, "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                describe(f.node));
  }
  return *v;
}

std::string read_string(const field& f) {
  if (!f.node.IsScalar()) {
    fail(f, "must be a string, got " + describe(f.node));
  }
  const std::string& s = f.node.Scalar();
  if (s.find('\0') != std::string::npos) {
    fail(f, "must not contain NUL characters");
  }
  return s;
}

bool read_bool(const field& f) {
  if (is_plain_or_tagged(f.node, "tag:yaml.org,2002:bool")) {
    if (f.node.Scalar() == "true") {
      return true;
    }
    if (f.node.Scalar() == "false") {
      return false;
    }
  }
  fail(f, "must be true or false, got " + describe(f.node));
}

std::string read_choice(const field& f, std::initializer_list<std::string_view> choices) {
  std::string list;
  for (std::string_view c : choices) {
    list += list.empty() ? "" : ", ";
    list += c;
  }
  if (f.node.IsScalar()) {
    const std::string& s = f.node.Scalar();
    if (std::find(choices.begin(), choices.end(), std::string_view(s)) != choices.end()) {
      return s;
    }
  }
  fail(f, "must be one of: " + list + ", got " + describe(f.node));
}

// Items of a sequence, with "path[i]" paths. A null value is an empty list.
std::vector<field> read_sequence(const field& f) {
  std::vector<field> items;
  if (!f.node.IsDefined() || f.node.IsNull()) {
    return items;
  }
  if (!f.node.IsSequence()) {
    fail(f, "must be a sequence, got " + describe(f.node));
  }
  size_t i = 0;
  for (const auto& item : f.node) {
    const int line = line_of(item);
    items.push_back(field{f.path + "[" + std::to_string(i) + "]", item, line > 0 ? line : f.line});
    ++i;
  }
  return items;
}

// Path relative to |base| when not absolute, normalised, without a
// trailing separator.
std::string read_path(const field& f, const fs::path& base) {
  const std::string s = read_string(f);
  if (s.empty()) {
    fail(f, "must be a non-empty path");
  }
  fs::path p(s);
  if (p.is_relative()) {
    p = base / p;
  }
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) {
    p = p.parent_path();
  }
  return p.string();
}

void check_readable_file(const field& f, const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    fail(f, "no such file: " + printable(path));
  }
  if (ec) {
    fail(f, "cannot access " + printable(path) + ": " + ec.message());
  }
  if (!fs::is_regular_file(st)) {
    fail(f, "not a regular file: " + printable(path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(f, "not readable: " + printable(path));
  }
}

std::optional<ip::address> address_of(const std::string& s) {
  boost::system::error_code ec;
  ip::address a = ip::make_address(s, ec);
  if (ec) {
    return std::nullopt;
  }
  return a;
}

std::string read_address(const field& f) {
  const std::string s = read_string(f);
  const std::optional<ip::address> a = address_of(s);
  if (!a) {
    fail(f, "not an IPv4 or IPv6 address: " + printable(s));
  }
  return a->to_string();
}

// "address/prefix" with the prefix in range and no bits set after it.
std::string read_cidr(const field& f) {
  const std::string s = read_string(f);
  const std::string bad = "not a CIDR: " + printable(s);
  const size_t slash = s.find('/');
  if (slash == std::string::npos) {
    fail(f, bad + " (expected address/prefix)");
  }
  const std::string addr_text = s.substr(0, slash);
  if (addr_text.find('%') != std::string::npos) {
    fail(f, bad);
  }
  const std::optional<ip::address> a = address_of(addr_text);
  const std::string_view len_text = std::string_view(s).substr(slash + 1);
  const std::optional<uint64_t> len = len_text.size() <= 3 ? parse_decimal(len_text) : std::nullopt;
  if (!a || !len) {
    fail(f, bad);
  }
  std::vector<unsigned char> bytes;
  if (a->is_v4()) {
    const auto b = a->to_v4().to_bytes();
    bytes.assign(b.begin(), b.end());
  } else {
    const auto b = a->to_v6().to_bytes();
    bytes.assign(b.begin(), b.end());
  }
  if (*len > bytes.size() * 8) {
    fail(f, bad);
  }
  for (size_t bit = *len; bit < bytes.size() * 8; ++bit) {
    if ((bytes[bit / 8] >> (7 - bit % 8)) & 1) {
      fail(f, bad + " (address has bits set after the prefix)");
    }
  }
  return a->to_string() + "/" + std::to_string(*len);
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_http_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string read_header_name(const field& f) {
  const std::string s = read_string(f);
  if (!is_http_token(s)) {
    fail(f, "not a valid HTTP header name: \"" + printable(s) + "\"");
  }
  return s;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// DNS name: dot-separated labels of letters, digits and hyphens.
bool is_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-') {
        return false;
      }
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

// RFC 3986 pchar plus the extra characters allowed at this position, with
// every '%' starting a two-digit escape.
bool is_uri_part(std::string_view s, std::string_view extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
        return false;
      }
      i += 2;
      continue;
    }
    if (is_alnum(c) || std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos ||
        extra.find(c) != std::string_view::npos) {
      continue;
    }
    return false;
  }
  return true;
}

struct url_parts {
  std::string scheme;  // lower case
  std::string host;    // IPv6 without brackets
  std::optional<uint16_t> port;
  std::string path;
  std::optional<std::string> query;
};

// Splits an absolute http(s) URL. Returns the reason it is unusable, or an
// empty string on success.
std::string parse_url(std::string_view s, url_parts& out) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return "contains a space, control or non-ASCII character";
    }
  }
  const size_t sep = s.find("://");
  if (sep == std::string_view::npos) {
    return "not an absolute URL";
  }
  out.scheme.clear();
  for (char c : s.substr(0, sep)) {
    out.scheme += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  }
  if (out.scheme != "http" && out.scheme != "https") {
    return "scheme must be http or https";
  }
  const std::string_view rest = s.substr(sep + 3);
  const size_t auth_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, auth_end);
  const std::string_view tail =
      auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) {
    return "user information is not allowed";
  }
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return "invalid IPv6 host";
    }
    out.host = std::string(authority.substr(1, close - 1));
    boost::system::error_code ec;
    ip::make_address_v6(out.host, ec);
    if (ec || out.host.find('%') != std::string::npos) {
      return "invalid IPv6 host";
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return "invalid host";
      }
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) {
      return "missing host";
    }
    if (!is_hostname(out.host) && !address_of(out.host)) {
      return "invalid host";
    }
  }
  out.port.reset();
  if (port_text) {
    const std::optional<uint64_t> p = port_text->size() <= 5 ? parse_decimal(*port_text) : std::nullopt;
    if (!p || *p < 1 || *p > 65535) {
      return "invalid port";
    }
    out.port = static_cast<uint16_t>(*p);
  }
  if (tail.find('#') != std::string_view::npos) {
    return "fragment is not allowed";
  }
  const size_t q = tail.find('?');
  const std::string_view path = tail.substr(0, q);
  if (path.empty() || path.front() != '/') {
    return "missing path (must start with /)";
  }
  if (!is_uri_part(path, "/")) {
    return "invalid character in path";
  }
  out.path = std::string(path);
  out.query.reset();
  if (q != std::string_view::npos) {
    const std::string_view query = tail.substr(q + 1);
    if (!is_uri_part(query, "/?")) {
      return "invalid character in query";
    }
    out.query = std::string(query);
  }
  return {};
}

listener_config read_listener(const field& f, listener_config out, const fs::path& base) {
  const section s(f, {"address", "port", "tls"});
  if (const field* v = s.get("address")) {
    out.address = read_address(*v);
  }
  if (const field* v = s.get("port")) {
    out.port = static_cast<uint16_t>(read_uint(*v, 1, 65535));
  }
  if (const field* v = s.get("tls")) {
    const section ts(*v, {"cert_file", "key_file"});
    tls_config tls;
    for (const auto& [key, dest] : {std::pair{"cert_file", &tls.cert_file}, std::pair{"key_file", &tls.key_file}}) {
      const field* file = ts.get(key);
      if (file == nullptr) {
        fail(ts.child_path(key), ts.line(), "required when tls is set");
      }
      *dest = read_path(*file, base);
      check_readable_file(*file, *dest);
    }
    out.tls = std::move(tls);
  }
  return out;
}

// True when binding both would collide: same address, or a wildcard that
// covers the other (0.0.0.0 covers IPv4; :: covers both on dual-stack hosts).
bool listeners_overlap(const listener_config& a, const listener_config& b) {
  if (a.port != b.port) {
    return false;
  }
  const std::optional<ip::address> x = address_of(a.address);
  const std::optional<ip::address> y = address_of(b.address);
  if (!x || !y) {
    return a.address == b.address;
  }
  const auto covers = [](const ip::address& w, const ip::address& o) {
    return w.is_unspecified() && (w.is_v6() || o.is_v4());
  };
  return *x == *y || covers(*x, *y) || covers(*y, *x);
}

void read_listeners(const field& f, config& c, const fs::path& base) {
  const section s(f, {"public", "internal"});
  if (const field* v = s.get("public")) {
    c.public_listener = read_listener(*v, c.public_listener, base);
  }
  if (const field* v = s.get("internal")) {
    c.internal_listener = read_listener(*v, c.internal_listener, base);
  }
  if (listeners_overlap(c.public_listener, c.internal_listener)) {
    const field* v = s.get("internal");
    fail(s.child_path("internal"), v != nullptr ? v->line : s.line(),
         "address " + c.internal_listener.address + " port " +
             std::to_string(c.internal_listener.port) + " collides with listeners.public (" +
             c.public_listener.address + " port " + std::to_string(c.public_listener.port) + ")");
  }
}

void read_limits(const field& f, limits_config& out) {
  const section s(f, {"max_header_bytes", "max_body_bytes", "read_timeout_ms", "idle_timeout_ms",
                      "write_timeout_ms", "max_pipelined", "max_connections"});
  if (const field* v = s.get("max_header_bytes")) {
    out.max_header_bytes = static_cast<uint32_t>(read_uint(*v, 1 * kib, 64 * kib));
  }
  if (const field* v = s.get("max_body_bytes")) {
    out.max_body_bytes = static_cast<uint32_t>(read_uint(*v, 1, 1 * mib));
  }
  if (const field* v = s.get("read_timeout_ms")) {
    out.read_timeout = std::chrono::milliseconds(read_uint(*v, 1, hour_ms));
  }
  if (const field* v = s.get("idle_timeout_ms")) {
    out.idle_timeout = std::chrono::milliseconds(read_uint(*v, 1, hour_ms));
  }
  if (const field* v = s.get("write_timeout_ms")) {
    out.write_timeout = std::chrono::milliseconds(read_uint(*v, 1, hour_ms));
  }
  if (const field* v = s.get("max_pipelined")) {
    out.max_pipelined = static_cast<uint32_t>(read_uint(*v, 1, 1024));
  }
  if (const field* v = s.get("max_connections")) {
    out.max_connections = static_cast<uint32_t>(read_uint(*v, 1, 1'000'000));
  }
}

void read_issuer(const field& f, issuer_config& out) {
  const section s(f, {"request_uri", "directory_max_age_s"});
  if (const field* v = s.get("request_uri")) {
    const std::string uri = read_string(*v);
    url_parts u;
    std::string reason = parse_url(uri, u);
    if (reason.empty() && u.query) {
      reason = "query is not allowed";
    }
    if (reason.empty() && u.path == directory_path) {
      reason = "path is reserved for the issuer directory";
    }
    if (!reason.empty()) {
      fail(*v, "must be an absolute http(s) URL with a host and a path: " + reason + ": " +
                   printable(uri));
    }
    out.request_uri = uri;
    out.request_path = u.path;
  }
  if (const field* v = s.get("directory_max_age_s")) {
    out.directory_max_age = std::chrono::seconds(read_uint(*v, 0, week_s));
  }
}

void read_keys(const field& f, keys_config& out, const fs::path& base) {
  const section s(f, {"directory", "reload_interval_s"});
  if (const field* v = s.get("directory")) {
    out.directory = read_path(*v, base);
  } else {
    fail(s.child_path("directory"), s.line(), "required");
  }
  if (const field* v = s.get("reload_interval_s")) {
    out.reload_interval = std::chrono::seconds(read_uint(*v, 0, day_s));
  }
}

void read_store(const field& f, store_config& out, const fs::path& base) {
  const section s(f, {"type", "lmdb", "redis"});
  if (const field* v = s.get("type")) {
    const std::string t = read_choice(*v, {"lmdb", "memory", "redis"});
    out.kind = t == "lmdb" ? store_kind::lmdb : t == "memory" ? store_kind::memory : store_kind::redis;
  }
  const field* lmdb_field = s.get("lmdb");
  if (lmdb_field != nullptr) {
    const section ls(*lmdb_field, {"path", "map_size_mb"});
    if (const field* v = ls.get("path")) {
      out.lmdb.path = read_path(*v, base);
    }
    if (const field* v = ls.get("map_size_mb")) {
      out.lmdb.map_size_bytes = read_uint(*v, 1, 1'048'576) * mib;
    }
  }
  if (const field* r = s.get("redis")) {
    const section rs(*r, {"host", "port", "password", "timeout_ms", "key_prefix", "pool_size"});
    if (const field* v = rs.get("host")) {
      const std::string host = read_string(*v);
      if (!is_hostname(host) && !address_of(host)) {
        fail(*v, "not a hostname or IP address: \"" + printable(host) + "\"");
      }
      out.redis.host = host;
    }
    if (const field* v = rs.get("port")) {
      out.redis.port = static_cast<uint16_t>(read_uint(*v, 1, 65535));
    }
    if (const field* v = rs.get("password")) {
      out.redis.password = read_string(*v);
    }
    if (const field* v = rs.get("timeout_ms")) {
      out.redis.timeout = std::chrono::milliseconds(read_uint(*v, 1, 60'000));
    }
    if (const field* v = rs.get("key_prefix")) {
      const std::string prefix = read_string(*v);
      const bool ok = !prefix.empty() && std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return is_alnum(c) || c == '_' || c == ':' || c == '.' || c == '-';
      });
      if (!ok) {
        fail(*v, "must be non-empty and use only A-Z a-z 0-9 _ : . -, got \"" + printable(prefix) + "\"");
      }
      out.redis.key_prefix = prefix;
    }
    if (const field* v = rs.get("pool_size")) {
      out.redis.pool_size = static_cast<uint32_t>(read_uint(*v, 1, 256));
    }
  }
  if (out.kind == store_kind::lmdb && out.lmdb.path.empty()) {
    fail(s.child_path("lmdb") + ".path", lmdb_field != nullptr ? lmdb_field->line : s.line(),
         "required when store.type is lmdb");
  }
}

void read_attester(const field& f, attester_config& out) {
  const section s(f, {"type", "on_error", "fail_open_bucket", "deny_status", "retry_after_s", "static",
                      "header", "http"});
  if (const field* v = s.get("type")) {
    const std::string t = read_string(*v);
    const bool ok = !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
      return is_alnum(c) || c == '_' || c == '-' || c == '.';
    });
    if (!ok) {
      fail(*v, "must be a non-empty attester name (A-Z a-z 0-9 _ - .), got \"" + printable(t) + "\"");
    }
    out.type = t;
  }
  if (const field* v = s.get("on_error")) {
    out.on_error = read_choice(*v, {"open", "closed"}) == "open" ? fail_mode::open : fail_mode::closed;
  }
  if (const field* v = s.get("fail_open_bucket")) {
    out.fail_open_bucket = static_cast<uint32_t>(read_uint(*v, 0, 255));
  }
  if (const field* v = s.get("deny_status")) {
    const std::optional<uint64_t> status = integer_of(v->node);
    if (!status || (*status != 403 && *status != 429)) {
      fail(*v, "must be 403 or 429, got " + describe(v->node));
    }
    out.deny_status = static_cast<uint32_t>(*status);
  }
  if (const field* v = s.get("retry_after_s")) {
    out.retry_after = std::chrono::seconds(read_uint(*v, 1, day_s));
  }
  if (const field* st = s.get("static")) {
    const section ss(*st, {"bucket"});
    if (const field* v = ss.get("bucket")) {
      out.static_.bucket = static_cast<uint32_t>(read_uint(*v, 0, 255));
    }
  }
  if (const field* h = s.get("header")) {
    const section hs(*h, {"name", "trusted_cidrs", "default_bucket"});
    if (const field* v = hs.get("name")) {
      out.header.header = read_header_name(*v);
    }
    if (const field* v = hs.get("trusted_cidrs")) {
      out.header.trusted_cidrs.clear();
      for (const field& item : read_sequence(*v)) {
        out.header.trusted_cidrs.push_back(read_cidr(item));
      }
    }
    if (const field* v = hs.get("default_bucket")) {
      if (v->node.IsNull()) {
        out.header.default_bucket.reset();
      } else {
        out.header.default_bucket = static_cast<uint32_t>(read_uint(*v, 0, 255));
      }
    }
  }
  const field* http_field = s.get("http");
  if (http_field != nullptr) {
    const section hs(*http_field, {"url", "timeout_ms", "forward_headers"});
    if (const field* v = hs.get("url")) {
      const std::string url = read_string(*v);
      url_parts u;
      std::string reason = parse_url(url, u);
      if (reason.empty() && u.scheme != "http") {
        reason = "the callout is plain http";
      }
      if (reason.empty() && !u.port) {
        reason = "missing port";
      }
      if (!reason.empty()) {
        fail(*v, "must be http://host:port/path: " + reason + ": " + printable(url));
      }
      out.http.url = url;
      out.http.host = u.host;
      out.http.port = *u.port;
      out.http.target = u.path + (u.query ? "?" + *u.query : std::string());
    }
    if (const field* v = hs.get("timeout_ms")) {
      out.http.timeout = std::chrono::milliseconds(read_uint(*v, 1, 60'000));
    }
    if (const field* v = hs.get("forward_headers")) {
      out.http.forward_headers.clear();
      for (const field& item : read_sequence(*v)) {
        std::string name = read_header_name(item);
        for (const std::string& seen : out.http.forward_headers) {
          const bool same = std::equal(seen.begin(), seen.end(), name.begin(), name.end(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          });
          if (same) {
            fail(item, "duplicate header name: " + name);
          }
        }
        out.http.forward_headers.push_back(std::move(name));
      }
    }
  }
  if (out.type == "http" && out.http.url.empty()) {
    fail(s.child_path("http") + ".url", http_field != nullptr ? http_field->line : s.line(),
         "required when attester.type is http");
  }
}

void read_logging(const field& f, logging_config& out) {
  const section s(f, {"level", "format", "access_log", "access_log_flush_s"});
  if (const field* v = s.get("level")) {
    out.level = read_choice(*v, {"trace", "debug", "info", "warn", "error", "off"});
  }
  if (const field* v = s.get("format")) {
    out.format = read_choice(*v, {"text", "json"}) == "json" ? log_format::json : log_format::text;
  }
  if (const field* v = s.get("access_log")) {
    out.access_log = read_bool(*v);
  }
  if (const field* v = s.get("access_log_flush_s")) {
    out.access_log_flush = std::chrono::seconds(read_uint(*v, 0, 60));
  }
}

void read_server(const field& f, server_config& out) {
  const section s(f, {"io_threads", "shutdown_grace_ms"});
  if (const field* v = s.get("io_threads")) {
    out.io_threads = static_cast<uint32_t>(read_uint(*v, 0, 256));
  }
  if (const field* v = s.get("shutdown_grace_ms")) {
    out.shutdown_grace = std::chrono::milliseconds(read_uint(*v, 0, 600'000));
  }
}

void read_config(const YAML::Node& doc, const fs::path& base, config& c) {
  const field root{"", doc, 0};
  const section s(root, {"listeners", "limits", "issuer", "keys", "store", "attester", "logging", "server"});
  if (const field* v = s.get("listeners")) {
    read_listeners(*v, c, base);
  }
  if (const field* v = s.get("limits")) {
    read_limits(*v, c.limits);
  }
  if (const field* v = s.get("issuer")) {
    read_issuer(*v, c.issuer);
  }
  if (const field* v = s.get("keys")) {
    read_keys(*v, c.keys, base);
  } else {
    fail("keys.directory", 0, "required");
  }
  if (const field* v = s.get("store")) {
    read_store(*v, c.store, base);
  } else if (c.store.kind == store_kind::lmdb) {
    fail("store.lmdb.path", 0, "required when store.type is lmdb");
  }
  if (const field* v = s.get("attester")) {
    read_attester(*v, c.attester);
  }
  if (const field* v = s.get("logging")) {
    read_logging(*v, c.logging);
  }
  if (const field* v = s.get("server")) {
    read_server(*v, c.server);
  }
}

// Discards the parser's events: used to count documents.
struct ignore_events : YAML::EventHandler {
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The documents in |text|, at most two. Not YAML::LoadAll: on some inputs
// (e.g. "!,") yaml-cpp 0.7's parser reports an empty document forever
// without consuming input, and LoadAll allocates until the process dies
// (found by fuzz_config).
std::vector<YAML::Node> load_at_most_two(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  ignore_events ignore;
  size_t n = 0;
  while (n < 2 && parser.HandleNextDocument(ignore)) {
    ++n;
  }
  if (n == 0) {
    return {};
  }
  if (n > 1) {
    return {YAML::Node(), YAML::Node()};
  }
  return {YAML::Load(text)};
}

std::shared_ptr<const config> parse_with_base(const std::string& text, const std::string& origin,
                                              const fs::path& base) {
  std::vector<YAML::Node> docs;
  try {
    docs = load_at_most_two(text);
  } catch (const YAML::Exception& e) {
    std::string where;
    if (!e.mark.is_null()) {
      where = "line " + std::to_string(e.mark.line + 1) + ", column " + std::to_string(e.mark.column + 1) + ": ";
    }
    throw config_error(origin + ": " + where + "invalid YAML: " + e.msg);
  }
  if (docs.size() > 1) {
    throw config_error(origin + ": (root): more than one YAML document");
  }
  const YAML::Node doc = docs.empty() ? YAML::Node() : docs.front();
  auto c = std::make_shared<config>();
  try {
    read_config(doc, base, *c);
  } catch (const config_error& e) {
    throw config_error(origin + ": " + e.what());
  } catch (const YAML::Exception& e) {
    throw config_error(origin + ": invalid YAML: " + e.msg);
  }
  return c;
}

const char* name_of(store_kind k) {
  switch (k) {
    case store_kind::lmdb:
      return "lmdb";
    case store_kind::memory:
      return "memory";
    case store_kind::redis:
      return "redis";
  }
  return "lmdb";
}

void emit_listener(YAML::Emitter& out, const char* name, const listener_config& l) {
  out << YAML::Key << name << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << YAML::DoubleQuoted << l.address;
  out << YAML::Key << "port" << YAML::Value << l.port;
  if (l.tls) {
    out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "cert_file" << YAML::Value << YAML::DoubleQuoted << l.tls->cert_file;
    out << YAML::Key << "key_file" << YAML::Value << YAML::DoubleQuoted << l.tls->key_file;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void emit_string_list(YAML::Emitter& out, const char* name, const std::vector<std::string>& items) {
  out << YAML::Key << name << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& s : items) {
    out << YAML::DoubleQuoted << s;
  }
  out << YAML::EndSeq;
}

}  // namespace

std::shared_ptr<const config> parse_config(const std::string& yaml_text, const std::string& origin) {
  std::error_code ec;
  fs::path base = fs::current_path(ec);
  if (ec) {
    throw config_error(origin + ": cannot determine the current directory: " + ec.message());
  }
  return parse_with_base(yaml_text, origin, base);
}

std::shared_ptr<const config> load_config(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    throw config_error(path + ": cannot read config file: no such file");
  }
  if (ec) {
    throw config_error(path + ": cannot read config file: " + ec.message());
  }
  if (!fs::is_regular_file(st)) {
    throw config_error(path + ": cannot read config file: not a regular file");
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    throw config_error(path + ": cannot read config file: " + ec.message());
  }
  if (size > max_config_file_bytes) {
    throw config_error(path + ": cannot read config file: larger than " +
                       std::to_string(max_config_file_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw config_error(path + ": cannot read config file: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw config_error(path + ": cannot read config file: read error");
  }
  const fs::path absolute = fs::absolute(fs::path(path), ec);
  if (ec) {
    throw config_error(path + ": cannot resolve path: " + ec.message());
  }
  return parse_with_base(text.str(), path, absolute.parent_path());
}

std::string dump_redacted(const config& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;

  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginMap;
  emit_listener(out, "public", c.public_listener);
  emit_listener(out, "internal", c.internal_listener);
  out << YAML::EndMap;

  const limits_config& l = c.limits;
  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_header_bytes" << YAML::Value << l.max_header_bytes;
  out << YAML::Key << "max_body_bytes" << YAML::Value << l.max_body_bytes;
  out << YAML::Key << "read_timeout_ms" << YAML::Value << l.read_timeout.count();
  out << YAML::Key << "idle_timeout_ms" << YAML::Value << l.idle_timeout.count();
  out << YAML::Key << "write_timeout_ms" << YAML::Value << l.write_timeout.count();
  out << YAML::Key << "max_pipelined" << YAML::Value << l.max_pipelined;
  out << YAML::Key << "max_connections" << YAML::Value << l.max_connections;
  out << YAML::EndMap;

  out << YAML::Key << "issuer" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "request_uri" << YAML::Value << YAML::DoubleQuoted << c.issuer.request_uri;
  out << YAML::Key << "directory_max_age_s" << YAML::Value << c.issuer.directory_max_age.count();
  out << YAML::EndMap;

  out << YAML::Key << "keys" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "directory" << YAML::Value << YAML::DoubleQuoted << c.keys.directory;
  out << YAML::Key << "reload_interval_s" << YAML::Value << c.keys.reload_interval.count();
  out << YAML::EndMap;

  const store_config& s = c.store;
  out << YAML::Key << "store" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << name_of(s.kind);
  out << YAML::Key << "lmdb" << YAML::Value << YAML::BeginMap;
  if (!s.lmdb.path.empty()) {
    out << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << s.lmdb.path;
  }
  out << YAML::Key << "map_size_mb" << YAML::Value << (s.lmdb.map_size_bytes / mib);
  out << YAML::EndMap;
  out << YAML::Key << "redis" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "host" << YAML::Value << YAML::DoubleQuoted << s.redis.host;
  out << YAML::Key << "port" << YAML::Value << s.redis.port;
  out << YAML::Key << "password" << YAML::Value << YAML::DoubleQuoted
      << (s.redis.password.empty() ? std::string() : std::string("<redacted>"));
  out << YAML::Key << "timeout_ms" << YAML::Value << s.redis.timeout.count();
  out << YAML::Key << "key_prefix" << YAML::Value << YAML::DoubleQuoted << s.redis.key_prefix;
  out << YAML::Key << "pool_size" << YAML::Value << s.redis.pool_size;
  out << YAML::EndMap;
  out << YAML::EndMap;

  const attester_config& a = c.attester;
  out << YAML::Key << "attester" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << YAML::DoubleQuoted << a.type;
  out << YAML::Key << "on_error" << YAML::Value << (a.on_error == fail_mode::open ? "open" : "closed");
  out << YAML::Key << "fail_open_bucket" << YAML::Value << a.fail_open_bucket;
  out << YAML::Key << "deny_status" << YAML::Value << a.deny_status;
  out << YAML::Key << "retry_after_s" << YAML::Value << a.retry_after.count();
  out << YAML::Key << "static" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bucket" << YAML::Value << a.static_.bucket;
  out << YAML::EndMap;
  out << YAML::Key << "header" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << a.header.header;
  emit_string_list(out, "trusted_cidrs", a.header.trusted_cidrs);
  out << YAML::Key << "default_bucket" << YAML::Value;
  if (a.header.default_bucket) {
    out << *a.header.default_bucket;
  } else {
    out << YAML::Null;
  }
  out << YAML::EndMap;
  out << YAML::Key << "http" << YAML::Value << YAML::BeginMap;
  if (!a.http.url.empty()) {
    out << YAML::Key << "url" << YAML::Value << YAML::DoubleQuoted << a.http.url;
  }
  out << YAML::Key << "timeout_ms" << YAML::Value << a.http.timeout.count();
  emit_string_list(out, "forward_headers", a.http.forward_headers);
  out << YAML::EndMap;
  out << YAML::EndMap;

  out << YAML::Key << "logging" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << c.logging.level;
  out << YAML::Key << "format" << YAML::Value << (c.logging.format == log_format::json ? "json" : "text");
  out << YAML::Key << "access_log" << YAML::Value << c.logging.access_log;
  out << YAML::Key << "access_log_flush_s" << YAML::Value << c.logging.access_log_flush.count();
  out << YAML::EndMap;

  out << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "io_threads" << YAML::Value << c.server.io_threads;
  out << YAML::Key << "shutdown_grace_ms" << YAML::Value << c.server.shutdown_grace.count();
  out << YAML::EndMap;

  out << YAML::EndMap;
  std::string text = out.c_str();
  text += '\n';
  return text;
}

}  // namespace athm::config
