// Issuer key files (server/keys/key_file.h) on arbitrary bytes.
// - parse_key_file_summary (text only) and parse_key_file (text plus the
//   cryptographic checks) never crash; a file the full parser accepts is
//   accepted by the summary parser with the same public facts;
// - an accepted key formats back (format_key_file) to text that parses to
//   the same key and schedule;
// - error messages are non-empty, start with the file name and never repeat
//   the token_key or private_key value given in the input.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/keys/key_file.h"
#include "tests/fuzz/fuzz_check.h"

using athm::fuzz::check;

namespace {

constexpr std::string_view kName = "fuzz.key";

// The value of the first line "<field>: <value>" in |text|, if any.
std::optional<std::string_view> field_value(std::string_view text, std::string_view field) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = text.size();
    }
    const std::string_view line = text.substr(pos, eol - pos);
    if (line.size() > field.size() + 2 && line.starts_with(field) &&
        line.substr(field.size(), 2) == ": ") {
      return line.substr(field.size() + 2);
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

size_t count_of(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

bool base64url_only(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

// The message must not echo a key value: a token_key or private_key value of
// 16 or more base64url characters (what key material looks like; the fixed
// wording of a message may contain shorter words or text with spaces) that
// appears only once in the input (a value also written elsewhere, e.g. as a
// field name, may be quoted there).
void check_message(const std::string& msg, std::string_view text) {
  check(!msg.empty());
  check(msg.rfind(std::string(kName) + ": ", 0) == 0);
  for (std::string_view field : {"token_key", "private_key"}) {
    auto v = field_value(text, field);
    if (v && v->size() >= 16 && base64url_only(*v) && count_of(text, *v) == 1) {
      check(msg.find(*v) == std::string::npos);
    }
  }
}

bool same_schedule(const athm::keys::key_schedule& a, const athm::keys::key_schedule& b) {
  return a.publish_at == b.publish_at && a.not_before == b.not_before && a.expires == b.expires;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto summary = athm::keys::parse_key_file_summary(in, std::string(kName));
  if (!summary.ok()) {
    check_message(summary.error(), text);
  }
  auto full = athm::keys::parse_key_file(in, std::string(kName));
  if (!full.ok()) {
    check_message(full.error(), text);
    return 0;
  }
  check(summary.ok());
  const auto& pub = full->pub();
  check(full->file == kName);
  check(summary->n_buckets == pub.params().n_buckets());
  check(summary->deployment_id == pub.params().deployment_id());
  check(summary->token_key == pub.token_key());
  check(summary->id == pub.id());
  check(same_schedule(summary->schedule, full->schedule));

  auto formatted = athm::keys::format_key_file(full->key, full->schedule);
  check(formatted.ok());
  auto again = athm::keys::parse_key_file(formatted->span(), std::string(kName));
  check(again.ok());
  check(again->key.to_bytes() == full->key.to_bytes());
  check(again->pub().token_key() == pub.token_key());
  check(same_schedule(again->schedule, full->schedule));
  return 0;
}
