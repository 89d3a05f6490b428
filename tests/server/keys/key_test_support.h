// Helpers shared by the key tests: a temporary directory, key generation,
// key file text manipulation and file writing with a given mode.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/athm.h"
#include "crypto/privacypass.h"
#include "server/keys/key_file.h"
#include "server/keys/key_ring.h"

namespace athm::keys::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/athm-keys-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline std::shared_ptr<const athm::suite> make_suite(uint32_t n = 4,
                                                     std::string_view deployment = "keys-test") {
  auto s = athm::suite::create(n, deployment);
  REQUIRE(s.ok());
  return s.value();
}

inline athm::private_key make_key(uint32_t n = 4, std::string_view deployment = "keys-test") {
  auto k = athm::private_key::generate(make_suite(n, deployment));
  REQUIRE(k.ok());
  return std::move(k).value();
}

// Keys whose truncated ids are pairwise distinct.
inline std::vector<athm::private_key> make_distinct_keys(size_t count, uint32_t n = 4) {
  std::vector<athm::private_key> out;
  std::set<uint8_t> seen;
  while (out.size() < count) {
    auto k = make_key(n);
    if (seen.insert(k.public_part().truncated_id()).second) {
      out.push_back(std::move(k));
    }
  }
  return out;
}

inline clock::time_point unix_time(int64_t s) { return from_unix_seconds(s); }

// A schedule around |now|: published and issuing since |age| ago, expiring
// |left| from now.
inline key_schedule live_schedule(clock::time_point now, std::chrono::seconds age = 3600s,
                                  std::chrono::seconds left = 86400s) {
  const auto nb = std::chrono::floor<std::chrono::seconds>(now) - age;
  const auto ex = std::chrono::floor<std::chrono::seconds>(now) + left;
  return key_schedule{nb, nb, ex};
}

inline key_schedule expired_schedule(clock::time_point now) {
  const auto t = std::chrono::floor<std::chrono::seconds>(now);
  return key_schedule{t - 48h, t - 48h, t - 24h};
}

// Key file text as a plain string (test code only: production keeps it in
// secret buffers).
inline std::string key_text(const athm::private_key& key, const key_schedule& s) {
  auto t = format_key_file(key, s);
  REQUIRE(t.ok());
  return std::string(reinterpret_cast<const char*>(t->data()), t->size());
}

inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The value of "name: value" in |text| ("" if absent).
inline std::string field_value(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + ":";
  const size_t p = text.find(key);
  if (p == std::string::npos) {
    return {};
  }
  size_t start = p + key.size();
  if (start < text.size() && text[start] == ' ') {
    ++start;
  }
  return text.substr(start, text.find('\n', start) - start);
}

// Replaces the whole line of field |name| with |line| (no newline).
inline std::string replace_line(std::string text, const std::string& name, const std::string& line) {
  const size_t p = text.find("\n" + name + ":");
  REQUIRE(p != std::string::npos);
  const size_t e = text.find('\n', p + 1);
  text.replace(p + 1, e - (p + 1), line);
  return text;
}

inline std::string set_field(std::string text, const std::string& name, const std::string& value) {
  return replace_line(std::move(text), name, name + ": " + value);
}

inline std::string remove_field(std::string text, const std::string& name) {
  const size_t p = text.find("\n" + name + ":");
  REQUIRE(p != std::string::npos);
  const size_t e = text.find('\n', p + 1);
  text.erase(p + 1, e - p);
  return text;
}

inline void write_file(const fs::path& path, std::string_view data, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out.good());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes a valid key file for |key| named after it; returns its path.
inline fs::path write_key(const fs::path& dir, const athm::private_key& key, const key_schedule& s) {
  auto p = write_key_file(dir, key, s);
  REQUIRE(p.ok());
  return p.value();
}

// An error message must not leak key material: neither base64 field of the
// file it came from may appear, nor any 12-character piece of them.
inline void check_no_key_material(const std::string& message, const std::string& text) {
  for (const char* name : {"private_key", "token_key"}) {
    const std::string v = field_value(text, name);
    for (size_t i = 0; i + 12 <= v.size(); i += 6) {
      INFO(name << " piece at " << i);
      CHECK(message.find(v.substr(i, 12)) == std::string::npos);
    }
  }
}

}  // namespace athm::keys::testing
