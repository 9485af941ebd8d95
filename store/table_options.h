// store/table_options.h (internal): the table options of every RocksDB database otinish opens (the log, the
// views, the SLA timer index; the key store keeps its small filters whole, engine/privacy/key_store.cc), so
// that their memory stays within the block cache however much data is on disk.
//
// By default RocksDB keeps each table file's whole index and Bloom filter in memory for as long as the file is
// open, beside the block cache: memory that grows with the data (about 170 bytes a registration, measured).
// Here the index and the filter are partitioned into 4 KiB blocks that live in the block cache like data
// blocks, only their small top level is pinned, and they are cached with high priority so that a burst of data
// reads does not evict them. A lookup reads the one partition it needs, not a table's whole index or filter, so
// a small cache does not thrash (putting whole, unpartitioned indexes and filters in the cache did).
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <cstddef>
#include <memory>

namespace otinish::store {

// A block cache of `mb` MiB, half of it reserved for index and filter partitions (high priority).
std::shared_ptr<rocksdb::Cache> new_block_cache(std::size_t mb);

// Block-based table options over `cache` with partitioned, cached index and filter blocks (see above), and a
// Bloom filter of 10 bits a key when `bloom` (for databases whose reads are mostly of absent or point keys).
rocksdb::BlockBasedTableOptions bounded_table_options(std::shared_ptr<rocksdb::Cache> cache, bool bloom);

// A Bloom filter over the memtable's whole keys, for a column family whose point lookups mostly miss (a new
// command's idempotency key, a new appeal's timer entry): a miss is then answered without walking the memtable's
// skip list, which random keys make a chain of cache misses. About 1 MiB for a 64 MiB memtable.
void filter_memtable_misses(rocksdb::ColumnFamilyOptions& options);

}  // namespace otinish::store
