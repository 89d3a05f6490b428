#include "server/store/factory.h"

#include <stdexcept>

#include "server/store/lmdb_store.h"
#include "server/store/memory_store.h"

namespace athm::store {

std::unique_ptr<spent_store> make_store(const athm::config::store_config& cfg) {
  switch (cfg.kind) {
    case athm::config::store_kind::lmdb: {
      lmdb_options opts;
      opts.path = cfg.lmdb.path;
      opts.map_size_bytes = cfg.lmdb.map_size_bytes;
      return std::make_unique<lmdb_store>(opts);
    }
    case athm::config::store_kind::memory:
      return std::make_unique<memory_store>();
    case athm::config::store_kind::redis:
      // TODO(redis): the Redis store (hiredis on Asio) plugs in here.
      throw std::runtime_error("redis store not built yet");
  }
  throw std::runtime_error("unknown store kind");
}

}  // namespace athm::store
