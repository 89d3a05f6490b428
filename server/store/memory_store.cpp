#include "server/store/memory_store.h"

#include <cstring>
#include <random>
#include <utility>

namespace athm::store {

namespace detail {
namespace {

uint64_t process_seed() {
  static const uint64_t seed = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }();
  return seed;
}

// splitmix64 finaliser: spreads every input bit over the output.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::size_t id_hash::operator()(const std::array<uint8_t, 32>& id) const noexcept {
  uint64_t h = process_seed();
  for (std::size_t i = 0; i < id.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, id.data() + i, 8);
    h = mix(h ^ w);
  }
  return static_cast<std::size_t>(h);
}

}  // namespace detail

memory_store::memory_store() : worker_("athm-mem-store") {}

memory_store::~memory_store() = default;

void memory_store::check_and_mark(const key_id& key, const marker& m,
                                  clock::time_point key_expiry,
                                  spend_handler done) noexcept {
  spend_result r;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto [it, inserted] = keys_.try_emplace(key);
    if (inserted || it->second.expiry < key_expiry) {
      it->second.expiry = key_expiry;
    }
    r = it->second.marks.insert(m).second ? spend_result::fresh
                                          : spend_result::already_spent;
  }
  worker_.post([done = std::move(done), r] { done(r); });
}

int64_t memory_store::purge_expired(clock::time_point now) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  int64_t removed = 0;
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (it->second.expiry < now) {
      removed += static_cast<int64_t>(it->second.marks.size());
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return removed;
}

std::size_t memory_store::size() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::size_t n = 0;
  for (const auto& [key, entry] : keys_) {
    n += entry.marks.size();
  }
  return n;
}

}  // namespace athm::store
