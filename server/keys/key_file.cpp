#include "server/keys/key_file.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "crypto/privacypass.h"
#include "server/keys/secret_base64.h"

namespace athm::keys {
namespace {

namespace fs = std::filesystem;

enum field : size_t {
  f_token_type,
  f_n_buckets,
  f_deployment_id,
  f_publish_at,
  f_not_before,
  f_expires,
  f_token_key,
  f_private_key,
  f_count,
};

constexpr std::array<std::string_view, f_count> kFieldNames = {
    "token_type", "n_buckets", "deployment_id", "publish_at",
    "not_before", "expires",   "token_key",     "private_key",
};

// Longest field name we echo back in an error; anything else is reported
// without its name (it could be a mangled value).
constexpr size_t kMaxEchoedName = 32;

std::string where(const fs::path& name, std::string_view what, std::string_view reason) {
  std::string s = name.string();
  s += ": ";
  s += what;
  s += ": ";
  s += reason;
  return s;
}

std::string line_ref(size_t line_no) { return "line " + std::to_string(line_no); }

bool is_field_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxEchoedName) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

// Decimal without sign or leading zeros, at most 19 digits.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Everything a key file says, before any cryptographic check.
struct parsed_text {
  uint32_t n_buckets = 0;
  std::string deployment_id;
  key_schedule schedule;
  athm::token_key_bytes token_key{};
  athm::secret_buffer private_bytes;
};

outcome<parsed_text> parse_text(std::span<const uint8_t> text, const fs::path& name) {
  using R = outcome<parsed_text>;
  if (text.empty()) {
    return R::failure(where(name, "file", "empty"));
  }
  // Only printable ASCII and "\n"; the last line must be complete.
  size_t line_no = 1;
  for (uint8_t b : text) {
    if (b == '\n') {
      ++line_no;
    } else if (b < 0x20 || b > 0x7e) {
      return R::failure(where(name, line_ref(line_no), "invalid character (only printable ASCII lines ending in \\n)"));
    }
  }
  if (text.back() != '\n') {
    return R::failure(where(name, "file", "truncated (no newline at the end of the last line)"));
  }

  const std::string_view all(reinterpret_cast<const char*>(text.data()), text.size());
  std::array<std::optional<std::string_view>, f_count> values;
  std::array<size_t, f_count> lines{};
  size_t pos = 0;
  line_no = 0;
  while (pos < all.size()) {
    const size_t eol = all.find('\n', pos);
    const std::string_view line = all.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line_no == 1) {
      if (line == kKeyFileHeader) {
        continue;
      }
      if (line.starts_with("athm-key ")) {
        return R::failure(where(name, "line 1", "unsupported key file version (expected \"athm-key v1\")"));
      }
      return R::failure(where(name, "line 1", "not an athm key file (expected \"athm-key v1\")"));
    }
    if (line.empty()) {
      return R::failure(where(name, line_ref(line_no), "empty line"));
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return R::failure(where(name, line_ref(line_no), "expected \"name: value\""));
    }
    const std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (!is_field_name(key)) {
      return R::failure(where(name, line_ref(line_no), "invalid field name"));
    }
    size_t idx = f_count;
    for (size_t i = 0; i < f_count; ++i) {
      if (kFieldNames[i] == key) {
        idx = i;
      }
    }
    if (idx == f_count) {
      return R::failure(where(name, line_ref(line_no), "unknown field \"" + std::string(key) + "\""));
    }
    if (values[idx]) {
      return R::failure(where(name, key, "duplicate field (lines " + std::to_string(lines[idx]) +
                                             " and " + std::to_string(line_no) + ")"));
    }
    if (!value.empty()) {
      if (value[0] != ' ' || value.size() == 1) {
        return R::failure(where(name, key, "expected exactly one space after the colon, then a value"));
      }
      value.remove_prefix(1);
      if (value.front() == ' ' || value.back() == ' ') {
        return R::failure(where(name, key, "leading or trailing spaces in the value"));
      }
    }
    values[idx] = value;
    lines[idx] = line_no;
  }
  for (size_t i = 0; i < f_count; ++i) {
    if (!values[i]) {
      return R::failure(where(name, kFieldNames[i], "missing field"));
    }
  }

