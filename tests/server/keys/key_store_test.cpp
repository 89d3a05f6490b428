#include "server/keys/key_store.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "key_test_support.h"

namespace athm::keys {
namespace {

using namespace testing;

}  // namespace

TEST_CASE("key_store: loads at construction, reloads on change", "[keys][store]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(3);
  write_key(dir.path(), keys[0], live_schedule(now));

  key_store store(dir.path(), now);
  CHECK(store.directory() == dir.path());
  CHECK(store.initial_warnings().empty());
  const auto first = store.current();
  REQUIRE(first != nullptr);
  REQUIRE(first->all().size() == 1);
  CHECK_FALSE(store.changed_on_disk());

  auto nothing = store.reload_if_changed(now);
  CHECK_FALSE(nothing.attempted);
  CHECK(nothing.ok);
  CHECK(nothing.ring == first);
  CHECK(store.current() == first);

  write_key(dir.path(), keys[1], live_schedule(now));
  CHECK(store.changed_on_disk());
  auto r = store.reload_if_changed(now);
  CHECK(r.attempted);
  REQUIRE(r.ok);
  CHECK(r.error.empty());
  CHECK(r.ring->all().size() == 2);
  CHECK(store.current() == r.ring);
  CHECK_FALSE(store.changed_on_disk());
  // The old snapshot is untouched.
  CHECK(first->all().size() == 1);

  // An explicit reload always reloads.
  auto again = store.reload(now);
  CHECK(again.attempted);
  CHECK(again.ok);
  CHECK(again.ring != r.ring);
  CHECK(again.ring->all().size() == 2);
}

TEST_CASE("key_store: a failed reload keeps the old ring", "[keys][store]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  key_store store(dir.path(), now);
  const auto before = store.current();

  const fs::path bad = write_key(dir.path(), keys[1], live_schedule(now));
  REQUIRE(::chmod(bad.c_str(), 0644) == 0);
  auto r = store.reload_if_changed(now);
  CHECK(r.attempted);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("permissions 0644 are too open"));
  CHECK(r.ring == before);
  CHECK(store.current() == before);

  // The broken state is not retried until something changes.
  CHECK_FALSE(store.changed_on_disk());
  CHECK_FALSE(store.reload_if_changed(now).attempted);

  REQUIRE(::chmod(bad.c_str(), 0600) == 0);
  CHECK(store.changed_on_disk());
  auto fixed = store.reload_if_changed(now);
  CHECK(fixed.attempted);
  REQUIRE(fixed.ok);
  CHECK(fixed.ring->all().size() == 2);
  CHECK(store.current() == fixed.ring);
}

TEST_CASE("key_store: a vanished directory keeps the old ring", "[keys][store]") {
  temp_dir dir;
  const fs::path keys_dir = dir / "keys";
  fs::create_directory(keys_dir);
  const auto now = clock::now();
  write_key(keys_dir, make_key(), live_schedule(now));
  key_store store(keys_dir, now);
  const auto before = store.current();
  fs::remove_all(keys_dir);
  CHECK(store.changed_on_disk());
  auto r = store.reload_if_changed(now);
  CHECK(r.attempted);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("cannot list key directory"));
  CHECK(store.current() == before);
  CHECK_FALSE(store.reload_if_changed(now).attempted);
}

TEST_CASE("key_store: a directory others can write keeps the old ring", "[keys][store]") {
  temp_dir dir;
  const auto now = clock::now();
  write_key(dir.path(), make_key(), live_schedule(now));
  key_store store(dir.path(), now);
  const auto before = store.current();
  REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
  CHECK(store.changed_on_disk());
  auto r = store.reload_if_changed(now);
  CHECK(r.attempted);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Catch::Contains("permissions 0777 let other users add or replace key files"));
  CHECK(store.current() == before);
  REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
  auto fixed = store.reload_if_changed(now);
  CHECK(fixed.attempted);
  CHECK(fixed.ok);
  REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
  CHECK_THROWS_AS(key_store(dir.path(), now), key_error);
  REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
}

TEST_CASE("key_store: start-up failures throw", "[keys][store]") {
  temp_dir dir;
  CHECK_THROWS_AS(key_store(dir / "missing"), key_error);
  write_file(dir / "x.key", "athm-key v1\n");
  CHECK_THROWS_AS(key_store(dir.path()), key_error);
}

TEST_CASE("key_store: expired keys are reported at start-up", "[keys][store]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  write_key(dir.path(), keys[1], expired_schedule(now));
  key_store store(dir.path(), now);
  CHECK(store.current()->all().size() == 1);
  REQUIRE(store.initial_warnings().size() == 1);
  CHECK_THAT(store.initial_warnings()[0], Catch::Contains("expired"));
}

TEST_CASE("key_store: fixed ring without a directory", "[keys][store]") {
  auto keys = make_distinct_keys(1);
  const auto now = clock::now();
  auto ring = std::make_shared<const key_ring>(std::vector<std::shared_ptr<const issuer_key>>{
      std::make_shared<const issuer_key>(issuer_key{std::move(keys[0]), live_schedule(now), "mem"})});
  key_store store(ring);
  CHECK(store.current() == ring);
  CHECK_FALSE(store.changed_on_disk());
  auto r = store.reload(now);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "no key directory");
  CHECK(store.current() == ring);
  CHECK_FALSE(store.reload_if_changed(now).attempted);

  key_store empty(std::shared_ptr<const key_ring>{});
  REQUIRE(empty.current() != nullptr);
  CHECK(empty.current()->all().empty());
}

TEST_CASE("key_store: readers see a complete ring while reloads run", "[keys][store]") {
  temp_dir dir;
  const auto now = clock::now();
  auto keys = make_distinct_keys(2);
  write_key(dir.path(), keys[0], live_schedule(now));
  write_key(dir.path(), keys[1], live_schedule(now));
  key_store store(dir.path(), now);

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto ring = store.current();
        if (ring == nullptr || ring->all().size() != 2 || ring->issuing_key(now) == nullptr) {
          bad.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    auto r = store.reload(now);
    CHECK(r.ok);
  }
  // Let the readers run at least a little after the last swap.
  while (reads.load() < 100) {
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : readers) {
    t.join();
  }
  CHECK(bad.load() == 0);
}

}  // namespace athm::keys
