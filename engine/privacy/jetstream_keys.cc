#include "engine/privacy/jetstream_keys.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "store/nats_client.h"

namespace otinish::engine::privacy {

namespace {

using store::from_nats;

constexpr jsErrCode kNoJsError = static_cast<jsErrCode>(0);

// The key store's keys ("k/ap-...", "m/index-key") as bucket keys: '/' becomes '.', NATS's token separator,
// so that a prefix ("e/") is a subject filter ("e.>"). No key store key holds a '.'.
std::string bucket_key(std::string_view k) {
  std::string out(k);
  for (char& c : out) {
    if (c == '/') c = '.';
  }
  return out;
}

std::string store_key(std::string_view k) {
  std::string out(k);
  for (char& c : out) {
    if (c == '.') c = '/';
  }
  return out;
}

bool valid_bucket(const std::string& b) {
  return !b.empty() && b.size() <= 64 && std::all_of(b.begin(), b.end(), [](unsigned char c) { return store::plain_name_byte(c); });
}

class JetStreamKeyRecords final : public KeyRecords {
 public:
  explicit JetStreamKeyRecords(const JetStreamKeyOptions& o)
      : options_(o), stream_("KV_" + o.bucket), where_("the key store in JetStream bucket " + o.bucket) {}

  ~JetStreamKeyRecords() override {
    stopping_.store(true);
    for (std::thread& t : watchers_) t.join();
    if (kv_) kvStore_Destroy(kv_);
  }

  Status open() {
    if (!valid_bucket(options_.bucket)) {
      return Status::InvalidArgument("the key bucket name '" + options_.bucket + "' must be 1 to 64 letters, digits, '_' or '-'");
    }
    OTINISH_RETURN_IF_ERROR(store::check_replicas(options_.replicas));
    OTINISH_ASSIGN_OR_RETURN(client_, store::connect_nats(options_.urls, options_.timeout));
    return store::retry_while_unavailable(options_.timeout, [this] { return attach(); });
  }

  const std::string& where() const noexcept override { return where_; }

  Result<std::optional<std::string>> get(std::string_view k) override {
    OTINISH_ASSIGN_OR_RETURN(auto e, entry(k));
    if (!e) return std::optional<std::string>();
    return std::optional<std::string>(std::move(e->value));
  }

  Status scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& visit) override {
    kvWatcher* w = nullptr;
    OTINISH_RETURN_IF_ERROR(start_watch(prefix, &w));
    Status st;
    for (;;) {
      kvEntry* e = nullptr;
      natsStatus s = kvWatcher_Next(&e, w, options_.timeout.count());
      if (s != NATS_OK) {
        st = from_nats(s, kNoJsError, "reading " + std::string(prefix) + " from " + where_);
        break;
      }
      if (e == nullptr) break;  // every current value delivered
      visit(store_key(kvEntry_Key(e)), value_of(e));
      kvEntry_Destroy(e);
    }
    kvWatcher_Destroy(w);
    return st;
  }

  Status write(const std::vector<Op>& ops, bool) override {
    for (const Op& op : ops) {
      const std::string k = bucket_key(op.key);
      natsStatus s = NATS_OK;
      switch (op.kind) {
        case Op::Kind::kPut:
          // The bucket keeps one value per key: the server drops the previous one. Only values that hold no
          // secret are ever overwritten (marks and links); keys and secrets are deleted, below.
          s = kvStore_Put(nullptr, kv_, k.c_str(), op.value.data(), static_cast<int>(op.value.size()));
          if (s != NATS_OK) return from_nats(s, kNoJsError, "writing " + op.key + " to " + where_);
          break;
        case Op::Kind::kCreate:
          s = kvStore_Create(nullptr, kv_, k.c_str(), op.value.data(), static_cast<int>(op.value.size()));
          if (s != NATS_OK) {
            const Status failed = from_nats(s, kNoJsError, "creating " + op.key + " in " + where_);
            auto now = entry(op.key);
            if (now.ok() && now->has_value()) return Status::AlreadyExists(op.key + " exists in " + where_);
            return failed;
          }
          break;
        case Op::Kind::kDelete: {
          // Erased, not just deleted: the server overwrites the message's bytes (on every replica).
          OTINISH_ASSIGN_OR_RETURN(auto e, entry(op.key));
          if (!e) break;
          jsErrCode jerr = kNoJsError;
          s = js_EraseMsg(client_->js, stream_.c_str(), e->revision, nullptr, &jerr);
          if (s != NATS_OK) {
            // Erased meanwhile by another node's identical delete: as good.
            const Status failed = from_nats(s, jerr, "erasing " + op.key + " from " + where_);
            auto now = entry(op.key);
            if (!now.ok() || (now->has_value() && (*now)->revision == e->revision)) return failed;
          }
          break;
        }
      }
    }
    return Status::Ok();
  }

  // Each write above returned once a quorum of the cluster stored it.
  Status sync() override { return Status::Ok(); }
  bool durable_on_write() const noexcept override { return true; }  // each write is acknowledged by a quorum
  // Deleted values were erased as they were deleted.
  Status purge() override { return Status::Ok(); }
  Status checkpoint_to(const std::string&) override {
    return Status::FailedPrecondition(where_ + " is copied by the cluster's own stream backup (nats stream backup " +
                                      stream_ + "), not into a directory of this node");
  }

  bool shared() const noexcept override { return true; }

  Status watch(std::string_view prefix, std::function<void(std::string_view, std::string_view)> changed) override {
    // The current values first, before open() returns (so that the KeyStore starts knowing every erasure),
    // then a thread for later ones.
    OTINISH_RETURN_IF_ERROR(scan(prefix, changed));
    std::lock_guard lock(watch_mu_);
    watchers_.emplace_back([this, p = std::string(prefix), changed = std::move(changed)] { follow(p, changed); });
    return Status::Ok();
  }

