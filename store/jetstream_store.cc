#include "store/jetstream_store.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/thread_name.h"
#include "store/append_rules.h"
#include "store/coding.h"
#include "store/envelope_codec.h"
#include "store/merkle.h"
#include "store/nats_client.h"

namespace otinish::store {

namespace {

constexpr std::string_view kExpectedLastSubjectSeq = "Nats-Expected-Last-Subject-Sequence";
constexpr std::string_view kMsgId = "Nats-Msg-Id";
// How many messages' outcomes a node remembers for its appenders to collect (an appender collects its own right
// after its message is applied; the bound only keeps other nodes' messages from piling up).
constexpr std::size_t kRememberedOutcomes = 65'536;
// The follower's consumer sends a heartbeat this often when idle; the client library recreates the consumer
// (on the stream's current leader) when two go missing. With NATS's 5 s default, a follower on a server that hung
// for 10 s stays there until it comes back, still believing it leads the stream, and takes from it messages it
// then drops.
constexpr std::int64_t kFollowerHeartbeatNs = 1'000'000'000;

Result<std::string> stream_of_subject(std::string_view prefix, std::string_view subject) {
  if (subject.size() <= prefix.size() + 1 || !subject.starts_with(prefix) || subject[prefix.size()] != '.') {
    return Status::Corruption("subject '" + std::string(subject) + "' is not under " + std::string(prefix));
  }
  std::string out;
  const std::string_view enc = subject.substr(prefix.size() + 1);
  for (std::size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] != '~') {
      out.push_back(enc[i]);
      continue;
    }
    unsigned v = 0;
    for (std::size_t k = 1; k <= 2; ++k) {
      const char c = i + k < enc.size() ? enc[i + k] : '\0';
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return Status::Corruption("subject '" + std::string(subject) + "' holds a malformed escape");
      v = v * 16 + static_cast<unsigned>(d);
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

// An append's message body: the number of events, then each one's envelope (position, version and hashes
// still zero: the nodes fill them in when they apply the stream), length-prefixed.
std::string encode_append(std::string_view stream, std::span<const EventData> events, const std::string& key,
                          Timestamp now) {
  std::string out;
  coding::put_fixed32(&out, static_cast<std::uint32_t>(events.size()));
  RecordedEvent e;
  e.stream = std::string(stream);
  e.recorded_at = now;
  e.idempotency_key = key;
  for (const EventData& d : events) {
    take_event_data(d, &e);
    coding::put_length_prefixed(&out, encode_envelope(e));
  }
  return out;
}

Status decode_append(std::string_view body, std::vector<RecordedEvent>* events) {
  coding::Reader r(body);
  std::uint32_t n = 0;
  if (!r.get_fixed32(&n) || n == 0) return Status::Corruption("the message holds no events");
  events->resize(n);
  std::string envelope;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!r.get_length_prefixed(&envelope)) return Status::Corruption("event " + std::to_string(i) + " is cut short");
    OTINISH_RETURN_IF_ERROR(decode_envelope(envelope, &(*events)[i]));
  }
  if (r.remaining() != 0) return Status::Corruption("the message has bytes after its last event");
  return Status::Ok();
}

Hash256 recorded_digest(std::string_view stream, const std::vector<RecordedEvent>& events) {
  std::vector<EventData> data(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    data[i].type = events[i].type;
    data[i].schema_version = events[i].schema_version;
    data[i].payload = events[i].payload;
  }
  return append_digest(stream, data);
}

class JetStreamStore;

class FollowingSubscription final : public Subscription {
 public:
  FollowingSubscription(const JetStreamStore& store, std::uint64_t after, EventHandler handler);
  ~FollowingSubscription() override { stop(); }
  void stop() override;
  std::uint64_t position() const override { return position_.load(); }
  Status status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }
  bool wait_for(std::uint64_t p, std::chrono::milliseconds timeout) const override;

 private:
  void run();
  const JetStreamStore& store_;
  EventHandler handler_;
  std::atomic<std::uint64_t> position_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Status status_;  // guarded by mu_
  bool ended_ = false;  // guarded by mu_
  std::thread thread_;
};

