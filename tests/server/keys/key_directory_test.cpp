#include "server/keys/key_directory.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "key_test_support.h"

namespace athm::keys {
namespace {

using namespace testing;

// Two keys whose truncated ids are equal (about 20 keys by the birthday
// bound).
std::pair<athm::private_key, athm::private_key> colliding_pair() {
  std::map<uint8_t, athm::private_key> seen;
  for (;;) {
    auto k = make_key();
    const uint8_t t = k.public_part().truncated_id();
    auto it = seen.find(t);
    if (it != seen.end()) {
      return {std::move(it->second), std::move(k)};
    }
    seen.emplace(t, std::move(k));
  }
}

void set_mtime(const fs::path& p, int64_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

}  // namespace

TEST_CASE("key directory: loads every live key", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(3);
  std::set<athm::key_id> ids;
  for (const auto& k : keys) {
    write_key(dir.path(), k, live_schedule(now));
    ids.insert(k.public_part().id());
  }
  auto r = try_load_key_directory(dir.path(), now);
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK(r->warnings.empty());
  REQUIRE(r->ring != nullptr);
  REQUIRE(r->ring->all().size() == 3);
  std::set<athm::key_id> loaded;
  for (const auto& k : r->ring->all()) {
    loaded.insert(k->pub().id());
    CHECK(k->file.parent_path() == dir.path());
    CHECK(k->file.filename() == key_file_name(k->pub().id()));
  }
  CHECK(loaded == ids);
  CHECK(load_key_directory(dir.path(), now).ring->all().size() == 3);
}

TEST_CASE("key directory: other names are ignored", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto key = make_key();
  write_key(dir.path(), key, live_schedule(now));
  write_file(dir / "README", "not a key\n", 0644);
  write_file(dir / "notes.key.bak", "not a key\n", 0644);
  write_file(dir / ".hidden.key", "not a key\n", 0644);
  write_file(dir / ".abc.key.123.tmp", "partial", 0600);
  fs::create_directory(dir / "subdir");
  auto r = try_load_key_directory(dir.path(), now);
  INFO(r.error());
  REQUIRE(r.ok());
  CHECK(r->ring->all().size() == 1);
  auto files = list_key_files(dir.path());
  REQUIRE(files.ok());
  REQUIRE(files->size() == 1);
  CHECK(files->front().filename() == key_file_name(key.public_part().id()));
}

TEST_CASE("key directory: one bad file refuses the directory", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  const std::string text = key_text(keys[1], live_schedule(now));

  SECTION("malformed") {
    write_file(dir / "zz.key", set_field(text, "token_type", "1"));
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::StartsWith((dir / "zz.key").string() + ": token_type"));
    CHECK_THROWS_AS(load_key_directory(dir.path(), now), key_error);
  }
  SECTION("permissions") {
    write_file(dir / "zz.key", text, 0640);
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::Contains("permissions 0640 are too open; chmod 600"));
  }
  SECTION("key mismatch") {
    std::string other = key_text(make_key(), live_schedule(now));
    write_file(dir / "zz.key", set_field(text, "private_key", field_value(other, "private_key")));
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::Contains("key_mismatch"));
    check_no_key_material(r.error(), other);
    check_no_key_material(r.error(), text);
  }
}

TEST_CASE("key directory: truncated-id collision between live keys is refused", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto [a, b] = colliding_pair();
  REQUIRE(a.public_part().truncated_id() == b.public_part().truncated_id());
  REQUIRE(a.public_part().id() != b.public_part().id());
  const fs::path pa = write_key(dir.path(), a, live_schedule(now));

  SECTION("both live") {
    // One of them not yet issuing still collides: it will be.
    const auto t = std::chrono::floor<std::chrono::seconds>(now);
    const fs::path pb = write_key(dir.path(), b, key_schedule{t + 1h, t + 2h, t + 48h});
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::Contains("truncated key id " +
                                          std::to_string(a.public_part().truncated_id())));
    CHECK_THAT(r.error(), Catch::Contains(pa.filename().string()));
    CHECK_THAT(r.error(), Catch::Contains(pb.filename().string()));
  }
  SECTION("the same key twice") {
    write_file(dir / "copy.key", read_file(pa));
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error(), Catch::Contains("truncated key id"));
  }
  SECTION("an expired key does not collide") {
    write_key(dir.path(), b, expired_schedule(now));
    auto r = try_load_key_directory(dir.path(), now);
    INFO(r.error());
    REQUIRE(r.ok());
    REQUIRE(r->ring->all().size() == 1);
    CHECK(r->ring->all().front()->pub().id() == a.public_part().id());
    CHECK(r->warnings.size() == 1);
  }
}

