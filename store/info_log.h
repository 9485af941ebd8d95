// store/info_log.h (internal): RocksDB's own diagnostic log ("LOG") for every RocksDB database otinish opens.
//
// Not RocksDB's default file logger: on a full disk, once one of its writes has failed, its next write aborts
// the process (an assertion in WritableFileWriter that Debian's build keeps), so a full disk would kill the
// server instead of refusing appends. This logger writes with stdio, drops a line it cannot write, and keeps
// at most two files of 16 MiB (LOG and LOG.old) in the database's directory.
#pragma once

#include <rocksdb/env.h>

#include <memory>
#include <string>

namespace otinish::store {

// A logger for the database in `dir`; LOG is opened at the first line (the directory is not created). Never
// null: if LOG cannot be opened, lines are dropped (a database must not fail to open over its diagnostics).
std::shared_ptr<rocksdb::Logger> open_info_log(const std::string& dir);

}  // namespace otinish::store
