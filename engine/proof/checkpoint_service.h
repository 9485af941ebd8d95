// engine/proof/checkpoint_service.h: the server signs a checkpoint of its log every `interval` (when the log
// grew) and once more when it stops, and keeps each in DIR/checkpoints (engine/proof/checkpoint.h).
//
// A checkpoint is only ever of a size the log has made durable (its published head), so no crash can leave a
// kept checkpoint the log does not extend; the file itself is written whole or not at all.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "engine/proof/checkpoint.h"

namespace otinish::engine::proof {

struct CheckpointServiceOptions {
  std::chrono::milliseconds interval = std::chrono::minutes(1);
  std::string origin;  // the checkpoints' first line; empty: the signing key's name
  // Kept checkpoints older than this are thinned to one a day (CheckpointDirectory::prune).
  std::chrono::hours keep_all = std::chrono::hours(24 * 7);
};

class CheckpointService {
 public:
  // `on_error` hears of a checkpoint that could not be signed or kept (the service goes on trying).
  CheckpointService(const store::EventStore& store, NoteSigner signer, CheckpointDirectory dir,
                    CheckpointServiceOptions options, std::function<void(const Status&)> on_error = nullptr);
  ~CheckpointService();
  void start();
  // Stops the thread, then signs a last checkpoint of what the log holds.
  void stop();
  // Signs and keeps a checkpoint of the log's head unless the newest kept one already has that size.
  // Returns the size of the newest kept checkpoint.
  Result<std::uint64_t> checkpoint_now();
  const std::string& origin() const noexcept { return options_.origin; }

 private:
  void run();

  const store::EventStore& store_;
  const NoteSigner signer_;
  const CheckpointDirectory dir_;
  CheckpointServiceOptions options_;
  std::function<void(const Status&)> on_error_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;        // guarded by mu_
  std::uint64_t last_size_ = 0;  // guarded by sign_mu_
  bool have_last_ = false;       // guarded by sign_mu_
  std::mutex sign_mu_;
  std::thread thread_;
};

}  // namespace otinish::engine::proof