  parsed_text out;
  {
    const auto tt = parse_decimal(*values[f_token_type]);
    if (!tt) {
      return R::failure(where(name, "token_type", "not a decimal number"));
    }
    if (*tt != athm::pp::kTokenType) {
      return R::failure(where(name, "token_type", "must be 49278 (ATHM, 0xC07E)"));
    }
  }
  {
    const auto n = parse_decimal(*values[f_n_buckets]);
    if (!n) {
      return R::failure(where(name, "n_buckets", "not a decimal number"));
    }
    if (*n < 1 || *n > athm::kMaxBuckets) {
      return R::failure(where(name, "n_buckets", "must be 1..256"));
    }
    out.n_buckets = static_cast<uint32_t>(*n);
  }
  out.deployment_id = std::string(*values[f_deployment_id]);

  const field time_fields[3] = {f_publish_at, f_not_before, f_expires};
  clock::time_point* time_out[3] = {&out.schedule.publish_at, &out.schedule.not_before,
                                    &out.schedule.expires};
  for (size_t i = 0; i < 3; ++i) {
    const auto t = parse_decimal(*values[time_fields[i]]);
    if (!t) {
      return R::failure(where(name, kFieldNames[time_fields[i]], "not a unix time in seconds"));
    }
    if (*t >= static_cast<uint64_t>(kMaxUnixSeconds)) {
      return R::failure(where(name, kFieldNames[time_fields[i]], "too far in the future (must be before 2200-01-01)"));
    }
    *time_out[i] = from_unix_seconds(static_cast<int64_t>(*t));
  }
  if (auto s = check_schedule(out.schedule); !s) {
    return R::failure(where(name, "schedule", s.error()));
  }

  {
    const std::string_view tk = *values[f_token_key];
    if (tk.find('=') != std::string_view::npos) {
      return R::failure(where(name, "token_key", "padded base64url (write it without \"=\")"));
    }
    auto decoded = athm::pp::base64url_decode(tk);
    if (!decoded.ok()) {
      return R::failure(where(name, "token_key", "invalid base64url"));
    }
    if (decoded.value().size() != athm::kTokenKeyBytes) {
      return R::failure(where(name, "token_key", "must decode to 163 bytes"));
    }
    std::memcpy(out.token_key.data(), decoded.value().data(), athm::kTokenKeyBytes);
  }
  {
    const std::string_view pk = *values[f_private_key];
    if (pk.size() != base64url_length(athm::kPrivateKeyBytes)) {
      return R::failure(where(name, "private_key", "must be 214 base64url characters (160 bytes)"));
    }
    auto decoded = base64url_decode_secret(pk, athm::kPrivateKeyBytes);
    if (!decoded) {
      return R::failure(where(name, "private_key", "invalid base64url"));
    }
    out.private_bytes = std::move(*decoded);
  }
  return out;
}

athm::key_id id_of_token_key(const athm::token_key_bytes& tk) {
  athm::key_id id{};
  SHA256(tk.data(), athm::kPublicKeyBytes, id.data());
  return id;
}

// Appends to a fixed-capacity secret buffer; never reallocates.
class secret_writer {
 public:
  explicit secret_writer(size_t capacity) : buf_(capacity) {}
  bool put(std::string_view s) {
    if (s.size() > buf_.size() - len_) {
      overflow_ = true;
      return false;
    }
    std::memcpy(buf_.data() + len_, s.data(), s.size());
    len_ += s.size();
    return true;
  }
  bool put(std::span<const uint8_t> s) {
    return put(std::string_view(reinterpret_cast<const char*>(s.data()), s.size()));
  }
  bool overflowed() const { return overflow_; }
  athm::secret_buffer finish() const {
    return athm::secret_buffer(std::span<const uint8_t>(buf_.data(), len_));
  }

 private:
  athm::secret_buffer buf_;
  size_t len_ = 0;
  bool overflow_ = false;
};

std::string errno_text(int e) { return std::strerror(e); }

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { close(); }
  int get() const { return fd_; }
  int close() {
    int rc = 0;
    if (fd_ >= 0) {
      rc = ::close(fd_);
      fd_ = -1;
    }
    return rc;
  }

 private:
  int fd_;
};

}  // namespace

int64_t to_unix_seconds(clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

clock::time_point from_unix_seconds(int64_t seconds) {
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::seconds(seconds)));
}

outcome<void> check_schedule(const key_schedule& s) {
  if (!(s.publish_at <= s.not_before)) {
    return outcome<void>::failure("publish_at must not be after not_before");
  }
  if (!(s.not_before < s.expires)) {
    return outcome<void>::failure("not_before must be before expires");
  }
  return {};
}

