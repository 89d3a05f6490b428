// Issuer keys on disk and the immutable set of them the daemon serves.
//
// A key file holds one ATHM key pair plus its schedule. The key directory
// holds many. A key_ring is a frozen snapshot; reloading builds a new one and
// swaps it in atomically (see key_store), so requests in flight keep theirs.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/athm.h"

namespace athm::keys {

using clock = std::chrono::system_clock;

// The schedule of a key. publish_at <= not_before < expires.
struct key_schedule {
  clock::time_point publish_at;   // listed in the directory from here on
  clock::time_point not_before;   // used for issuance from here on
  clock::time_point expires;      // neither listed nor redeemable from here on
};

struct issuer_key {
  athm::private_key key;
  key_schedule schedule;
  std::filesystem::path file;

  const athm::public_key& pub() const { return key.public_part(); }
  bool published(clock::time_point now) const {
    return now >= schedule.publish_at && now < schedule.expires;
  }
  bool issuing(clock::time_point now) const {
    return now >= schedule.not_before && now < schedule.expires;
  }
  bool redeemable(clock::time_point now) const { return now < schedule.expires; }
};

// Immutable snapshot of the loaded keys. Thread-safe to share.
class key_ring {
 public:
  explicit key_ring(std::vector<std::shared_ptr<const issuer_key>> keys);

  const std::vector<std::shared_ptr<const issuer_key>>& all() const { return keys_; }

  // The newest key (latest not_before) whose not_before has passed and that
  // has not expired; nullptr if none.
  std::shared_ptr<const issuer_key> issuing_key(clock::time_point now) const;

  // Issuing-eligible key with this truncated id (the request names it);
  // nullptr if none. A client may use any published key that is issuing.
  std::shared_ptr<const issuer_key> find_issuing(uint8_t truncated_id,
                                                 clock::time_point now) const;

  // Non-expired key with this full id; nullptr if none.
  std::shared_ptr<const issuer_key> find_redeemable(const athm::key_id& id,
                                                    clock::time_point now) const;

  // Keys to list in the directory: published and not expired, ordered by
  // not_before, newest first.
  std::vector<std::shared_ptr<const issuer_key>> published(clock::time_point now) const;

 private:
  std::vector<std::shared_ptr<const issuer_key>> keys_;
};
}  // namespace athm::keys
