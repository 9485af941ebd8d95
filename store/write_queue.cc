#include "store/write_queue.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/thread_name.h"

namespace otinish::store {

namespace {

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t while_value) {
  ::syscall(SYS_futex, static_cast<void*>(word), FUTEX_WAIT_PRIVATE, while_value, nullptr, nullptr, 0);
}

// Wakes one thread waiting on `word`. Takes a plain address: the kernel reads no memory for a private
// FUTEX_WAKE, so the word's owner may already be gone (see AppendRequest::acknowledge).
void futex_wake(void* word) { ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0); }

}  // namespace

WriteQueue::WriteQueue(WriteFn write, SyncFn sync, std::size_t max_group_events)
    : write_(std::move(write)),
      sync_(std::move(sync)),
      max_group_events_(max_group_events),
      completer_([this] { complete_loop(); }),
      syncer_([this] { sync_loop(); }) {}

WriteQueue::~WriteQueue() {
  {
    std::unique_lock lock(mu_);
    closing_ = true;
    // Whatever is queued has a leader (an appender queues only behind one, or becomes one): it writes the queue
    // empty before it lets go of the role.
    leader_cv_.wait(lock, [this] { return !leading_; });
    writer_done_ = true;
  }
  sync_cv_.notify_one();
  syncer_.join();  // syncs what was written
  {
    std::lock_guard lock(complete_mu_);
    completer_done_ = true;
  }
  complete_cv_.notify_one();
  completer_.join();  // calls the last completions
}

void WriteQueue::submit(AppendRequest* request) {
  bool lead_now;
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      request->result = Status::Unavailable("the event store is closing; the append was not written");
      return;
    }
    queue_.push_back(request);
    lead_now = !leading_;
    leading_ = true;
  }
  for (;;) {
    // After lead() returns the request is written (the leader writes from the queue's front until its own
    // request is answered or the queue is empty), so it is never told to lead again: wait() ends with its answer.
    if (lead_now) lead(request);
    if (wait(request)) return;
    lead_now = true;
  }
}

void WriteQueue::submit_async(AppendRequest* request) {
  bool queued = false;
  bool lead_now = false;
  {
    std::lock_guard lock(mu_);
    if (!closing_) {
      queue_.push_back(request);
      queued = true;
      lead_now = !leading_;
      leading_ = true;
    }
  }
  if (!queued) {
    request->result = Status::Unavailable("the event store is closing; the append was not written");
    request->acknowledge();
    return;
  }
  // Not led by this thread: a leader is writing, and it writes this request too (a queued request always has
  // one). From here on the request may already be answered and freed: it is not touched again.
  if (lead_now) lead(nullptr);
}

bool WriteQueue::wait(AppendRequest* request) {
  std::atomic<std::uint32_t>& done = request->done;
  // A short spin first (as libstdc++'s atomic wait does): an answer that comes within a microsecond or two costs
  // neither side a syscall. No sched_yield: on two cores with 32 appenders, yielding measured ~1.5 million
  // context switches per 100,000 events and a fifth of the CPU for no gain in events/s.
  for (int i = 0;; ++i) {
    const std::uint32_t d = done.load(std::memory_order_acquire);
    if (d == AppendRequest::kAnswered) return true;
    if (d == AppendRequest::kLead) {
      // Nobody else writes the word until this thread has written the request (it is still queued).
      done.store(AppendRequest::kWaiting, std::memory_order_relaxed);
      return false;
    }
    if (i < 16) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      continue;
    }
    // Mark ourselves asleep and sleep. FUTEX_WAIT sleeps only while the word is still kAsleep (checked in the
    // kernel), so an answer that came in between is never missed; a spurious return re-checks.
    std::uint32_t expected = AppendRequest::kWaiting;
    if (d == AppendRequest::kAsleep ||
        done.compare_exchange_strong(expected, AppendRequest::kAsleep, std::memory_order_acq_rel)) {
      futex_wait(&done, AppendRequest::kAsleep);
    }
  }
}