outcome<athm::secret_buffer> format_key_file(const athm::private_key& key,
                                             const key_schedule& schedule) {
  using R = outcome<athm::secret_buffer>;
  const int64_t times[3] = {to_unix_seconds(schedule.publish_at),
                            to_unix_seconds(schedule.not_before),
                            to_unix_seconds(schedule.expires)};
  for (int64_t t : times) {
    if (t < 0 || t >= kMaxUnixSeconds) {
      return R::failure("schedule: times must be in 1970..2199");
    }
  }
  const key_schedule rounded{from_unix_seconds(times[0]), from_unix_seconds(times[1]),
                             from_unix_seconds(times[2])};
  if (auto c = check_schedule(rounded); !c) {
    return R::failure("schedule: " + c.error());
  }
  const auto& deployment = key.params().deployment_id();
  for (char c : deployment) {
    if (c < 0x20 || c > 0x7e) {
      return R::failure("deployment_id: only printable ASCII can be stored in a key file");
    }
  }
  if (!deployment.empty() && (deployment.front() == ' ' || deployment.back() == ' ')) {
    return R::failure("deployment_id: leading or trailing spaces cannot be stored in a key file");
  }

  const athm::secret_array<athm::kPrivateKeyBytes> priv = key.to_bytes();
  const athm::secret_buffer priv_b64 = base64url_encode_secret(priv.span());

  secret_writer w(kMaxKeyFileBytes);
  w.put(kKeyFileHeader);
  w.put("\ntoken_type: ");
  w.put(std::to_string(athm::pp::kTokenType));
  w.put("\nn_buckets: ");
  w.put(std::to_string(key.params().n_buckets()));
  w.put(deployment.empty() ? "\ndeployment_id:" : "\ndeployment_id: ");
  w.put(deployment);
  w.put("\npublish_at: ");
  w.put(std::to_string(times[0]));
  w.put("\nnot_before: ");
  w.put(std::to_string(times[1]));
  w.put("\nexpires: ");
  w.put(std::to_string(times[2]));
  w.put("\ntoken_key: ");
  w.put(athm::pp::base64url_encode(key.public_part().token_key()));
  w.put("\nprivate_key: ");
  w.put(priv_b64.span());
  w.put("\n");
  if (w.overflowed()) {
    return R::failure("deployment_id: too long for a key file");
  }
  return w.finish();
}

outcome<key_file_summary> parse_key_file_summary(std::span<const uint8_t> text,
                                                 const fs::path& name) {
  auto parsed = parse_text(text, name);
  if (!parsed) {
    return outcome<key_file_summary>::failure(parsed.error());
  }
  key_file_summary s;
  s.file = name;
  s.n_buckets = parsed->n_buckets;
  s.deployment_id = std::move(parsed->deployment_id);
  s.schedule = parsed->schedule;
  s.token_key = parsed->token_key;
  s.id = id_of_token_key(s.token_key);
  return s;
}

outcome<issuer_key> parse_key_file(std::span<const uint8_t> text, const fs::path& name) {
  using R = outcome<issuer_key>;
  auto parsed = parse_text(text, name);
  if (!parsed) {
    return R::failure(parsed.error());
  }
  auto suite = athm::suite::create(parsed->n_buckets, parsed->deployment_id);
  if (!suite) {
    return R::failure(where(name, "n_buckets/deployment_id",
                            std::string("rejected by the ATHM suite (") + athm::to_string(suite.error()) + ")"));
  }
  auto key = athm::private_key::from_bytes(suite.value(), parsed->private_bytes.span(), parsed->token_key);
  if (!key) {
    const athm::errc e = key.error();
    if (e == athm::errc::key_mismatch) {
      return R::failure(where(name, "private_key", "does not match token_key (key_mismatch)"));
    }
    if (e == athm::errc::proof_invalid) {
      return R::failure(where(name, "token_key", "key proof does not verify (proof_invalid)"));
    }
    return R::failure(where(name, "private_key/token_key",
                            std::string("invalid key encoding (") + athm::to_string(e) + ")"));
  }
  return issuer_key{std::move(key).value(), parsed->schedule, name};
}

