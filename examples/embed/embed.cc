// Embedding otinish: the smallest complete program an integrator copies.
//
// Opens the log and the views in a directory, publishes the city's calendars and SLA rules, registers one
// complaint about a broken lift with the applicant sealed under their own key, drives it to closed as the desks
// and the agency would, and prints its audit timeline with the SLA rule behind each deadline.
//
//   otinish_embed_example [DATA_DIR] [SOURCE_DIR]   (defaults: a temporary directory; the current directory)
//
// SOURCE_DIR holds examples/calendars and examples/rules: the source tree, or share/otinish of an installed
// otinish. Built inside the tree by examples/CMakeLists.txt; against an installed otinish by
// examples/embed/CMakeLists.txt (find_package(otinish)), as an integrator's own project would (docs/library.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/sealer.h"
#include "engine/projection.h"
#include "engine/rule_registry.h"
#include "engine/sla_service.h"
#include "engine/views.h"
#include "store/rocks_store.h"

using namespace otinish;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int fail(const Status& s) {
  std::fprintf(stderr, "otinish: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string data = argc > 1 ? argv[1] : (std::filesystem::temp_directory_path() / "otinish-embed").string();
  const std::string src = argc > 2 ? argv[2] : ".";
  if (argc <= 1) std::filesystem::remove_all(data);

  // 1. The log and the clock. A ManualClock lets this example live through three weeks in a moment; a
  //    server passes SystemClock::instance().
  ManualClock clock(timestamp_from_micros(1'773'979'200'000'000));  // 2026-03-20 04:00 UTC = 09:00 in Shymkent
  auto log = store::open_rocks_store(data + "/log", {}, clock);
  if (!log.ok()) return fail(log.status());
  store::EventStore& store = **log;

  // 2. The rules in force: calendars first (the rule set names them), then the rule set. Both become events.
  engine::RuleRegistry registry(store);
  if (Status s = registry.load(); !s.ok()) return fail(s);
  const store::Actor admin{"admin:embed", "admin", ""};
  if (registry.current().ok() && *registry.current() == nullptr) {
    for (const char* cal : {"kz.yaml", "shymkent.yaml", "round-the-clock.yaml"}) {
      auto p = registry.publish_calendar(read_file(src + "/examples/calendars/" + cal), cal,
                                         engine::RebindPolicy::kKeep, admin);
      if (!p.ok()) return fail(p.status());
    }
    auto p = registry.publish_rule_set(read_file(src + "/examples/rules/city.yaml"), "city.yaml",
                                       engine::RebindPolicy::kKeep, admin);
    if (!p.ok()) return fail(p.status());
  }

  // 3. The services that follow the log: SLA clocks and the views.
  auto sla = engine::SlaService::open(store, registry, clock, {.index_path = data + "/sla", .timer_thread = false});
  if (!sla.ok()) return fail(sla.status());
  if (Status s = (*sla)->start(); !s.ok()) return fail(s);
  auto views = engine::ProjectionRunner::open(store, data + "/views", engine::standard_projections());
  if (!views.ok()) return fail(views.status());
  if (Status s = (*views)->start(); !s.ok()) return fail(s);

  // 4. The applicants' keys: one per person in DATA/keys, wrapped by a key-encryption key that never lives in
  //    the data directory (here a file beside it, made on the first run; a server reads /etc/otinish/kek or a
  //    systemd credential). Without a sealer the engine would store applicants in plain text: tests only.
  const std::string kek_file = data + ".kek";
  auto kek = std::filesystem::exists(kek_file) ? engine::privacy::load_kek("file:" + kek_file, data)
                                               : engine::privacy::generate_kek_file(kek_file, data);
  if (!kek.ok()) return fail(kek.status());
  //    Keys are made ahead in synced batches, so a new applicant waits for no fsync; the links a crash may take
  //    are restored from the log before anyone registers (the key store records the log's position with each
  //    batch, so only the log since then is read).
  auto keys = engine::privacy::KeyStore::open(data + "/keys", *kek,
                                              {.log_position = [&store] { return store.head_position(); }});
  if (!keys.ok()) return fail(keys.status());
  if (auto restored = engine::privacy::restore_identity_links(**keys, store); !restored.ok()) {
    return fail(restored.status());
  }
  engine::privacy::AeadApplicantSealer sealer(**keys);

  // 5. The engine, and one appeal's life.
  engine::InMemoryTopicCatalogue topics({{"lifts.operation.broken", "Лифт істемейді", "Лифт не работает",
                                          "Lift out of order", "lift_service", engine::Category::kComplaint,
                                          false}});
  engine::Engine eng(store, clock, &topics, sealer);
  auto meta = [n = 0](const char* user, const char* role, const char* agency = "") mutable {
    return engine::CommandMeta{"embed-" + std::to_string(++n), {user, role, agency}, "call-1"};
  };
  auto reg = eng.register_appeal({.centre = "SHY",
                                  .category = engine::Category::kComplaint,
                                  .topic = "lifts.operation.broken",
                                  .channel = engine::Channel::kWhatsapp,
                                  .location = {"al_farabi", "Тәуке хан даңғылы"},
                                  .text = "Лифт в подъезде 3 не работает вторую неделю",
                                  .applicant = {"Айгерім Сәрсенова", "+7 777 710 9109", "Тәуке хан даңғылы 12, кв. 45"}},
                                 meta("operator:aigerim", "operator"));
  if (!reg.ok()) return fail(reg.status());
  (*sla)->wait_for(store.head_position(), 10s);
  const std::string id = reg->appeal_id;
  struct Step {
    std::chrono::hours after;
    engine::Command command;
    engine::CommandMeta meta;
  };
  std::vector<Step> steps;
  steps.push_back({0h, engine::SendForReview{}, meta("operator:aigerim", "operator")});
  steps.push_back({1h, engine::Assign{"lift_service"}, meta("inspector:dana", "inspector")});
  steps.push_back({2h, engine::Accept{}, meta("agency:lift", "agency", "lift_service")});
  steps.push_back({20h, engine::StartWork{}, meta("agency:lift", "agency", "lift_service")});
  steps.push_back({24h * 6, engine::Resolve{engine::Outcome::kDone, "Lift motor replaced"},
                   meta("agency:lift", "agency", "lift_service")});
  steps.push_back({3h, engine::RecordCallback{true, "works now"}, meta("operator:aigerim", "operator")});
  steps.push_back({1h, engine::Close{}, meta("controller:erlan", "controller")});
  for (auto& step : steps) {
    clock.advance(step.after);
    if (auto fired = (*sla)->fire_due(); !fired.ok()) return fail(fired.status());
    auto r = eng.execute(id, step.command, step.meta);
    if (!r.ok()) return fail(r.status());
    (*sla)->wait_for(store.head_position(), 10s);  // the SLA service reacts before the clock moves on
  }
  (*sla)->wait_for(store.head_position(), 10s);
  (*views)->wait_for(store.head_position(), 10s);

  // 6. What an auditor sees.
  auto reader = (*views)->reader("timeline");
  if (!reader.ok()) return fail(reader.status());
  auto timeline = engine::read_timeline(**reader, id);
  if (!timeline.ok()) return fail(timeline.status());
  std::printf("appeal %s: audit timeline\n", id.c_str());
  for (const auto& e : *timeline) {
    std::printf("  %s  %-22s %-14s %s%s%s\n", format_utc(e.at).c_str(), e.type.c_str(), e.role.c_str(),
                e.summary.c_str(), e.rule.empty() ? "" : "  [rule ", e.rule.empty() ? "" : (e.rule + "]").c_str());
  }
  auto state = eng.load(id);
  if (!state.ok()) return fail(state.status());
  std::printf("stage now: %s\n", std::string(engine::to_string(state->stage)).c_str());
  // The log holds the applicant as ciphertext; the desk that calls back opens it (a server records that read).
  auto applicant = eng.applicant(*state);
  if (!applicant.ok()) return fail(applicant.status());
  std::printf("applicant sealed (scheme %d, key %s, %zu bytes); opened for the callback: %s\n",
              state->applicant.scheme, state->applicant.key_id.c_str(), state->applicant.bytes.size(),
              applicant->phone.c_str());
  auto report = store::verify_chain(store);
  if (!report.ok()) return fail(report.status());
  std::printf("verify: %s\n", report->to_string().c_str());
  return 0;
}
