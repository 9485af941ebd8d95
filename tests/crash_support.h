// tests/crash_support.h: what the crash tests share. Each re-executes its own binary as the child it kills
// (a fork alone would inherit RocksDB's threads), and runs a number of rounds that OTINISH_CRASH_ROUNDS raises.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace otinish::testing {

// The running test binary, to re-execute as the child.
inline std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// $OTINISH_CRASH_ROUNDS if set (at least 1), else `default_rounds` (what CI runs).
inline int crash_rounds(int default_rounds) {
  const char* env = std::getenv("OTINISH_CRASH_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : default_rounds;
}

}  // namespace otinish::testing
