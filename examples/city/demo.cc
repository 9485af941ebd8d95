#include "examples/city/demo.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <unistd.h>

#include "engine/engine.h"
#include "engine/events.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/proof/checkpoint.h"
#include "engine/proof/evidence.h"
#include "engine/projection.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "engine/views.h"
#include "store/jetstream_store.h"
#include "store/rocks_store.h"

namespace otinish::city {
namespace {

using namespace std::chrono_literals;

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string local_time(Timestamp t) {  // Shymkent, UTC+5 since 2024 (the calendars handle history)
  std::string s = format_utc(t + 5h);
  return s.substr(0, 10) + " " + s.substr(11, 5);
}

std::string percent(double part, double whole) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return b;
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on && isatty(2)) {}
  void operator()(std::uint64_t done, std::uint64_t total) const {
    if (!on_ || total == 0) return;
    const int width = 40, filled = static_cast<int>(width * done / total);
    std::fprintf(stderr, "\r  simulating [%s%s] %3d%%", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<int>(100 * done / total));
    if (done >= total) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
};

struct AgencyFigures {
  std::uint64_t appeals = 0, with_deadline = 0, breached = 0, resolved = 0;
};

struct AppealSla {
  bool deadline = false, breached = false, escalated = false;
};

// One pass over the log: event counts, and per appeal whether it had a deadline and breached.
Status scan_log(const store::EventStore& store, DemoFigures& f, std::map<std::string, AppealSla>& sla) {
  auto n = store.scan(1, UINT64_MAX, [&](const store::RecordedEvent& e) {
    if (e.type == "AppealAnsweredOnFirstContact") ++f.first_contact;
    if (e.type == "AppealMerged") ++f.merged;
    if (e.type == "AppealClassified") {
      auto decoded = engine::decode_event(e.type, e.schema_version, e.payload);
      if (decoded.ok()) {
        const auto* c = std::get_if<engine::AppealClassified>(&decoded->body);
        f.reclassified += c != nullptr && c->reclassification;
      }
    }
    if (engine::is_sla_event_type(e.type)) {
      auto decoded = engine::decode_sla_event(e.type, e.schema_version, e.payload);
      if (decoded.ok()) {
        if (const auto* c = std::get_if<engine::SlaClockEvent>(&*decoded)) {
          AppealSla& s = sla[e.stream.substr(7)];  // "appeal-"
          s.deadline |= c->kind == engine::SlaClockKind::kDeadlineSet;
          s.breached |= c->kind == engine::SlaClockKind::kBreached;
          s.escalated |= c->kind == engine::SlaClockKind::kEscalated;
        }
      }
    }
    return true;
  });
  return n.ok() ? Status::Ok() : n.status();
}

std::string svg_chart(const std::vector<std::pair<std::string, AgencyFigures>>& rows) {
  const int bar_h = 22, left = 260, width = 420, top = 50;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 120 << "\" height=\""
    << top + bar_h * static_cast<int>(rows.size()) + 30 << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
    << "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">SLA compliance by agency "
       "(appeals with a deadline, % on time)</text>\n";
  int y = top;
  for (const auto& [agency, a] : rows) {
    const double on_time = a.with_deadline ? 1.0 - static_cast<double>(a.breached) / a.with_deadline : 0;
    const int w = static_cast<int>(width * on_time);
    const char* color = on_time >= 0.95 ? "#2e7d32" : on_time >= 0.85 ? "#f9a825" : "#c62828";
    s << "<text x=\"" << left - 8 << "\" y=\"" << y + 15 << "\" text-anchor=\"end\">" << agency << "</text>\n"
      << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << w << "\" height=\"" << bar_h - 6
      << "\" fill=\"" << color << "\"/>\n"
      << "<text x=\"" << left + w + 6 << "\" y=\"" << y + 15 << "\">" << percent(a.with_deadline - a.breached, a.with_deadline)
      << " of " << a.with_deadline << "</text>\n";
    y += bar_h;
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace

Result<DemoFigures> run_city_demo(const DemoOptions& options, std::ostream& out) {
  DemoFigures f;
  const std::string& src = options.source_dir;
  std::filesystem::remove_all(options.data_dir);
  OTINISH_ASSIGN_OR_RETURN(CityCatalogue city, CityCatalogue::load(src + "/examples/catalogue"));
  const Workload workload = generate_workload(city, options.workload);
  const WorkloadOptions& wo = workload.options;
  out << "otinish demo: the " << wo.centre << " 109 centre, " << wo.days << " days from "
      << local_time(wo.start).substr(0, 10) << " (seed " << wo.seed << ")\n"
      << "  " << city.topics.size() << " topics, " << city.agencies.size() << " agencies, "
      << workload.totals.appeals << " appeals planned; data in " << options.data_dir << "\n";

  ManualClock clock(wo.start);
  store::StoreOptions so;
  so.sync_writes = false;  // a simulation: see StoreOptions::sync_writes
  auto opened = [&]() -> Result<std::unique_ptr<store::EventStore>> {
    if (options.store_urls.empty()) return store::open_rocks_store(options.data_dir + "/log", so, clock);
    // A stream of its own per run, as the data directory is emptied per run.
    store::JetStreamOptions js;
    js.urls = options.store_urls;
    const std::string run = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    js.stream = "DEMO" + run;
    js.subject_prefix = "demo" + run;
    out << "  the log on the NATS JetStream cluster at " << js.urls << ", stream " << js.stream << "\n";
    return store::open_jetstream_store(js, clock);
  }();
  OTINISH_ASSIGN_OR_RETURN(auto log, std::move(opened));
  store::EventStore& store = *log;

  // Applicants are sealed, as `otinish serve` seals them: each person's own data key in DIR/keys, wrapped by a
  // key-encryption key kept outside the data directory.
  const std::string kek_file = options.kek_file.empty() ? options.data_dir + ".kek" : options.kek_file;
  auto kek = std::filesystem::exists(kek_file) ? engine::privacy::load_kek("file:" + kek_file, options.data_dir)
                                               : engine::privacy::generate_kek_file(kek_file, options.data_dir);
  if (!kek.ok()) return kek.status();
  OTINISH_ASSIGN_OR_RETURN(auto keys, engine::privacy::KeyStore::open(
                                          options.data_dir + "/keys", *kek,
                                          {.sync = false, .log_position = [&store] { return store.head_position(); }}));
  OTINISH_RETURN_IF_ERROR(engine::privacy::restore_identity_links(*keys, store).status());
  engine::privacy::AeadApplicantSealer sealer(*keys);
  out << "  applicants sealed with their own keys in " << options.data_dir << "/keys, wrapped by key " << kek->id()
      << " from " << kek_file << "\n";

  // The catalogue is versioned in the log too; the engine classifies against the published version.
  OTINISH_ASSIGN_OR_RETURN(CataloguePublication catalogue,
                           publish_catalogue(store, src + "/examples/catalogue", {"admin:demo", "admin", ""}));
  OTINISH_ASSIGN_OR_RETURN(CityCatalogue published_city, load_published_catalogue(store, catalogue.version));
  out << "  catalogue version " << catalogue.version << " (" << published_city.topics.size() << " topics), hash "
      << catalogue.content_hash.substr(0, 16) << "...\n";
  engine::RuleRegistry registry(store);
  OTINISH_RETURN_IF_ERROR(registry.load());
  const store::Actor admin{"admin:demo", "admin", ""};
  for (const char* cal : {"kz.yaml", "shymkent.yaml", "round-the-clock.yaml"}) {
    OTINISH_ASSIGN_OR_RETURN(std::string yaml, read_file(src + "/examples/calendars/" + cal));
    OTINISH_ASSIGN_OR_RETURN(auto p, registry.publish_calendar(yaml, cal, engine::RebindPolicy::kKeep, admin));
    (void)p;
  }
  OTINISH_ASSIGN_OR_RETURN(std::string rules_yaml, read_file(src + "/examples/rules/city.yaml"));
  OTINISH_ASSIGN_OR_RETURN(auto published,
                           registry.publish_rule_set(rules_yaml, "city.yaml", engine::RebindPolicy::kKeep, admin));
  out << "  rules in force: examples/rules/city.yaml, content hash " << published.content_hash.substr(0, 16)
      << "..., on calendars kz, shymkent, round-the-clock\n\n";

  OTINISH_ASSIGN_OR_RETURN(auto sla, engine::SlaService::open(store, registry, clock,
                                                               {.index_path = options.data_dir + "/sla",
                                                                .timer_thread = false}));
  OTINISH_RETURN_IF_ERROR(sla->start());
  OTINISH_ASSIGN_OR_RETURN(auto views, engine::ProjectionRunner::open(store, options.data_dir + "/views",
                                                                      engine::standard_projections()));
  OTINISH_RETURN_IF_ERROR(views->start());
  auto topics = published_city.engine_catalogue();
  engine::Engine engine(store, clock, &topics, sealer);

  Status sla_error;
  ProgressBar bar(options.progress_bar);
  SimulationOptions sim;
  sim.threads = options.threads;
  sim.progress = bar;
  sim.slice = 1min;
  sim.on_slice = [&](Timestamp slice_end) {
    // The SLA reacts to the slice's commands at the slice's time, then timers due by its end fire.
    if (!sla->wait_for(store.head_position(), 60s)) sla_error = sla->status();
    clock.set(std::max(clock.now(), slice_end));
    auto fired = sla->fire_due();
    if (!fired.ok()) sla_error = fired.status();
  };
  OTINISH_ASSIGN_OR_RETURN(SimulationReport report, simulate(engine, clock, workload, sim));
  bar(1, 1);
  OTINISH_RETURN_IF_ERROR(sla_error);
  sla->wait_for(store.head_position(), 60s);
  if (!views->wait_for(store.head_position(), 120s)) return views->status();
  f.refused = report.refused;
  out << "simulated " << report.commands << " commands in " << std::fixed << std::setprecision(1) << report.seconds
      << " s; the log holds " << store.head_position() << " events";
  if (report.refused) out << "; " << report.refused << " commands refused (see below)";
  out << "\n";
  for (const auto& [message, n] : report.refusals) out << "  refused " << n << " x " << message << "\n";

  // ---- What came in ----
  OTINISH_ASSIGN_OR_RETURN(auto appeals_view, views->reader("appeals"));
  std::map<std::string, AgencyFigures> agencies;
  std::map<std::string, std::uint64_t> topics_count;
  std::map<std::string, AppealSla> sla_by_appeal;
  std::vector<engine::AppealRow> rows;
  engine::AppealQuery q;
  q.limit = 10'000;
  for (;;) {
    OTINISH_ASSIGN_OR_RETURN(engine::AppealPage page, engine::query_appeals(*appeals_view, q));
    for (auto& r : page.rows) rows.push_back(std::move(r));
    if (page.next_after.empty()) break;
    q.after = page.next_after;
  }
  OTINISH_RETURN_IF_ERROR(scan_log(store, f, sla_by_appeal));
  for (const auto& r : rows) {
    ++f.appeals;
    ++f.by_category[static_cast<std::size_t>(r.category)];
    ++f.by_channel[static_cast<std::size_t>(r.channel)];
    ++topics_count[r.topic];
    AgencyFigures& a = agencies[r.agency.empty() ? "centre_109" : r.agency];
    ++a.appeals;
    a.resolved += r.resolved_at != Timestamp{};
    const AppealSla& s = sla_by_appeal[r.id];
    a.with_deadline += s.deadline;
    a.breached += s.breached;
    f.with_deadline += s.deadline;
    f.breached += s.breached;
  }
  out << "\n== What came in ==\n" << f.appeals << " appeals";
  out << " (" << f.merged << " duplicates merged into " << workload.totals.mass_incidents << " mass incidents; "
      << f.reclassified << " reclassified after the agency accepted them, each handed to its new category's SLA rule)\n";
  out << "by category:";
  for (int c = 0; c < 5; ++c) {
    out << "  " << engine::to_string(static_cast<engine::Category>(c)) << " " << f.by_category[c] << " ("
        << percent(f.by_category[c], f.appeals) << ")";
  }
  out << "\nby channel: ";
  for (int c = 0; c < 6; ++c) {
    out << "  " << engine::to_string(static_cast<engine::Channel>(c)) << " " << percent(f.by_channel[c], f.appeals);
  }
  out << "\nanswered on the first contact: " << f.first_contact << " ("
      << percent(f.first_contact, f.by_category[0]) << " of consultations, " << percent(f.first_contact, f.appeals)
      << " of all appeals)\n";

  // ---- SLA by agency ----
  std::vector<std::pair<std::string, AgencyFigures>> ranked(agencies.begin(), agencies.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second.appeals > b.second.appeals; });
  if (ranked.size() > 15) ranked.resize(15);
  out << "\n== SLA compliance by agency (15 busiest) ==\n"
      << std::left << std::setw(28) << "agency" << std::right << std::setw(9) << "appeals" << std::setw(10)
      << "resolved" << std::setw(10) << "deadline" << std::setw(10) << "breached" << std::setw(10) << "on time"
      << "\n";
  for (const auto& [id, a] : ranked) {
    out << std::left << std::setw(28) << id << std::right << std::setw(9) << a.appeals << std::setw(10) << a.resolved
        << std::setw(10) << a.with_deadline << std::setw(10) << a.breached << std::setw(10)
        << percent(a.with_deadline - a.breached, a.with_deadline) << "\n";
  }
  out << "all agencies: " << f.with_deadline << " appeals with a deadline, " << f.breached << " breached ("
      << percent(f.with_deadline - f.breached, f.with_deadline) << " on time)\n";
  f.chart_path = options.data_dir + "/sla-by-agency.svg";
  std::ofstream(f.chart_path) << svg_chart(ranked);
  out << "chart: " << f.chart_path << "\n";

  // ---- Busiest topics ----
  std::vector<std::pair<std::string, std::uint64_t>> busiest(topics_count.begin(), topics_count.end());
  std::sort(busiest.begin(), busiest.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  out << "\n== Busiest topics ==\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(10, busiest.size()); ++i) {
    const CityTopic* t = city.topic(busiest[i].first);
    out << std::setw(6) << busiest[i].second << "  " << std::left << std::setw(36) << busiest[i].first << std::right
        << "  " << (t ? t->topic.name_en + " / " + t->topic.name_kk : "") << "\n";
  }

  // ---- What the views say (the API's lists and scorecards read these) ----
  {
    engine::AppealQuery overdue;
    overdue.overdue_only = true;
    overdue.now = clock.now();
    overdue.limit = 10'000;
    for (;;) {
      OTINISH_ASSIGN_OR_RETURN(engine::AppealPage page, engine::query_appeals(*appeals_view, overdue));
      f.overdue += page.rows.size();
      if (page.next_after.empty()) break;
      overdue.after = page.next_after;
    }
    OTINISH_ASSIGN_OR_RETURN(auto cards_view, views->reader("scorecards"));
    OTINISH_ASSIGN_OR_RETURN(engine::Scorecards cards, engine::read_scorecards(*cards_view, 30));
    for (const auto* list : {&cards.ranked, &cards.too_small}) {
      for (const auto& c : *list) {
        f.scorecard_with_deadline += c.with_deadline;
        f.scorecard_on_time += c.on_time;
      }
    }
    out << "\nopen appeals past their earliest SLA deadline now: " << f.overdue << "; agencies resolved "
        << percent(f.scorecard_on_time, f.scorecard_with_deadline) << " of " << f.scorecard_with_deadline
        << " appeals by their deadline (scorecards view; agencies below 30 resolved appeals are not ranked)\n";
  }

  // ---- Repeats ----
  OTINISH_ASSIGN_OR_RETURN(auto repeats_view, views->reader("repeats"));
  OTINISH_ASSIGN_OR_RETURN(f.repeats, engine::count_repeats(*repeats_view));
  out << "\n== Repeat appeals ==\n" << f.repeats << " appeals (" << percent(f.repeats, f.appeals)
      << ") repeat an earlier one by the same person or address on the same topic within 30 days\n";

  // ---- One appeal's audit timeline ----
  // The most telling one: a complaint that breached and was escalated; else a reopened complaint (its callback
  // clock stops at the reopen and starts again at the next resolution); else any appeal that breached.
  std::string example;
  int best = 0;
  for (const auto& r : rows) {
    const AppealSla& s = sla_by_appeal[r.id];
    const bool complaint = r.category == engine::Category::kComplaint;
    const int score = complaint && s.breached && s.escalated ? 4
                      : complaint && r.reopen_count > 0      ? 3
                      : s.breached && s.escalated            ? 2
                      : s.breached                           ? 1
                                                             : 0;
    if (score > best) best = score, example = r.id;
    if (best == 4) break;
  }
  if (example.empty() && !rows.empty()) example = rows.front().id;
  f.example_appeal = example;
  if (!example.empty()) {
    OTINISH_ASSIGN_OR_RETURN(auto timeline_view, views->reader("timeline"));
    OTINISH_ASSIGN_OR_RETURN(auto timeline, engine::read_timeline(*timeline_view, example));
    OTINISH_ASSIGN_OR_RETURN(auto events, store.read_stream("appeal-" + example, 1, store::Direction::kForward, 1000));
    out << "\n== Audit timeline of " << example << " (Shymkent time) ==\n";
    std::map<std::uint64_t, const engine::TimelineEntry*> by_version;
    for (const auto& t : timeline) by_version[t.version] = &t;
    for (const auto& e : events) {
      std::optional<engine::SlaEvent> sla_event;
      if (engine::is_sla_event_type(e.type)) {
        auto d = engine::decode_sla_event(e.type, e.schema_version, e.payload);
        if (d.ok()) sla_event = std::move(*d);
      }
      const auto* c = sla_event ? std::get_if<engine::SlaClockEvent>(&*sla_event) : nullptr;
      // An SLA decision is shown at the instant it is about (a rung's due moment); the log also records when
      // the service wrote it, and the difference is the firing's lateness.
      out << "  " << local_time(c ? c->at : e.recorded_at) << "  " << std::left << std::setw(30) << e.type
          << std::right;
      if (sla_event) {
        {
          if (c) {
            out << c->clock;
            if (!c->label.empty()) out << " " << c->label;
            if (c->deadline) out << " due " << local_time(*c->deadline);
            if (!c->notify.empty()) out << " notify " << c->notify.front();
            out << "  [rule " << c->rule_id << " at " << c->rule_where << ", calendar " << c->calendar << "]";
            if (e.recorded_at - c->at > 1min) out << " (written " << local_time(e.recorded_at) << ")";
          } else if (const auto* b = std::get_if<engine::SlaBound>(&*sla_event)) {
            out << "rule " << b->rule_id << " of rule set " << b->bundle.rule_set_hash.substr(0, 12) << "...";
          }
        }
      } else if (auto it = by_version.find(e.stream_version); it != by_version.end()) {
        out << it->second->summary << "  (" << e.actor.user << ")";
      }
      out << "\n";
    }
  }

  // ---- verify ----
  OTINISH_ASSIGN_OR_RETURN(store::VerifyReport verify, store::verify_chain(store));
  f.verified = verify.ok;
  f.events = verify.events;
  out << "\n== verify ==\n" << verify.to_string() << "\n";

  // ---- privacy ----
  // The applicants' names and phones are nowhere in the data directory in plain text; then one applicant (the
  // example appeal's) asks to be forgotten: the key is destroyed, the appeal stays, the log still verifies.
  out << "\n== Privacy ==\n";
  std::vector<std::string> needles;
  for (std::size_t i = 0; i < workload.appeals.size() && needles.size() < 40; i += 1 + workload.appeals.size() / 20) {
    const engine::Applicant& a = workload.appeals[i].registration.applicant;
    if (!a.name.empty()) needles.push_back(a.name);
    if (!a.phone.empty()) needles.push_back(a.phone);
  }
  OTINISH_RETURN_IF_ERROR(keys->purge());  // flushes the key store too, so its files are what is searched
  for (const auto& entry : std::filesystem::recursive_directory_iterator(options.data_dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string& n : needles) f.plaintext_found += bytes.find(n) != std::string::npos;
  }
  f.plaintext_checked = needles.size();
  out << "  " << needles.size() << " applicants' names and phones sought in every file of " << options.data_dir
      << " (log, WAL, key store, views): found " << f.plaintext_found << " in plain text\n";
  if (!example.empty()) {
    OTINISH_ASSIGN_OR_RETURN(engine::AppealState state, engine.load(example));
    OTINISH_ASSIGN_OR_RETURN(engine::Applicant before, engine.applicant(state));
    (void)before;
    OTINISH_ASSIGN_OR_RETURN(auto erased, engine::privacy::erase_applicants(
                                              *keys, store, {{state.applicant.key_id}, "request of the applicant", "",
                                                             {"privacy:demo", "privacy_officer", ""}}));
    f.erased_applicant = state.applicant.key_id;
    f.erased_appeals = erased.front().appeals.size();
    const Status after = engine.applicant(state).status();
    OTINISH_ASSIGN_OR_RETURN(store::VerifyReport again, store::verify_chain(store));
    f.verified_after_erasure = again.ok;
    out << "  the applicant of " << example << " (" << state.applicant.key_id << ", " << f.erased_appeals
        << " appeal(s)) asked to be forgotten: key destroyed and purged; opening the applicant now says \""
        << after.message() << "\"; the appeal and its timeline stay\n"
        << "  verify after the erasure: " << again.to_string() << "\n";
  }
  // ---- proof ----
  // A checkpoint of the log, signed with a key made for the demo (a server signs one every minute with its own),
  // and the example appeal's evidence bundle, checked as an auditor would: offline, with the verifier key only.
  out << "\n== Proof ==\n";
  {
    auto [skey, vkey] = engine::proof::NoteSigner::generate("demo.109.kz/log");
    OTINISH_ASSIGN_OR_RETURN(auto signer, engine::proof::NoteSigner::parse(skey));
    OTINISH_ASSIGN_OR_RETURN(std::string note, engine::proof::sign_checkpoint(store, "demo.109.kz/log", signer));
    f.checkpoint_size = store.head_position();
    OTINISH_RETURN_IF_ERROR(engine::proof::CheckpointDirectory(options.data_dir + "/checkpoints").write(f.checkpoint_size, note));
    OTINISH_ASSIGN_OR_RETURN(auto checkpoint, engine::proof::parse_checkpoint(note.substr(0, note.find("\n\n") + 1)));
    out << "  checkpoint: " << checkpoint.origin << ", " << checkpoint.size << " events, Merkle root "
        << store::merkle::to_hex(checkpoint.root).substr(0, 16) << "..., signed by " << vkey << "\n";
    if (!example.empty()) {
      OTINISH_ASSIGN_OR_RETURN(std::string bundle, engine::proof::make_evidence(store, example, note));
      const std::vector<engine::proof::NoteVerifier> key = {signer.verifier()};
      const auto t0 = std::chrono::steady_clock::now();
      const engine::proof::EvidenceReport report = engine::proof::verify_evidence(bundle, key);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      f.evidence_verified = report.ok;
      const std::string verdict = report.to_string();
      out << "  evidence bundle of " << example << " (" << bundle.size() << " bytes), verified offline in "
          << std::fixed << std::setprecision(1) << ms << " ms:\n  " << verdict.substr(verdict.rfind("\n", verdict.size() - 2) + 1);
      std::string altered = bundle;
      altered[altered.size() / 2] ^= 0x01;
      const engine::proof::EvidenceReport bad = engine::proof::verify_evidence(altered, key);
      f.altered_evidence_rejected = !bad.ok;
      out << "  the same bundle with one byte changed: " << (bad.ok ? "accepted (!)" : "FAILED: " + bad.problem) << "\n";
    }
  }
  sla->stop();
  views->stop();
  return f;
}

}  // namespace otinish::city
