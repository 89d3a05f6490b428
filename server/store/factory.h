// Builds the spent store named by the config. Callers see only spent_store,
// so a new backend is added here without touching them.
#pragma once

#include <memory>

#include "config/config.h"
#include "server/store/spent_store.h"

namespace athm::store {

// lmdb: an lmdb_store at store.lmdb.path with store.lmdb.map_size_bytes and
//       default queue and batch sizes.
// memory: a memory_store. FOR TESTS ONLY: marks do not survive a restart.
// redis: a redis_store for store.redis (host, port, password, timeout,
//        key_prefix, pool_size) with default queue, backoff and PING
//        settings. It connects in the background: an unreachable server
//        does not fail here, the store is just not healthy() yet.
// Start-up only: throws std::runtime_error if the store cannot be opened
// (LMDB) or its settings are invalid.
std::unique_ptr<spent_store> make_store(const athm::config::store_config& cfg);

}  // namespace athm::store
