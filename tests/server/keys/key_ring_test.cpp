#include "server/keys/key_ring.h"

#include <catch2/catch.hpp>

#include "key_test_support.h"

namespace athm::keys {
namespace {

using namespace testing;

const clock::time_point t0 = unix_time(1'750'000'000);

std::shared_ptr<const issuer_key> make(athm::private_key&& k, key_schedule s, std::string name) {
  return std::make_shared<const issuer_key>(issuer_key{std::move(k), s, name});
}

// A: active since 10 days, B: active since 1 day (newest active),
// C: published 1 hour ago, issuing in 1 day, D: pending (published in
// 1 day), E: expired 1 second ago.
struct ring_fixture {
  std::vector<athm::private_key> keys = make_distinct_keys(5);
  std::shared_ptr<const issuer_key> a = make(std::move(keys[0]), {t0 - 240h, t0 - 240h, t0 + 480h}, "a.key");
  std::shared_ptr<const issuer_key> b = make(std::move(keys[1]), {t0 - 24h, t0 - 24h, t0 + 696h}, "b.key");
  std::shared_ptr<const issuer_key> c = make(std::move(keys[2]), {t0 - 1h, t0 + 24h, t0 + 720h}, "c.key");
  std::shared_ptr<const issuer_key> d = make(std::move(keys[3]), {t0 + 24h, t0 + 48h, t0 + 720h}, "d.key");
  std::shared_ptr<const issuer_key> e = make(std::move(keys[4]), {t0 - 720h, t0 - 720h, t0 - 1s}, "e.key");
  // Deliberately not in order.
  key_ring ring{{e, a, d, c, b}};
};

uint8_t tid(const std::shared_ptr<const issuer_key>& k) { return k->pub().truncated_id(); }

}  // namespace

TEST_CASE("key_ring: issuer_key schedule predicates", "[keys][ring]") {
  ring_fixture f;
  CHECK(f.c->published(t0));
  CHECK_FALSE(f.c->issuing(t0));
  CHECK(f.c->redeemable(t0));
  CHECK_FALSE(f.d->published(t0));
  CHECK(f.d->redeemable(t0));
  CHECK_FALSE(f.e->published(t0));
  CHECK_FALSE(f.e->issuing(t0));
  CHECK_FALSE(f.e->redeemable(t0));
  // Boundaries: not_before is inclusive, expires exclusive.
  CHECK(f.c->issuing(t0 + 24h));
  CHECK_FALSE(f.c->issuing(t0 + 24h - 1ns));
  CHECK_FALSE(f.c->redeemable(t0 + 720h));
  CHECK(f.c->redeemable(t0 + 720h - 1ns));
}

TEST_CASE("key_ring: all() keeps every key, newest first", "[keys][ring]") {
  ring_fixture f;
  const auto& all = f.ring.all();
  REQUIRE(all.size() == 5);
  CHECK(all[0] == f.d);
  CHECK(all[1] == f.c);
  CHECK(all[2] == f.b);
  CHECK(all[3] == f.a);
  CHECK(all[4] == f.e);
}

TEST_CASE("key_ring: issuing key is the newest active one", "[keys][ring]") {
  ring_fixture f;
  CHECK(f.ring.issuing_key(t0) == f.b);
  // Once C's not_before passes it takes over.
  CHECK(f.ring.issuing_key(t0 + 24h) == f.c);
  CHECK(f.ring.issuing_key(t0 + 24h - 1s) == f.b);
  CHECK(f.ring.issuing_key(t0 + 48h) == f.d);
  // Before B, A issues; before A, nothing.
  CHECK(f.ring.issuing_key(t0 - 24h - 1s) == f.a);
  CHECK(f.ring.issuing_key(t0 - 240h - 1s) == f.e);
  CHECK(f.ring.issuing_key(t0 - 1000h) == nullptr);
  // After everything expired.
  CHECK(f.ring.issuing_key(t0 + 720h) == nullptr);
}

TEST_CASE("key_ring: find_issuing by truncated id", "[keys][ring]") {
  ring_fixture f;
  CHECK(f.ring.find_issuing(tid(f.a), t0) == f.a);
  CHECK(f.ring.find_issuing(tid(f.b), t0) == f.b);
  CHECK(f.ring.find_issuing(tid(f.c), t0) == nullptr);  // published, not issuing yet
  CHECK(f.ring.find_issuing(tid(f.c), t0 + 24h) == f.c);
  CHECK(f.ring.find_issuing(tid(f.d), t0) == nullptr);  // pending
  CHECK(f.ring.find_issuing(tid(f.e), t0) == nullptr);  // expired
  std::set<uint8_t> used{tid(f.a), tid(f.b), tid(f.c), tid(f.d), tid(f.e)};
  uint8_t unused = 0;
  while (used.count(unused) != 0) {
    ++unused;
  }
  CHECK(f.ring.find_issuing(unused, t0) == nullptr);
}

TEST_CASE("key_ring: find_redeemable by full id until expiry", "[keys][ring]") {
  ring_fixture f;
  CHECK(f.ring.find_redeemable(f.a->pub().id(), t0) == f.a);
  CHECK(f.ring.find_redeemable(f.b->pub().id(), t0) == f.b);
  // Redeemable means "not expired", even before not_before.
  CHECK(f.ring.find_redeemable(f.c->pub().id(), t0) == f.c);
  CHECK(f.ring.find_redeemable(f.d->pub().id(), t0) == f.d);
  CHECK(f.ring.find_redeemable(f.e->pub().id(), t0) == nullptr);
  CHECK(f.ring.find_redeemable(f.e->pub().id(), t0 - 2s) == f.e);
  CHECK(f.ring.find_redeemable(f.a->pub().id(), t0 + 480h) == nullptr);

  // Same truncated id, different full id: no match.
  athm::key_id other = f.a->pub().id();
  other[0] ^= 0xff;
  CHECK(f.ring.find_redeemable(other, t0) == nullptr);
}

TEST_CASE("key_ring: published keys, newest first", "[keys][ring]") {
  ring_fixture f;
  auto p = f.ring.published(t0);
  REQUIRE(p.size() == 3);
  CHECK(p[0] == f.c);
  CHECK(p[1] == f.b);
  CHECK(p[2] == f.a);

  auto later = f.ring.published(t0 + 24h);
  REQUIRE(later.size() == 4);
  CHECK(later[0] == f.d);

  CHECK(f.ring.published(t0 + 720h).empty());
}

TEST_CASE("key_ring: empty ring", "[keys][ring]") {
  key_ring ring{{}};
  CHECK(ring.all().empty());
  CHECK(ring.issuing_key(t0) == nullptr);
  CHECK(ring.find_issuing(0, t0) == nullptr);
  CHECK(ring.find_redeemable(athm::key_id{}, t0) == nullptr);
  CHECK(ring.published(t0).empty());
}

TEST_CASE("key_ring: ties on not_before are broken the same way every time", "[keys][ring]") {
  auto keys = make_distinct_keys(2);
  auto x = make(std::move(keys[0]), {t0 - 1h, t0 - 1h, t0 + 1h}, "x.key");
  auto y = make(std::move(keys[1]), {t0 - 1h, t0 - 1h, t0 + 1h}, "y.key");
  key_ring r1{{x, y}};
  key_ring r2{{y, x}};
  REQUIRE(r1.issuing_key(t0) != nullptr);
  CHECK(r1.issuing_key(t0) == r2.issuing_key(t0));
  // The later expiry wins first.
  auto keys2 = make_distinct_keys(1);
  auto z = make(std::move(keys2[0]), {t0 - 1h, t0 - 1h, t0 + 2h}, "z.key");
  key_ring r3{{x, y, z}};
  CHECK(r3.issuing_key(t0) == z);
}

}  // namespace athm::keys
