// store/table_options.cc: see table_options.h.
#include "store/table_options.h"

#include <rocksdb/filter_policy.h>

namespace otinish::store {

std::shared_ptr<rocksdb::Cache> new_block_cache(std::size_t mb) {
  rocksdb::LRUCacheOptions o;
  o.capacity = mb << 20;
  o.high_pri_pool_ratio = 0.5;
  return rocksdb::NewLRUCache(o);
}

rocksdb::BlockBasedTableOptions bounded_table_options(std::shared_ptr<rocksdb::Cache> cache, bool bloom) {
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = std::move(cache);
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.metadata_block_size = 4096;
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_top_level_index_and_filter = true;
  // The newest files (level 0) are read by almost every lookup of recent data: their partitions stay.
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  if (bloom) {
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.partition_filters = true;
  }
  return t;
}

void filter_memtable_misses(rocksdb::ColumnFamilyOptions& options) {
  options.memtable_whole_key_filtering = true;
  options.memtable_prefix_bloom_size_ratio = 0.02;
}

}  // namespace otinish::store
