// api/http/log_verification.h (internal to api/http): verify over the whole log, run by the server in the
// background so that an auditor's console can ask for it without holding a worker for the minutes a large log
// takes. One run at a time; the newest finished run is kept until the next one ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/json/fwd.hpp>

#include "common/status.h"
#include "common/time.h"
#include "store/event_store.h"

namespace otinish::api {

class LogVerification {
 public:
  LogVerification(const store::EventStore& store, const Clock& clock) : store_(store), clock_(clock) {}
  // Stops a run in progress at its next progress point (every 65,536 events) and waits for it.
  ~LogVerification();

  // Starts a run over the chain, the Merkle tree and the indexes; false when one is already running.
  bool start();
  // {"state":"never"|"running"|"done", "started_at", "progress"/"checked_to", "finished_at", "ok", "events",
  //  "head_hash", "tree_root", "streams", "bad_position", "problem", "error", "seconds"}
  boost::json::object status() const;

 private:
  void run();

  const store::EventStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::thread thread_;                     // GUARDED_BY(mu_)
  bool running_ = false;                   // GUARDED_BY(mu_)
  Timestamp started_at_{}, finished_at_{};  // GUARDED_BY(mu_)
  std::uint64_t head_at_start_ = 0;        // GUARDED_BY(mu_)
  std::optional<store::VerifyReport> report_;  // GUARDED_BY(mu_): the newest finished run's
  std::string error_;                          // GUARDED_BY(mu_): it could not run to the end (I/O)
  std::atomic<std::uint64_t> progress_{0};
  std::atomic<bool> cancel_{false};
};

}  // namespace otinish::api
