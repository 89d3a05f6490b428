#include "server/http/background_queue.h"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

namespace athm::http {
namespace {

TEST_CASE("background_queue: jobs come out oldest first", "[http][background]") {
  background_queue q;
  CHECK_FALSE(q.try_pop().has_value());
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) {
    q.push([&ran, i] { ran.push_back(i); });
  }
  CHECK(q.size() == 3);
  while (auto j = q.try_pop()) {
    (*j)();
  }
  CHECK(ran == std::vector<int>{0, 1, 2});
  CHECK(q.size() == 0);
}

TEST_CASE("background_queue: clear destroys jobs without running them", "[http][background]") {
  background_queue q;
  auto owned = std::make_shared<int>(7);
  bool ran = false;
  q.push([owned, &ran] { ran = true; });
  CHECK(owned.use_count() == 2);
  q.clear();
  CHECK(owned.use_count() == 1);
  CHECK_FALSE(ran);
  CHECK_FALSE(q.try_pop().has_value());
}

}  // namespace
}  // namespace athm::http
