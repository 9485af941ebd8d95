// tests/crash_support.h: what the crash tests share. Each re-executes its own binary as the child it kills
// (a fork alone would inherit RocksDB's threads), and runs a number of rounds that OTINISH_CRASH_ROUNDS raises.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
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

// How many reports a crash child has sent through its pipe, so that the parent can time its kill from them: the
// reader thread calls add() per report, the parent waits for the n-th.
class ReportCount {
 public:
  void add() {
    std::lock_guard lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  // Waits until at least `n` reports arrived or `timeout` passed (a child that died reports nothing more).
  void wait_for(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

}  // namespace otinish::testing
