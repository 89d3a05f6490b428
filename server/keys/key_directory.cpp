#include "server/keys/key_directory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <system_error>

namespace athm::keys {
namespace {

namespace fs = std::filesystem;

bool is_key_file_name(const std::string& name) {
  return name.size() > kKeyFileExtension.size() && name[0] != '.' &&
         name.ends_with(kKeyFileExtension);
}

// Fails unless |dir| is a directory that only this process's user (or
// root) can change.
outcome<void> check_directory_access(const fs::path& dir) {
  using R = outcome<void>;
  const std::string d = dir.string();
  struct stat st {};
  if (::stat(d.c_str(), &st) != 0) {
    return R::failure(d + ": cannot list key directory: " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return R::failure(d + ": the key directory is not a directory");
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return R::failure(d + ": the key directory is owned by uid " + std::to_string(st.st_uid) +
                      ", not by this process's uid " + std::to_string(me) +
                      " or root; its owner could add or replace key files (chown " + std::to_string(me) +
                      " " + d + ")");
  }
  if (std::string problem = directory_mode_problem(dir, st.st_mode); !problem.empty()) {
    return R::failure(problem + "; chmod 700 " + d);
  }
  return {};
}

}  // namespace

std::string directory_mode_problem(const fs::path& dir, unsigned mode) {
  if ((mode & 022) == 0) {
    return {};
  }
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return dir.string() + ": permissions " + text + " let other users add or replace key files";
}

outcome<std::vector<fs::path>> list_key_files(const fs::path& dir) {
  using R = outcome<std::vector<fs::path>>;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return R::failure(dir.string() + ": cannot list key directory: " + ec.message());
  }
  std::vector<fs::path> files;
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      return R::failure(dir.string() + ": cannot list key directory: " + ec.message());
    }
    if (is_key_file_name(it->path().filename().string())) {
      files.push_back(it->path());
    }
  }
  if (ec) {
    return R::failure(dir.string() + ": cannot list key directory: " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

outcome<loaded_keys> try_load_key_directory(const fs::path& dir, clock::time_point now) {
  using R = outcome<loaded_keys>;
  if (auto access = check_directory_access(dir); !access) {
    return R::failure(access.error());
  }
  auto files = list_key_files(dir);
  if (!files) {
    return R::failure(files.error());
  }
  loaded_keys out;
  std::vector<std::shared_ptr<const issuer_key>> keys;
  std::array<std::optional<fs::path>, 256> by_truncated_id;
  for (const auto& file : files.value()) {
    auto bytes = read_key_file_bytes(file, key_file_checks::mode_and_owner);
    if (!bytes) {
      return R::failure(bytes.error());
    }
    auto summary = parse_key_file_summary(bytes->span(), file);
    if (!summary) {
      return R::failure(summary.error());
    }
    if (now >= summary->schedule.expires) {
      out.warnings.push_back(file.string() + ": expired at unix time " +
                             std::to_string(to_unix_seconds(summary->schedule.expires)) +
                             "; skipped");
      continue;
    }
    auto key = parse_key_file(bytes->span(), file);
    if (!key) {
      return R::failure(key.error());
    }
    const uint8_t tid = key->pub().truncated_id();
    if (by_truncated_id[tid]) {
      return R::failure(file.string() + ": truncated key id " + std::to_string(tid) +
                        " is also used by the live key in " + by_truncated_id[tid]->string() +
                        "; issuance requests could not tell them apart (remove one of them)");
    }
    by_truncated_id[tid] = file;
    keys.push_back(std::make_shared<const issuer_key>(std::move(key).value()));
  }
  if (keys.empty()) {
    out.warnings.push_back(dir.string() + ": no usable keys loaded");
  }
  out.ring = std::make_shared<const key_ring>(std::move(keys));
  return out;
}

loaded_keys load_key_directory(const fs::path& dir, clock::time_point now) {
  auto r = try_load_key_directory(dir, now);
  if (!r) {
    throw key_error(r.error());
  }
  return std::move(r).value();
}

outcome<std::vector<key_file_summary>> scan_key_directory(const fs::path& dir) {
  using R = outcome<std::vector<key_file_summary>>;
  auto files = list_key_files(dir);
  if (!files) {
    return R::failure(files.error());
  }
  std::vector<key_file_summary> out;
  for (const auto& file : files.value()) {
    auto s = read_key_file_summary(file);
    if (!s) {
      return R::failure(s.error());
    }
    out.push_back(std::move(s).value());
  }
  return out;
}

outcome<std::string> fingerprint_key_directory(const fs::path& dir) {
  auto files = list_key_files(dir);
  if (!files) {
    return outcome<std::string>::failure(files.error());
  }
  std::string fp;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    fp += ". " + std::to_string(st.st_uid) + ' ' + std::to_string(st.st_mode) + '\n';
  }
  for (const auto& file : files.value()) {
    fp += file.filename().string();
    if (::stat(file.c_str(), &st) != 0) {
      fp += " missing\n";
      continue;
    }
    fp += ' ' + std::to_string(st.st_size) + ' ' + std::to_string(st.st_mtim.tv_sec) + '.' +
          std::to_string(st.st_mtim.tv_nsec) + ' ' + std::to_string(st.st_ctim.tv_sec) + '.' +
          std::to_string(st.st_ctim.tv_nsec) + ' ' + std::to_string(st.st_ino) + ' ' +
          std::to_string(st.st_uid) + ' ' + std::to_string(st.st_mode) + '\n';
  }
  return fp;
}

}  // namespace athm::keys