class JetStreamStore final : public EventStore {
 public:
  JetStreamStore(JetStreamOptions options, const Clock& clock) : options_(std::move(options)), clock_(clock) {}
  ~JetStreamStore() override;

  Status open();
  Status attach(jsOptions& jo);

  Result<AppendResult> append(std::string_view stream, ExpectedVersion expected, std::span<const EventData> events,
                              const AppendOptions& options) override;
  Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, std::uint64_t from_version,
                                                 Direction direction, std::size_t limit) const override;
  Result<std::vector<RecordedEvent>> read_all(std::uint64_t from_position, std::size_t limit) const override;
  Result<std::uint64_t> scan(std::uint64_t from_position, std::uint64_t limit,
                             const std::function<bool(const RecordedEvent&)>& visit) const override;
  Result<std::uint64_t> stream_version(std::string_view stream) const override;
  std::uint64_t head_position() const override {
    std::lock_guard lock(mu_);
    return log_.size();
  }
  Hash256 head_hash() const override {
    std::lock_guard lock(mu_);
    return head_hash_;
  }
  Result<merkle::Hash> tree_node(int level, std::uint64_t index) const override {
    std::lock_guard lock(mu_);
    if (level < 0 || static_cast<std::size_t>(level) >= tree_nodes_.size() ||
        index >= tree_nodes_[static_cast<std::size_t>(level)].size()) {
      return Status::InvalidArgument("the Merkle tree has no complete subtree at level " + std::to_string(level) +
                                     ", index " + std::to_string(index) + " yet");
    }
    return tree_nodes_[static_cast<std::size_t>(level)][index];
  }
  std::unique_ptr<Subscription> subscribe(std::uint64_t after_position, EventHandler handler) override {
    return std::make_unique<FollowingSubscription>(*this, after_position, std::move(handler));
  }

  // For subscriptions: waits until the log holds more than `after` events (or `stop`, or the timeout), then
  // copies up to `limit` of them. The follower's error, if it stopped.
  Status next_batch(std::uint64_t after, std::size_t limit, const std::atomic<bool>& stop,
                    std::vector<RecordedEvent>* out) const;
  void wake_subscribers() const { applied_cv_.notify_all(); }

 private:
  struct StreamIndex {
    std::vector<std::uint64_t> positions;  // version v is at positions[v - 1]
    std::uint64_t last_seq = 0;            // the subject's last message, skipped duplicates included
  };
  struct KeyEntry {
    AppendResult result;
    Hash256 digest{};
    std::uint64_t seq = 0;  // the message that won the key
  };

  void follow();
  // Follows the stream again from the message after the last one applied (the follower's thread only).
  void resubscribe();
  // Applies the message with stream sequence `seq`. REQUIRES: mu_ held.
  Status apply(std::uint64_t seq, std::string_view subject, std::string_view body);
  // Waits until this node applied the stream up to `seq`.
  Status wait_applied(std::uint64_t seq) const;
  // Waits until this node applied everything the stream held when the call began.
  Status catch_up() const;
  // After the connection came back or the consumer was recreated: whether the stream still holds, at the last
  // sequence this node applied, the message it applied there. nats-server 2.9 was seen to take back messages it
  // had delivered (all servers stopped together; a leader change under load) and to give their sequences to new
  // ones; a node that went on would fork the log (docs/jetstream.md). kCorruption then; kUnavailable while the
  // cluster cannot answer.
  Status check_stream_kept_applied() const;
  // The follower's side of that check: until it passes, appends are refused with kUnavailable and reads wait.
  // Checks (asking again while the cluster cannot answer); false, with the follower's error set, if the stream
  // went back.
  bool verify_stream();
  void mark_stream_unchecked();
  // Asks the follower for that check (from the client's reconnection callback or after a resubscription).
  void request_stream_check() {
    mark_stream_unchecked();
    verify_stream_.store(true);
  }
  // Stops this node for `why` (the first reason wins), wakes whoever waits on it, and returns the reason kept.
  // REQUIRES: mu_ held.
  Status stop_following(Status why) {
    if (follower_status_.ok()) follower_status_ = std::move(why);
    applied_cv_.notify_all();
    return follower_status_;
  }
  // The error that stops this node when the stream went back behind what it applied.
  Status stream_went_back(std::uint64_t applied, const std::string& what) const;
  Result<AppendResult> outcome_for(std::uint64_t seq, const std::string& key, const Hash256& digest,
                                   bool duplicate_ack);

  const JetStreamOptions options_;
  const Clock& clock_;
  std::unique_ptr<NatsClient> client_;
  natsConnection* nc_ = nullptr;  // client_'s
  jsCtx* js_ = nullptr;           // client_'s
  natsSubscription* sub_ = nullptr;
  std::thread follower_;
  std::atomic<bool> stopping_{false};
  // Set when the connection came back or the follower had to subscribe again: before applying anything more, the
  // follower checks that the stream still holds what this node applied.
  std::atomic<bool> verify_stream_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable applied_cv_;
  std::vector<RecordedEvent> log_;                        // guarded by mu_: position p is log_[p - 1]
  std::unordered_map<std::string, StreamIndex> streams_;  // guarded by mu_
  std::unordered_map<std::string, KeyEntry> keys_;        // guarded by mu_
  std::map<std::uint64_t, Result<AppendResult>> outcomes_;  // guarded by mu_: recent messages' outcomes
  std::uint64_t applied_seq_ = 0;                         // guarded by mu_
  std::string applied_body_;                              // guarded by mu_: the message at applied_seq_
  bool stream_checked_ = true;                            // guarded by mu_: false from a reconnection to its check
  Hash256 head_hash_{};                                   // guarded by mu_
  Timestamp last_time_{};                                 // guarded by mu_
  Status follower_status_;                                // guarded by mu_
  // The Merkle tree over the log (RFC 6962, as the RocksDB log keeps it), derived like the chain: every
  // complete subtree's root, by level (tree_nodes_[0] holds the leaves).
  merkle::Frontier tree_;                                 // guarded by mu_
  std::vector<std::vector<merkle::Hash>> tree_nodes_;     // guarded by mu_
};

