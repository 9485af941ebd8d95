#include "examples/city/workload.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cmath>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace otinish::city {
namespace {

using namespace std::chrono_literals;
using engine::Category;
using engine::Channel;
using engine::Outcome;
using std::chrono::microseconds;

const char* const kNames[] = {"Айгерім Сәрсенова", "Нұрлан Қожахметов", "Дана Әбенова", "Ерлан Тоқтаров",
                              "Гүлнар Исаева",     "Асқар Бекова",      "Мадина Жұмабаева", "Серік Омаров",
                              "Жанна Ким",         "Бауыржан Нұрғали", "Ольга Петрова",    "Руслан Абдуллаев"};
const char* const kStreets[] = {"Тәуке хан даңғылы", "Байтұрсынов көшесі", "Республика даңғылы", "Жібек жолы",
                                "Қазыбек би көшесі",  "Сайрам көшесі",      "Түркістан көшесі",  "Абай даңғылы",
                                "Момышұлы көшесі",    "Ақжол шағын ауданы"};

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(gen_); }
  bool chance(double p) { return uniform() < p; }
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[static_cast<std::size_t>(between(0, static_cast<int>(v.size()) - 1))]; }
  std::size_t weighted(const std::vector<double>& w) {
    return std::discrete_distribution<std::size_t>(w.begin(), w.end())(gen_);
  }
  microseconds minutes(double lo, double hi) {
    return microseconds(static_cast<std::int64_t>((lo + (hi - lo) * uniform()) * 60e6));
  }
  std::mt19937_64& gen() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

std::string season_of(Timestamp t) {
  const auto days = std::chrono::floor<std::chrono::days>(t + 5h);
  const unsigned month = static_cast<unsigned>(std::chrono::year_month_day(std::chrono::sys_days(days)).month());
  if (month == 12 || month <= 2) return "winter";
  if (month <= 5) return "spring";
  if (month <= 8) return "summer";
  return "autumn";
}

// When in the local day (UTC+5) an appeal comes: most between 08:00 and 20:00, some at night.
microseconds time_of_day(Rng& rng) {
  static const std::vector<double> by_hour = {1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11,
                                              10, 11, 11, 10, 9, 8, 7, 5, 4, 3, 2, 1};
  const auto hour = static_cast<std::int64_t>(rng.weighted(by_hour));
  return std::chrono::hours(hour) + rng.minutes(0, 60);
}

struct Person {
  std::string name, phone, address, district, street;
};

Person new_person(Rng& rng, const std::vector<CityDistrict>& districts) {
  Person p;
  p.name = kNames[rng.between(0, std::size(kNames) - 1)];
  p.phone = "+7 7" + std::to_string(rng.between(0, 9)) + std::to_string(rng.between(0, 9)) + " " +
            std::to_string(rng.between(100, 999)) + " " + std::to_string(rng.between(1000, 9999));
  p.street = kStreets[rng.between(0, std::size(kStreets) - 1)];
  p.address = p.street + ", " + std::to_string(rng.between(1, 120)) + ", пәтер " + std::to_string(rng.between(1, 90));
  p.district = districts.empty() ? "" : rng.pick(districts).id;
  return p;
}

Channel pick_channel(Rng& rng, const WorkloadOptions& o) {
  return static_cast<Channel>(rng.weighted(std::vector<double>(o.channel_shares.begin(), o.channel_shares.end())));
}

// Builds the steps an appeal goes through after registration, by category, at the agency's speed.
class Scripter {
 public:
  // `decide` draws only whether an appeal is reclassified, and into what: the rest of the city (who calls when,
  // the mass incidents) comes from `rng` as it did before reclassifications were planned.
  Scripter(Rng& rng, Rng& decide, const WorkloadOptions& o, const std::vector<CityTopic>& topics)
      : rng_(rng), decide_(decide), o_(o), topics_(topics) {}

