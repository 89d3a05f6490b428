#include "server/keys/key_file.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "key_test_support.h"
#include "server/keys/secret_base64.h"

namespace athm::keys {
namespace {

using namespace testing;

const key_schedule kSchedule{unix_time(1'700'000'000), unix_time(1'700'003'600),
                             unix_time(1'702'592'000)};

struct fixture {
  athm::private_key key = make_key(4, "keys-test");
  std::string text = key_text(key, kSchedule);
};

// Parses |text| expecting failure; returns the message after checking that
// it names the file and leaks nothing.
std::string parse_error(const std::string& text, const std::string& original) {
  auto r = parse_key_file(bytes_of(text), "test.key");
  REQUIRE_FALSE(r.ok());
  INFO(r.error());
  CHECK(r.error().rfind("test.key: ", 0) == 0);
  check_no_key_material(r.error(), original);
  // The cheap parser agrees on everything that is not cryptographic.
  return r.error();
}

std::string summary_error(const std::string& text) {
  auto r = parse_key_file_summary(bytes_of(text), "test.key");
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// Re-encodes the private_key field after changing its decoded bytes.
std::string with_private_bytes(const std::string& text, const std::function<void(uint8_t*)>& edit) {
  auto decoded = base64url_decode_secret(field_value(text, "private_key"), athm::kPrivateKeyBytes);
  REQUIRE(decoded.has_value());
  edit(decoded->data());
  const auto enc = base64url_encode_secret(decoded->span());
  return set_field(text, "private_key", std::string(reinterpret_cast<const char*>(enc.data()), enc.size()));
}

std::string with_token_key_bytes(const std::string& text, const std::function<void(std::vector<uint8_t>&)>& edit) {
  auto decoded = athm::pp::base64url_decode(field_value(text, "token_key"));
  REQUIRE(decoded.ok());
  std::vector<uint8_t> b = decoded.value();
  edit(b);
  return set_field(text, "token_key", athm::pp::base64url_encode(b));
}

}  // namespace

TEST_CASE("key file: format has the documented shape", "[keys][format]") {
  fixture f;
  const std::string& t = f.text;
  REQUIRE(t.rfind("athm-key v1\n", 0) == 0);
  REQUIRE(t.back() == '\n');
  CHECK(std::count(t.begin(), t.end(), '\n') == 9);
  CHECK(field_value(t, "token_type") == "49278");
  CHECK(field_value(t, "n_buckets") == "4");
  CHECK(field_value(t, "deployment_id") == "keys-test");
  CHECK(field_value(t, "publish_at") == "1700000000");
  CHECK(field_value(t, "not_before") == "1700003600");
  CHECK(field_value(t, "expires") == "1702592000");
  CHECK(field_value(t, "token_key") == athm::pp::base64url_encode(f.key.public_part().token_key()));
  CHECK(field_value(t, "private_key").size() == 214);
}

TEST_CASE("key file: round trip keeps key, schedule and parameters", "[keys][format]") {
  fixture f;
  auto r = parse_key_file(bytes_of(f.text), "dir/a.key");
  REQUIRE(r.ok());
  CHECK(r->file == fs::path("dir/a.key"));
  CHECK(r->pub().id() == f.key.public_part().id());
  CHECK(r->pub().token_key() == f.key.public_part().token_key());
  CHECK(r->key.to_bytes() == f.key.to_bytes());
  CHECK(r->pub().params().n_buckets() == 4);
  CHECK(r->pub().params().deployment_id() == "keys-test");
  CHECK(r->schedule.publish_at == kSchedule.publish_at);
  CHECK(r->schedule.not_before == kSchedule.not_before);
  CHECK(r->schedule.expires == kSchedule.expires);

  // Serializing the loaded key gives the same bytes.
  CHECK(key_text(r->key, r->schedule) == f.text);

  auto s = parse_key_file_summary(bytes_of(f.text), "dir/a.key");
  REQUIRE(s.ok());
  CHECK(s->id == f.key.public_part().id());
  CHECK(s->truncated_id() == f.key.public_part().truncated_id());
  CHECK(s->n_buckets == 4);
  CHECK(s->deployment_id == "keys-test");
  CHECK(s->schedule.not_before == kSchedule.not_before);
}

TEST_CASE("key file: other bucket counts round trip", "[keys][format]") {
  for (uint32_t n : {1u, 2u, 7u, 256u}) {
    INFO("n = " << n);
    auto key = make_key(n, "dep");
    auto r = parse_key_file(bytes_of(key_text(key, kSchedule)), "k.key");
    REQUIRE(r.ok());
    CHECK(r->pub().params().n_buckets() == n);
    CHECK(r->pub().id() == key.public_part().id());
  }
}

TEST_CASE("key file: deployment ids round trip verbatim", "[keys][format]") {
  for (const std::string dep : {"", "a: b c", "example.com/2024-06", "~!@#$%^&*()"}) {
    INFO("deployment id '" << dep << "'");
    auto key = make_key(4, dep);
    const std::string text = key_text(key, kSchedule);
    CHECK(text.find(dep.empty() ? "\ndeployment_id:\n" : "\ndeployment_id: " + dep + "\n") != std::string::npos);
    auto r = parse_key_file(bytes_of(text), "k.key");
    INFO(r.error());
    REQUIRE(r.ok());
    CHECK(r->pub().params().deployment_id() == dep);
    CHECK(r->pub().id() == key.public_part().id());
  }
  // Values a key file cannot carry are refused when writing.
  CHECK(!format_key_file(make_key(4, " lead"), kSchedule).ok());
  CHECK(!format_key_file(make_key(4, "tab\there"), kSchedule).ok());
}

TEST_CASE("key file: fields may come in any order", "[keys][format]") {
  fixture f;
  // Move token_type to the end.
  std::string t = remove_field(f.text, "token_type") + "token_type: 49278\n";
  auto r = parse_key_file(bytes_of(t), "k.key");
  REQUIRE(r.ok());
  CHECK(r->pub().id() == f.key.public_part().id());
}

TEST_CASE("key file malformation: wrong header", "[keys][format]") {
  fixture f;
  std::string t = f.text;
  t.replace(0, std::strlen("athm-key v1"), "athm-key v2");
  CHECK_THAT(parse_error(t, f.text), Catch::Contains("line 1") && Catch::Contains("unsupported"));
  t = f.text;
  t.replace(0, std::strlen("athm-key v1"), "ssh-key v1!");
  CHECK_THAT(parse_error(t, f.text), Catch::Contains("not an athm key file"));
  t = f.text.substr(std::strlen("athm-key v1\n"));
  CHECK_THAT(parse_error(t, f.text), Catch::Contains("line 1"));
}

TEST_CASE("key file malformation: empty file", "[keys][format]") {
  CHECK_THAT(parse_error("", ""), Catch::Contains("empty"));
}

TEST_CASE("key file malformation: unknown field", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(f.text + "color: blue\n", f.text),
             Catch::Contains("line 10") && Catch::Contains("unknown field \"color\""));
  // A name that is not a plain identifier is not echoed.
  const std::string e = parse_error(f.text + "Secret Stuff: x\n", f.text);
  CHECK_THAT(e, Catch::Contains("invalid field name"));
  CHECK(e.find("Secret") == std::string::npos);
}

TEST_CASE("key file malformation: duplicate field", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(f.text + "n_buckets: 4\n", f.text),
             Catch::Contains("n_buckets: duplicate field"));
  const std::string dup_private = f.text + "private_key: " + field_value(f.text, "private_key") + "\n";
  CHECK_THAT(parse_error(dup_private, f.text), Catch::Contains("private_key: duplicate field"));
}

TEST_CASE("key file malformation: missing field", "[keys][format]") {
  fixture f;
  for (const char* name : {"token_type", "n_buckets", "deployment_id", "publish_at", "not_before",
                           "expires", "token_key", "private_key"}) {
    INFO(name);
    CHECK_THAT(parse_error(remove_field(f.text, name), f.text),
               Catch::Contains(std::string(name) + ": missing field"));
  }
}

TEST_CASE("key file malformation: bad base64", "[keys][format]") {
  fixture f;
  std::string tk = field_value(f.text, "token_key");
  tk[10] = '*';
  CHECK_THAT(parse_error(set_field(f.text, "token_key", tk), f.text),
             Catch::Contains("token_key: invalid base64url"));

  std::string pk = field_value(f.text, "private_key");
  pk[100] = '+';  // standard base64, not base64url
  CHECK_THAT(parse_error(set_field(f.text, "private_key", pk), f.text),
             Catch::Contains("private_key: invalid base64url"));

  // 160 bytes leave 4 unused bits in the last character: they must be zero.
  pk = field_value(f.text, "private_key");
  const char last = pk.back();
  pk.back() = (last == 'A') ? 'B' : (last == 'Q' ? 'R' : static_cast<char>(last + 1));
  CHECK_THAT(parse_error(set_field(f.text, "private_key", pk), f.text),
             Catch::Contains("private_key: invalid base64url"));

  CHECK_THAT(parse_error(set_field(f.text, "token_key", field_value(f.text, "token_key") + "=="), f.text),
             Catch::Contains("token_key: padded base64url"));
}

TEST_CASE("key file malformation: wrong lengths", "[keys][format]") {
  fixture f;
  const auto tk = f.key.public_part().token_key();
  CHECK_THAT(parse_error(set_field(f.text, "token_key",
                                   athm::pp::base64url_encode(std::span(tk.data(), 162))), f.text),
             Catch::Contains("token_key: must decode to 163 bytes"));
  std::vector<uint8_t> longer(tk.begin(), tk.end());
  longer.push_back(0);
  CHECK_THAT(parse_error(set_field(f.text, "token_key", athm::pp::base64url_encode(longer)), f.text),
             Catch::Contains("token_key: must decode to 163 bytes"));

  const std::string pk = field_value(f.text, "private_key");
  CHECK_THAT(parse_error(set_field(f.text, "private_key", pk.substr(0, 212)), f.text),
             Catch::Contains("private_key: must be 214 base64url characters"));
  CHECK_THAT(parse_error(set_field(f.text, "private_key", pk + "AA"), f.text),
             Catch::Contains("private_key: must be 214 base64url characters"));
}

TEST_CASE("key file malformation: wrong token type", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(set_field(f.text, "token_type", "49279"), f.text),
             Catch::Contains("token_type: must be 49278"));
  CHECK_THAT(parse_error(set_field(f.text, "token_type", "2"), f.text),
             Catch::Contains("token_type: must be 49278"));
  CHECK_THAT(parse_error(set_field(f.text, "token_type", "0xC07E"), f.text),
             Catch::Contains("token_type: not a decimal number"));
}

TEST_CASE("key file malformation: bad numbers", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(set_field(f.text, "n_buckets", "0"), f.text), Catch::Contains("n_buckets: must be 1..256"));
  CHECK_THAT(parse_error(set_field(f.text, "n_buckets", "257"), f.text), Catch::Contains("n_buckets: must be 1..256"));
  CHECK_THAT(parse_error(set_field(f.text, "n_buckets", "04"), f.text), Catch::Contains("n_buckets: not a decimal"));
  CHECK_THAT(parse_error(set_field(f.text, "n_buckets", "+4"), f.text), Catch::Contains("n_buckets: not a decimal"));
  CHECK_THAT(parse_error(set_field(f.text, "expires", "-1"), f.text), Catch::Contains("expires: not a unix time"));
  CHECK_THAT(parse_error(set_field(f.text, "expires", "99999999999999999999"), f.text),
             Catch::Contains("expires: not a unix time"));
  CHECK_THAT(parse_error(set_field(f.text, "expires", "7258118400"), f.text),
             Catch::Contains("expires: too far in the future"));
}

