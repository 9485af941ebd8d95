#include "store/write_queue.h"

#include <vector>

namespace otinish::store {

WriteQueue::WriteQueue(CommitFn commit, std::size_t max_group_events, std::chrono::microseconds gather_wait)
    : commit_(std::move(commit)),
      max_group_events_(max_group_events),
      gather_wait_(gather_wait),
      writer_([this] { run(); }) {}

WriteQueue::~WriteQueue() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  work_cv_.notify_one();
  writer_.join();
}

void WriteQueue::submit(AppendRequest* request) {
  std::unique_lock lock(mu_);
  if (closing_) {
    request->result = Status::Unavailable("the event store is closing; the append was not written");
    return;
  }
  queue_.push_back(request);
  work_cv_.notify_one();  // wakes the writer, or tells a gathering writer one more has come
  done_cv_.wait(lock, [request] { return request->done; });
}

void WriteQueue::run() {
  std::vector<AppendRequest*> group;
  std::size_t released = 0;  // appenders answered by the previous group
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      if (released > 1 && queue_.size() < released && gather_wait_.count() > 0) {
        work_cv_.wait_for(lock, gather_wait_, [&] { return closing_ || queue_.size() >= released; });
      }
      std::size_t events = 0;
      while (!queue_.empty() && (group.empty() || events + queue_.front()->events.size() <= max_group_events_)) {
        events += queue_.front()->events.size();
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    commit_(group);
    {
      std::lock_guard lock(mu_);
      for (AppendRequest* r : group) r->done = true;
    }
    done_cv_.notify_all();
    released = group.size();
    group.clear();
  }
}

}  // namespace otinish::store