JetStreamStore::~JetStreamStore() {
  stopping_.store(true);
  if (follower_.joinable()) follower_.join();
  if (sub_) natsSubscription_Destroy(sub_);
  client_.reset();  // before the members its reconnection callback sets
}

// Finds (or creates) the stream and starts following it. kUnavailable while the cluster cannot answer yet.
Status JetStreamStore::attach(jsOptions& jo) {
  natsStatus s = NATS_OK;
  const std::string subjects = options_.subject_prefix + ".>";
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = options_.stream.c_str();
    const char* subj[] = {subjects.c_str()};
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.replicas;
    cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.duplicate_window).count();
    // The log is append-only: nothing may remove a message (the chain and every position depend on them all).
    cfg.DenyDelete = true;
    cfg.DenyPurge = true;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
    // Another node created it meanwhile: look it up again.
    if (jerr == JSStreamNameExistErr) return Status::Unavailable("the JetStream stream " + options_.stream + " was just created");
    if (s != NATS_OK) return from_nats(s, jerr, "creating the JetStream stream " + options_.stream);
  } else if (s != NATS_OK) {
    return from_nats(s, jerr, "looking up the JetStream stream " + options_.stream);
  }
  const bool append_only = si->Config && si->Config->DenyDelete && si->Config->DenyPurge;
  jsStreamInfo_Destroy(si);
  if (!append_only) {
    return Status::FailedPrecondition("the JetStream stream " + options_.stream +
                                      " allows deleting or purging messages: an otinish log must be append-only "
                                      "(deny_delete and deny_purge)");
  }

  // The follower: an ordered consumer from the first message (no acknowledgements; the client library
  // recreates it, from where it was, if a message goes missing or the server it talks to goes away).
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options_.stream.c_str();
  so.Ordered = true;
  so.Config.Heartbeat = kFollowerHeartbeatNs;
  so.Config.DeliverPolicy = js_DeliverAll;
  jerr = static_cast<jsErrCode>(0);
  s = js_SubscribeSync(&sub_, js_, subjects.c_str(), &jo, &so, &jerr);
  if (s != NATS_OK) return from_nats(s, jerr, "following the JetStream stream " + options_.stream);
  return Status::Ok();
}

