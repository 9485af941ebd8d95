// `otinish verify | export | import | replay`: the log, offline (the server must not hold the directory).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "api/http/json_codec.h"
#include "engine/engine.h"
#include "engine/rule_registry.h"
#include "engine/sla_events.h"
#include "engine/views.h"
#include "engine/proof/checkpoint.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace json = boost::json;

namespace {

struct LogArgs {
  std::string data = ".";
  std::string file;
  std::string appeal;
  std::string as_of;
  std::uint64_t from = 1;
  std::string since;               // verify: a checkpoint file the log must extend
  std::vector<std::string> keys;   // verify --since: verifier keys (NAME+HASH+BASE64 or @FILE)
  std::size_t require = 1;         // verify --since: how many of them must have signed
  std::string format = "text";     // replay: text or json
};

Result<std::unique_ptr<store::EventStore>> open_existing(const std::string& data, bool verify_tail,
                                                         const Clock& clock = SystemClock::instance()) {
  store::StoreOptions o;
  o.create_if_missing = false;
  if (!verify_tail) o.tail_check_events = 0;
  auto s = store::open_rocks_store(log_dir(data), o, clock);
  if (!s.ok() && s.status().code() == StatusCode::kIOError) {
    return Status::IOError(s.status().message() + " (is `otinish serve` running on " + data + "? stop it first)");
  }
  return s;
}

void verify(const LogArgs& a, Context& ctx) {
  auto store = open_existing(a.data, false);
  if (!store.ok()) {
    ctx.err << "otinish verify: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  // The hash chain, then the stream indexes against it (cheap: docs/log-format.md); progress restarts at 1.
  const char* walk = "verified";
  std::uint64_t last = 0;
  store::VerifyOptions options{.indexes = true, .progress = [&](std::uint64_t p) {
    if (p <= last) walk = "checked the indexes of";
    last = p;
    ctx.err << "\r" << walk << " " << p << " events" << std::flush;
  }};
  auto report = store::verify_log(**store, options);
  if (!report.ok()) {
    ctx.err << "\notinish verify: " << report.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << report->to_string() << "\n";
  ctx.exit_code = report->ok ? 0 : 1;
  if (!report->ok || a.since.empty()) return;
  // The log verifies on its own; now that it extends a checkpoint kept outside the operator's control.
  std::ifstream in(a.since, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) {
    ctx.err << "otinish verify: cannot read " << a.since << "\n";
    ctx.exit_code = 1;
    return;
  }
  auto verifiers = verifier_keys(a.keys);
  if (!verifiers.ok()) {
    ctx.err << "otinish verify: " << verifiers.status().ToString() << "\n";
    ctx.exit_code = 2;
    return;
  }
  auto opened = engine::proof::open_checkpoint(bytes.str(), *verifiers, a.require);
  if (!opened.ok()) {
    ctx.out << "FAILED: " << a.since << ": " << opened.status().message() << "\n";
    ctx.exit_code = 1;
    return;
  }
  engine::proof::CheckpointDirectory kept(a.data + "/checkpoints");
  auto consistency = engine::proof::check_consistency(**store, opened->checkpoint, &kept);
  if (!consistency.ok()) {
    ctx.err << "otinish verify: " << consistency.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << consistency->to_string() << "\n";
  ctx.exit_code = consistency->ok ? 0 : 1;
}

void export_log(const LogArgs& a, Context& ctx) {
  auto store = open_existing(a.data, true);
  if (!store.ok()) {
    ctx.err << "otinish export: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  std::ofstream file;
  if (!a.file.empty() && a.file != "-") {
    file.open(a.file, std::ios::trunc);
    if (!file) {
      ctx.err << "otinish export: cannot write " << a.file << "\n";
      ctx.exit_code = 1;
      return;
    }
  }
  std::ostream& out = file.is_open() ? file : ctx.out;
  std::uint64_t n = 0;
  auto scanned = (*store)->scan(a.from, UINT64_MAX, [&](const store::RecordedEvent& e) {
    out << json::serialize(api::envelope_to_json(e, api::EnvelopeForm::kExport)) << "\n";
    ++n;
    return true;
  });
  out.flush();
  if (!scanned.ok() || !out) {
    ctx.err << "otinish export: " << (scanned.ok() ? std::string("write failed") : scanned.status().ToString()) << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.err << "exported " << n << " events, head hash " << to_hex((*store)->head_hash()) << "\n";
}

// Import: check the file's chain, then re-create the original appends with the recorded times of the file (a
// manual clock set per append), so the new log's hashes equal the file's. Consecutive events of one stream with
// the same non-empty idempotency key were one append (a key is kept forever, so it names exactly one append, and
// an append's events are consecutive in the log): they are appended together under that key, as the SLA
// service wrote them; appending them one by one would be refused (the key is taken by the first). Events without
// a key are appended one at a time. The target log must be empty.
void import_log(const LogArgs& a, Context& ctx) {
  std::ifstream in(a.file);
  if (!in) {
    ctx.err << "otinish import: cannot read " << a.file << "\n";
    ctx.exit_code = 1;
    return;
  }
  const std::string target = log_dir(a.data);
  if (std::filesystem::exists(target)) {
    auto existing = store::open_rocks_store(target, {.create_if_missing = false});
    if (!existing.ok()) {
      ctx.err << "otinish import: " << existing.status().ToString() << "\n";
      ctx.exit_code = 1;
      return;
    }
    if ((*existing)->head_position() != 0) {
      ctx.err << "otinish import: the log in " << a.data << " is not empty (head at position "
              << (*existing)->head_position() << "); import into a new directory\n";
      ctx.exit_code = 1;
      return;
    }
  }
  // The events go into a staging log beside the target, which becomes the log only once every line checked
  // out: a failed import leaves the data directory as it was (and can simply be run again).
  const std::string staging = target + ".importing";
  struct Staging {
    const std::string& dir;
    bool committed = false;
    ~Staging() {
      std::error_code ec;
      if (!committed) std::filesystem::remove_all(dir, ec);
    }
  } staged{staging};  // declared before the store: removed after the store is closed
  std::filesystem::remove_all(staging);
  ManualClock clock(Timestamp{});
  store::StoreOptions o;
  auto store = store::open_rocks_store(staging, o, clock);
  if (!store.ok()) {
    ctx.err << "otinish import: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  // The append being collected: its events and the line of its first event. Nothing of it is in the new log
  // until it is complete (the next line belongs to another append, or the file ends).
  std::vector<store::RecordedEvent> group;
  std::uint64_t group_line = 0;
  auto fail = [&ctx, &a, &group, &group_line](std::uint64_t line, const std::string& what) {
    const std::uint64_t first_missing = group.empty() ? line : group_line;
    ctx.err << "otinish import: " << a.file << ":" << line << ": " << what << " (lines " << first_missing
            << " on could not be imported); nothing was imported, " << a.data << " is unchanged\n";
    ctx.exit_code = 1;
  };
  // Appends `group` as one append; false (after reporting) if the new log does not reproduce it exactly.
  auto flush = [&]() -> bool {
    if (group.empty()) return true;
    const store::RecordedEvent& first = group.front();
    const store::RecordedEvent& last = group.back();
    std::vector<store::EventData> data;
    data.reserve(group.size());
    for (const auto& e : group) {
      data.push_back({.type = e.type, .schema_version = e.schema_version, .payload = e.payload, .id = e.id,
                      .actor = e.actor, .correlation_id = e.correlation_id, .causation_id = e.causation_id});
    }
    clock.set(first.recorded_at);
    auto r = (*store)->append(first.stream, store::ExpectedVersion::exact(first.stream_version - 1), data,
                              {.idempotency_key = first.idempotency_key});
    const std::string what = group.size() == 1 ? std::string("the event")
                                               : "the append of lines " + std::to_string(group_line) + "-" +
                                                     std::to_string(group_line + group.size() - 1);
    if (!r.ok()) {
      fail(group_line, (group.size() == 1 ? std::string() : what + ": ") + r.status().ToString());
      return false;
    }
    if (r->deduplicated || r->first_position != first.position || r->last_position != last.position ||
        r->stream_version != last.stream_version) {
      fail(group_line, "the log placed " + what + " at positions " + std::to_string(r->first_position) + "-" +
                           std::to_string(r->last_position) + ", stream version " + std::to_string(r->stream_version));
      return false;
    }
    if ((*store)->head_hash() != last.hash) {
      fail(group_line, "the new log's hash after " + what + " is " + to_hex((*store)->head_hash()) +
                           ", the file's " + to_hex(last.hash));
      return false;
    }
    group.clear();
    return true;
  };
  std::string text;
  std::uint64_t line_no = 0, expected_position = 1;
  Hash256 prev{};
  while (std::getline(in, text)) {
    ++line_no;
    if (text.empty()) continue;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return fail(line_no, "not JSON: " + ec.message());
    auto e = api::envelope_from_json(v);
    if (!e.ok()) return fail(line_no, e.status().message());
    if (e->position != expected_position) {
      return fail(line_no, "position " + std::to_string(e->position) + ", expected " + std::to_string(expected_position));
    }
    if (e->prev_hash != prev) return fail(line_no, "prev_hash does not match the previous event's hash (chain broken)");
    if (store::compute_event_hash(*e) != e->hash) {
      return fail(line_no, "hash does not match the event's content (altered at position " +
                               std::to_string(e->position) + ")");
    }
    const bool same_append = !group.empty() && !e->idempotency_key.empty() &&
                             e->idempotency_key == group.front().idempotency_key && e->stream == group.front().stream;
    if (same_append) {
      // One append is written with one recorded time and consecutive stream versions.
      if (e->recorded_at != group.front().recorded_at) {
        return fail(line_no, "recorded at " + format_utc(e->recorded_at) + ", but line " + std::to_string(group_line) +
                                 " of the same append (idempotency key '" + e->idempotency_key + "') at " +
                                 format_utc(group.front().recorded_at));
      }
      if (e->stream_version != group.back().stream_version + 1) {
        return fail(line_no, "stream version " + std::to_string(e->stream_version) + ", expected " +
                                 std::to_string(group.back().stream_version + 1) + " within the append of line " +
                                 std::to_string(group_line));
      }
    } else {
      if (!flush()) return;
      group_line = line_no;
    }
    prev = e->hash;
    ++expected_position;
    group.push_back(std::move(*e));
  }
  if (!flush()) return;
  if ((*store)->head_hash() != prev) {
    return fail(line_no, "the imported log's head hash " + to_hex((*store)->head_hash()) + " differs from the file's " +
                             to_hex(prev));
  }
  (*store).reset();  // closes the staging log
  std::error_code ec;
  std::filesystem::remove_all(target, ec);  // an empty log (checked above), or nothing
  if (!ec) std::filesystem::rename(staging, target, ec);
  if (ec) {
    ctx.err << "otinish import: cannot move the imported log from " << staging << " to " << target << ": "
            << ec.message() << "\n";
    ctx.exit_code = 1;
    return;
  }
  staged.committed = true;
  ctx.out << "imported " << expected_position - 1 << " events, head hash " << to_hex(prev) << "\n";
}

void replay(const LogArgs& a, Context& ctx) {
  auto store = open_existing(a.data, true);
  if (!store.ok()) {
    ctx.err << "otinish replay: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  Timestamp as_of = Timestamp::max();
  if (!a.as_of.empty() && !parse_utc(a.as_of, &as_of)) {
    ctx.err << "otinish replay: --as-of '" << a.as_of << "' is not a time such as 2026-03-20T14:15:00+05:00\n";
    ctx.exit_code = 2;
    return;
  }
  engine::Engine eng(**store, SystemClock::instance(), nullptr);
  auto state = eng.load_as_of(a.appeal, as_of);
  if (!state.ok()) {
    ctx.err << "otinish replay: " << state.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  auto events = (*store)->read_stream(std::string(engine::kAppealStreamPrefix) + a.appeal, 1,
                                      store::Direction::kForward, state->version);
  if (!events.ok()) {
    ctx.err << "otinish replay: " << events.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  // The centre's local time beside UTC: the calendar the appeal's SLA clocks run on, as bound (the registry
  // rebuilt from the log, so a replay of any year uses that year's offset). None bound: UTC only.
  engine::RuleRegistry registry(**store);
  engine::AppealLocalTime local_time;
  if (registry.load().ok()) local_time = engine::AppealLocalTime::of(registry, *events);
  const bool calendar = local_time.known();
  auto local = [&](Timestamp t) { return local_time.format(t); };
  engine::Stage stage = engine::Stage::kRegistered;
  for (const auto& e : *events) {
    if (e.recorded_at > as_of) break;
    auto decoded = engine::decode_event(e.type, e.schema_version, e.payload);
    engine::TimelineEntry t;
    engine::describe_appeal_event(e, decoded.ok() ? &*decoded : nullptr, stage, &t);
    if (decoded.ok()) stage = decoded->to;
    std::optional<engine::SlaClockEvent> clock;
    if (engine::is_sla_event_type(e.type)) {
      auto sla = engine::decode_sla_event(e.type, e.schema_version, e.payload);
      if (sla.ok() && std::holds_alternative<engine::SlaClockEvent>(*sla)) clock = std::get<engine::SlaClockEvent>(*sla);
    }
    if (a.format == "json") {
      json::object o{{"position", e.position}, {"version", e.stream_version}, {"at", format_utc(e.recorded_at)},
                     {"type", e.type}, {"user", e.actor.user}, {"role", e.actor.role}, {"summary", t.summary}};
      if (calendar) o["at_local"] = local(e.recorded_at);
      if (decoded.ok()) o["data"] = api::appeal_event_to_json(*decoded);
      if (clock) {
        o["rule_id"] = clock->rule_id;
        o["rule_where"] = clock->rule_where;
        o["rule_set_hash"] = clock->rule_set_hash;
        o["calendar"] = clock->calendar;
        o["calendar_version"] = clock->calendar_version;
        if (!clock->label.empty()) o["label"] = clock->label;
        if (clock->deadline) {
          o["deadline"] = format_utc(*clock->deadline);
          if (calendar) o["deadline_local"] = local(*clock->deadline);
        }
        if (!clock->provisional.empty()) o["provisional"] = clock->provisional;
      } else if (!t.rule.empty()) {
        o["rule"] = t.rule;
      }
      ctx.out << json::serialize(o) << "\n";
      continue;
    }
    ctx.out << format_utc(e.recorded_at);
    if (calendar) ctx.out << " (" << local(e.recorded_at) << ")";
    ctx.out << "  v" << e.stream_version << "  " << e.type << "  " << (e.actor.user.empty() ? "-" : e.actor.user)
            << "/" << (e.actor.role.empty() ? "-" : e.actor.role) << "  " << t.summary;
    if (clock && clock->deadline && calendar) ctx.out << " (local " << local(*clock->deadline) << ")";
    if (!t.rule.empty()) ctx.out << "  [rule " << t.rule << "]";
    ctx.out << "\n";
  }
  if (a.format == "json") {
    ctx.out << json::serialize(json::object{{"state", api::appeal_state_to_json(*state)}}) << "\n";
    return;
  }
  ctx.out << "state: " << json::serialize(api::appeal_state_to_json(*state)) << "\n";
}

}  // namespace

void add_log_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<LogArgs>();

  CLI::App* v = app.add_subcommand("verify", "Walk the hash chain of the whole log and check the stream indexes");
  v->add_option("--data", args->data, "Data directory")->capture_default_str();
  v->add_option("--since", args->since, "A signed checkpoint (kept outside the server) the log must extend");
  v->add_option("--key", args->keys, "With --since: a verifier key NAME+HASH+BASE64 or @FILE (repeatable)");
  v->add_option("--require", args->require, "With --since: how many of the keys must have signed")->capture_default_str();
  v->footer("Example: otinish verify --data /var/lib/otinish\n"
            "Example: otinish verify --data /var/lib/otinish --since march.ckpt --key @log.pub\n"
            "Prints 'ok, N events, head hash H, tree root R; indexes ok, S streams' and exits 0, or 'FAILED at\n"
            "position P: ...' and exits 1. With --since, then 'ok: the log of N events extends the checkpoint of size\n"
            "M', or 'FAILED: ... the first size where they differ is S' (narrowed by the checkpoints kept in\n"
            "DIR/checkpoints) and exit 1; 2 on a malformed key."); 
  v->callback([args, &ctx] { verify(*args, ctx); });

  CLI::App* ex = app.add_subcommand("export", "Write the log as JSON Lines (one envelope per line)");
  ex->add_option("--data", args->data, "Data directory")->capture_default_str();
  ex->add_option("--out", args->file, "Output file ('-' or absent: stdout)");
  ex->add_option("--from", args->from, "First position")->capture_default_str();
  ex->footer("Example: otinish export --data /var/lib/otinish --out log.jsonl\n"
             "Every envelope field, payload in base64 (format: docs/http.md). Exit 1 on a read or write error.");
  ex->callback([args, &ctx] { export_log(*args, ctx); });

  CLI::App* im = app.add_subcommand("import", "Rebuild a log from an export, checking its hash chain");
  im->add_option("--data", args->data, "Data directory of the new log (must be empty)")->capture_default_str();
  im->add_option("file", args->file, "The JSON Lines export")->required();
  im->footer("Example: otinish import --data /srv/otinish-copy log.jsonl\n"
             "Checks positions, prev_hash and hash of every line before appending it; events of one append (same\n"
             "stream and idempotency key) are appended together again; the new log has the same hashes.\n"
             "Exit 1 naming file:line at the first problem.");
  im->callback([args, &ctx] { import_log(*args, ctx); });

  CLI::App* rp = app.add_subcommand("replay", "Print an appeal's timeline and state, now or as of a time");
  rp->add_option("--data", args->data, "Data directory")->capture_default_str();
  rp->add_option("--appeal", args->appeal, "Appeal number, e.g. SHY-2026-0000123")->required();
  rp->add_option("--as-of", args->as_of, "Only events recorded at or before this time (ISO 8601)");
  rp->add_option("--format", args->format, "text, or json (one object per event, then the state)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  rp->footer("Example: otinish replay --data /var/lib/otinish --appeal SHY-2026-0000123 --as-of 2026-03-20T18:00:00+05:00\n"
             "Each event in UTC and the centre's local time (the calendar its SLA clocks run on), what it says, and\n"
             "for each SLA decision the rule, file:line, rule-set hash and calendar it cites.\n"
             "Exit 1 if the appeal did not exist then, 2 on bad arguments.");
  rp->callback([args, &ctx] { replay(*args, ctx); });
}

}  // namespace otinish::cli
