#include "engine/proof/checkpoint_service.h"

#include "common/thread_name.h"

namespace otinish::engine::proof {

CheckpointService::CheckpointService(const store::EventStore& store, NoteSigner signer, CheckpointDirectory dir,
                                     CheckpointServiceOptions options, std::function<void(const Status&)> on_error)
    : store_(store), signer_(std::move(signer)), dir_(std::move(dir)), options_(std::move(options)),
      on_error_(std::move(on_error)) {
  if (options_.origin.empty()) options_.origin = signer_.name();
}

CheckpointService::~CheckpointService() { stop(); }

void CheckpointService::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void CheckpointService::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (auto r = checkpoint_now(); !r.ok() && on_error_) on_error_(r.status());
}

Result<std::uint64_t> CheckpointService::checkpoint_now() {
  std::lock_guard lock(sign_mu_);
  if (!have_last_) {
    OTINISH_ASSIGN_OR_RETURN(auto sizes, dir_.sizes());
    last_size_ = sizes.empty() ? 0 : sizes.back();
    have_last_ = !sizes.empty();
  }
  // The published head: every event up to it is durable.
  const std::uint64_t size = store_.head_position();
  if (have_last_ && size == last_size_) return last_size_;
  OTINISH_ASSIGN_OR_RETURN(std::string note, sign_checkpoint(store_, options_.origin, signer_, size));
  OTINISH_RETURN_IF_ERROR(dir_.write(size, note));
  last_size_ = size;
  have_last_ = true;
  OTINISH_RETURN_IF_ERROR(dir_.prune(std::chrono::system_clock::now(), options_.keep_all).status());
  return size;
}

void CheckpointService::run() {
  name_this_thread("otinish-checkpt");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (auto r = checkpoint_now(); !r.ok() && on_error_) on_error_(r.status());
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

}  // namespace otinish::engine::proof