Status JetStreamStore::open() {
  OTINISH_RETURN_IF_ERROR(check_replicas(options_.replicas));
  OTINISH_ASSIGN_OR_RETURN(client_, connect_nats(options_.urls, options_.timeout, [this] { request_stream_check(); }));
  nc_ = client_->conn;
  js_ = client_->js;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout.count();

  OTINISH_RETURN_IF_ERROR(retry_while_unavailable(options_.timeout, [&] {
    Status st = attach(jo);
    if (!st.ok() && sub_) {  // a follower half set up by the failed attempt
      natsSubscription_Destroy(sub_);
      sub_ = nullptr;
    }
    return st;
  }));
  natsSubscription_SetPendingLimits(sub_, -1, -1);
  follower_ = std::thread([this] { follow(); });
  return catch_up();
}

void JetStreamStore::follow() {
  name_this_thread("otinish-js-head");
  std::uint64_t consumer_seq = 0;  // the last delivery's sequence in the current consumer
  while (!stopping_.load()) {
    // After a reconnection, nothing more is applied until the stream is known to still hold what was applied.
    if (verify_stream_.exchange(false) && !verify_stream()) return;
    natsMsg* msg = nullptr;
    natsStatus s = natsSubscription_NextMsg(&msg, sub_, 100);
    if (s == NATS_TIMEOUT || s == NATS_SLOW_CONSUMER) continue;  // the ordered consumer goes on from where it was
    if (s != NATS_OK) {
      // The consumer is gone (every server restarted, the connection was closed and reopened): follow again
      // from the next message this node needs, until the cluster answers. Appends and reads wait meanwhile
      // (and time out with kUnavailable); nothing is skipped or applied twice.
      resubscribe();
      consumer_seq = 0;
      continue;
    }
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      const std::uint64_t seq = meta->Sequence.Stream;
      const std::uint64_t delivery = meta->Sequence.Consumer;
      jsMsgMetaData_Destroy(meta);
      // The client library recreated the ordered consumer on its own (it missed heartbeats or a message): its
      // deliveries count from 1 again. The stream may be another one since; check before applying.
      if (delivery <= consumer_seq) {
        mark_stream_unchecked();
        if (!verify_stream()) {
          natsMsg_Destroy(msg);
          return;
        }
      }
      consumer_seq = delivery;
      std::unique_lock lock(mu_);
      if (!follower_status_.ok()) {  // an append found the stream went back: apply nothing more
        natsMsg_Destroy(msg);
        return;
      }
      if (seq > applied_seq_) {
        Status st = apply(seq, natsMsg_GetSubject(msg),
                          std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
        if (!st.ok()) {
          follower_status_ = Status::Corruption("message " + std::to_string(seq) + " of the JetStream stream " +
                                                options_.stream + ": " + st.message());
          applied_cv_.notify_all();
          natsMsg_Destroy(msg);
          return;
        }
      }
      applied_cv_.notify_all();
    }
    natsMsg_Destroy(msg);
  }
}

void JetStreamStore::mark_stream_unchecked() {
  std::lock_guard lock(mu_);
  stream_checked_ = false;
}

