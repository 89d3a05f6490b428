#include "server/keys/key_store.h"

namespace athm::keys {
namespace {

// A failed listing gets a fingerprint too (its error), so that a missing
// directory is reported once and retried only when the error changes.
std::string fingerprint_or_error(const std::filesystem::path& dir) {
  auto fp = fingerprint_key_directory(dir);
  return fp ? std::move(fp).value() : "!" + fp.error();
}

}  // namespace

key_store::key_store(std::filesystem::path directory, clock::time_point now)
    : directory_(std::move(directory)) {
  // The fingerprint comes first: a change while loading is then seen later.
  fingerprint_ = fingerprint_or_error(directory_);
  loaded_keys loaded = load_key_directory(directory_, now);
  initial_warnings_ = std::move(loaded.warnings);
  ring_ = std::move(loaded.ring);
}

key_store::key_store(std::shared_ptr<const key_ring> ring)
    : ring_(ring ? std::move(ring) : std::make_shared<const key_ring>(
                                         std::vector<std::shared_ptr<const issuer_key>>{})) {}

std::shared_ptr<const key_ring> key_store::current() const {
  std::lock_guard lock(ring_mu_);
  return ring_;
}

reload_result key_store::reload(clock::time_point now) {
  std::lock_guard lock(reload_mu_);
  return reload_locked(now);
}

reload_result key_store::reload_locked(clock::time_point now) {
  reload_result r;
  r.attempted = true;
  if (directory_.empty()) {
    r.error = "no key directory";
    r.ring = current();
    return r;
  }
  fingerprint_ = fingerprint_or_error(directory_);
  auto loaded = try_load_key_directory(directory_, now);
  if (!loaded) {
    r.error = loaded.error();
    r.ring = current();
    return r;
  }
  r.ok = true;
  r.warnings = std::move(loaded->warnings);
  r.ring = loaded->ring;
  {
    std::lock_guard lock(ring_mu_);
    ring_ = std::move(loaded->ring);
  }
  return r;
}

bool key_store::changed_on_disk() const {
  if (directory_.empty()) {
    return false;
  }
  const std::string fp = fingerprint_or_error(directory_);
  std::lock_guard lock(reload_mu_);
  return fp != fingerprint_;
}

reload_result key_store::reload_if_changed(clock::time_point now) {
  std::lock_guard lock(reload_mu_);
  if (directory_.empty()) {
    return reload_result{false, true, {}, {}, current()};
  }
  if (fingerprint_or_error(directory_) == fingerprint_) {
    return reload_result{false, true, {}, {}, current()};
  }
  return reload_locked(now);
}

}  // namespace athm::keys
