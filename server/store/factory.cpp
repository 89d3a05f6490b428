#include "server/store/factory.h"

#include <stdexcept>

#include "server/store/lmdb_store.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"

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
    case athm::config::store_kind::redis: {
      redis_options opts;
      opts.host = cfg.redis.host;
      opts.port = cfg.redis.port;
      opts.password = cfg.redis.password;
      opts.timeout = cfg.redis.timeout;
      opts.key_prefix = cfg.redis.key_prefix;
      opts.pool_size = cfg.redis.pool_size;
      try {
        return std::make_unique<redis_store>(opts);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
      }
    }
  }
  throw std::runtime_error("unknown store kind");
}

}  // namespace athm::store