bool JetStreamStore::verify_stream() {
  for (;;) {
    Status kept = check_stream_kept_applied();
    if (kept.code() == StatusCode::kUnavailable && !stopping_.load()) {  // the cluster is still coming back
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::lock_guard lock(mu_);
    stream_checked_ = kept.ok();
    if (!kept.ok()) {
      static_cast<void>(stop_following(std::move(kept)));  // the node stops: its follower returns
      return false;
    }
    applied_cv_.notify_all();
    return true;
  }
}

void JetStreamStore::resubscribe() {
  while (!stopping_.load()) {
    if (sub_) {
      natsSubscription_Destroy(sub_);
      sub_ = nullptr;
    }
    std::uint64_t next = 0;
    {
      std::lock_guard lock(mu_);
      next = applied_seq_ + 1;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options_.timeout.count();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Ordered = true;
    so.Config.Heartbeat = kFollowerHeartbeatNs;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = next;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string subjects = options_.subject_prefix + ".>";
    if (js_SubscribeSync(&sub_, js_, subjects.c_str(), &jo, &so, &jerr) == NATS_OK) {
      natsSubscription_SetPendingLimits(sub_, -1, -1);
      request_stream_check();  // the consumer was gone: the stream may have been lost or replaced too
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

Status JetStreamStore::apply(std::uint64_t seq, std::string_view subject, std::string_view body) {
  OTINISH_ASSIGN_OR_RETURN(std::string stream, stream_of_subject(options_.subject_prefix, subject));
  std::vector<RecordedEvent> events;
  OTINISH_RETURN_IF_ERROR(decode_append(body, &events));
  StreamIndex& index = streams_[stream];
  index.last_seq = seq;
  const std::string key = events.front().idempotency_key;  // a copy: the events are moved into the log below
  const Hash256 digest = recorded_digest(stream, events);
  Result<AppendResult> outcome = Status::Internal("unset");
  if (auto it = keys_.find(key); !key.empty() && it != keys_.end()) {
    // The key was used before (a re-send after the duplicate window): the first message wins, on every node.
    if (it->second.digest == digest) {
      AppendResult r = it->second.result;
      r.deduplicated = true;
      outcome = r;
    } else {
      outcome = Status::AlreadyExists("idempotency key '" + key + "' was used for a different append");
    }
  } else {
    AppendResult r{log_.size() + 1, 0, 0, false};
    for (RecordedEvent& e : events) {
      e.stream = stream;
      e.position = log_.size() + 1;
      e.stream_version = index.positions.size() + 1;
      // Recorded times never decrease along the log, whatever the appending nodes' clocks say.
      e.recorded_at = std::max(e.recorded_at, last_time_);
      last_time_ = e.recorded_at;
      e.prev_hash = head_hash_;
      e.hash = compute_event_hash(e);
      head_hash_ = e.hash;
      tree_.append(merkle::leaf_hash(e.hash), [this](int level, std::uint64_t i, const merkle::Hash& h) {
        auto& row = tree_nodes_.size() > static_cast<std::size_t>(level) ? tree_nodes_[static_cast<std::size_t>(level)]
                                                                          : tree_nodes_.emplace_back();
        if (row.size() == i) row.push_back(h);
      });
      index.positions.push_back(e.position);
      log_.push_back(std::move(e));
    }
    r.last_position = log_.size();
    r.stream_version = index.positions.size();
    if (!key.empty()) keys_[key] = KeyEntry{r, digest, seq};
    outcome = r;
  }
  outcomes_.insert_or_assign(seq, std::move(outcome));
  while (outcomes_.size() > kRememberedOutcomes) outcomes_.erase(outcomes_.begin());
  applied_seq_ = seq;
  applied_body_.assign(body);
  return Status::Ok();
}

Status JetStreamStore::wait_applied(std::uint64_t seq) const {
  std::unique_lock lock(mu_);
  const bool done = applied_cv_.wait_for(lock, options_.timeout, [&] {
    return (applied_seq_ >= seq && stream_checked_) || !follower_status_.ok();
  });
  if (!follower_status_.ok()) return follower_status_;
  if (!done && !stream_checked_) {
    return Status::Unavailable("this node is still checking that the JetStream stream " + options_.stream +
                               " holds what it applied, after its connection came back (" +
                               std::to_string(options_.timeout.count()) + " ms)");
  }
  if (!done) {
    return Status::Unavailable("this node has applied the JetStream stream " + options_.stream + " up to message " +
                               std::to_string(applied_seq_) + ", not yet " + std::to_string(seq) + ", after " +
                               std::to_string(options_.timeout.count()) + " ms");
  }
  return Status::Ok();
}

Status JetStreamStore::catch_up() const {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, options_.stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return from_nats(s, jerr, "asking for the JetStream stream " + options_.stream + "'s last message");
  const std::uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return wait_applied(last);
}

Status JetStreamStore::stream_went_back(std::uint64_t applied, const std::string& what) const {
  return Status::Corruption("the JetStream stream " + options_.stream + " no longer holds the messages this node "
                            "applied up to message " + std::to_string(applied) + " (" + what + "): the cluster "
                            "lost acknowledged appends, as when all its servers are killed at once. This node stops "
                            "rather than fork the log; see docs/jetstream.md, \"What an acknowledgement means\"");
}

Status JetStreamStore::check_stream_kept_applied() const {
  std::uint64_t applied = 0;
  std::string body;
  {
    std::lock_guard lock(mu_);
    applied = applied_seq_;
    body = applied_body_;
  }
  if (applied == 0) return Status::Ok();
  natsMsg* msg = nullptr;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout.count();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, js_, options_.stream.c_str(), applied, &jo, &jerr);
  if (jerr == JSStreamNotFoundErr) return stream_went_back(applied, "the stream is gone");
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
    return stream_went_back(applied, "message " + std::to_string(applied) + " is gone");
  }
  if (s != NATS_OK) {
    Status st = from_nats(s, jerr, "reading message " + std::to_string(applied) + " of the JetStream stream " +
                                       options_.stream);
    return st.code() == StatusCode::kIOError ? Status::Unavailable(st.message()) : st;
  }
  const bool same = std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))) == body;
  natsMsg_Destroy(msg);
  if (!same) return stream_went_back(applied, "message " + std::to_string(applied) + " is another one now");
  return Status::Ok();
}