  void script(PlannedAppeal& a, const CityTopic& topic, double speed, const std::vector<std::string>& agencies) {
    Timestamp t = a.registered_at;
    auto step = [&](microseconds after, engine::Command c) {
      t += after;
      a.steps.push_back({t, std::move(c), {}});
    };
    const Category cat = a.registration.category;
    if (cat == Category::kConsultation && a.first_contact) {
      step(rng_.minutes(0.2, 0.9), engine::AnswerOnFirstContact{"Анықтама берілді / справка дана"});
      return;
    }
    const bool critical = cat == Category::kIncident && topic.topic.dangerous;
    // A question not answered during the call is passed to review before the call ends.
    if (!critical) step(cat == Category::kConsultation ? rng_.minutes(0.2, 0.9) : rng_.minutes(2, 15),
                        engine::SendForReview{});
    step(critical ? rng_.minutes(1, 4) : rng_.minutes(5, 90), engine::Assign{});
    a.agency = topic.topic.default_agency;
    if (cat == Category::kGratitude) return;  // forwarded to the agency and closed at assignment
    if (!critical && rng_.chance(o_.redirect_share) && agencies.size() > 1) {
      std::string other = a.agency;
      while (other == a.agency) other = agencies[static_cast<std::size_t>(rng_.between(0, agencies.size() - 1))];
      step(rng_.minutes(60, 60 * 30), engine::Redirect{other, "outside the agency's competence"});
      a.agency = other;
    }
    const CityTopic* reclassified = !critical && decide_.chance(o_.reclassify_share) ? other_topic(a.agency, cat) : nullptr;
    work(a, t, speed, critical, cat, reclassified);
  }

 private:
  // Another topic of `agency`'s, in another category (not a gratitude, not a danger, which would skip the
  // review), or null if it has none.
  const CityTopic* other_topic(const std::string& agency, Category cat) {
    std::vector<const CityTopic*> candidates;
    for (const CityTopic& t : topics_) {
      const Category c = t.topic.default_category;
      if (t.topic.default_agency == agency && c != cat && c != Category::kGratitude && !t.topic.dangerous) {
        candidates.push_back(&t);
      }
    }
    return candidates.empty() ? nullptr : decide_.pick(candidates);
  }

  void work(PlannedAppeal& a, Timestamp& t, double speed, bool critical, Category cat, const CityTopic* reclassified) {
    auto step = [&](microseconds after, engine::Command c) {
      t += after;
      const bool by_agency = std::holds_alternative<engine::Accept>(c) || std::holds_alternative<engine::StartWork>(c) ||
                             std::holds_alternative<engine::Hold>(c) || std::holds_alternative<engine::Resume>(c) ||
                             std::holds_alternative<engine::Resolve>(c);
      a.steps.push_back({t, std::move(c), by_agency ? a.agency : std::string()});
    };
    auto scaled = [&](double lo_min, double hi_min) { return rng_.minutes(lo_min * speed, hi_min * speed); };
    // Typical times are set against the city's rules (examples/rules/city.yaml): most work is done in time and
    // the slow agencies (speed > 1) are the ones that breach, as in the seeds (93.5% executed in the month).
    const bool quick = cat == Category::kConsultation;
    step(critical ? scaled(1, 8) : quick ? scaled(15, 120) : scaled(30, 240), engine::Accept{});
    if (reclassified != nullptr) {
      // The agency's specialist sees what the appeal really is; the controller reclassifies it. From here on it
      // is worked, resolved and judged as its new category.
      cat = reclassified->topic.default_category;
      step(decide_.minutes(10, 120), engine::Reclassify{cat, reclassified->topic.code, std::nullopt,
                                                        "the agency's specialist: it is " + std::string(engine::to_string(cat))});
    }
    step(critical ? scaled(2, 10) : quick ? scaled(10, 60) : scaled(60, 60 * 24), engine::StartWork{});
    if (!critical && rng_.chance(o_.hold_share)) {
      step(scaled(60, 60 * 24), engine::Hold{"waiting for the applicant's documents"});
      step(rng_.minutes(60 * 24, 60 * 72), engine::Resume{"documents received"});
    }
    const double resolve_lo = critical ? 40 : quick ? 60 : cat == Category::kIncident ? 60 * 2 : 60 * 24;
    const double resolve_hi = critical ? 60 * 3 : quick ? 60 * 6 : cat == Category::kIncident ? 60 * 24 : 60 * 24 * 10;
    Outcome outcome = Outcome::kDone;
    std::string result = "Жұмыс орындалды / работы выполнены";
    if (cat == Category::kProposal) {
      outcome = rng_.chance(0.3) ? Outcome::kProposalAccepted : Outcome::kProposalDeclined;
      result = outcome == Outcome::kProposalAccepted ? "included in the district plan for next year"
                                                     : "declined: no budget this year, reasons explained";
    } else if (cat == Category::kConsultation) {
      outcome = Outcome::kExplained;
      result = "Түсіндірме берілді / дано разъяснение";
    }
    step(scaled(resolve_lo, resolve_hi), engine::Resolve{outcome, result});
    const bool satisfied = !rng_.chance(o_.unsatisfied_share);
    step(rng_.minutes(30, 60 * 20), engine::RecordCallback{satisfied, satisfied ? "satisfied" : "not satisfied"});
    if (!satisfied && (cat == Category::kComplaint || cat == Category::kIncident)) {
      step(rng_.minutes(10, 120), engine::Reopen{"the applicant reports the problem remains"});
      step(rng_.minutes(10, 120), engine::Assign{});
      step(scaled(30, 240), engine::Accept{});
      step(scaled(60, 60 * 12), engine::StartWork{});
      step(scaled(resolve_lo, resolve_hi / 2), engine::Resolve{Outcome::kDone, "redone and checked on site"});
      step(rng_.minutes(30, 60 * 20), engine::RecordCallback{true, "satisfied after the second visit"});
    }
    step(rng_.minutes(1, 30), engine::Close{});
  }

