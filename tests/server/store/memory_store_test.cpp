#include "server/store/memory_store.h"

#include <catch2/catch.hpp>

#include <set>

#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;

TEST_CASE("memory_store: size counts marks across keys and purge drops them",
          "[store][memory]") {
  memory_store store;
  CHECK(store.size() == 0);
  const auto now = clock::now();
  for (uint32_t i = 0; i < 5; ++i) {
    REQUIRE(spend(store, make_key(1), make_marker(i), now - std::chrono::minutes(1)) ==
            spend_result::fresh);
    REQUIRE(spend(store, make_key(2), make_marker(i), now + std::chrono::minutes(1)) ==
            spend_result::fresh);
  }
  REQUIRE(spend(store, make_key(2), make_marker(0), now + std::chrono::minutes(1)) ==
          spend_result::already_spent);
  CHECK(store.size() == 10);
  CHECK(store.purge_expired(now) == 5);
  CHECK(store.size() == 5);
}

TEST_CASE("memory_store: id_hash depends on every byte", "[store][memory]") {
  detail::id_hash h;
  std::set<std::size_t> seen;
  marker base{};
  seen.insert(h(base));
  for (std::size_t i = 0; i < base.size(); ++i) {
    marker m = base;
    m[i] = 1;
    seen.insert(h(m));
  }
  CHECK(seen.size() == base.size() + 1);
}

}  // namespace
}  // namespace athm::store
