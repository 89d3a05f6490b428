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
// redis: not built yet; throws.
// Start-up only: throws std::runtime_error if the store cannot be opened.
std::unique_ptr<spent_store> make_store(const athm::config::store_config& cfg);

}  // namespace athm::store
