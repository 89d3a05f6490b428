#include "tools/athm/cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <ostream>
#include <vector>

#include <CLI/CLI.hpp>

#include "crypto/privacypass.h"
#include "server/keys/key_directory.h"
#include "server/keys/key_file.h"
#include "tools/athm/client.h"

namespace athm::cli {
namespace {

namespace fs = std::filesystem;
using athm::keys::clock;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitError = 2;

// With k of 256 truncated ids free, one attempt succeeds with chance k/256;
// 20000 attempts all fail with chance below e^-78 even for k = 1.
constexpr int kMaxKeygenAttempts = 20000;

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int64_t unix_now() { return athm::keys::to_unix_seconds(clock::now()); }

// ---- keygen / inspect / list ------------------------------------------------

int cmd_keygen(const keygen_options& o, std::ostream& out, std::ostream& err) {
  auto r = keygen(o, unix_now());
  if (!r) {
    err << "athm keygen: " << r.error() << "\n";
    return kExitRefused;
  }
  if (!r->warning.empty()) {
    err << "athm keygen: warning: " << r->warning << "\n";
  }
  out << "key_id: " << athm::keys::hex_public(r->id) << "\n"
      << "truncated_id: " << unsigned{r->id[athm::kKeyIdBytes - 1]} << "\n"
      << "file: " << r->file.string() << "\n";
  return kExitOk;
}

void print_time(std::ostream& out, std::string_view name, clock::time_point t) {
  const int64_t s = athm::keys::to_unix_seconds(t);
  out << name << ": " << iso8601_utc(s) << " (" << s << ")\n";
}

int cmd_inspect(const fs::path& file, std::ostream& out, std::ostream& err) {
  auto k = athm::keys::try_load_key_file(file);
  if (!k) {
    err << "athm inspect: " << k.error() << "\n";
    return kExitRefused;
  }
  const auto& pub = k->pub();
  out << "file: " << file.string() << "\n"
      << "key_id: " << athm::keys::hex_public(pub.id()) << "\n"
      << "truncated_id: " << unsigned{pub.truncated_id()} << "\n"
      << "token_type: " << athm::pp::kTokenType << "\n"
      << "n_buckets: " << pub.params().n_buckets() << "\n"
      << "deployment_id: " << pub.params().deployment_id() << "\n";
  print_time(out, "publish_at", k->schedule.publish_at);
  print_time(out, "not_before", k->schedule.not_before);
  print_time(out, "expires", k->schedule.expires);
  out << "status: " << key_status(k->schedule, clock::now()) << "\n"
      << "token_key: " << athm::pp::base64url_encode(pub.token_key()) << "\n"
      << "valid: yes (permissions, format, key pair and key proof checked)\n";
  return kExitOk;
}

int cmd_list(const fs::path& dir, std::ostream& out, std::ostream& err) {
  auto keys = athm::keys::scan_key_directory(dir);
  if (!keys) {
    err << "athm list: " << keys.error() << "\n";
    return kExitRefused;
  }
  const auto now = clock::now();
  for (const auto& k : keys.value()) {
    out << athm::keys::hex_public(k.id) << " " << unsigned{k.truncated_id()} << " "
        << key_status(k.schedule, now) << " " << k.n_buckets << " "
        << iso8601_utc(athm::keys::to_unix_seconds(k.schedule.publish_at)) << " "
        << iso8601_utc(athm::keys::to_unix_seconds(k.schedule.not_before)) << " "
        << iso8601_utc(athm::keys::to_unix_seconds(k.schedule.expires)) << " "
        << k.file.filename().string() << "\n";
  }
  return kExitOk;
}

// ---- issue / redeem ---------------------------------------------------------

outcome<std::vector<client::header_field>> parse_headers(const std::vector<std::string>& args) {
  std::vector<client::header_field> out;
  for (const auto& a : args) {
    auto h = client::parse_header_arg(a);
    if (!h) {
      return outcome<std::vector<client::header_field>>::failure("--header: " + h.error());
    }
    out.push_back(std::move(h).value());
  }
  return out;
}

// Tokens are bearer credentials: files get mode 0600.
outcome<void> write_private_file(const fs::path& path, std::string_view data) {
  const std::string p = path.string();
  fd_guard fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return outcome<void>::failure(p + ": cannot create: " + std::strerror(errno));
  }
  if (::fchmod(fd.get(), 0600) != 0) {
    return outcome<void>::failure(p + ": chmod failed: " + std::strerror(errno));
  }
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return outcome<void>::failure(p + ": write failed: " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

struct issue_args {
  std::string url;
  std::string out_file;
  bool base64 = false;
  std::vector<std::string> headers;
  unsigned timeout_ms = 10'000;
};

int cmd_issue(const issue_args& a, std::ostream& out, std::ostream& err) {
  auto headers = parse_headers(a.headers);
  if (!headers) {
    err << "athm issue: " << headers.error() << "\n";
    return kExitError;
  }
  client::issue_options o;
  o.base_url = a.url;
  o.extra_headers = std::move(headers).value();
  o.limits.timeout = std::chrono::milliseconds(a.timeout_ms);
  unsigned status = 0;
  auto t = client::issue_token(o, &status);
  if (!t) {
    err << "athm issue: " << t.error() << "\n";
    return (status >= 400 && status < 500) ? kExitRefused : kExitError;
  }
  const std::string b64 = athm::pp::base64url_encode(t->token);
  if (a.out_file.empty()) {
    out << b64 << "\n";
    return kExitOk;
  }
  const std::string data = a.base64
                               ? b64 + "\n"
                               : std::string(reinterpret_cast<const char*>(t->token.data()),
                                             t->token.size());
  if (auto w = write_private_file(a.out_file, data); !w) {
    err << "athm issue: " << w.error() << "\n";
    return kExitError;
  }
  err << "token for key " << athm::keys::hex_public(t->key_id) << " written to " << a.out_file
      << "\n";
  return kExitOk;
}

struct redeem_args {
  std::string url;
  std::string token_file;
  bool auth = false;
  std::vector<std::string> headers;
  unsigned timeout_ms = 10'000;
};

int cmd_redeem(const redeem_args& a, std::ostream& out, std::ostream& err) {
  auto headers = parse_headers(a.headers);
  if (!headers) {
    err << "athm redeem: " << headers.error() << "\n";
    return kExitError;
  }
  auto token = client::read_token_file(a.token_file);
  if (!token) {
    err << "athm redeem: " << token.error() << "\n";
    return kExitError;
  }
  client::redeem_options o;
  o.url = a.url;
  o.mode = a.auth ? client::redeem_mode::authorization : client::redeem_mode::internal;
  o.extra_headers = std::move(headers).value();
  o.limits.timeout = std::chrono::milliseconds(a.timeout_ms);
  auto r = client::redeem_token(o, token.value());
  if (!r) {
    err << "athm redeem: " << r.error() << "\n";
    return kExitError;
  }
  if (a.auth) {
    out << "status: " << r->status << "\n";
    if (r->token_bucket) {
      out << "bucket: " << *r->token_bucket << "\n";
    }
  } else {
    out << r->body;
    if (r->body.empty() || r->body.back() != '\n') {
      out << "\n";
    }
    if (r->status != 200) {
      err << "athm redeem: status " << r->status << "\n";
    }
  }
  return client::redeem_exit_code(r->status);
}

}  // namespace

std::optional<int64_t> parse_time_spec(std::string_view spec, int64_t relative_to, int64_t now) {
  int64_t v = 0;
  if (spec == "now") {
    v = now;
  } else if (!spec.empty() && (spec[0] == '+' || spec[0] == '-')) {
    if (spec.size() < 3 || spec.size() > 12) {
      return std::nullopt;
    }
    const char unit = spec.back();
    int64_t mult = 0;
    switch (unit) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      case 'w': mult = 7 * 86400; break;
      default: return std::nullopt;
    }
    int64_t n = 0;
    for (char c : spec.substr(1, spec.size() - 2)) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      n = n * 10 + (c - '0');  // at most 10 digits: no overflow
    }
    v = relative_to + (spec[0] == '+' ? n : -n) * mult;
  } else {
    if (spec.empty() || spec.size() > 12) {
      return std::nullopt;
    }
    for (char c : spec) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      v = v * 10 + (c - '0');
    }
  }
  if (v < 0 || v >= athm::keys::kMaxUnixSeconds) {
    return std::nullopt;
  }
  return v;
}

