#include "api/http/node.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>

#include <boost/json.hpp>

#include "api/http/calendar_outlook.h"
#include "api/http/publications.h"
#include "engine/engine.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/jetstream_keys.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/retention.h"
#include "engine/privacy/sealer.h"
#include "engine/projection.h"
#include "engine/views.h"
#include "examples/city/city_catalogue.h"
#include "store/rocks_store.h"

namespace otinish::api {

namespace {

// What the publications of --rules do to appeals in flight.
constexpr engine::RebindPolicy kStartUpPolicy = engine::RebindPolicy::kKeep;
// And of --calendar: an edited calendar file that publishes a year's inputs re-decides exactly the provisional
// deadlines it changes, as PUT /v1/calendars does by default; nothing else moves.
constexpr engine::RebindPolicy kStartUpCalendarPolicy = engine::RebindPolicy::kProvisional;

// Firing lateness kept for the /metrics summary (the newest firings).
constexpr std::size_t kLatenessSamples = 1 << 16;

void add_sla_metrics(Metrics& m, const engine::SlaService& sla, const store::EventStore& store) {
  m.add_gauge("otinish_sla_lag_events", "Events in the log the SLA service has not processed yet.",
              [&sla, &store] {
                const std::uint64_t head = store.head_position(), cp = sla.processed_position();
                return static_cast<double>(head > cp ? head - cp : 0);
              });
  m.add_gauge("otinish_sla_intake_waiting",
              "Registrations and commands waiting for the SLA service to catch up (--max-sla-lag).",
              [&sla] { return static_cast<double>(sla.intake_waiting()); });
  m.add_gauge("otinish_sla_timers_pending", "Open appeals with an SLA timer due (the timer index).",
              [&sla] { return static_cast<double>(sla.index().timer_count()); });
  m.add_gauge("otinish_sla_open_appeals", "Appeals the SLA service still follows.",
              [&sla] { return static_cast<double>(sla.index().open_count()); });
  m.add_counter("otinish_sla_events_appended_total", "SLA events (bound, clocks, rungs, rebinds) appended.",
                [&sla] { return static_cast<double>(sla.stats().events_appended); });
  m.add_summary("otinish_sla_firing_lateness_seconds",
                "How late SLA timers fired (now - due), over the newest 65,536 firings; _count is every firing.",
                [&sla] {
                  engine::SlaStats st = sla.stats();
                  Metrics::SummaryValue v{.count = st.firings};
                  std::vector<std::int64_t>& l = st.lateness_us;
                  for (double q : {0.5, 0.99}) {
                    double value = 0;
                    if (!l.empty()) {
                      const auto k = static_cast<std::size_t>(q * static_cast<double>(l.size() - 1));
                      std::nth_element(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(k), l.end());
                      value = static_cast<double>(l[k]) / 1e6;
                    }
                    v.quantiles.emplace_back(q, value);
                  }
                  return v;
                });
}

std::string file_field(const std::string& file) { return boost::json::serialize(boost::json::object{{"file", file}}); }

}  // namespace

struct Node::Parts {
  NodeOptions options;
  std::unique_ptr<store::EventStore> store;
  std::unique_ptr<TokenStore> tokens;
  std::unique_ptr<engine::ProjectionRunner> views;
  std::optional<city::CityCatalogue> city;                // loaded from options.catalogue_dir
  std::unique_ptr<engine::InMemoryTopicCatalogue> topics;  // city->engine_catalogue(), what the engine reads
  std::unique_ptr<engine::RuleRegistry> registry;
  std::unique_ptr<engine::SlaService> sla;
  std::unique_ptr<engine::privacy::KeyStore> keys;
  std::unique_ptr<engine::privacy::AeadApplicantSealer> sealer;
  std::unique_ptr<engine::privacy::AccessRecorder> access;  // before `store` is destroyed: it flushes into it
  std::unique_ptr<engine::privacy::RetentionService> retention;
  std::unique_ptr<engine::proof::CheckpointDirectory> checkpoints;
  std::unique_ptr<engine::proof::CheckpointService> checkpointer;
  Status relink_error;           // restoring identity links a crash took failed at open (said at start)
  std::size_t relinked = 0;      // identity links a crash took, restored at open
  Status pending_erasure_error;  // finishing interrupted erasures failed at open (said at start)
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<ApiService> service;
  std::unique_ptr<HttpServer> server;
  bool stopped = false;
  std::mutex backup_mu;  // one backup at a time
};

namespace {

Result<BackupReport> backup_node(Node::Parts& parts, const std::string& to) {
  std::unique_lock busy(parts.backup_mu, std::try_to_lock);
  if (!busy.owns_lock()) return Status::Conflict("a backup is already being written; try again when it is done");
  const auto& kek = parts.options.personal_data.kek;
  return write_backup({.log = parts.store.get(),
                       .keys = parts.keys.get(),
                       .kek = kek ? &*kek : nullptr,
                       .data_dir = parts.options.data_dir,
                       .clock = parts.options.clock},
                      to);
}

// Where a backup asked for over HTTP goes: `to` must lie inside the configured directory (a token may not
// make the server write anywhere else it can write, such as its own data directory); none: a new directory
// named after the time and the log's head.
Result<std::string> backup_target(const std::string& root, const std::string& to, const Node::Parts& parts) {
  const std::filesystem::path base = std::filesystem::absolute(root).lexically_normal();
  if (to.empty()) {
    std::string stamp = format_utc(parts.options.clock->now());
    std::erase_if(stamp, [](char ch) { return ch == ':' || ch == '-'; });
    return (base / (stamp + "-" + std::to_string(parts.store->head_position()))).string();
  }
  const std::filesystem::path target = std::filesystem::path(to).lexically_normal();
  const auto [b, t] = std::mismatch(base.begin(), base.end(), target.begin(), target.end());
  if (!target.is_absolute() || b != base.end() || t == target.end()) {
    return Status::InvalidArgument("a backup goes into a new directory inside " + base.string() + ", not " + to);
  }
  return target.string();
}

}  // namespace

// Opens the key store with the KEK (or checks that plain was asked for), and finishes erasures a crash
// interrupted. The key store is DIR/keys, or, when the log is on a JetStream cluster, a bucket on that cluster
// (`<stream>_KEYS`) which every node of the deployment shares.
static Status open_personal_data(Node::Parts& parts, const NodeOptions& o) {
  const PersonalDataOptions& pd = o.personal_data;
  const bool shared = !o.store_urls.empty();
  engine::privacy::JetStreamKeyOptions jk;
  jk.urls = o.store_urls;
  jk.bucket = o.jetstream.stream + "_KEYS";
  jk.replicas = o.jetstream.replicas;
  jk.timeout = o.jetstream.timeout;
  jk.create_if_missing = false;
  std::unique_ptr<engine::privacy::KeyRecords> shared_records;
  if (shared && (pd.kek || pd.plain)) {
    auto r = engine::privacy::open_jetstream_key_records(jk);
    if (r.ok()) {
      shared_records = std::move(r).value();
    } else if (r.status().code() != StatusCode::kNotFound) {
      return r.status();
    }
  }
  const std::string keys_dir = o.data_dir + "/keys";
  // For messages: "the key store DIR/keys", "the key store in the JetStream bucket OTINISH_KEYS".
  const std::string key_store = shared ? "the key store in the JetStream bucket " + jk.bucket : "the key store " + keys_dir;
  const bool have_keys = shared ? shared_records != nullptr : engine::privacy::KeyStore::exists(keys_dir);
  if (!pd.kek) {
    if (pd.plain && have_keys) {
      return Status::FailedPrecondition(
          key_store + " holds applicants' keys: this deployment seals personal data, so plain text is refused "
          "(it would write new applicants unsealed beside sealed ones); give the key-encryption key (--kek)");
    }
    if (pd.plain) return Status::Ok();
    return Status::FailedPrecondition(
        "no key-encryption key for the applicants' personal data: give one (otinish serve --kek file:PATH; "
        "`otinish keys generate` makes one), or ask for plain text explicitly (--plain-personal-data, tests only)");
  }
  if (!have_keys && parts.store->head_position() > 0 && !pd.create_key_store) {
    return Status::FailedPrecondition(
        key_store + " is missing but the log holds " + std::to_string(parts.store->head_position()) +
        " events: if it was lost, restore it from its backup (sealed applicants cannot be opened without it); if "
        "this log never sealed applicants, start once with --new-key-store");
  }
  if (shared && !shared_records) {
    jk.create_if_missing = true;
    auto r = engine::privacy::open_jetstream_key_records(jk);
    if (!r.ok()) return r.status();
    shared_records = std::move(r).value();
  }
  auto keys = shared ? engine::privacy::KeyStore::open(std::move(shared_records), *pd.kek)
                     : engine::privacy::KeyStore::open(keys_dir, *pd.kek,
                                                       {.file_system = o.store.file_system,
                                                        .log_position = [log = parts.store.get()] {
                                                          return log->head_position();
                                                        }});
  if (!keys.ok()) return keys.status();
  parts.keys = std::move(keys).value();
  parts.sealer = std::make_unique<engine::privacy::AeadApplicantSealer>(*parts.keys);
  // Identity links a crash took are restored before anyone registers: else a returning person would be given a
  // new key. Like an interrupted erasure, one that cannot be must not keep the server down (the next start
  // tries again; meanwhile the person's next appeal gets a key of its own).
  auto relinked = engine::privacy::restore_identity_links(*parts.keys, *parts.store);
  if (!relinked.ok()) parts.relink_error = relinked.status();
  if (relinked.ok()) parts.relinked = *relinked;
  // The first new applicants need not make their own keys (a batch that cannot be made now is made later).
  parts.keys->make_keys_ahead().IgnoreError();
  // An erasure a crash interrupted is finished now; one that cannot be (the log refusing) must not keep the
  // server down: it stays pending, its key is never handed out, and the next start tries again.
  auto finished = engine::privacy::finish_interrupted_erasures(*parts.keys, *parts.store);
  if (!finished.ok()) parts.pending_erasure_error = finished.status();
  return Status::Ok();
}

// The log must extend every checkpoint this server signed: one it does not extend means the log was restored
// from a backup older than the checkpoint (events acknowledged since are gone) or rewritten. Serving on would
// fork the history the checkpoints published, so the server refuses to start.
static Status check_latest_checkpoint(const store::EventStore& store, const engine::proof::CheckpointDirectory& dir) {
  auto latest = dir.latest();
  if (!latest.ok()) return latest.status().code() == StatusCode::kNotFound ? Status::Ok() : latest.status();
  auto note = engine::proof::parse_signed_note(*latest);
  if (!note.ok()) return Status::Corruption(dir.path() + ": the newest checkpoint is malformed: " + note.status().message());
  auto checkpoint = engine::proof::parse_checkpoint(note->text);
  if (!checkpoint.ok()) return Status::Corruption(dir.path() + ": " + checkpoint.status().message());
  OTINISH_ASSIGN_OR_RETURN(auto report, engine::proof::check_consistency(store, *checkpoint, &dir));
  if (!report.ok) {
    return Status::FailedPrecondition(
        "the log does not extend the newest checkpoint this server signed (" + dir.path() + "): " + report.to_string() +
        ". Was the log restored from an older backup, or altered? Restore the log that the checkpoints describe");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Node>> Node::open(const NodeOptions& o) {
  auto parts = std::make_unique<Parts>();
  parts->options = o;
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return Status::IOError("cannot create data directory " + o.data_dir + ": " + ec.message());
  if (!o.catalogue_dir.empty()) {
    auto city = city::CityCatalogue::load(o.catalogue_dir);
    if (!city.ok()) return city.status();
    parts->city = std::move(city).value();
    parts->topics = std::make_unique<engine::InMemoryTopicCatalogue>(parts->city->engine_catalogue());
  }
  auto st = [&]() -> Result<std::unique_ptr<store::EventStore>> {
    if (o.store_urls.empty()) return store::open_rocks_store(o.data_dir + "/log", o.store, *o.clock);
    store::JetStreamOptions js = o.jetstream;
    js.urls = o.store_urls;
    return store::open_jetstream_store(js, *o.clock);
  }();
  if (!st.ok()) return st.status();
  parts->store = std::move(st).value();
  OTINISH_RETURN_IF_ERROR(open_personal_data(*parts, o));
  parts->checkpoints = std::make_unique<engine::proof::CheckpointDirectory>(o.data_dir + "/checkpoints");
  OTINISH_RETURN_IF_ERROR(check_latest_checkpoint(*parts->store, *parts->checkpoints));
  auto tokens = TokenStore::open(o.data_dir + "/tokens.jsonl", *o.clock);
  if (!tokens.ok()) return tokens.status();
  parts->tokens = std::move(tokens).value();
  if (o.views) {
    auto runner = engine::ProjectionRunner::open(*parts->store, o.data_dir + "/views", engine::standard_projections());
    if (!runner.ok()) return runner.status();
    parts->views = std::move(runner).value();
  }
  parts->registry = std::make_unique<engine::RuleRegistry>(*parts->store);
  auto sla = engine::SlaService::open(*parts->store, *parts->registry, *o.clock,
                                      {.index_path = o.data_dir + "/sla", .lateness_samples = kLatenessSamples,
                                       .workers = o.sla_workers});
  if (!sla.ok()) return sla.status();
  parts->sla = std::move(sla).value();
  const engine::ApplicantSealer* sealer = parts->sealer ? static_cast<const engine::ApplicantSealer*>(parts->sealer.get())
                                                : &engine::PlainApplicantSealer::instance();
  parts->engine = std::make_unique<engine::Engine>(*parts->store, *o.clock, parts->topics.get(), *sealer);
  parts->access = std::make_unique<engine::privacy::AccessRecorder>(*parts->store, *o.clock, o.personal_data.access);
  ServiceOptions service_options = o.service;
  if (o.max_sla_lag > 0 && !service_options.intake_gate) {
    service_options.intake_gate = [sla = parts->sla.get(), max = o.max_sla_lag] {
      // Past the wait the request goes on: intake is slowed, never refused.
      (void)sla->wait_for_lag_below(max, std::chrono::seconds(5));
    };
  }
  if (!o.backup_dir.empty()) {
    service_options.backup = [p = parts.get(), root = o.backup_dir](const std::string& to) -> Result<BackupReport> {
      OTINISH_ASSIGN_OR_RETURN(const std::string target, backup_target(root, to, *p));
      return backup_node(*p, target);
    };
  }
  parts->service = std::make_unique<ApiService>(*parts->engine, *parts->store, *parts->registry, *parts->tokens,
                                                *o.clock, parts->views.get(), parts->topics.get(), service_options, o.log,
                                                ServicePrivacy{parts->keys.get(), parts->access.get()},
                                                ServiceProof{parts->checkpoints.get()},
                                                parts->city ? &*parts->city : nullptr);
  ApiService* svc = parts->service.get();
  parts->server = std::make_unique<HttpServer>(
      o.server, [svc](const HttpRequest& q) { return svc->serve(q); },
      [svc](const RequestRecord& r) { svc->observe(r); }, &ApiService::answers_inline);
  HttpServer* srv = parts->server.get();
  svc->set_offload([srv](std::function<void()> work) { srv->offload(std::move(work)); });
  svc->metrics().add_gauge("otinish_http_connections", "Open HTTP connections.",
                           [srv] { return static_cast<double>(srv->open_connections()); });
  svc->metrics().add_gauge("otinish_sse_clients", "Open Server-Sent Event streams.",
                           [srv] { return static_cast<double>(srv->open_streams()); });
  add_sla_metrics(svc->metrics(), *parts->sla, *parts->store);
  return std::unique_ptr<Node>(new Node(std::move(parts)));
}

Node::Node(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Node::~Node() { shutdown(std::chrono::seconds(10)); }

Status Node::start() {
  if (parts_->views) OTINISH_RETURN_IF_ERROR(parts_->views->start());
  OTINISH_RETURN_IF_ERROR(parts_->sla->start());
  if (parts_->keys && parts_->options.personal_data.retention_interval.count() > 0) {
    parts_->retention = std::make_unique<engine::privacy::RetentionService>(
        *parts_->keys, *parts_->store, *parts_->registry, *parts_->options.clock,
        engine::privacy::RetentionOptions{.interval = parts_->options.personal_data.retention_interval});
  }
  const store::Actor actor{"otinish-serve", "admin", ""};
  const NodeOptions& o = parts_->options;
  for (const std::string& file : o.calendar_files) {
    auto published = publish_calendar_file(*parts_->registry, *parts_->store, file, kStartUpCalendarPolicy, actor);
    if (!published.ok()) return published.status();
    if (*published) parts_->service->log_line("info", "calendar published", file_field(file));
  }
  if (!o.rules_file.empty()) {
    auto published = publish_rule_set_file(*parts_->registry, *parts_->store, o.rules_file, kStartUpPolicy, actor);
    if (!published.ok()) return published.status();
    if (*published) parts_->service->log_line("info", "rule set published", file_field(o.rules_file));
  }
  // Said once at start (and continuously by /healthz and /metrics): a provisional year close ahead needs an admin.
  if (auto outlook = calendar_outlook(*parts_->registry, o.clock->now()); outlook.ok()) {
    for (const std::string& reason : provisional_reasons(*outlook)) {
      parts_->service->log_line("warning", "provisional calendar year ahead",
                                boost::json::serialize(boost::json::object{{"reason", reason}}));
    }
  }
  if (!parts_->relink_error.ok()) {
    parts_->service->log_line("error", "identity links lost in a crash could not be restored from the log",
                              boost::json::serialize(boost::json::object{{"error", parts_->relink_error.ToString()}}));
  } else if (parts_->relinked > 0) {
    parts_->service->log_line("info", "identity links lost in a crash restored from the log",
                              boost::json::serialize(boost::json::object{{"applicants", parts_->relinked}}));
  }
  if (!parts_->pending_erasure_error.ok()) {
    parts_->service->log_line("error", "an interrupted erasure could not be finished; it stays pending",
                              boost::json::serialize(boost::json::object{
                                  {"error", parts_->pending_erasure_error.ToString()}}));
  }
  // After the start-up publications, so that the first run already sees the rule set in force.
  if (parts_->retention) parts_->retention->start();
  if (o.checkpoints.signer) {
    ApiService* svc = parts_->service.get();
    parts_->checkpointer = std::make_unique<engine::proof::CheckpointService>(
        *parts_->store, *o.checkpoints.signer, *parts_->checkpoints,
        engine::proof::CheckpointServiceOptions{.interval = o.checkpoints.interval, .origin = o.checkpoints.origin},
        [svc](const Status& st) {
          svc->log_line("error", "a checkpoint could not be signed or kept",
                        boost::json::serialize(boost::json::object{{"error", st.ToString()}}));
        });
    parts_->checkpointer->start();
  } else {
    parts_->service->log_line("warning", "checkpoints are not signed: no signing key was given",
                              boost::json::serialize(boost::json::object{{"checkpoints", parts_->checkpoints->path()}}));
  }
  OTINISH_RETURN_IF_ERROR(parts_->server->start());
  parts_->service->log_line(
      "info", "listening",
      boost::json::serialize(boost::json::object{
          {"address", o.server.listen_host + ":" + std::to_string(parts_->server->port())}, {"data", o.data_dir}}));
  return Status::Ok();
}

std::uint16_t Node::port() const { return parts_->server->port(); }

void Node::shutdown(std::chrono::milliseconds grace) {
  if (parts_->stopped) return;
  parts_->stopped = true;
  parts_->service->log_line("info", "shutting down", "{}");
  parts_->server->shutdown(grace);  // every acknowledged append is already durable (the store syncs first)
  if (Status st = parts_->access->flush(); !st.ok()) {
    parts_->service->log_line("error", "reads of personal data not recorded",
                              boost::json::serialize(boost::json::object{{"error", st.ToString()}}));
  }
  if (parts_->retention) parts_->retention->stop();
  if (parts_->checkpointer) parts_->checkpointer->stop();  // signs a last checkpoint of what the log holds
  parts_->sla->stop();              // its index is flushed before the store closes (Parts' destructor)
  if (parts_->views) parts_->views->stop();
  parts_->service->log_line("info", "stopped", "{}");
}

Result<BackupReport> Node::backup(const std::string& to) { return backup_node(*parts_, to); }

ApiService& Node::service() { return *parts_->service; }
store::EventStore& Node::store() { return *parts_->store; }
TokenStore& Node::tokens() { return *parts_->tokens; }
engine::RuleRegistry& Node::registry() { return *parts_->registry; }
engine::SlaService& Node::sla() { return *parts_->sla; }
engine::privacy::KeyStore* Node::keys() { return parts_->keys.get(); }

}  // namespace otinish::api