TEST_CASE("key directory: expired keys are skipped with a note", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  const fs::path old = write_key(dir.path(), keys[1], expired_schedule(now));

  auto r = try_load_key_directory(dir.path(), now);
  INFO(r.error());
  REQUIRE(r.ok());
  REQUIRE(r->ring->all().size() == 1);
  CHECK(r->ring->all().front()->pub().id() == keys[0].public_part().id());
  REQUIRE(r->warnings.size() == 1);
  CHECK_THAT(r->warnings[0], Catch::StartsWith(old.string()) && Catch::Contains("expired") &&
                                 Catch::Contains("skipped"));

  // Expiry is decided at |now|: earlier, the same file loads.
  auto earlier = try_load_key_directory(dir.path(), now - 36h);
  REQUIRE(earlier.ok());
  CHECK(earlier->ring->all().size() == 2);
  CHECK(earlier->warnings.empty());

  // An expired key's text is still parsed strictly.
  write_file(dir / "broken.key", set_field(key_text(keys[1], expired_schedule(now)), "n_buckets", "0"));
  CHECK(!try_load_key_directory(dir.path(), now).ok());
}

TEST_CASE("key directory: empty and missing directories", "[keys][directory]") {
  temp_dir dir;
  auto r = try_load_key_directory(dir.path());
  REQUIRE(r.ok());
  CHECK(r->ring->all().empty());
  REQUIRE(r->warnings.size() == 1);
  CHECK_THAT(r->warnings[0], Catch::Contains("no usable keys"));

  auto missing = try_load_key_directory(dir / "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error(), Catch::Contains("cannot list key directory"));
  CHECK_THROWS_AS(load_key_directory(dir / "nope"), key_error);
  CHECK(!fingerprint_key_directory(dir / "nope").ok());
}

TEST_CASE("key directory: refused when another user could write it", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  const fs::path key = write_key(dir.path(), make_key(), live_schedule(now));
  const std::string d = dir.path().string();
  for (const mode_t mode : {0700, 0750, 0755, 0500}) {
    INFO(mode);
    REQUIRE(::chmod(d.c_str(), mode) == 0);
    auto r = try_load_key_directory(dir.path(), now);
    INFO(r.error());
    REQUIRE(r.ok());
    CHECK(r->ring->all().size() == 1);
  }
  const std::vector<std::pair<mode_t, std::string>> refused = {
      {0777, "0777"}, {0770, "0770"}, {0702, "0702"}, {01777, "1777"}, {0720, "0720"}};
  for (const auto& [mode, text] : refused) {
    INFO(text);
    REQUIRE(::chmod(d.c_str(), mode) == 0);
    auto r = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == d + ": permissions " + text + " let other users add or replace key files; chmod 700 " + d);
    CHECK_THROWS_AS(load_key_directory(dir.path(), now), key_error);
  }
  // A chmod of the directory alone changes the fingerprint, so a reload
  // re-checks it.
  REQUIRE(::chmod(d.c_str(), 0700) == 0);
  const auto private_fp = fingerprint_key_directory(dir.path()).value();
  REQUIRE(::chmod(d.c_str(), 0777) == 0);
  CHECK(fingerprint_key_directory(dir.path()).value() != private_fp);
  REQUIRE(::chmod(d.c_str(), 0700) == 0);
  CHECK(fingerprint_key_directory(dir.path()).value() == private_fp);

  // Not a directory.
  auto file = try_load_key_directory(key, now);
  REQUIRE_FALSE(file.ok());
  CHECK(file.error() == key.string() + ": the key directory is not a directory");

  if (::geteuid() == 0) {
    // Owned by another user: refused, as is a key file owned by one.
    REQUIRE(::chown(d.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
    auto other_dir = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(other_dir.ok());
    CHECK(other_dir.error() == d +
                                   ": the key directory is owned by uid 12345, not by this process's uid 0 or "
                                   "root; its owner could add or replace key files (chown 0 " +
                                   d + ")");
    CHECK(fingerprint_key_directory(dir.path()).value() != private_fp);
    REQUIRE(::chown(d.c_str(), 0, static_cast<gid_t>(-1)) == 0);
    REQUIRE(try_load_key_directory(dir.path(), now).ok());

    REQUIRE(::chown(key.c_str(), 12345, static_cast<gid_t>(-1)) == 0);
    auto other_file = try_load_key_directory(dir.path(), now);
    REQUIRE_FALSE(other_file.ok());
    CHECK(other_file.error() == key.string() +
                                    ": owned by uid 12345, not by this process's uid 0 or root; its owner could "
                                    "replace the key (chown 0 " +
                                    key.string() + ")");
    CHECK(fingerprint_key_directory(dir.path()).value() != private_fp);
    // A single file is read with the mode check only (athm inspect).
    CHECK(try_load_key_file(key).ok());
    CHECK(read_key_file_bytes(key, key_file_checks::mode).ok());
    CHECK_FALSE(read_key_file_bytes(key, key_file_checks::mode_and_owner).ok());
  } else {
    // Without root no other owner can be made; a key file of this user
    // passes the owner check.
    CHECK(read_key_file_bytes(key, key_file_checks::mode_and_owner).ok());
  }
}

TEST_CASE("key directory: scan reads public facts of every key", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  write_key(dir.path(), keys[1], expired_schedule(now));
  // scan does not check permissions (list/keygen only read public facts).
  REQUIRE(::chmod((dir.path() / key_file_name(keys[1].public_part().id())).c_str(), 0644) == 0);
  auto s = scan_key_directory(dir.path());
  INFO(s.error());
  REQUIRE(s.ok());
  REQUIRE(s->size() == 2);
  std::set<athm::key_id> ids{(*s)[0].id, (*s)[1].id};
  CHECK(ids.count(keys[0].public_part().id()) == 1);
  CHECK(ids.count(keys[1].public_part().id()) == 1);
  CHECK((*s)[0].file.filename().string() < (*s)[1].file.filename().string());

  write_file(dir / "bad.key", "athm-key v1\n");
  CHECK_THAT(scan_key_directory(dir.path()).error(), Catch::Contains("bad.key: token_type: missing field"));
}

TEST_CASE("key directory: fingerprint follows the key files", "[keys][directory]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  const fs::path p = write_key(dir.path(), keys[0], live_schedule(now));
  set_mtime(p, 1'600'000'000);

  auto fp0 = fingerprint_key_directory(dir.path());
  REQUIRE(fp0.ok());
  CHECK(fingerprint_key_directory(dir.path()).value() == fp0.value());

  // Files the loader ignores do not count.
  write_file(dir / "README", "x");
  CHECK(fingerprint_key_directory(dir.path()).value() == fp0.value());

  // Same size, different content, mtime moved.
  const std::string text = read_file(p);
  std::string edited = set_field(text, "deployment_id", "keys-tesT");
  REQUIRE(edited.size() == text.size());
  write_file(p, edited);
  set_mtime(p, 1'600'000'001);
  const auto fp1 = fingerprint_key_directory(dir.path()).value();
  CHECK(fp1 != fp0.value());

  REQUIRE(::chmod(p.c_str(), 0400) == 0);
  const auto fp2 = fingerprint_key_directory(dir.path()).value();
  CHECK(fp2 != fp1);

  write_key(dir.path(), keys[1], live_schedule(now));
  const auto fp3 = fingerprint_key_directory(dir.path()).value();
  CHECK(fp3 != fp2);

  fs::remove(p);
  CHECK(fingerprint_key_directory(dir.path()).value() != fp3);
}

}  // namespace athm::keys