Result<AppendResult> JetStreamStore::outcome_for(std::uint64_t seq, const std::string& key, const Hash256& digest,
                                                 bool duplicate_ack) {
  std::lock_guard lock(mu_);
  if (!key.empty()) {
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      // The cluster acknowledged this append as message `seq`, and what this node applied as `seq` is another
      // message: one the cluster no longer holds.
      return stop_following(stream_went_back(seq, "its message " + std::to_string(seq) + " is not the one the "
                                                      "cluster acknowledged to this node's append"));
    }
    if (it->second.digest != digest) {
      return Status::AlreadyExists("idempotency key '" + key + "' was used for a different append");
    }
    AppendResult r = it->second.result;
    r.deduplicated = duplicate_ack || it->second.seq != seq;
    return r;
  }
  auto it = outcomes_.find(seq);
  if (it == outcomes_.end()) {
    return Status::Internal("the outcome of message " + std::to_string(seq) + " is no longer remembered");
  }
  return it->second;
}

Result<AppendResult> JetStreamStore::append(std::string_view stream, ExpectedVersion expected,
                                            std::span<const EventData> events, const AppendOptions& options) {
  OTINISH_RETURN_IF_ERROR(
      validate_append(stream, events, options, {options_.max_event_bytes, options_.max_events_per_append}));
  const std::string& key = options.idempotency_key;
  const Hash256 digest = append_digest(stream, events);
  const std::string name(stream);
  // No round trip before publishing when this node's view answers: a key it already applied is answered from
  // it; a key another node used in a message this node has not applied yet is settled when it applies the
  // stream (the first message with a key wins). An expected version that differs from this node's view is
  // checked again after catching up (the caller may have read the stream through another node).
  std::uint64_t last_seq = 0;
  std::uint64_t applied_before = 0;  // what this node had applied before publishing
  for (bool caught_up = false;; caught_up = true) {
    if (caught_up) OTINISH_RETURN_IF_ERROR(catch_up());
    std::lock_guard lock(mu_);
    // A node whose follower stopped answers nothing from its view (it may hold messages the cluster lost).
    if (!follower_status_.ok()) return follower_status_;
    if (!stream_checked_) {
      return Status::Unavailable("this node is checking that the JetStream stream " + options_.stream +
                                 " still holds what it applied, after its connection came back; retry");
    }
    applied_before = applied_seq_;
    if (!key.empty()) {
      if (auto it = keys_.find(key); it != keys_.end()) {
        if (it->second.digest != digest) {
          return Status::AlreadyExists("idempotency key '" + key + "' was used for a different append");
        }
        AppendResult r = it->second.result;
        r.deduplicated = true;
        return r;
      }
    }
    const auto it = streams_.find(name);
    const std::uint64_t current = it == streams_.end() ? 0 : it->second.positions.size();
    last_seq = it == streams_.end() ? 0 : it->second.last_seq;
    if (expected.is_any() || expected.version() == current) break;
    if (caught_up) {
      return Status::Conflict("stream " + name + " is at version " + std::to_string(current) + ", the append expected " +
                              std::to_string(expected.version()) + "; reload the stream and retry")
          .with_current_version(current);
    }
  }
  const std::string body = encode_append(stream, events, key, clock_.now());
  const std::string subject = jetstream_subject(options_.subject_prefix, stream);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  // JetStream's own deduplication within its window; the key itself may hold any byte, a header may not.
  if (s == NATS_OK && !key.empty()) s = natsMsgHeader_Set(msg, kMsgId.data(), to_hex(blake2b_256(key)).c_str());
  if (s == NATS_OK && !expected.is_any()) {
    s = natsMsgHeader_Set(msg, kExpectedLastSubjectSeq.data(), std::to_string(last_seq).c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return from_nats(s, static_cast<jsErrCode>(0), "building the message of an append to " + name);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = options_.timeout.count();
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, js_, msg, &po, &jerr);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) {
    if (jerr == JSStreamWrongLastSequenceErr) {
      // Another node appended to the stream since this node applied it: report the version now.
      OTINISH_RETURN_IF_ERROR(catch_up());
      std::lock_guard lock(mu_);
      const auto it = streams_.find(name);
      const std::uint64_t current = it == streams_.end() ? 0 : it->second.positions.size();
      return Status::Conflict("stream " + name + " is at version " + std::to_string(current) +
                              ", the append expected " + std::to_string(expected.version()) +
                              "; reload the stream and retry")
          .with_current_version(current);
    }
    Status st = from_nats(s, jerr, "appending to " + name + " on JetStream");
    if (st.code() == StatusCode::kUnavailable) {
      return Status::Unavailable(st.message() + "; the append may or may not be in the log: retry it with the same "
                                 "idempotency key");
    }
    return st;
  }
  const std::uint64_t seq = ack->Sequence;
  const bool duplicate = ack->Duplicate;
  jsPubAck_Destroy(ack);
  if (!duplicate && seq <= applied_before) {
    // A new message always follows every message stored before it was published: the stream went back (the
    // follower may not have noticed yet, if the reconnection's check is still to come).
    std::lock_guard lock(mu_);
    return stop_following(stream_went_back(applied_before, "a new append was given message " + std::to_string(seq)));
  }
  OTINISH_RETURN_IF_ERROR(wait_applied(seq));
  return outcome_for(seq, key, digest, duplicate);
}

