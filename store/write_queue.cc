#include "store/write_queue.h"

namespace otinish::store {

WriteQueue::WriteQueue(WriteFn write, SyncFn sync, std::size_t max_group_events)
    : write_(std::move(write)),
      sync_(std::move(sync)),
      max_group_events_(max_group_events),
      syncer_([this] { sync_loop(); }),
      writer_([this] { write_loop(); }) {}

WriteQueue::~WriteQueue() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  work_cv_.notify_one();
  writer_.join();  // writes what is queued, then tells the syncer
  syncer_.join();  // syncs what was written
}

void WriteQueue::submit(AppendRequest* request) {
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      request->result = Status::Unavailable("the event store is closing; the append was not written");
      return;
    }
    queue_.push_back(request);
  }
  work_cv_.notify_one();
  std::unique_lock lock(request->done_mu);
  request->done_cv.wait(lock, [request] { return request->done; });
}

void AppendRequest::acknowledge() {
  // Notified under the lock: the appender cannot return (and free the request) before we let go.
  std::lock_guard lock(done_mu);
  done = true;
  done_cv.notify_one();
}

void WriteQueue::write_loop() {
  std::vector<AppendRequest*> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) {  // closing and drained
        writer_done_ = true;
        sync_cv_.notify_one();
        return;
      }
      std::size_t events = 0;
      while (!queue_.empty() && (group.empty() || events + queue_.front()->events.size() <= max_group_events_)) {
        events += queue_.front()->events.size();
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    write_(group);
    // Appends that asked not to wait for the fsync are answered now; the rest wait for the syncer.
    std::erase_if(group, [](AppendRequest* r) {
      if (r->options->wait_for_sync) return false;
      r->acknowledge();
      return true;
    });
    {
      std::lock_guard lock(mu_);
      written_.insert(written_.end(), group.begin(), group.end());
      unsynced_ = true;  // even if every append of the group was answered: they become readable once synced
    }
    sync_cv_.notify_one();
    group.clear();
  }
}

void WriteQueue::sync_loop() {
  std::vector<AppendRequest*> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      sync_cv_.wait(lock, [this] { return writer_done_ || unsynced_; });
      if (!unsynced_) return;  // the writer stopped and everything is synced
      batch.swap(written_);
      unsynced_ = false;
    }
    // Everything in `batch` was written before this call, so this one sync covers all of it.
    if (Status s = sync_(); !s.ok()) {
      for (AppendRequest* r : batch) r->result = s;
    }
    for (AppendRequest* r : batch) r->acknowledge();
    batch.clear();
  }
}

}  // namespace otinish::store