 private:
  struct Entry {
    std::string value;
    std::uint64_t revision = 0;
  };

  static std::string_view value_of(kvEntry* e) {
    const void* v = kvEntry_Value(e);
    return v ? std::string_view(static_cast<const char*>(v), static_cast<std::size_t>(kvEntry_ValueLen(e)))
             : std::string_view();
  }

  Result<std::optional<Entry>> entry(std::string_view k) {
    kvEntry* e = nullptr;
    natsStatus s = kvStore_Get(&e, kv_, bucket_key(k).c_str());
    if (s == NATS_NOT_FOUND) return std::optional<Entry>();
    if (s != NATS_OK) return from_nats(s, kNoJsError, "reading " + std::string(k) + " from " + where_);
    Entry out{std::string(value_of(e)), kvEntry_Revision(e)};
    kvEntry_Destroy(e);
    return std::optional<Entry>(std::move(out));
  }

  Status start_watch(std::string_view prefix, kvWatcher** w) {
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.IgnoreDeletes = true;
    wo.Timeout = options_.timeout.count();
    const std::string filter = bucket_key(prefix) + ">";
    natsStatus s = kvStore_Watch(w, kv_, filter.c_str(), &wo);
    if (s != NATS_OK) return from_nats(s, kNoJsError, "watching " + std::string(prefix) + " in " + where_);
    return Status::Ok();
  }

  // Later writes under `prefix`, until the records close. A watcher that fails (every server restarted) is
  // started again; it delivers the current values again, which `changed` takes as often as it gets them.
  void follow(const std::string& prefix, const std::function<void(std::string_view, std::string_view)>& changed) {
    kvWatcher* w = nullptr;
    while (!stopping_.load()) {
      if (w == nullptr && !start_watch(prefix, &w).ok()) {
        w = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      kvEntry* e = nullptr;
      natsStatus s = kvWatcher_Next(&e, w, 100);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) {
        kvWatcher_Destroy(w);
        w = nullptr;
        continue;
      }
      if (e == nullptr) continue;  // the end of the current values
      changed(store_key(kvEntry_Key(e)), value_of(e));
      kvEntry_Destroy(e);
    }
    if (w) kvWatcher_Destroy(w);
  }

  // Finds the bucket, or creates its stream: as a JetStream key-value bucket, except that deleting a message is
  // allowed (the client library's own buckets deny it), which is how a key is erased.
  Status attach() {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = kNoJsError;
    natsStatus s = js_GetStreamInfo(&si, client_->js, stream_.c_str(), nullptr, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      if (!options_.create_if_missing) return Status::NotFound("no " + where_ + " on the cluster at " + options_.urls);
      const std::string subjects = "$KV." + options_.bucket + ".>";
      const char* subj[] = {subjects.c_str()};
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = stream_.c_str();
      cfg.Subjects = subj;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_FileStorage;
      cfg.Replicas = options_.replicas;
      cfg.MaxMsgsPerSubject = 1;
      cfg.Discard = js_DiscardNew;
      cfg.AllowRollup = true;
      // No direct gets: any replica answers those, a follower that has not applied the latest write too, so a
      // node could miss a key another node just made (or still see one just erased). Without them a read goes
      // to the stream's leader, which answers after every acknowledged write.
      cfg.AllowDirect = false;
      cfg.DenyDelete = false;
      cfg.DenyPurge = false;
      cfg.Duplicates = 2LL * 60 * 1000 * 1000 * 1000;
      jerr = kNoJsError;
      s = js_AddStream(&si, client_->js, &cfg, nullptr, &jerr);
      if (jerr == JSStreamNameExistErr) return Status::Unavailable(where_ + " was just created by another node");
      if (s != NATS_OK) return from_nats(s, jerr, "creating " + where_);
    } else if (s != NATS_OK) {
      return from_nats(s, jerr, "looking up " + where_);
    }
    const bool erasable = si->Config && !si->Config->DenyDelete;
    const bool direct = si->Config && si->Config->AllowDirect;
    jsStreamInfo_Destroy(si);
    if (!erasable) {
      return Status::FailedPrecondition(where_ + " denies deleting messages, so an erased applicant's key could not "
                                        "be destroyed: it was not made by otinish (make it with deny_delete off)");
    }
    if (direct) {
      return Status::FailedPrecondition(where_ + " allows direct gets, which any replica answers, perhaps before it "
                                        "has a write another node just made: it was not made by otinish (make it "
                                        "with allow_direct off)");
    }
    s = js_KeyValue(&kv_, client_->js, options_.bucket.c_str());
    if (s != NATS_OK) return from_nats(s, kNoJsError, "opening " + where_);
    return Status::Ok();
  }

  const JetStreamKeyOptions options_;
  const std::string stream_, where_;
  std::unique_ptr<store::NatsClient> client_;
  kvStore* kv_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::mutex watch_mu_;
  std::vector<std::thread> watchers_;  // GUARDED_BY(watch_mu_)
};

}  // namespace

Result<std::unique_ptr<KeyRecords>> open_jetstream_key_records(const JetStreamKeyOptions& options) {
  auto r = std::make_unique<JetStreamKeyRecords>(options);
  OTINISH_RETURN_IF_ERROR(r->open());
  return std::unique_ptr<KeyRecords>(std::move(r));
}

Result<std::unique_ptr<KeyStore>> open_jetstream_key_store(const JetStreamKeyOptions& options,
                                                           const KeyEncryptionKey& kek) {
  OTINISH_ASSIGN_OR_RETURN(auto records, open_jetstream_key_records(options));
  return KeyStore::open(std::move(records), kek);
}

}  // namespace otinish::engine::privacy
