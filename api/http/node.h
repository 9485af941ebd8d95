// api/http/node.h: one otinish server process put together: log, views, engine, SLA service, tokens, API,
// listener.
//
// `otinish serve` is a Node plus signal handling; the integration tests run Nodes in-process on port 0.
//
// Usage:
//   NodeOptions o{.data_dir = "/var/lib/otinish"};
//   o.server.listen_port = 0;
//   o.catalogue_dir = "examples/catalogue";       // optional: topics checked, dangerous flags known
//   o.calendar_files = {"kz.yaml", "shymkent.yaml"};  // optional: published at start when changed
//   o.rules_file = "city.yaml";
//   o.personal_data.kek = *engine::privacy::load_kek("file:/etc/otinish/kek", o.data_dir);
//   auto node = Node::open(o);                    // opens DIR/log, DIR/keys, DIR/views, DIR/sla, DIR/tokens.jsonl
//   OTINISH_RETURN_IF_ERROR((*node)->start());    // views, SLA service, start-up publications, listener
//   std::uint16_t port = (*node)->port();
//   (*node)->shutdown(std::chrono::seconds(10));  // graceful; also done by the destructor
//
// Thread-safety: open/start/shutdown from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "api/http/backup.h"
#include "api/http/server.h"
#include "api/http/service.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/privacy/access_log.h"
#include "engine/privacy/kek.h"
#include "engine/proof/checkpoint_service.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "store/jetstream_store.h"
#include "store/rocks_store.h"

namespace otinish::api {

// How the applicants' personal data is kept (engine/privacy/privacy.h).
struct PersonalDataOptions {
  // The key-encryption key. Set: applicants are sealed with their own data keys, kept in DIR/keys (or the
  // cluster's bucket: `store_urls`) and wrapped by it (it must be the key they were written with).
  std::optional<engine::privacy::KeyEncryptionKey> kek;
  // No KEK and this set: applicants are stored in plain text (scheme 0). For tests only; open() refuses a node
  // with neither, so a forgotten key never silently means plain text.
  bool plain = false;
  // Create DIR/keys although the log already holds appeals (the first sealed start of a log written in plain
  // text). Off: a missing key store beside a non-empty log is refused, because a lost key store would
  // otherwise be replaced by an empty one and every sealed applicant would become unreadable without a word.
  bool create_key_store = false;
  // Batching of the read-audit events.
  engine::privacy::AccessRecorderOptions access;
  // How often the retention rules of the rule set in force are carried out (erasing applicants whose time is
  // up). 0: never (tests that want no background erasure). Needs a KEK.
  std::chrono::milliseconds retention_interval = std::chrono::hours(1);
};

// Checkpoints of the log's Merkle tree (engine/proof/checkpoint.h), kept in DIR/checkpoints.
struct CheckpointOptions {
  // The signing key. None: no checkpoint is signed (`otinish serve` says so at start); the kept ones are still
  // served and still checked against the log at open.
  std::optional<engine::proof::NoteSigner> signer;
  // The checkpoints' origin line; empty: the key's name.
  std::string origin;
  // How often a checkpoint is signed when the log grew (and once at shutdown).
  std::chrono::milliseconds interval = std::chrono::minutes(1);
};

struct NodeOptions {
  // The data directory (layout in api/cli/data_dir.h). Created if missing.
  std::string data_dir;
  ServerOptions server;
  ServiceOptions service;
  // Run the projections (lists, timelines, scorecards, public feed). Off: those resources answer 503.
  bool views = true;
  // Where structured logs go (one JSON object per line); null for none.
  std::ostream* log = nullptr;
  // The clock for events, SLA timers and logs; must outlive the node.
  const Clock* clock = &SystemClock::instance();
  // The log's options: group commit, caches, and the file system (the disk-fault tests give a failing one).
  store::StoreOptions store;
  // Where the log is kept: empty, the embedded RocksDB log in DIR/log (with `store`); or the servers of a NATS
  // JetStream cluster, "nats://10.0.0.1:4222,nats://10.0.0.2:4222,..." (store/jetstream_store.h, with
  // `jetstream`; docs/jetstream.md). The applicants' keys then go to a bucket on that cluster,
  // `<jetstream.stream>_KEYS`, which every node of the deployment shares (engine/privacy/jetstream_keys.h).
  // The rest of the data directory stays on this node.
  std::string store_urls;
  store::JetStreamOptions jetstream;
  PersonalDataOptions personal_data;
  CheckpointOptions checkpoints;
  // A folder holding topics.yaml and agencies.yaml (as examples/catalogue/). Set: the engine checks topics
  // against it and knows dangerous topics (an incident on one is critical). Empty: topics are not checked.
  std::string catalogue_dir;
  // Calendar files published at start, in order (a parent before the calendars inheriting it), each unless the
  // calendar of that name in force has the same content hash: restarts do not republish. Policy keep.
  std::vector<std::string> calendar_files;
  // A rule set file published at start, after the calendars, unless the rule set in force has the same content
  // hash. Empty: none. Policy keep.
  std::string rules_file;
  // Registrations and commands wait (up to 5 s each) while the SLA service is more than this many log events
  // behind (otinish_sla_lag_events; 20,000 is well under a second of its work): under a burst the desks slow
  // down instead of deadlines firing late. 0: never wait.
  std::uint64_t max_sla_lag = 20'000;
  // Threads of the SLA service that decide appeals (engine::SlaServiceOptions::workers).
  int sla_workers = engine::SlaServiceOptions{}.workers;
  // Where POST /v1/backups may write backups (each into a new directory inside it; api/http/backup.h). Empty:
  // backups over HTTP are off (409 backups-off); Node::backup still works.
  std::string backup_dir;
};

class Node {
 public:
  // Errors: the store's (kIOError when another process holds the log), the token file's, the views', the SLA
  // timer index's, the catalogue's (kNotFound, kInvalidArgument with file:line:column); the key store's
  // (kFailedPrecondition for a wrong key-encryption key, naming its source), kFailedPrecondition for neither a
  // KEK nor `plain`, or a missing key store beside a non-empty log; kFailedPrecondition when the log does not
  // extend the newest checkpoint in DIR/checkpoints (restored from an older backup, or rewritten): the message
  // says where they differ.
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options);
  ~Node();

  // Starts the views, the SLA service (it loads the rule registry and fires overdue timers), publishes the
  // configured calendars and rule set, then listens. Errors: those of each, a publication's naming its file.
  Status start();
  std::uint16_t port() const;
  void shutdown(std::chrono::milliseconds grace);

  // Writes a verified backup of the data directory into the new directory `to`, while the node serves
  // (api/http/backup.h). One at a time: kConflict while another runs. Errors: write_backup's.
  Result<BackupReport> backup(const std::string& to);

  ApiService& service();
  store::EventStore& store();
  TokenStore& tokens();
  engine::RuleRegistry& registry();
  engine::SlaService& sla();
  // Null when personal data is plain.
  engine::privacy::KeyStore* keys();

  struct Parts;

 private:
  explicit Node(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace otinish::api