TEST_CASE("key file malformation: mismatched private and public halves", "[keys][format]") {
  fixture f;
  // Flip the low bit of x (the first scalar): C_x no longer matches.
  const std::string t = with_private_bytes(f.text, [](uint8_t* p) { p[31] ^= 0x01; });
  CHECK_THAT(parse_error(t, f.text), Catch::Contains("private_key: does not match token_key (key_mismatch)"));
  // z (third scalar) changes Z.
  const std::string t2 = with_private_bytes(f.text, [](uint8_t* p) { p[95] ^= 0x01; });
  CHECK_THAT(parse_error(t2, f.text), Catch::Contains("key_mismatch"));
  // The private key of another key pair.
  auto other = make_key(4, "keys-test");
  const std::string swapped = set_field(f.text, "private_key", field_value(key_text(other, kSchedule), "private_key"));
  CHECK_THAT(parse_error(swapped, f.text), Catch::Contains("key_mismatch"));
  // The cheap parser cannot tell.
  CHECK(parse_key_file_summary(bytes_of(t), "test.key").ok());
}

TEST_CASE("key file malformation: bad proof", "[keys][format]") {
  fixture f;
  // The last byte belongs to the proof scalar a_z.
  const std::string t = with_token_key_bytes(f.text, [](std::vector<uint8_t>& b) { b[162] ^= 0x01; });
  CHECK_THAT(parse_error(t, f.text), Catch::Contains("token_key: key proof does not verify"));
}