void WriteQueue::lead(AppendRequest* own) noexcept {
  std::vector<AppendRequest*> group;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) {
        leading_ = false;
        if (closing_) leader_cv_.notify_all();
        return;
      }
      if ((own == nullptr || own->done.load(std::memory_order_acquire) == AppendRequest::kAnswered) &&
          queue_.front()->complete == nullptr) {
        // Done here: the appender at the front leads on (leading_ stays set, so no one else starts to).
        queue_.front()->make_leader();
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

void WriteQueue::complete_loop() {
  name_this_thread("otinish-logdone");
  std::vector<AppendRequest*> batch;
  for (;;) {
    {
      std::unique_lock lock(complete_mu_);
      complete_cv_.wait(lock, [this] { return completer_done_ || !to_complete_.empty(); });
      if (to_complete_.empty()) return;  // the syncer stopped and every completion was called
      batch.swap(to_complete_);
    }
    for (AppendRequest* r : batch) r->acknowledge();  // calls its completion, which may free it
    batch.clear();
  }
}

CommitStats WriteQueue::stats() const {
  return {.syncs = syncs_.load(std::memory_order_relaxed),
          .appends = synced_appends_.load(std::memory_order_relaxed),
          .sync_micros = sync_micros_.load(std::memory_order_relaxed)};
}

void AppendRequest::acknowledge() {
  if (complete != nullptr) return complete(this);
  // The appender may return (and free the request) as soon as it sees the answer, before the wake: so the
  // address is taken first and the wake is a plain syscall on it, not a member call on a dead object. A stale
  // address at worst wakes a later waiter on the same stack slot spuriously, and every waiter re-checks its word.
  void* word = static_cast<void*>(&done);
  if (done.exchange(kAnswered, std::memory_order_acq_rel) == kAsleep) futex_wake(word);
}

void AppendRequest::make_leader() {
  if (done.exchange(kLead, std::memory_order_acq_rel) == kAsleep) futex_wake(static_cast<void*>(&done));
}

void WriteQueue::sync_loop() {
  name_this_thread("otinish-logsync");
  using Clock = std::chrono::steady_clock;
  std::vector<AppendRequest*> batch;
  std::size_t target = 0;          // waiting appends worth gathering before the next sync (0: none)
  Clock::time_point gather_until;  // ... but no longer than this
  Clock::duration last_sync{};
  for (;;) {
    {
      std::unique_lock lock(mu_);
      sync_cv_.wait(lock, [this] { return writer_done_ || unsynced_; });
      if (!unsynced_) return;  // the writer stopped and everything is synced
      // Cohorts: while one fsync runs the writer writes what arrives meanwhile, so closed-loop appenders split
      // into two halves that take turns, each fsync answering only half of them. The appenders the last sync
      // answered usually come straight back: wait (briefly) until they are written too, so that one fsync
      // covers everyone again. A lone appender, or one whose peers are already written, does not wait.
      if (target > 0) {
        sync_cv_.wait_until(lock, gather_until, [&] { return writer_done_ || written_.size() >= target; });
      }
      batch.swap(written_);
      unsynced_ = false;
    }
    // Everything in `batch` was written before this call, so this one sync covers all of it.
    const Clock::time_point began = Clock::now();
    if (Status s = sync_(); !s.ok()) {
      for (AppendRequest* r : batch) r->result = s;
    }
    last_sync = Clock::now() - began;
    syncs_.fetch_add(1, std::memory_order_relaxed);
    synced_appends_.fetch_add(batch.size(), std::memory_order_relaxed);
    sync_micros_.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(last_sync).count()),
        std::memory_order_relaxed);
    std::size_t asynchronous = 0;
    for (AppendRequest* r : batch) {
      if (r->complete != nullptr) {
        batch[asynchronous++] = r;  // kept, in order, for the completion thread
      } else {
        r->acknowledge();
      }
    }
    if (asynchronous > 0) {
      {
        std::lock_guard lock(complete_mu_);
        to_complete_.insert(to_complete_.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(asynchronous));
      }
      complete_cv_.notify_one();
    }
    {
      std::lock_guard lock(mu_);
      // The ones just answered plus the ones written during the sync; never longer than half a sync (a missed
      // gather costs at most that much latency) and never over kMaxGather.
      target = batch.empty() ? 0 : batch.size() + written_.size();
      gather_until = Clock::now() + std::min<Clock::duration>(last_sync / 2, kMaxGather);
    }
    batch.clear();
  }
}

}  // namespace otinish::store