std::string iso8601_utc(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) {
    return "?";
  }
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string_view key_status(const athm::keys::key_schedule& s, clock::time_point now) {
  if (now >= s.expires) {
    return "expired";
  }
  if (now >= s.not_before) {
    return "active";
  }
  if (now >= s.publish_at) {
    return "published";
  }
  return "pending";
}

outcome<keygen_result> keygen(const keygen_options& o, int64_t now) {
  using R = outcome<keygen_result>;
  const auto nb = parse_time_spec(o.not_before, now, now);
  if (!nb) {
    return R::failure("--not-before: expected now, unix seconds or +N[smhdw]");
  }
  const auto pa = o.publish_at.empty() ? nb : parse_time_spec(o.publish_at, *nb, now);
  if (!pa) {
    return R::failure("--publish-at: expected now, unix seconds or +/-N[smhdw] (from not-before)");
  }
  const auto ex = parse_time_spec(o.expires.empty() ? "+30d" : o.expires, *nb, now);
  if (!ex) {
    return R::failure("--expires: expected now, unix seconds or +N[smhdw] (from not-before)");
  }
  const athm::keys::key_schedule sched{athm::keys::from_unix_seconds(*pa),
                                       athm::keys::from_unix_seconds(*nb),
                                       athm::keys::from_unix_seconds(*ex)};
  if (auto c = athm::keys::check_schedule(sched); !c) {
    return R::failure("schedule: " + c.error());
  }
  if (*ex <= now) {
    return R::failure("schedule: the key would already be expired");
  }
  auto suite = athm::suite::create(o.n_buckets, o.deployment_id);
  if (!suite) {
    return R::failure(std::string("--buckets/--deployment-id: rejected (") +
                      athm::to_string(suite.error()) + ")");
  }

  std::error_code ec;
  if (!fs::exists(o.dir, ec)) {
    if (::mkdir(o.dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return R::failure(o.dir.string() + ": cannot create directory: " + std::strerror(errno));
    }
  }
  fd_guard dfd(::open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) {
    return R::failure(o.dir.string() + ": cannot open directory: " + std::strerror(errno));
  }
  if (::flock(dfd.get(), LOCK_EX) != 0) {
    return R::failure(o.dir.string() + ": cannot lock directory: " + std::strerror(errno));
  }
  std::string warning;
  struct stat dst {};
  if (::fstat(dfd.get(), &dst) == 0) {
    warning = athm::keys::directory_mode_problem(o.dir, dst.st_mode);
    if (!warning.empty()) {
      warning += "; athmd refuses such a key directory (chmod 700 " + o.dir.string() + ")";
    }
  }

  auto existing = athm::keys::scan_key_directory(o.dir);
  if (!existing) {
    return R::failure("cannot check the existing keys for truncated-id collisions: " +
                      existing.error());
  }
  // A key counts while it is live at any time from now on: not expired now.
  std::array<bool, 256> taken{};
  size_t n_taken = 0;
  const auto now_tp = athm::keys::from_unix_seconds(now);
  for (const auto& k : existing.value()) {
    if (now_tp < k.schedule.expires && !taken[k.truncated_id()]) {
      taken[k.truncated_id()] = true;
      ++n_taken;
    }
  }
  if (n_taken == taken.size()) {
    return R::failure(
        "all 256 truncated key ids are used by live keys in " + o.dir.string() +
        " (issuance requests carry only the last byte of the key id); remove a key or wait "
        "until one expires");
  }
  for (int attempt = 0; attempt < kMaxKeygenAttempts; ++attempt) {
    auto key = athm::private_key::generate(suite.value());
    if (!key) {
      return R::failure(std::string("key generation failed (") + athm::to_string(key.error()) + ")");
    }
    if (taken[key->public_part().truncated_id()]) {
      continue;
    }
    auto path = athm::keys::write_key_file(o.dir, key.value(), sched);
    if (!path) {
      return R::failure(path.error());
    }
    return keygen_result{key->public_part().id(), std::move(path).value(), std::move(warning)};
  }
  return R::failure("could not find a free truncated key id");
}

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"athm: ATHM Privacy Pass key management and client"};
  app.require_subcommand(1);

  keygen_options kg;
  auto* keygen_cmd = app.add_subcommand("keygen", "generate an issuer key into a key directory");
  keygen_cmd->add_option("--dir", kg.dir, "key directory (created 0700 if missing)")->required();
  keygen_cmd->add_option("--buckets", kg.n_buckets, "number of hidden buckets, 1..256")
      ->default_val(4)
      ->check(CLI::Range(1, 256));
  keygen_cmd->add_option("--deployment-id", kg.deployment_id, "deployment id (part of the suite)")
      ->default_val("athmd");
  keygen_cmd->add_option("--not-before", kg.not_before,
                         "start of issuance: now, unix seconds, +N[smhdw] from now")
      ->default_val("now");
  keygen_cmd->add_option("--publish-at", kg.publish_at,
                         "listed in the directory from: unix seconds or +/-N[smhdw] from "
                         "not-before (default: not-before)");
  keygen_cmd->add_option("--expires", kg.expires,
                         "end of issuance and redemption: unix seconds or +N[smhdw] from "
                         "not-before (default: +30d)");

  std::string inspect_file;
  auto* inspect_cmd = app.add_subcommand("inspect", "validate a key file and print its public facts");
  inspect_cmd->add_option("file", inspect_file, "key file")->required();

  std::string list_dir;
  auto* list_cmd = app.add_subcommand("list", "list the keys in a key directory with their status");
  list_cmd->add_option("--dir", list_dir, "key directory")->required();

  issue_args ia;
  auto* issue_cmd = app.add_subcommand("issue", "fetch a token from an issuer");
  issue_cmd->add_option("--url", ia.url, "issuer base URL (http://host:port)")->required();
  issue_cmd->add_option("--out", ia.out_file, "write the token here (raw bytes) instead of stdout");
  issue_cmd->add_flag("--base64", ia.base64, "with --out: write base64url text instead of raw bytes");
  issue_cmd->add_option("--header", ia.headers, "extra 'Name: value' header for the token request");
  issue_cmd->add_option("--timeout-ms", ia.timeout_ms, "deadline per HTTP exchange")
      ->check(CLI::Range(1u, 600'000u));

  redeem_args ra;
  auto* redeem_cmd = app.add_subcommand("redeem", "redeem a token");
  redeem_cmd->add_option("--url", ra.url, "redemption URL")->required();
  redeem_cmd->add_option("--token", ra.token_file, "token file (raw or base64url)")->required();
  redeem_cmd->add_flag("--auth", ra.auth,
                       "send GET with Authorization: PrivateToken instead of POSTing the token");
  redeem_cmd->add_option("--header", ra.headers, "extra 'Name: value' header");
  redeem_cmd->add_option("--timeout-ms", ra.timeout_ms, "deadline for the HTTP exchange")
      ->check(CLI::Range(1u, 600'000u));

  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e, out, err);
      return code == 0 ? kExitOk : kExitError;
    }
    if (keygen_cmd->parsed()) {
      return cmd_keygen(kg, out, err);
    }
    if (inspect_cmd->parsed()) {
      return cmd_inspect(inspect_file, out, err);
    }
    if (list_cmd->parsed()) {
      return cmd_list(list_dir, out, err);
    }
    if (issue_cmd->parsed()) {
      return cmd_issue(ia, out, err);
    }
    if (redeem_cmd->parsed()) {
      return cmd_redeem(ra, out, err);
    }
    err << "athm: no command\n";
    return kExitError;
  } catch (const std::exception& e) {
    err << "athm: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace athm::cli
