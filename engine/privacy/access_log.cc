#include "engine/privacy/access_log.h"

#include <map>

#include "common/thread_name.h"
#include "engine/serialization.h"

namespace otinish::engine::privacy {

template <class Archive>
void serialize(Archive& ar, AccessEntry& e) {
  ar(e.position, MicrosRef{e.at}, e.token_id, e.role, e.applicant_id, e.what, e.purpose);
}

AccessRecorder::AccessRecorder(store::EventStore& log, const Clock& clock, AccessRecorderOptions options)
    : log_(log), clock_(clock), options_(options), writer_([this] { run(); }) {}

AccessRecorder::~AccessRecorder() {
  (void)flush();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void AccessRecorder::record(const store::Actor& actor, PersonalDataRead read) {
  std::unique_lock lock(mu_);
  drained_.wait(lock, [&] { return queue_.size() < options_.max_pending || stopping_; });
  queue_.push_back({actor, std::move(read), clock_.now()});
  ++queued_seq_;
  ++stats_.recorded;
  if (queue_.size() >= options_.max_batch) wake_.notify_one();
}

Status AccessRecorder::flush() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_seq_;
  const std::uint64_t failures = stats_.failures;  // an attempt that fails after this call began ends the wait
  flush_asked_ = true;
  wake_.notify_one();
  drained_.wait(lock, [&] { return durable_seq_ >= target || stopping_ || stats_.failures > failures; });
  if (durable_seq_ >= target) return Status::Ok();
  return last_error_.ok() ? Status::Unavailable("the access recorder stopped") : last_error_;
}

bool AccessRecorder::healthy() const {
  std::lock_guard lock(mu_);
  return last_error_.ok() && queue_.size() <= options_.max_pending / 2;
}

AccessRecorderStats AccessRecorder::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Status AccessRecorder::append(std::vector<Pending>& batch, const std::string& batch_id) {
  // One append per access stream (a batch spanning midnight UTC touches two days).
  std::map<std::string, std::vector<store::EventData>> by_stream;
  for (Pending& p : batch) {
    store::EventData e = encode_privacy_event(p.read);
    e.actor = p.actor;
    by_stream[access_stream(p.at)].push_back(std::move(e));
  }
  // A retried batch reuses its idempotency keys: a stream whose append succeeded before is not written twice.
  for (auto& [stream, events] : by_stream) {
    store::AppendOptions o;
    o.idempotency_key = "access-batch:" + batch_id + ":" + stream;
    OTINISH_RETURN_IF_ERROR(log_.append(stream, store::ExpectedVersion::any(), events, o).status());
  }
  return Status::Ok();
}

void AccessRecorder::run() {
  name_this_thread("otinish-audit");
  std::unique_lock lock(mu_);
  auto backoff = options_.flush_every;
  while (true) {
    wake_.wait_for(lock, options_.flush_every,
                   [&] { return stopping_ || flush_asked_ || queue_.size() >= options_.max_batch; });
    if (queue_.empty()) {
      flush_asked_ = false;
      if (stopping_) return;
      continue;
    }
    // A retried batch is the same records as its first attempt (its idempotency keys say so).
    const std::size_t n = batch_id_.empty() ? std::min(queue_.size(), options_.max_batch) : batch_size_;
    if (batch_id_.empty()) {
      batch_id_ = store::EventId::random().to_hex();
      batch_size_ = n;
    }
    // Copied, not moved: on a refused append the records stay queued as they were.
    std::vector<Pending> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string batch_id = batch_id_;
    lock.unlock();
    Status st = append(batch, batch_id);
    lock.lock();
    if (st.ok()) {
      batch_id_.clear();
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      durable_seq_ += n;
      stats_.appended += n;
      ++stats_.appends;
      last_error_ = Status::Ok();
      backoff = options_.flush_every;
      if (queue_.empty()) flush_asked_ = false;
      drained_.notify_all();
      continue;
    }
    // Kept and retried: a refused append (the log closing, a full disk) must not lose a record of a read.
    ++stats_.failures;
    last_error_ = st;
    flush_asked_ = false;  // the flush that asked has its answer (this error); a new one wakes the backoff
    drained_.notify_all();
    if (stopping_) return;
    wake_.wait_for(lock, backoff, [&] { return stopping_ || flush_asked_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

namespace {

class AccessProjection final : public Projection {
 public:
  std::string_view name() const override { return "access"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent*, ViewTx& tx) const override {
    if (e.type != kPersonalDataReadType) return Status::Ok();
    OTINISH_ASSIGN_OR_RETURN(PrivacyEvent ev, decode_privacy_event(e.type, e.schema_version, e.payload));
    const auto& r = std::get<PersonalDataRead>(ev);
    AccessEntry row{e.position, e.recorded_at, e.actor.user, e.actor.role, r.applicant_id, r.what, r.purpose};
    std::string key = "a/" + r.appeal_id + '\x1f';
    for (int shift = 56; shift >= 0; shift -= 8) key += static_cast<char>((e.position >> shift) & 0xff);
    tx.append(key, to_bytes(row));
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Projection> make_access_projection() { return std::make_unique<AccessProjection>(); }

Result<std::vector<AccessEntry>> read_access_log(const ViewReader& access, std::string_view appeal_id) {
  std::vector<AccessEntry> out;
  Status bad;
  OTINISH_RETURN_IF_ERROR(access.scan("a/" + std::string(appeal_id) + '\x1f', "", [&](std::string_view, std::string_view v) {
    AccessEntry row;
    bad = from_bytes(v, row, "access log row");
    if (!bad.ok()) return false;
    out.push_back(std::move(row));
    return true;
  }));
  OTINISH_RETURN_IF_ERROR(bad);
  return out;
}

}  // namespace otinish::engine::privacy