TEST_CASE("key file malformation: key for other suite parameters", "[keys][format]") {
  fixture f;
  // n and the deployment id feed the generator H and the proof.
  CHECK(!parse_key_file(bytes_of(set_field(f.text, "n_buckets", "5")), "k.key").ok());
  CHECK(!parse_key_file(bytes_of(set_field(f.text, "deployment_id", "other")), "k.key").ok());
}

TEST_CASE("key file malformation: bad schedule", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(set_field(f.text, "publish_at", "1700003601"), f.text),
             Catch::Contains("schedule: publish_at must not be after not_before"));
  CHECK_THAT(parse_error(set_field(f.text, "expires", "1700003600"), f.text),
             Catch::Contains("schedule: not_before must be before expires"));
  CHECK_THAT(parse_error(set_field(f.text, "expires", "1600000000"), f.text),
             Catch::Contains("schedule: not_before must be before expires"));
  CHECK(summary_error(set_field(f.text, "expires", "1600000000")).find("schedule") != std::string::npos);
  // publish_at == not_before is fine.
  CHECK(parse_key_file(bytes_of(set_field(f.text, "publish_at", "1700003600")), "k.key").ok());
}

TEST_CASE("key file malformation: trailing garbage and layout", "[keys][format]") {
  fixture f;
  CHECK_THAT(parse_error(f.text + "garbage", f.text), Catch::Contains("truncated"));
  CHECK_THAT(parse_error(f.text + "garbage\n", f.text), Catch::Contains("line 10: expected \"name: value\""));
  CHECK_THAT(parse_error(f.text + "\n", f.text), Catch::Contains("line 10: empty line"));
  CHECK_THAT(parse_error(f.text.substr(0, f.text.size() - 1), f.text), Catch::Contains("truncated"));
  std::string nul = f.text;
  nul.push_back('\0');
  CHECK_THAT(parse_error(nul, f.text), Catch::Contains("invalid character"));
}