  Rng& rng_;
  Rng& decide_;
  const WorkloadOptions& o_;
  const std::vector<CityTopic>& topics_;
};

}  // namespace

Workload generate_workload(const CityCatalogue& city, const WorkloadOptions& options) {
  Workload w;
  w.options = options;
  Rng rng(options.seed);
  for (const auto& a : city.agencies) w.agency_speed[a.id] = std::exp(std::normal_distribution<double>(0, 0.35)(rng.gen()));
  std::vector<std::string> agency_ids;
  for (const auto& a : city.agencies) agency_ids.push_back(a.id);
  std::vector<const CityTopic*> housing, other, dangerous;
  for (const auto& t : city.topics) {
    (t.housing_utilities ? housing : other).push_back(&t);
    if (t.topic.dangerous && t.topic.default_category == Category::kIncident) dangerous.push_back(&t);
  }
  Rng reclassifications(options.seed ^ 0x5245434c41535321ull);
  Scripter scripter(rng, reclassifications, options, city.topics);
  const Timestamp end = options.start + std::chrono::days(options.days);
  struct Earlier {
    const CityTopic* topic;
    Person person;
  };
  std::deque<Earlier> recent;  // recent appeals a repeat may copy

  auto add = [&](Timestamp at, const CityTopic& topic, const Person& person, bool repeat) -> PlannedAppeal& {
    PlannedAppeal a;
    a.key = static_cast<std::uint32_t>(w.appeals.size());
    a.registered_at = at;
    a.repeat = repeat;
    a.housing_utilities = topic.housing_utilities;
    a.registration.centre = options.centre;
    a.registration.category = topic.topic.default_category;
    a.registration.topic = topic.topic.code;
    a.registration.channel = pick_channel(rng, options);
    a.registration.location = {person.district, person.street};
    a.registration.text = topic.topic.name_ru + " / " + topic.topic.name_kk;
    a.registration.applicant = {person.name, person.phone, person.address};
    a.first_contact = a.registration.category == Category::kConsultation && rng.chance(options.first_contact_share);
    scripter.script(a, topic, w.agency_speed[topic.topic.default_agency], agency_ids);
    WorkloadTotals& t = w.totals;
    // Counted as what it is once the steps planned before the end ran (the views' figures).
    Category category = topic.topic.default_category;
    std::string topic_code = topic.topic.code;
    for (const PlannedCommand& s : a.steps) {
      const auto* r = std::get_if<engine::Reclassify>(&s.command);
      if (r != nullptr && s.at < end) {
        category = r->category;
        topic_code = r->topic;
        ++t.reclassified;
      }
    }
    ++t.appeals;
    ++t.by_category[static_cast<std::size_t>(category)];
    ++t.by_channel[static_cast<std::size_t>(a.registration.channel)];
    t.first_contact += a.first_contact;
    t.repeats += repeat;
    t.housing_utilities += a.housing_utilities;
    ++t.by_topic[topic_code];
    w.appeals.push_back(std::move(a));
    return w.appeals.back();
  };

  auto pick_topic = [&](Timestamp at) -> const CityTopic& {
    const auto& pool = rng.chance(options.housing_utilities_share) ? housing : other;
    const std::string season = season_of(at);
    std::vector<double> weights;
    weights.reserve(pool.size());
    for (const CityTopic* t : pool) weights.push_back(t->season == season ? options.seasonal_weight : 1.0);
    return *pool[rng.weighted(weights)];
  };

  for (int day = 0; day < options.days; ++day) {
    const Timestamp midnight = options.start + std::chrono::days(day);
    const int n = rng.between(options.min_per_day, options.max_per_day);
    std::vector<microseconds> times(static_cast<std::size_t>(n));
    for (auto& t : times) t = time_of_day(rng);
    std::sort(times.begin(), times.end());
    std::optional<std::size_t> mass_at;
    if (!dangerous.empty() && rng.chance(options.mass_incident_per_day)) mass_at = static_cast<std::size_t>(rng.between(0, n - 1));
    for (std::size_t i = 0; i < times.size(); ++i) {
      const Timestamp at = midnight + times[i];
      if (mass_at == i) {
        // A mass incident: one parent, then children from the same street within two hours, each merged into
        // the parent a quarter of an hour after it was registered.
        const CityTopic& topic = *rng.pick(dangerous);
        Person first = new_person(rng, city.districts);
        const std::uint32_t parent = add(at, topic, first, false).key;
        // The parent's work takes long enough for every child to be merged before it is resolved: its first
        // resolution, and every step after it, move later together (sorting by time instead could put the
        // applicant's callback before the resolution it is about, and the engine would refuse it).
        auto& steps = w.appeals[parent].steps;
        auto resolve = std::find_if(steps.begin(), steps.end(), [](const PlannedCommand& s) {
          return std::holds_alternative<engine::Resolve>(s.command);
        });
        if (resolve != steps.end() && resolve->at < at + 3h) {
          const auto later = at + 3h - resolve->at;
          for (auto s = resolve; s != steps.end(); ++s) s->at += later;
        }
        ++w.totals.mass_incidents;
        for (int c = 0; c < options.mass_incident_children; ++c) {
          Person p = new_person(rng, city.districts);
          p.district = first.district;
          p.street = first.street;
          const Timestamp child_at = at + rng.minutes(1, 120);
          PlannedAppeal child;
          child.key = static_cast<std::uint32_t>(w.appeals.size());
          child.registered_at = child_at;
          child.registration = w.appeals[parent].registration;
          child.registration.applicant = {p.name, p.phone, p.address};
          child.registration.channel = pick_channel(rng, options);
          child.merge_parent = parent;
          child.steps.push_back({child_at + 15min, engine::MergeInto{"", "the same incident as its parent"}, {}});
          ++w.totals.appeals;
          ++w.totals.merged_children;
          ++w.totals.by_category[static_cast<std::size_t>(child.registration.category)];
          ++w.totals.by_channel[static_cast<std::size_t>(child.registration.channel)];
          w.totals.housing_utilities += topic.housing_utilities;
          ++w.totals.by_topic[topic.topic.code];
          w.appeals.push_back(std::move(child));
        }
        continue;
      }
      if (!recent.empty() && rng.chance(options.repeat_share)) {
        const Earlier& e = recent[static_cast<std::size_t>(rng.between(0, static_cast<int>(recent.size()) - 1))];
        add(at, *e.topic, e.person, true);
        continue;
      }
      const CityTopic& topic = pick_topic(at);
      Person p = new_person(rng, city.districts);
      add(at, topic, p, false);
      recent.push_back({&topic, p});
      if (recent.size() > 2000) recent.pop_front();
    }
  }
  std::stable_sort(w.appeals.begin(), w.appeals.end(),
                   [](const PlannedAppeal& a, const PlannedAppeal& b) { return a.registered_at < b.registered_at; });
  std::vector<std::uint32_t> new_key(w.appeals.size());
  for (std::uint32_t i = 0; i < w.appeals.size(); ++i) new_key[w.appeals[i].key] = i;
  for (std::uint32_t i = 0; i < w.appeals.size(); ++i) {
    w.appeals[i].key = i;
    if (w.appeals[i].merge_parent) w.appeals[i].merge_parent = new_key[*w.appeals[i].merge_parent];
  }
  return w;
}