outcome<athm::secret_buffer> read_key_file_bytes(const fs::path& path, key_file_checks checks) {
  using R = outcome<athm::secret_buffer>;
  const std::string p = path.string();
  // O_NONBLOCK: opening a FIFO must not hang start-up; the type check follows.
  fd_guard fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    return R::failure(p + ": cannot open: " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return R::failure(p + ": cannot stat: " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return R::failure(p + ": not a regular file");
  }
  if (checks != key_file_checks::none && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return R::failure(p + ": permissions " + mode + " are too open; chmod 600 " + p);
  }
  if (checks == key_file_checks::mode_and_owner) {
    const uid_t me = ::geteuid();
    if (st.st_uid != me && st.st_uid != 0) {
      return R::failure(p + ": owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " +
                        std::to_string(me) + " or root; its owner could replace the key (chown " +
                        std::to_string(me) + " " + p + ")");
    }
  }
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > kMaxKeyFileBytes) {
    return R::failure(p + ": larger than " + std::to_string(kMaxKeyFileBytes) + " bytes; not a key file");
  }
  // One byte of headroom detects a file that grew after fstat.
  athm::secret_buffer buf(kMaxKeyFileBytes + 1);
  size_t len = 0;
  while (len < buf.size()) {
    const ssize_t n = ::read(fd.get(), buf.data() + len, buf.size() - len);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return R::failure(p + ": read failed: " + errno_text(errno));
    }
    if (n == 0) {
      break;
    }
    len += static_cast<size_t>(n);
  }
  if (len > kMaxKeyFileBytes) {
    return R::failure(p + ": larger than " + std::to_string(kMaxKeyFileBytes) + " bytes; not a key file");
  }
  return athm::secret_buffer(std::span<const uint8_t>(buf.data(), len));
}

outcome<issuer_key> try_load_key_file(const fs::path& path) {
  auto bytes = read_key_file_bytes(path, key_file_checks::mode);
  if (!bytes) {
    return outcome<issuer_key>::failure(bytes.error());
  }
  return parse_key_file(bytes->span(), path);
}

issuer_key load_key_file(const fs::path& path) {
  auto k = try_load_key_file(path);
  if (!k) {
    throw key_error(k.error());
  }
  return std::move(k).value();
}

outcome<key_file_summary> read_key_file_summary(const fs::path& path) {
  auto bytes = read_key_file_bytes(path, key_file_checks::none);
  if (!bytes) {
    return outcome<key_file_summary>::failure(bytes.error());
  }
  return parse_key_file_summary(bytes->span(), path);
}

std::string hex_public(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string key_file_name(const athm::key_id& id) {
  return hex_public(std::span<const uint8_t>(id.data(), 8)) + std::string(kKeyFileExtension);
}

outcome<fs::path> write_key_file(const fs::path& dir, const athm::private_key& key,
                                 const key_schedule& schedule) {
  using R = outcome<fs::path>;
  auto text = format_key_file(key, schedule);
  if (!text) {
    return R::failure(text.error());
  }
  const std::string name = key_file_name(key.public_part().id());
  const fs::path final_path = dir / name;
  const fs::path tmp_path = dir / ("." + name + "." + std::to_string(::getpid()) + ".tmp");
  const std::string tmp = tmp_path.string();
  const std::string fin = final_path.string();

  fd_guard fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return R::failure(tmp + ": cannot create: " + errno_text(errno));
  }
  auto fail_unlink = [&](std::string msg) {
    fd.close();
    ::unlink(tmp.c_str());
    return R::failure(std::move(msg));
  };
  if (::fchmod(fd.get(), 0600) != 0) {
    return fail_unlink(tmp + ": chmod failed: " + errno_text(errno));
  }
  size_t off = 0;
  const auto bytes = text->span();
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_unlink(tmp + ": write failed: " + errno_text(errno));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return fail_unlink(tmp + ": fsync failed: " + errno_text(errno));
  }
  if (fd.close() != 0) {
    return fail_unlink(tmp + ": close failed: " + errno_text(errno));
  }
  // link() fails with EEXIST instead of replacing an existing key.
  if (::link(tmp.c_str(), fin.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return R::failure(fin + ": cannot create: " + errno_text(e));
  }
  ::unlink(tmp.c_str());
  fd_guard dfd(::open(dir.string().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return R::failure(dir.string() + ": fsync of the directory failed: " + errno_text(errno));
  }
  return final_path;
}

}  // namespace athm::keys