TEST_CASE("key file malformation: whitespace and line endings", "[keys][format]") {
  fixture f;
  std::string crlf;
  for (char c : f.text) {
    if (c == '\n') {
      crlf += '\r';
    }
    crlf += c;
  }
  CHECK_THAT(parse_error(crlf, f.text), Catch::Contains("line 1: invalid character"));
  CHECK_THAT(parse_error(replace_line(f.text, "n_buckets", "n_buckets:  4"), f.text),
             Catch::Contains("n_buckets: leading or trailing spaces"));
  CHECK_THAT(parse_error(replace_line(f.text, "n_buckets", "n_buckets:4"), f.text),
             Catch::Contains("n_buckets: expected exactly one space"));
  CHECK_THAT(parse_error(replace_line(f.text, "n_buckets", "n_buckets: 4 "), f.text),
             Catch::Contains("n_buckets: leading or trailing spaces"));
  CHECK_THAT(parse_error(replace_line(f.text, "n_buckets", "n_buckets: "), f.text),
             Catch::Contains("n_buckets: expected exactly one space"));
  std::string tab = replace_line(f.text, "n_buckets", "n_buckets:\t4");
  CHECK_THAT(parse_error(tab, f.text), Catch::Contains("invalid character"));
}

TEST_CASE("key file: format refuses what it could not read back", "[keys][format]") {
  fixture f;
  CHECK(!format_key_file(f.key, key_schedule{unix_time(10), unix_time(5), unix_time(20)}).ok());
  CHECK(!format_key_file(f.key, key_schedule{unix_time(5), unix_time(20), unix_time(20)}).ok());
  CHECK(!format_key_file(f.key, key_schedule{unix_time(-5), unix_time(0), unix_time(20)}).ok());
  CHECK(!format_key_file(f.key, key_schedule{unix_time(0), unix_time(1), unix_time(kMaxUnixSeconds)}).ok());
  // Sub-second times are rounded down; equal seconds are then rejected.
  const auto t = unix_time(100);
  CHECK(!format_key_file(f.key, key_schedule{t, t + 100ms, t + 900ms}).ok());
  auto ok = format_key_file(f.key, key_schedule{t + 300ms, t + 300ms, t + 2s});
  REQUIRE(ok.ok());
  auto back = parse_key_file(ok->span(), "k.key");
  REQUIRE(back.ok());
  CHECK(back->schedule.not_before == t);
}

TEST_CASE("key file: permissions", "[keys][files]") {
  temp_dir dir;
  fixture f;
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606, 0700 | 0004, 0620}) {
    const fs::path p = dir / "open.key";
    write_file(p, f.text, mode);
    auto r = try_load_key_file(p);
    REQUIRE_FALSE(r.ok());
    char expect[64];
    std::snprintf(expect, sizeof expect, "permissions %04o are too open; chmod 600", static_cast<unsigned>(mode));
    INFO(r.error());
    CHECK_THAT(r.error(), Catch::StartsWith(p.string()) && Catch::Contains(expect));
    CHECK_THROWS_AS(load_key_file(p), key_error);
    fs::remove(p);
  }
  for (mode_t mode : {0600, 0400}) {
    const fs::path p = dir / "ok.key";
    write_file(p, f.text, mode);
    auto r = try_load_key_file(p);
    INFO(r.error());
    REQUIRE(r.ok());
    CHECK(r->file == p);
    CHECK(r->pub().id() == f.key.public_part().id());
    CHECK(load_key_file(p).pub().id() == f.key.public_part().id());
    fs::remove(p);
  }
}