Result<SimulationReport> simulate(engine::Engine& engine, ManualClock& clock, const Workload& workload,
                                  const SimulationOptions& options) {
  struct Item {
    Timestamp at;
    std::uint32_t key;
    int step;  // -1: the registration
  };
  const Timestamp until = options.until.value_or(workload.options.start + std::chrono::days(workload.options.days));
  std::vector<Item> items;
  for (const auto& a : workload.appeals) {
    if (a.registered_at >= until) continue;
    items.push_back({a.registered_at, a.key, -1});
    for (std::size_t s = 0; s < a.steps.size(); ++s) {
      if (a.steps[s].at < until) items.push_back({a.steps[s].at, a.key, static_cast<int>(s)});
    }
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.at < b.at; });

  SimulationReport report;
  report.appeal_ids.assign(workload.appeals.size(), "");
  std::mutex mu;
  Status fatal;
  std::atomic<std::uint64_t> done{0};
  const auto wall_start = std::chrono::steady_clock::now();
  const int threads = std::max(1, options.threads);
  const std::uint64_t progress_every = std::max<std::uint64_t>(1, items.size() / 100);

  auto run_item = [&](const Item& it) {
    const PlannedAppeal& a = workload.appeals[it.key];
    engine::CommandMeta meta;
    meta.command_id = "sim-" + std::to_string(workload.options.seed) + "-" + std::to_string(it.key) + "-" + std::to_string(it.step);
    meta.correlation_id = "call-" + std::to_string(it.key);
    Result<engine::CommandResult> r = Status::Internal("not run");
    if (it.step < 0) {
      meta.actor = {"operator:desk-" + std::to_string(it.key % 26), "operator", ""};
      r = engine.register_appeal(a.registration, meta);
      if (r.ok()) {
        std::lock_guard lock(mu);
        report.appeal_ids[it.key] = r->appeal_id;
      }
    } else {
      std::string id, parent;
      {
        std::lock_guard lock(mu);
        id = report.appeal_ids[it.key];
        if (a.merge_parent) parent = report.appeal_ids[*a.merge_parent];
      }
      if (id.empty()) return;  // its registration was refused (counted there)
      const PlannedCommand& planned = a.steps[static_cast<std::size_t>(it.step)];
      engine::Command command = planned.command;
      if (auto* m = std::get_if<engine::MergeInto>(&command)) m->parent = parent;
      meta.actor = !planned.agency.empty()
                       ? store::Actor{"agency:" + planned.agency, "agency", planned.agency}
                       : store::Actor{"operator:desk-" + std::to_string(it.key % 26), "operator", ""};
      r = engine.execute(id, command, meta);
    }
    const std::uint64_t n = ++done;
    if (options.progress && n % progress_every == 0) options.progress(n, items.size());
    if (r.ok()) return;
    const StatusCode code = r.status().code();
    std::lock_guard lock(mu);
    if (code == StatusCode::kIOError || code == StatusCode::kCorruption || code == StatusCode::kUnavailable) {
      if (fatal.ok()) fatal = r.status();
      return;
    }
    ++report.refused;
    auto& slot = report.refusals[std::string(status_code_name(code)) + ": " + r.status().message().substr(0, 160)];
    ++slot;
  };

  // A fixed pool of workers, one lane each; the clock moves between slices while they wait.
  std::mutex pool_mu;
  std::condition_variable slice_cv, done_cv;
  std::uint64_t slice_no = 0;  // guarded by pool_mu: bumped to start a slice
  int busy = 0;                // guarded by pool_mu: workers still in the current slice
  bool finished = false;       // guarded by pool_mu
  std::vector<std::vector<Item>> lanes(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w) {
    pool.emplace_back([&, w] {
      std::uint64_t seen = 0;
      for (;;) {
        {
          std::unique_lock lock(pool_mu);
          slice_cv.wait(lock, [&] { return finished || slice_no != seen; });
          if (finished) return;
          seen = slice_no;
        }
        for (const Item& it : lanes[static_cast<std::size_t>(w)]) run_item(it);
        std::lock_guard lock(pool_mu);
        if (--busy == 0) done_cv.notify_one();
      }
    });
  }
  auto run_slice = [&] {
    std::unique_lock lock(pool_mu);
    busy = threads;
    ++slice_no;
    slice_cv.notify_all();
    done_cv.wait(lock, [&] { return busy == 0; });
  };
  auto stop_pool = [&] {
    {
      std::lock_guard lock(pool_mu);
      finished = true;
    }
    slice_cv.notify_all();
    for (auto& t : pool) t.join();
  };

  std::size_t next = 0;
  Timestamp slice_start = items.empty() ? until : items.front().at;
  while (next < items.size()) {
    const Timestamp slice_end = slice_start + options.slice;
    for (auto& lane : lanes) lane.clear();
    while (next < items.size() && items[next].at < slice_end) {
      lanes[items[next].key % static_cast<std::uint32_t>(threads)].push_back(items[next]);
      ++next;
    }
    clock.set(std::max(clock.now(), slice_start));
    run_slice();
    if (!fatal.ok()) {
      stop_pool();
      return fatal;
    }
    if (options.on_slice) options.on_slice(slice_end);
    clock.set(std::max(clock.now(), slice_end));
    slice_start = next < items.size() ? std::max(slice_end, items[next].at) : slice_end;
  }
  stop_pool();
  clock.set(std::max(clock.now(), until));
  if (options.on_slice) options.on_slice(until);
  report.commands = done.load();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return report;
}

}  // namespace otinish::city