Result<std::vector<RecordedEvent>> JetStreamStore::read_stream(std::string_view stream, std::uint64_t from_version,
                                                               Direction direction, std::size_t limit) const {
  OTINISH_RETURN_IF_ERROR(validate_stream_name(stream));
  OTINISH_RETURN_IF_ERROR(catch_up());
  std::lock_guard lock(mu_);
  const auto it = streams_.find(std::string(stream));
  if (it == streams_.end() || it->second.positions.empty()) {
    return Status::NotFound("stream " + std::string(stream) + " has no events");
  }
  const std::vector<std::uint64_t>& positions = it->second.positions;
  std::vector<RecordedEvent> out;
  if (direction == Direction::kForward) {
    for (std::uint64_t v = std::max<std::uint64_t>(from_version, 1); v <= positions.size() && out.size() < limit; ++v) {
      out.push_back(log_[positions[v - 1] - 1]);
    }
  } else {
    for (std::uint64_t v = std::min<std::uint64_t>(from_version, positions.size()); v >= 1 && out.size() < limit; --v) {
      out.push_back(log_[positions[v - 1] - 1]);
    }
  }
  return out;
}

Result<std::vector<RecordedEvent>> JetStreamStore::read_all(std::uint64_t from_position, std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<RecordedEvent> out;
  for (std::uint64_t p = std::max<std::uint64_t>(from_position, 1); p <= log_.size() && out.size() < limit; ++p) {
    out.push_back(log_[p - 1]);
  }
  return out;
}

