#include "server/store/factory.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <stdexcept>

#include "store_test_support.h"

namespace athm::store {
namespace {

using namespace athm::store::testing;

TEST_CASE("make_store builds the configured store", "[store]") {
  athm::config::store_config cfg;

  SECTION("lmdb") {
    temp_dir dir;
    cfg.kind = athm::config::store_kind::lmdb;
    cfg.lmdb.path = (dir.path() / "env").string();
    cfg.lmdb.map_size_bytes = 8ull << 20;
    auto store = make_store(cfg);
    REQUIRE(store != nullptr);
    CHECK(std::strcmp(store->name(), "lmdb") == 0);
    CHECK(spend(*store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
    store.reset();
    auto again = make_store(cfg);
    CHECK(spend(*again, make_key(1), make_marker(1), in_hours(1)) ==
          spend_result::already_spent);
  }
  SECTION("lmdb without a path fails at start-up") {
    cfg.kind = athm::config::store_kind::lmdb;
    cfg.lmdb.path.clear();
    CHECK_THROWS_AS(make_store(cfg), std::runtime_error);
  }
  SECTION("memory") {
    cfg.kind = athm::config::store_kind::memory;
    auto store = make_store(cfg);
    REQUIRE(store != nullptr);
    CHECK(std::strcmp(store->name(), "memory") == 0);
    CHECK(spend(*store, make_key(1), make_marker(1), in_hours(1)) == spend_result::fresh);
  }
  SECTION("redis with invalid settings fails at start-up") {
    cfg.kind = athm::config::store_kind::redis;
    cfg.redis.pool_size = 0;
    CHECK_THROWS_AS(make_store(cfg), std::runtime_error);
  }
  // A working redis store is built in redis_store_test (it needs a server).
}

}  // namespace
}  // namespace athm::store
