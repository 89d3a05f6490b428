#include "server/keys/key_ring.h"

#include <algorithm>

namespace athm::keys {
namespace {

// Newest first: later not_before, then later expires, then the larger key id,
// so that every replica orders the same keys the same way.
bool newer(const issuer_key& a, const issuer_key& b) {
  if (a.schedule.not_before != b.schedule.not_before) {
    return a.schedule.not_before > b.schedule.not_before;
  }
  if (a.schedule.expires != b.schedule.expires) {
    return a.schedule.expires > b.schedule.expires;
  }
  return a.pub().id() > b.pub().id();
}

}  // namespace

key_ring::key_ring(std::vector<std::shared_ptr<const issuer_key>> keys) : keys_(std::move(keys)) {
  std::erase(keys_, nullptr);
  std::stable_sort(keys_.begin(), keys_.end(),
                   [](const auto& a, const auto& b) { return newer(*a, *b); });
}

std::shared_ptr<const issuer_key> key_ring::issuing_key(clock::time_point now) const {
  // keys_ is sorted newest first.
  for (const auto& k : keys_) {
    if (k->issuing(now)) {
      return k;
    }
  }
  return nullptr;
}

std::shared_ptr<const issuer_key> key_ring::find_issuing(uint8_t truncated_id,
                                                         clock::time_point now) const {
  for (const auto& k : keys_) {
    if (k->issuing(now) && k->pub().truncated_id() == truncated_id) {
      return k;
    }
  }
  return nullptr;
}

std::shared_ptr<const issuer_key> key_ring::find_redeemable(const athm::key_id& id,
                                                            clock::time_point now) const {
  // Key ids are public; a plain comparison is fine.
  for (const auto& k : keys_) {
    if (k->redeemable(now) && k->pub().id() == id) {
      return k;
    }
  }
  return nullptr;
}

std::vector<std::shared_ptr<const issuer_key>> key_ring::published(clock::time_point now) const {
  std::vector<std::shared_ptr<const issuer_key>> out;
  for (const auto& k : keys_) {
    if (k->published(now)) {
      out.push_back(k);
    }
  }
  return out;
}

}  // namespace athm::keys