Result<std::uint64_t> JetStreamStore::scan(std::uint64_t from_position, std::uint64_t limit,
                                           const std::function<bool(const RecordedEvent&)>& visit) const {
  // In batches, visited without the lock: a visitor may append (a subscription's handler does).
  std::uint64_t visited = 0;
  std::uint64_t p = std::max<std::uint64_t>(from_position, 1);
  while (visited < limit) {
    OTINISH_ASSIGN_OR_RETURN(auto batch, read_all(p, static_cast<std::size_t>(std::min<std::uint64_t>(limit - visited, 1024))));
    if (batch.empty()) break;
    for (const RecordedEvent& e : batch) {
      ++visited;
      if (!visit(e)) return visited;
    }
    p += batch.size();
  }
  return visited;
}

Result<std::uint64_t> JetStreamStore::stream_version(std::string_view stream) const {
  OTINISH_RETURN_IF_ERROR(validate_stream_name(stream));
  OTINISH_RETURN_IF_ERROR(catch_up());
  std::lock_guard lock(mu_);
  const auto it = streams_.find(std::string(stream));
  return it == streams_.end() ? 0 : it->second.positions.size();
}

Status JetStreamStore::next_batch(std::uint64_t after, std::size_t limit, const std::atomic<bool>& stop,
                                  std::vector<RecordedEvent>* out) const {
  std::unique_lock lock(mu_);
  applied_cv_.wait_for(lock, std::chrono::milliseconds(100),
                       [&] { return log_.size() > after || stop.load() || !follower_status_.ok(); });
  out->clear();
  for (std::uint64_t p = after + 1; p <= log_.size() && out->size() < limit; ++p) out->push_back(log_[p - 1]);
  if (out->empty() && !follower_status_.ok()) return follower_status_;
  return Status::Ok();
}

FollowingSubscription::FollowingSubscription(const JetStreamStore& store, std::uint64_t after, EventHandler handler)
    : store_(store), handler_(std::move(handler)), position_(after) {
  thread_ = std::thread([this] { run(); });
}

void FollowingSubscription::run() {
  name_this_thread("otinish-follow");
  std::vector<RecordedEvent> batch;
  Status end;
  while (!stop_.load()) {
    end = store_.next_batch(position_.load(), 256, stop_, &batch);
    if (!end.ok()) break;
    for (const RecordedEvent& e : batch) {
      if (stop_.load()) break;
      end = handler_(e);
      if (!end.ok()) break;
      {
        std::lock_guard lock(mu_);  // so that a waiter between its check and its sleep is not missed
        position_.store(e.position);
      }
      cv_.notify_all();
    }
    if (!end.ok()) break;
  }
  std::lock_guard lock(mu_);
  status_ = end;
  ended_ = true;
  cv_.notify_all();
}

void FollowingSubscription::stop() {
  stop_.store(true);
  store_.wake_subscribers();
  if (thread_.joinable()) thread_.join();
}

bool FollowingSubscription::wait_for(std::uint64_t p, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return position_.load() >= p || ended_; }) && position_.load() >= p;
}

}  // namespace

std::string jetstream_subject(std::string_view prefix, std::string_view stream) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(prefix);
  out.push_back('.');
  for (unsigned char c : stream) {
    if (plain_name_byte(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('~');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::string> jetstream_stream_leader(const JetStreamOptions& options) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsConnection_ConnectTo(&nc, options.urls.c_str());
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
  if (s == NATS_OK) s = js_GetStreamInfo(&si, js, options.stream.c_str(), nullptr, &jerr);
  Result<std::string> out = Status::Unavailable("the JetStream stream " + options.stream + " has no leader now");
  if (s != NATS_OK) {
    out = jerr == JSStreamNotFoundErr ? Status::NotFound("no JetStream stream " + options.stream)
                                      : from_nats(s, jerr, "asking who leads the JetStream stream " + options.stream);
  } else if (si->Cluster && si->Cluster->Leader && *si->Cluster->Leader) {
    out = std::string(si->Cluster->Leader);
  }
  if (si) jsStreamInfo_Destroy(si);
  if (js) jsCtx_Destroy(js);
  if (nc) natsConnection_Destroy(nc);
  return out;
}

Result<std::unique_ptr<EventStore>> open_jetstream_store(const JetStreamOptions& options, const Clock& clock) {
  auto store = std::make_unique<JetStreamStore>(options, clock);
  OTINISH_RETURN_IF_ERROR(store->open());
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace otinish::store
