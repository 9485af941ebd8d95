// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it, so that an operator (or a benchmark)
// can tell the log's syncer from a request worker. Linux keeps 15 bytes of a name; longer ones are cut.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <string_view>

namespace otinish {

inline void name_this_thread(std::string_view name) {
  char cut[16] = {};
  std::copy_n(name.begin(), std::min(name.size(), sizeof cut - 1), cut);
  pthread_setname_np(pthread_self(), cut);
}

}  // namespace otinish