TEST_CASE("key file: load_key_file error messages name the file", "[keys][files]") {
  temp_dir dir;
  fixture f;
  const fs::path p = dir / "bad.key";
  write_file(p, set_field(f.text, "n_buckets", "0"));
  try {
    (void)load_key_file(p);
    FAIL("no exception");
  } catch (const key_error& e) {
    CHECK_THAT(std::string(e.what()), Catch::StartsWith(p.string() + ": n_buckets: "));
    check_no_key_material(e.what(), f.text);
  }
  CHECK_THAT(try_load_key_file(dir / "absent.key").error(), Catch::Contains("cannot open"));
}

TEST_CASE("key file: only regular files, of bounded size", "[keys][files]") {
  temp_dir dir;
  fixture f;
  fs::create_directory(dir / "sub.key");
  CHECK_THAT(try_load_key_file(dir / "sub.key").error(), Catch::Contains("not a regular file"));

  REQUIRE(::mkfifo((dir / "fifo.key").c_str(), 0600) == 0);
  CHECK_THAT(try_load_key_file(dir / "fifo.key").error(), Catch::Contains("not a regular file"));

  write_file(dir / "big.key", std::string(kMaxKeyFileBytes + 1, 'a'));
  CHECK_THAT(try_load_key_file(dir / "big.key").error(), Catch::Contains("larger than"));

  // A symlink is followed; the target's permissions count.
  write_file(dir / "target", f.text, 0600);
  fs::create_symlink(dir / "target", dir / "link.key");
  CHECK(try_load_key_file(dir / "link.key").ok());
  REQUIRE(::chmod((dir / "target").c_str(), 0644) == 0);
  CHECK_THAT(try_load_key_file(dir / "link.key").error(), Catch::Contains("too open"));
}

TEST_CASE("key file: write_key_file", "[keys][files]") {
  temp_dir dir;
  fixture f;
  const mode_t old_umask = ::umask(0);  // the file must still be 0600
  auto p = write_key_file(dir.path(), f.key, kSchedule);
  ::umask(old_umask);
  REQUIRE(p.ok());
  CHECK(p->parent_path() == dir.path());
  const std::string expected_name = hex_public(std::span(f.key.public_part().id().data(), 8)) + ".key";
  CHECK(p->filename() == expected_name);
  CHECK(key_file_name(f.key.public_part().id()) == expected_name);
  CHECK(expected_name.size() == 20);

  struct stat st {};
  REQUIRE(::stat(p->c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(read_file(*p) == f.text);

  auto loaded = try_load_key_file(*p);
  REQUIRE(loaded.ok());
  CHECK(loaded->pub().id() == f.key.public_part().id());

  // Never overwrites; the first file stays intact.
  auto again = write_key_file(dir.path(), f.key, kSchedule);
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.error(), Catch::Contains("File exists"));
  CHECK(read_file(*p) == f.text);

  // No temporary files are left behind.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);

  // Bad schedules and missing directories fail cleanly.
  CHECK(!write_key_file(dir.path(), f.key, key_schedule{unix_time(5), unix_time(5), unix_time(5)}).ok());
  CHECK_THAT(write_key_file(dir / "missing", f.key, kSchedule).error(), Catch::Contains("cannot create"));
}

TEST_CASE("key file: hex_public", "[keys][format]") {
  const std::array<uint8_t, 4> b{0x00, 0x0f, 0xa0, 0xff};
  CHECK(hex_public(b) == "000fa0ff");
  CHECK(hex_public({}) == "");
}

TEST_CASE("key file: unix time helpers round down", "[keys][format]") {
  CHECK(to_unix_seconds(unix_time(1234)) == 1234);
  CHECK(to_unix_seconds(unix_time(1234) + 999ms) == 1234);
  CHECK(to_unix_seconds(unix_time(0) - 1ms) == -1);
  CHECK(check_schedule(kSchedule).ok());
  CHECK(!check_schedule(key_schedule{unix_time(2), unix_time(1), unix_time(3)}).ok());
}

}  // namespace athm::keys
