// engine/privacy/access_log.h: who read an applicant's personal data, recorded in the log and answered per
// appeal.
//
// AccessRecorder batches PersonalDataRead events into the log: a read only queues its record (no fsync per
// read); a background thread appends the queue every `flush_every` (or sooner when `max_batch` reads wait) as
// one durable append per day's access stream. The guarantee: a read's record is durable within about
// flush_every plus one fsync; a crash of the process in that window loses the records of those reads (the
// reads themselves changed nothing). Records are never dropped while the process runs: when the log refuses
// an append the batch is kept and retried, and when `max_pending` records wait, readers wait too.
//
// The "access" projection keeps each appeal's reads in order; read_access_log() answers "who read this
// person's data, when and why" (GET /v1/appeals/{id}/access-log, `otinish access --appeal ID`).
//
// Thread-safety: AccessRecorder is thread-safe; the projection is stateless; read_access_log is thread-safe
// given a ViewReader per thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/privacy/privacy_events.h"
#include "engine/projection.h"
#include "store/event_store.h"

namespace otinish::engine::privacy {

struct AccessRecorderOptions {
  std::chrono::milliseconds flush_every{50};
  std::size_t max_batch = 2'000;      // reads per append (also what wakes the writer early)
  std::size_t max_pending = 100'000;  // readers wait beyond this
};

struct AccessRecorderStats {
  std::uint64_t recorded = 0;  // reads queued
  std::uint64_t appended = 0;  // records durable in the log
  std::uint64_t appends = 0;   // appends (fsyncs) that carried them
  std::uint64_t failures = 0;  // appends the log refused (retried)
};

class AccessRecorder {
 public:
  // `log` and `clock` must outlive the recorder.
  AccessRecorder(store::EventStore& log, const Clock& clock, AccessRecorderOptions options = {});
  // Appends what is queued (flush()), then stops.
  ~AccessRecorder();
  AccessRecorder(const AccessRecorder&) = delete;
  AccessRecorder& operator=(const AccessRecorder&) = delete;

  // Queues one read by `actor`.
  void record(const store::Actor& actor, PersonalDataRead read);
  // Appends every read queued before the call and returns once they are durable (or the log's error).
  Status flush();
  AccessRecorderStats stats() const;
  // False while the log refuses the records (the last append failed) or more than half of max_pending wait:
  // a server then stops serving personal data rather than serve it unrecorded.
  bool healthy() const;

 private:
  struct Pending {
    store::Actor actor;
    PersonalDataRead read;
    Timestamp at;
  };
  void run();
  Status append(std::vector<Pending>& batch, const std::string& batch_id);

  store::EventStore& log_;
  const Clock& clock_;
  const AccessRecorderOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_, drained_;
  std::deque<Pending> queue_;      // GUARDED_BY(mu_)
  std::uint64_t queued_seq_ = 0;   // GUARDED_BY(mu_): records ever queued
  std::uint64_t durable_seq_ = 0;  // GUARDED_BY(mu_): of those, durable
  std::string batch_id_;           // GUARDED_BY(mu_): of the batch being appended (its retries reuse it)
  std::size_t batch_size_ = 0;     // GUARDED_BY(mu_): its records (the queue's first ones)
  bool stopping_ = false;          // GUARDED_BY(mu_)
  bool flush_asked_ = false;       // GUARDED_BY(mu_)
  Status last_error_;              // GUARDED_BY(mu_)
  AccessRecorderStats stats_;      // GUARDED_BY(mu_)
  std::thread writer_;
};

// One read, as the access log answers it.
struct AccessEntry {
  std::uint64_t position = 0;  // of the PersonalDataRead event
  Timestamp at{};
  std::string token_id;        // the actor's user: the API token's id
  std::string role;
  std::string applicant_id;
  std::string what;
  std::string purpose;
  friend bool operator==(const AccessEntry&, const AccessEntry&) = default;
};

// The "access" projection: rows "a/<appeal>\x1f<position, 8 bytes big-endian>".
std::unique_ptr<Projection> make_access_projection();
// Every recorded read of `appeal_id`'s personal data, oldest first.
Result<std::vector<AccessEntry>> read_access_log(const ViewReader& access, std::string_view appeal_id);

}  // namespace otinish::engine::privacy
