#include "engine/sla_service.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "common/thread_name.h"
#include "engine/events.h"

namespace otinish::engine {

namespace {

// "AppealExtensionGranted" -> "extension_granted": the name rules use for `event:` triggers.
std::string fact_event_name(std::string_view type) {
  if (type.rfind("Appeal", 0) == 0) type.remove_prefix(6);
  std::string out;
  for (char c : type) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The lifecycle state names rules use (rules/rule_set.h kLifecycleStates).
std::string rules_state_name(Stage s) {
  if (s == Stage::kReturnedToOperator) return "returned";
  return std::string(to_string(s));
}

// Folds what an appeal event says of the attributes the rules match on. The rules match on the attributes in
// force at each instant (rules::decide_sla), so a change after the registration (which sets them: nothing was
// in force before it) is kept with what it replaced.
struct AttributeFolder {
  rules::AppealFacts& f;
  Timestamp at;
  void operator()(const AppealRegistered& e) {
    f.category = std::string(to_string(e.category));
    f.topic = e.topic;
    f.priority = std::string(to_string(e.priority));
    f.channel = std::string(to_string(e.channel));
    f.district = e.location.district;
    f.dangerous = e.dangerous_topic;
  }
  void operator()(const AppealClassified& e) {
    rules::MatchAttributes a = f;
    a.category = std::string(to_string(e.category));
    a.topic = e.topic;
    a.priority = std::string(to_string(e.priority));
    a.dangerous = e.dangerous_topic;
    change_to(std::move(a));
  }
  void operator()(const AppealAssigned& e) { change_agency(e.agency); }
  void operator()(const AppealRedirected& e) { change_agency(e.to_agency); }
  void operator()(const AppealAccepted& e) {
    if (!e.agency.empty()) change_agency(e.agency);
  }
  template <typename T>
  void operator()(const T&) {}

 private:
  void change_agency(const std::string& agency) {
    if (agency == f.agency) return;
    rules::MatchAttributes a = f;
    a.agency = agency;
    change_to(std::move(a));
  }
  void change_to(rules::MatchAttributes a) {
    rules::MatchAttributes& now = f;
    if (a == now) return;
    std::swap(a, now);
    f.changes.push_back({at, std::move(a)});
  }
};

std::string where(const rules::SourceLocation& w) {
  return w.file + ":" + std::to_string(w.line) + ":" + std::to_string(w.column);
}

SlaClockEvent base_event(const rules::SlaDecision& d, const rules::ClockReport& c, const std::string& where_s) {
  SlaClockEvent e;
  e.rule_id = d.rule_id;
  e.rule_where = where_s;
  e.rule_set_hash = d.rule_set_hash;
  e.clock = c.clock;
  e.calendar = c.calendar;
  e.calendar_version = c.calendar_version;
  e.provisional = c.provisional;
  return e;
}

// True when a clock that `old_d` decided on a provisional year is decided otherwise by `new_d` (another
// deadline, or the same one now final): the publication of that year's inputs affects the appeal.
bool provisional_changed(const rules::SlaDecision& old_d, const rules::SlaDecision& new_d) {
  for (const auto& o : old_d.clocks) {
    if (o.provisional.empty()) continue;
    const auto n = std::find_if(new_d.clocks.begin(), new_d.clocks.end(),
                                [&](const rules::ClockReport& c) { return c.clock == o.clock; });
    if (n == new_d.clocks.end() || n->deadline != o.deadline || n->provisional != o.provisional) return true;
  }
  return false;
}

// "kz=kz@2026-03-18 -> kz=kz@2027-01": the calendar versions a rebinding changes.
std::string calendar_change(const BundleRef& from, const BundleRef& to) {
  std::string out;
  for (const auto& v : to.calendar_versions) {
    if (std::find(from.calendar_versions.begin(), from.calendar_versions.end(), v) != from.calendar_versions.end()) {
      continue;
    }
    const std::string name = v.substr(0, v.find('='));
    std::string old = name + "=(none)";
    for (const auto& f : from.calendar_versions) {
      if (f.substr(0, f.find('=')) == name) old = f;
    }
    out += (out.empty() ? "" : ", ") + old + " -> " + v;
  }
  return out;
}

SlaClockKind rung_kind(const std::string& label) {
  if (label == "breach") return SlaClockKind::kBreached;
  if (label.rfind("breach", 0) == 0) return SlaClockKind::kEscalated;
  return SlaClockKind::kWarning;
}

std::string appeal_stream(const std::string& id) { return std::string(kAppealStreamPrefix) + id; }

}  // namespace

Status fold_sla_view(SlaAppealView& view, const store::RecordedEvent& e, bool clock_events) {
  view.version = e.stream_version;
  if (is_appeal_event_type(e.type)) {
    OTINISH_ASSIGN_OR_RETURN(AppealEvent ev, decode_event(e.type, e.schema_version, e.payload));
    std::visit(AttributeFolder{view.facts, e.recorded_at}, ev.body);
    using Kind = rules::Fact::Kind;
    auto& h = view.facts.history;
    if (std::holds_alternative<AppealRegistered>(ev.body)) {
      view.exists = true;
      view.appeal_id = std::get<AppealRegistered>(ev.body).appeal_id;
      view.registered_position = e.position;
      h.push_back({e.recorded_at, Kind::kStateEntered, "registered", std::nullopt});
    } else {
      if (std::holds_alternative<AppealAnsweredOnFirstContact>(ev.body)) {
        h.push_back({e.recorded_at, Kind::kStateEntered, "answered", std::nullopt});
      }
      if (ev.to != ev.from || std::holds_alternative<AppealReopened>(ev.body)) {
        h.push_back({e.recorded_at, Kind::kStateEntered, rules_state_name(ev.to), std::nullopt});
      }
      if (const auto* r = std::get_if<AppealResolved>(&ev.body); r && r->outcome == Outcome::kProposalDeclined) {
        h.push_back({e.recorded_at, Kind::kStateEntered, "declined", std::nullopt});
      }
      std::optional<Timestamp> until;
      if (const auto* g = std::get_if<AppealExtensionGranted>(&ev.body)) until = g->new_deadline;
      h.push_back({e.recorded_at, Kind::kEvent, fact_event_name(e.type), until});
    }
    if (ev.to == Stage::kClosed) view.closed = true;
    if (std::holds_alternative<AppealReopened>(ev.body)) view.closed = false;
    return Status::Ok();
  }
  if (is_sla_event_type(e.type)) {
    if (!clock_events && e.type != "SlaBound" && e.type != "SlaRebound") return Status::Ok();
    OTINISH_ASSIGN_OR_RETURN(SlaEvent sla, decode_sla_event(e.type, e.schema_version, e.payload));
    if (auto* b = std::get_if<SlaBound>(&sla)) view.bound = b->bundle;
    if (auto* r = std::get_if<SlaRebound>(&sla)) view.bound = r->to;
    if (auto* c = std::get_if<SlaClockEvent>(&sla)) {
      view.emitted.insert(c->key());
      view.clock_events.push_back(std::move(*c));
    }
  }
  return Status::Ok();
}

namespace {

// Folds the events of the view's appeal after view.version (none if the appeal does not exist yet).
Status fold_sla_tail(const store::EventStore& store, SlaAppealView& view) {
  const std::string stream = appeal_stream(view.appeal_id);
  for (;;) {
    auto batch = store.read_stream(stream, view.version + 1, store::Direction::kForward, 1024);
    if (!batch.ok()) {
      if (batch.status().code() == StatusCode::kNotFound) return Status::Ok();  // no such appeal (yet)
      return batch.status();
    }
    for (const auto& e : *batch) OTINISH_RETURN_IF_ERROR(fold_sla_view(view, e));
    if (batch->size() < 1024) return Status::Ok();
  }
}

}  // namespace

Result<SlaAppealView> read_sla_view(const store::EventStore& store, const std::string& appeal_id) {
  SlaAppealView view;
  view.appeal_id = appeal_id;
  OTINISH_RETURN_IF_ERROR(fold_sla_tail(store, view));
  return view;
}

std::optional<Timestamp> earliest_open_deadline(const rules::SlaDecision& d) {
  std::optional<Timestamp> best;
  for (const auto& c : d.clocks) {
    if (c.state != rules::ClockState::kRunning || !c.deadline) continue;
    if (!best || *c.deadline < *best) best = c.deadline;
  }
  return best;
}

Result<SlaPlan> plan_sla(const Bundle& bundle, const rules::AppealFacts& facts, Timestamp as_of,
                         bool every_instant) {
  SlaPlan plan;
  std::vector<Timestamp> instants;
  std::vector<Timestamp> extended;  // of the extensions granted to a clock (see `before` below)
  for (const auto& f : facts.history) {
    if (f.at > as_of) continue;
    const bool moves = bundle.clock_facts.may_move_clocks(f);
    if (every_instant || moves) instants.push_back(f.at);
    if (moves && f.kind == rules::Fact::Kind::kEvent && f.name == "extension_granted") extended.push_back(f.at);
  }
  // Where the attributes changed another rule may take over: its instant is decided whatever its facts are.
  for (const auto& c : facts.changes) {
    if (c.at <= as_of) instants.push_back(c.at);
  }
  std::sort(instants.begin(), instants.end());
  instants.erase(std::unique(instants.begin(), instants.end()), instants.end());

  // What the plan has said of each clock so far. Clocks are named, not owned by a rule: a clock of the same
  // name in the rule that takes over goes on (the law's answer clock of most rules), as the events' keys do.
  struct Prev {
    rules::ClockState state = rules::ClockState::kNotStarted;
    std::optional<Timestamp> started;
    std::optional<Timestamp> deadline;
    int cycle = -1;
    // A clock that comes back under a rule after one without it (or that a new rule starts elsewhere) begins
    // a cycle the rule itself does not count: the plan numbers cycles on its own and maps the rule's to them.
    std::map<int, int> cycles;  // the deciding rule's cycle (ClockReport::cycle) -> the plan's
    bool left = false;          // stopped because the rule that had it no longer matched
    int plan_cycle(int rule_cycle) const {
      auto it = cycles.find(rule_cycle);
      return it == cycles.end() ? rule_cycle : it->second;
    }
  };
  std::map<std::string, Prev> prev;
  auto rungs = [&](const rules::SlaDecision& d, Timestamp at) {
    for (const auto& c : d.clocks) {
      const std::string w = where(c.rule_where);
      const Prev& p = prev[c.clock];
      bool breach_rung = false;
      for (const auto& r : c.fired) {
        SlaClockEvent e = base_event(d, c, w);
        e.kind = rung_kind(r.at_label);
        e.cycle = p.plan_cycle(r.cycle);
        e.at = r.at.value_or(at);
        e.step = static_cast<std::int32_t>(r.step);
        e.label = r.at_label;
        e.notify = r.notify;
        e.raise_priority = r.raise_priority;
        e.reassign_agency = r.reassign_agency;
        e.reassign_role = r.reassign_role;
        if (e.kind == SlaClockKind::kBreached) e.deadline = e.at;
        breach_rung |= e.kind == SlaClockKind::kBreached && e.cycle == p.cycle;
        plan.events.push_back(std::move(e));
      }
      if (c.breached && !breach_rung && c.deadline) {
        SlaClockEvent e = base_event(d, c, w);
        e.kind = SlaClockKind::kBreached;
        e.cycle = std::max(p.cycle, 0);
        e.at = *c.deadline;
        e.deadline = c.deadline;
        e.label = "breach";
        plan.events.push_back(std::move(e));
      }
    }
  };
  // Two kinds of fact change what a clock's past looks like when decided after them: a reclassification (or
  // a new agency) that makes another rule match, and an extension, after which the ladder's shares are of the
  // extended span. What was decided before them stands (the service recorded it then): the rungs fired by the
  // instant before, and, when another rule takes over at `t`, the clocks of the one it left that the new one
  // does not have stop at `t`, so that no deadline of a rule no longer in force stays open.
  std::optional<Timestamp> last_instant;
  std::string last_rule;
  std::size_t decided_before = 0;  // events the decisions of the instant before added (they may repeat keys)
  auto before = [&](const rules::SlaDecision& now, Timestamp t) -> Status {
    if (!last_instant) return Status::Ok();
    const bool new_rule = now.rule_id != last_rule;
    if (!new_rule && std::find(extended.begin(), extended.end(), t) == extended.end()) return Status::Ok();
    OTINISH_ASSIGN_OR_RETURN(rules::SlaDecision was, rules::decide_sla(bundle.rules, bundle.calendars, facts,
                                                                       t - std::chrono::microseconds(1)));
    const std::size_t events = plan.events.size();
    rungs(was, t);
    if (new_rule) {
      for (const auto& c : was.clocks) {
        // The new rule goes on with a clock of the same name that it started where the old one did; any other
        // running cycle ends here (one the new rule starts elsewhere, or later, begins a new cycle then).
        const auto n = std::find_if(now.clocks.begin(), now.clocks.end(),
                                    [&](const rules::ClockReport& r) { return r.clock == c.clock; });
        Prev& p = prev[c.clock];
        if (p.state == rules::ClockState::kNotStarted) continue;
        if (n != now.clocks.end() && n->started_at && n->started_at == p.started) continue;
        if (p.state == rules::ClockState::kRunning || p.state == rules::ClockState::kPaused) {
          SlaClockEvent e = base_event(was, c, where(c.rule_where));
          e.kind = SlaClockKind::kStopped;
          e.cycle = p.cycle;
          e.at = t;
          plan.events.push_back(std::move(e));
        }
        p.state = rules::ClockState::kStopped;
        p.deadline.reset();
        p.left = true;
      }
    }
    decided_before += plan.events.size() - events;
    return Status::Ok();
  };
  auto step = [&](const rules::SlaDecision& d, Timestamp t) {
    for (const auto& c : d.clocks) {
      const std::string w = where(c.rule_where);
      Prev& p = prev[c.clock];
      SlaClockEvent e = base_event(d, c, w);
      using S = rules::ClockState;
      if (c.started_at && (c.started_at != p.started || p.left)) {
        if (p.started && (p.state == S::kRunning || p.state == S::kPaused)) {
          // A reset ends the running cycle: say so, so that readers of the stream close that cycle's deadline.
          SlaClockEvent end = base_event(d, c, w);
          end.kind = SlaClockKind::kStopped;
          end.cycle = p.cycle;
          end.at = *c.started_at;
          plan.events.push_back(end);
        }
        p.cycle = p.started ? p.cycle + 1 : 0;
        p.left = false;
        p.started = c.started_at;
        p.deadline.reset();
        e.kind = SlaClockKind::kStarted;
        e.cycle = p.cycle;
        e.at = *c.started_at;
        plan.events.push_back(e);
        if (c.state == S::kStopped) {
          e.kind = SlaClockKind::kStopped;
          e.at = c.stopped_at.value_or(t);
          plan.events.push_back(e);
        }
      } else if (c.state != p.state) {
        e.cycle = p.cycle;
        e.at = t;
        if (c.state == S::kPaused) e.kind = SlaClockKind::kPaused;
        else if (c.state == S::kRunning) e.kind = SlaClockKind::kResumed;
        else if (c.state == S::kStopped) e.kind = SlaClockKind::kStopped, e.at = c.stopped_at.value_or(t);
        if (c.state != S::kNotStarted) plan.events.push_back(e);
      }
      p.state = c.state;
      if (c.started_at) p.cycles[c.cycle] = p.cycle;  // a rule that took over a clock may count its cycles otherwise
      if (c.state == S::kRunning && c.deadline && c.deadline != p.deadline) {
        SlaClockEvent dl = base_event(d, c, w);
        dl.kind = SlaClockKind::kDeadlineSet;
        dl.cycle = p.cycle;
        dl.at = t;
        dl.deadline = c.deadline;
        plan.events.push_back(dl);
        p.deadline = c.deadline;
      }
    }
    last_instant = t;
    last_rule = d.rule_id;
  };
  for (Timestamp t : instants) {
    OTINISH_ASSIGN_OR_RETURN(rules::SlaDecision d, rules::decide_sla(bundle.rules, bundle.calendars, facts, t));
    OTINISH_RETURN_IF_ERROR(before(d, t));
    step(d, t);
  }
  OTINISH_ASSIGN_OR_RETURN(plan.decision, rules::decide_sla(bundle.rules, bundle.calendars, facts, as_of));
  rungs(plan.decision, as_of);
  for (const auto& c : plan.decision.clocks) {
    auto due = [&](std::optional<Timestamp> t) {
      if (t && *t > as_of && (!plan.next_due || *t < *plan.next_due)) plan.next_due = t;
    };
    if (c.next) due(c.next->at);
    // A clock without a breach rung still records its breach (SlaBreached), so its deadline is a timer too.
    if (c.state == rules::ClockState::kRunning) due(c.deadline);
  }
  if (decided_before > 0) {
    // A rung decided before and after such a fact (or under two rules) is in the plan twice, alike or not: the
    // first stands, as the service, which never writes a key twice, wrote it.
    std::set<std::string> keys;
    std::erase_if(plan.events, [&](const SlaClockEvent& e) { return !keys.insert(e.key()).second; });
  }
  std::stable_sort(plan.events.begin(), plan.events.end(),
                   [](const SlaClockEvent& a, const SlaClockEvent& b) { return a.at < b.at; });
  plan.open = std::any_of(plan.decision.clocks.begin(), plan.decision.clocks.end(), [](const auto& c) {
    return c.state == rules::ClockState::kRunning || c.state == rules::ClockState::kPaused;
  });
  return plan;
}

// ---------------------------------------------------------------------------------------------------------
// SlaService

Result<std::unique_ptr<SlaService>> SlaService::open(store::EventStore& store, RuleRegistry& registry,
                                                     const Clock& clock, SlaServiceOptions options) {
  if (options.index_path.empty()) {
    return Status::InvalidArgument("SlaServiceOptions::index_path is required (e.g. DIR/sla next to DIR/log)");
  }
  OTINISH_ASSIGN_OR_RETURN(std::unique_ptr<TimerIndex> index, TimerIndex::open(options.index_path, options.index));
  return std::unique_ptr<SlaService>(new SlaService(store, registry, clock, std::move(options), std::move(index)));
}

SlaService::SlaService(store::EventStore& store, RuleRegistry& registry, const Clock& clock,
                       SlaServiceOptions options, std::unique_ptr<TimerIndex> index)
    : store_(store), registry_(registry), clock_(clock), options_(std::move(options)), index_(std::move(index)) {}

SlaService::~SlaService() { stop(); }

std::size_t SlaService::stripe_index(const std::string& appeal_id) const {
  return std::hash<std::string>{}(appeal_id) % stripes_.size();
}

Result<SlaService::Kept*> SlaService::fresh_view(const std::string& appeal_id, const store::RecordedEvent* in_hand) {
  ViewCache& cache = views_[stripe_index(appeal_id)];
  const std::uint64_t recoveries = store_.recoveries();
  auto it = cache.views.find(appeal_id);
  if (it != cache.views.end() && it->second.recoveries != recoveries) {
    forget_view(appeal_id);
    it = cache.views.end();
  }
  if (it == cache.views.end()) {
    const std::size_t limit = std::max<std::size_t>(1, options_.cached_appeals / views_.size());
    while (!cache.order.empty() && cache.views.size() >= limit) {
      cache.views.erase(cache.order.back());
      cache.order.pop_back();
    }
    cache.order.push_front(appeal_id);
    it = cache.views.emplace(appeal_id, Kept{.view = {}, .decided = 0, .at = cache.order.begin(), .recoveries = recoveries})
             .first;
    it->second.view.appeal_id = appeal_id;
  } else {
    cache.order.splice(cache.order.begin(), cache.order, it->second.at);
  }
  SlaAppealView& view = it->second.view;
  Status s;
  if (in_hand != nullptr && in_hand->stream_version == view.version + 1) {
    s = fold_sla_view(view, *in_hand);  // read from the log already: no second read from the store
  } else if (in_hand == nullptr || in_hand->stream_version != view.version) {
    s = fold_sla_tail(store_, view);
  }
  if (!s.ok()) {
    forget_view(appeal_id);
    return s;
  }
  view.clock_events.clear();  // the service needs their keys (emitted), not the events
  return &it->second;
}

bool SlaService::live(const store::RecordedEvent& e) const {
  // After a recovery of the log, an SLA append of this run answered before its fsync may be gone or not: the
  // stream is read again.
  return e.position > live_from_.load(std::memory_order_acquire) &&
         store_.recoveries() == live_recoveries_.load(std::memory_order_acquire);
}

Result<bool> SlaService::fold_if_inert(const std::string& appeal_id, const store::RecordedEvent& e) {
  ViewCache& cache = views_[stripe_index(appeal_id)];
  auto it = cache.views.find(appeal_id);
  if (it == cache.views.end()) return false;
  Kept& kept = it->second;
  SlaAppealView& view = kept.view;
  if (kept.recoveries != store_.recoveries()) return false;  // the decision reads the appeal again
  // Covered by an earlier decision (which read it), or found inert below.
  if (e.stream_version <= kept.decided) return true;
  if (e.stream_version != view.version + 1 || kept.decided != view.version || !view.exists || !view.bound) {
    return false;
  }
  cache.order.splice(cache.order.begin(), cache.order, kept.at);
  auto bundle = registry_.bundle(view.bound->rules_version, view.bound->calendars_version);
  if (!bundle.ok() || !*bundle) return false;  // the decision reports it
  // Folding in place is right whatever the answer: the view stays the stream's fold up to e.
  const rules::AppealFacts& f = view.facts;
  const std::size_t changes = f.changes.size();
  const bool closed = view.closed;
  const std::optional<BundleRef> bound = view.bound;
  const std::size_t facts = f.history.size();
  if (Status s = fold_sla_view(view, e); !s.ok()) {
    forget_view(appeal_id);
    return s;
  }
  view.clock_events.clear();
  if (changes != f.changes.size() || closed != view.closed || bound != view.bound) return false;
  for (std::size_t i = facts; i < f.history.size(); ++i) {
    if ((*bundle)->clock_facts.may_move_clocks(f.history[i])) return false;
  }
  kept.decided = view.version;
  return true;
}

void SlaService::forget_all_views() {
  for (std::size_t i = 0; i < views_.size(); ++i) {
    std::lock_guard lock(stripes_[i]);
    views_[i].views.clear();
    views_[i].order.clear();
  }
}

void SlaService::forget_view(const std::string& appeal_id) {
  ViewCache& cache = views_[stripe_index(appeal_id)];
  if (auto it = cache.views.find(appeal_id); it != cache.views.end()) {
    cache.order.erase(it->second.at);
    cache.views.erase(it);
  }
}

Status SlaService::start() {
  OTINISH_RETURN_IF_ERROR(registry_.load());
  // Overdue timers first, in order: a restart loses nothing and a late timer still sees every fact in its
  // stream (the decision ignores none that happened before the rung).
  OTINISH_ASSIGN_OR_RETURN(std::size_t fired, fire_due());
  (void)fired;
  {
    std::lock_guard lock(timer_mu_);
    stopping_ = false;
  }
  {
    std::lock_guard lock(progress_mu_);
    dispatched_ = index_->checkpoint();
    in_flight_.clear();
    unsynced_.clear();
    worker_error_ = Status::Ok();
  }
  // A restart in one process: the kept views may be ahead of the checkpoint (decided events whose SLA events
  // were not synced), and an event delivered again must not count as covered by them.
  forget_all_views();
  // Appended before this, an event may have been decided by an earlier run (a restart before the checkpoint
  // passed it, a rebuilt index) whose SLA events follow it in its stream: such a one is decided on its stream.
  live_recoveries_ = store_.recoveries();
  live_from_ = store_.exclusive() ? store_.head_position() : UINT64_MAX;
  workers_stopping_ = false;
  worker_failed_ = false;
  for (int i = 0; i < options_.workers; ++i) workers_.push_back(std::make_unique<Worker>());
  for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->thread = std::thread([this, i] { worker_loop(i); });
  auto subscription = store_.subscribe(index_->checkpoint(), [this](const store::RecordedEvent& e) {
    return until_stored([&] { return handle(e); });
  });
  {
    std::lock_guard lock(subscription_mu_);
    subscription_ = std::move(subscription);
  }
  if (options_.timer_thread) timer_thread_ = std::thread([this] { timer_loop(); });
  return Status::Ok();
}

void SlaService::stop() {
  {
    std::lock_guard lock(timer_mu_);
    stopping_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  // The workers first, before the subscription: its thread may be waiting for room in a worker's queue or for
  // the workers to drain before a publication, and a worker retrying a refused write leaves on the stop
  // without taking anything more from its queue. Events still queued for a worker are left: they stay after
  // the checkpoint and are handled after a restart.
  workers_stopping_ = true;
  for (auto& w : workers_) {
    { std::lock_guard lock(w->mu); }
    w->cv.notify_all();
  }
  {
    std::lock_guard lock(progress_mu_);
  }
  progress_cv_.notify_all();
  // Taken out under the lock (status() reads it from other threads), stopped outside it.
  std::unique_ptr<store::Subscription> subscription;
  {
    std::lock_guard lock(subscription_mu_);
    subscription = std::move(subscription_);
  }
  if (subscription) subscription->stop();
  subscription.reset();
  release_intake();  // nothing will move the lag now; intake goes on (refused a wait, not a request)
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
  // Write the checkpoint events that changed nothing moved, if no decision wrote a later one.
  if (const std::uint64_t cp = safe_checkpoint(); cp > index_->checkpoint()) (void)index_->apply({}, cp);
}

bool SlaService::poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                            std::chrono::microseconds every) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (!status().ok() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
  return true;
}

bool SlaService::wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const {
  // What is left is usually a worker's decision or the store's next sync, a fraction of a millisecond.
  return poll_until([&] { return safe_checkpoint() >= position; }, timeout, std::chrono::microseconds(100));
}

bool SlaService::lag_at_most(std::uint64_t max_lag) const {
  return store_.head_position() <= safe_checkpoint() + max_lag;
}

bool SlaService::wait_for_lag_below(std::uint64_t max_lag, std::chrono::milliseconds timeout) const {
  // Nobody in line and the service close enough: the usual case, and no lock.
  if (intake_waiting_.load(std::memory_order_acquire) == 0 && lag_at_most(max_lag)) return true;
  if (!status().ok()) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  IntakeWaiter me;
  me.max_lag = max_lag;
  std::unique_lock lock(intake_mu_);
  // A stopped service moves the lag no more: refused at once rather than after the whole timeout. Read under
  // the line's lock, which stop() takes (release_intake) after setting it, so a caller either sees the stop
  // here or is in the line when stop() sends it on.
  if (workers_stopping_.load(std::memory_order_acquire)) return false;
  const std::uint64_t released = intake_released_;
  intake_line_.push_back(&me);
  intake_waiting_.fetch_add(1, std::memory_order_acq_rel);
  for (;;) {
    admit_intake_locked();
    if (me.admitted || intake_released_ != released) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    const bool front = intake_line_.front() == &me;
    me.cv.wait_until(lock, front ? std::min(deadline, now + kIntakeRecheck) : deadline);
    if (me.admitted || intake_released_ != released) break;
    if (intake_line_.front() == &me && !status().ok()) break;  // the front looks; the others follow it out
  }
  if (!me.admitted) {
    const bool front = intake_line_.front() == &me;
    intake_line_.erase(std::find(intake_line_.begin(), intake_line_.end(), &me));
    if (front && !intake_line_.empty()) intake_line_.front()->cv.notify_one();  // the next one looks now
  }
  intake_waiting_.fetch_sub(1, std::memory_order_acq_rel);
  admit_intake_locked();  // the next in line, if the lag still allows: a caught-up service empties the line
  return me.admitted;
}

void SlaService::admit_intake_locked() const {
  if (intake_line_.empty()) return;
  IntakeWaiter* front = intake_line_.front();
  if (!lag_at_most(front->max_lag)) return;
  front->admitted = true;
  intake_line_.pop_front();
  front->cv.notify_one();
  // The new front takes over the looking (kIntakeRecheck); it is let through by the one admitted now if the
  // lag still allows when that one wakes.
  if (!intake_line_.empty()) intake_line_.front()->cv.notify_one();
}

void SlaService::intake_progress() const {
  if (intake_waiting_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(intake_mu_);
  admit_intake_locked();
}

void SlaService::release_intake() const {
  std::lock_guard lock(intake_mu_);
  ++intake_released_;
  for (IntakeWaiter* w : intake_line_) w->cv.notify_one();
}

std::uint64_t SlaService::safe_checkpoint() const {
  const std::uint64_t head = store_.head_position();
  std::lock_guard lock(progress_mu_);
  std::uint64_t cp = dispatched_;
  if (!in_flight_.empty()) cp = std::min(cp, *in_flight_.begin() - 1);
  while (!unsynced_.empty()) {
    const auto first = unsynced_.begin();
    if (first->second > head) {
      cp = std::min(cp, first->first - 1);
      break;
    }
    unsynced_.erase(first);  // durable now
  }
  return cp;
}

void SlaService::finish(std::uint64_t position) {
  {
    std::lock_guard lock(progress_mu_);
    in_flight_.erase(position);
  }
  progress_cv_.notify_all();
  intake_progress();
}

Status SlaService::drain_workers() {
  std::unique_lock lock(progress_mu_);
  progress_cv_.wait(lock, [this] { return in_flight_.empty() || !worker_error_.ok() || workers_stopping_.load(); });
  if (!worker_error_.ok()) return worker_error_;
  if (!in_flight_.empty()) return Status::Unavailable("the SLA service is stopping");
  return Status::Ok();
}

void SlaService::worker_loop(std::size_t index) {
  name_this_thread("otinish-sla");
  Worker& w = *workers_[index];
  for (;;) {
    store::RecordedEvent e;
    {
      std::unique_lock lock(w.mu);
      w.cv.wait(lock, [&] { return workers_stopping_.load() || !w.queue.empty(); });
      if (workers_stopping_) return;
      e = std::move(w.queue.front());
      w.queue.pop_front();
    }
    w.cv.notify_all();  // room for the subscription
    const std::string id = e.stream.substr(kAppealStreamPrefix.size());
    Status s = until_stored([&] { return handle_appeal(id, e); });
    if (!s.ok()) {
      std::lock_guard lock(timer_mu_);
      if (stopping_) return;  // stopped while retrying: not a failure
    }
    if (!s.ok()) {
      // Like an error on the subscription's thread: the service stops deciding (status() says why); the event
      // stays unfinished, so the checkpoint never passes it.
      {
        std::lock_guard lock(progress_mu_);
        if (worker_error_.ok()) worker_error_ = s;
      }
      worker_failed_ = true;
      progress_cv_.notify_all();
      release_intake();
      for (auto& other : workers_) {
        { std::lock_guard lock(other->mu); }
        other->cv.notify_all();
      }
      return;
    }
  }
}

void SlaService::wait_readable(const std::string& stream, std::optional<std::uint64_t> version) const {
  if (!version) return;
  // Bounded: a sync takes well under a second; if the version never becomes readable the re-decision simply
  // conflicts again and the caller's retry limit applies.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto v = store_.stream_version(stream);
    if (!v.ok() || *v >= *version || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

Status SlaService::status() const {
  {
    std::lock_guard lock(subscription_mu_);
    if (subscription_) OTINISH_RETURN_IF_ERROR(subscription_->status());
  }
  std::lock_guard lock(progress_mu_);
  return worker_error_;
}

std::uint64_t SlaService::processed_position() const { return safe_checkpoint(); }

SlaStats SlaService::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void SlaService::timer_loop() {
  name_this_thread("otinish-sla-tmr");
  for (;;) {
    auto fired = fire_due();
    if (!fired.ok()) fired.status().IgnoreError();  // retried on the next poll; the timer stays in the index
    std::unique_lock lock(timer_mu_);
    if (timer_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; })) return;
  }
}

Result<std::size_t> SlaService::fire_due() {
  std::size_t fired = 0;
  Status first_error;
  for (;;) {
    const Timestamp now = clock_.now();
    // Due strictly before now (see sync_locked): a rung due at T fires at the first look after T.
    OTINISH_ASSIGN_OR_RETURN(auto due, index_->due_until(now - std::chrono::microseconds(1), options_.fire_batch));
    std::size_t progressed = 0;
    for (const auto& [at, id] : due) {
      std::lock_guard lock(stripe(id));
      const auto entry = index_->find(id);
      if (!entry || !*entry || **entry != at) continue;  // moved meanwhile (a command re-decided it)
      Status s = sync_locked(id, std::nullopt, at);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s;
        continue;
      }
      ++fired;
      const auto after = index_->find(id);
      if (!after || !*after || **after != at) ++progressed;
    }
    if (due.size() < options_.fire_batch || progressed == 0) break;
  }
  if (!first_error.ok()) return first_error;
  return fired;
}

Status SlaService::sync(const std::string& appeal_id) {
  std::lock_guard lock(stripe(appeal_id));
  return sync_locked(appeal_id, std::nullopt, std::nullopt);
}

Result<std::shared_ptr<const Bundle>> SlaService::bundle_for(const SlaAppealView& view,
                                                             std::optional<BundleRef>* bind) {
  if (view.bound) return registry_.bundle(view.bound->rules_version, view.bound->calendars_version);
  OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const Bundle> b, registry_.bundle_at(view.registered_position));
  if (!b) {
    // Registered before any rules were published: the first rules published bind it.
    OTINISH_ASSIGN_OR_RETURN(b, registry_.current());
  }
  if (b) *bind = b->ref;
  return b;
}

Status SlaService::sync_locked(const std::string& appeal_id, std::optional<std::uint64_t> checkpoint,
                               std::optional<Timestamp> fired_due, const store::RecordedEvent* in_hand) {
  Status s = decide_locked(appeal_id, checkpoint, fired_due, in_hand);
  if (!s.ok()) forget_view(appeal_id);
  return s;
}

Status SlaService::decide_locked(const std::string& appeal_id, std::optional<std::uint64_t> checkpoint,
                                 std::optional<Timestamp> fired_due, const store::RecordedEvent* in_hand) {
  for (int attempt = 0;; ++attempt) {
    const Timestamp now = clock_.now();
    // Decide strictly before now: every fact recorded before `now` is in the stream already (recorded times
    // never decrease along the log, and the expected version catches an append racing with this decision),
    // while more facts may still be recorded at `now` itself.
    const Timestamp decide_at = now - std::chrono::microseconds(1);
    // The checkpoint to write with the timer: before this event, which is not finished yet.
    auto done = [&]() -> std::optional<std::uint64_t> {
      if (!checkpoint) return std::nullopt;
      return safe_checkpoint();
    };
    // Again after a conflict: then from the stream, which holds what the conflicting append wrote.
    OTINISH_ASSIGN_OR_RETURN(Kept * kept, fresh_view(appeal_id, attempt == 0 ? in_hand : nullptr));
    SlaAppealView& view = kept->view;
    if (!view.exists) {
      forget_view(appeal_id);
      return index_->apply({}, done());
    }
    std::optional<BundleRef> bind;
    OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const Bundle> bundle, bundle_for(view, &bind));
    TimerIndex::Change change{appeal_id, !view.closed, std::nullopt};
    std::vector<store::EventData> out;
    std::vector<std::string> clock_keys;  // of the clock events in `out`
    std::string keys;
    std::uint64_t decisions = 0;
    if (bundle) {
      Result<SlaPlan> planned = plan_sla(*bundle, view.facts, decide_at);
      if (!planned.ok()) {
        // The rules cannot decide this appeal (e.g. a deadline beyond the calendar's years): one appeal must not
        // stop the service. It stays open and is retried; the error is counted and kept for the operator.
        note_decision_error(appeal_id, planned.status());
        change.open = true;
        change.due = now + options_.retry_after_error;
        OTINISH_RETURN_IF_ERROR(index_->apply({&change, 1}, done()));
        kept->decided = view.version;  // the retry timer stands for these events
        return Status::Ok();
      }
      SlaPlan& plan = *planned;
      if (view.bound && attempt < options_.max_conflict_retries) {
        if (rebind_if_provisional_locked(view, plan, decide_at)) continue;  // decide again on the new binding
      }
      decisions = view.facts.history.size() + 1;
      if (bind) {
        store::EventData d = encode_sla_event(SlaBound{*bind, plan.decision.rule_id});
        keys += "bound/" + std::to_string(bind->rules_version) + "." + std::to_string(bind->calendars_version);
        d.id = store::EventId::derived("sla:" + appeal_id + ":" + keys);
        out.push_back(std::move(d));
      }
      for (const SlaClockEvent& e : plan.events) {
        const std::string k = e.key();
        if (view.emitted.contains(k)) continue;
        store::EventData d = encode_sla_event(e);
        d.id = store::EventId::derived("sla:" + appeal_id + ":" + k);
        keys += "|" + k;
        clock_keys.push_back(k);
        out.push_back(std::move(d));
      }
      change.open = !view.closed || plan.open;
      change.due = plan.next_due;
      // Facts recorded at `now` are decided at the first look after it.
      for (const auto& f : view.facts.history) {
        if (f.at <= decide_at) continue;
        change.open = true;
        if (!change.due || f.at < *change.due) change.due = f.at;
      }
    }
    if (!out.empty()) {
      for (auto& d : out) d.actor = options_.actor;
      const std::string key = "sla:" + appeal_id + ":" + to_hex(blake2b_256(keys)).substr(0, 32);
      auto r = store_.append(appeal_stream(appeal_id), store::ExpectedVersion::exact(view.version), out,
                             {.idempotency_key = key, .wait_for_sync = !checkpoint.has_value()});
      if (!r.ok() && r.status().code() == StatusCode::kConflict && attempt < options_.max_conflict_retries) {
        {
          std::lock_guard lock(stats_mu_);
          ++stats_.conflicts;
        }
        // A command (or our own append for an earlier event, not yet synced) landed while we decided: decide
        // again on the new facts once they are readable.
        wait_readable(appeal_stream(appeal_id), r.status().current_version());
        continue;
      }
      if (!r.ok()) return r.status();
      // Made on the event in hand, the same decision is in the stream already: the stream holds more than that
      // event showed (SLA events that may since have been superseded), so it is decided again on the stream,
      // whose timer may differ. (The view is forgotten below, and the checkpoint waits for the append found.)
      const bool decide_again = r->deduplicated && attempt == 0 && in_hand != nullptr;
      // The kept view takes what was appended, as folding it back from the stream would.
      if (r->deduplicated || store_.recoveries() != kept->recoveries) {
        // (A recovery since the view was read: the expected version may have matched a reused one.)
        forget_view(appeal_id);  // written before (a crash, a racing service): read it back next time
        kept = nullptr;
      } else {
        view.version = r->stream_version;
        if (bind) view.bound = *bind;
        for (std::string& k : clock_keys) view.emitted.insert(std::move(k));
      }
      if (checkpoint) {
        // At once, not when the event finishes: if the timer's write below fails and the event is handled again,
        // the re-decision appends nothing more, yet these must still hold the checkpoint back until durable.
        std::lock_guard lock(progress_mu_);
        std::uint64_t& a = unsynced_[*checkpoint];
        a = std::max(a, r->last_position);
      }
      if (decide_again) continue;
    }
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.syncs;
      stats_.decisions += decisions;
      stats_.events_appended += out.size();
      if (fired_due) {
        ++stats_.firings;
        const std::int64_t late = micros_since_epoch(now) - micros_since_epoch(*fired_due);
        if (stats_.lateness_us.size() < options_.lateness_samples) {
          stats_.lateness_us.push_back(late);
        } else if (options_.lateness_samples > 0) {
          stats_.lateness_us[lateness_next_++ % options_.lateness_samples] = late;
        }
      }
    }
    OTINISH_RETURN_IF_ERROR(index_->apply({&change, 1}, done()));
    if (bundle && kept) kept->decided = kept->view.version;
    return Status::Ok();
  }
}

Status SlaService::skip(std::uint64_t position) {
  {
    std::lock_guard lock(progress_mu_);
    dispatched_ = position;
  }
  intake_progress();
  if (++since_checkpoint_write_ < kCheckpointEvery) return Status::Ok();
  since_checkpoint_write_ = 0;
  const std::uint64_t checkpoint = safe_checkpoint();
  if (checkpoint <= index_->checkpoint()) return Status::Ok();
  return index_->apply({}, checkpoint);
}

Status SlaService::until_stored(const std::function<Status()>& handle) {
  auto pause = std::chrono::milliseconds(10);
  while (true) {
    Status s = handle();
    if (s.code() != StatusCode::kUnavailable && s.code() != StatusCode::kIOError) return s;
    // The log may have failed and recovered: an append of ours answered before its fsync may be gone, so no kept
    // view is trusted any more (each is read back from its stream at its next event).
    forget_all_views();
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.storage_retries;
      stats_.last_storage_error = s.message();
    }
    std::unique_lock lock(timer_mu_);
    if (timer_cv_.wait_for(lock, pause, [&] { return stopping_; })) return s;
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

Status SlaService::handle(const store::RecordedEvent& e) {
  if (e.stream.rfind(kAppealStreamPrefix, 0) == 0) {
    if (!is_appeal_event_type(e.type)) return skip(e.position);
    const std::string id = e.stream.substr(kAppealStreamPrefix.size());
    bool queued = false;  // by an earlier try of this event, whose checkpoint write then failed
    {
      std::lock_guard lock(progress_mu_);
      OTINISH_RETURN_IF_ERROR(worker_error_);
      queued = !workers_.empty() && e.position <= dispatched_;
      if (!queued) {
        in_flight_.insert(e.position);
        dispatched_ = e.position;
      }
    }
    if (queued) {
      // Handed to its worker already: queueing it twice would let the first copy's finish release the checkpoint
      // while the second is still to come.
    } else if (workers_.empty()) {
      OTINISH_RETURN_IF_ERROR(handle_appeal(id, e));
    } else {
      Worker& w = *workers_[stripe_index(id) % workers_.size()];
      {
        std::unique_lock lock(w.mu);
        w.cv.wait(lock, [&] { return w.queue.size() < kWorkerQueue || workers_stopping_.load() || worker_failed_.load(); });
        if (worker_failed_) {
          std::lock_guard progress(progress_mu_);
          return worker_error_;
        }
        if (workers_stopping_) return Status::Unavailable("the SLA service is stopping");
        w.queue.push_back(e);
      }
      w.cv.notify_all();
    }
    return skip(e.position);  // counts it towards the next checkpoint write
  }
  if (e.stream == kRulesStream || e.stream == kCalendarsStream) {
    // A publication applies to every open appeal: the workers first finish what came before it.
    OTINISH_RETURN_IF_ERROR(drain_workers());
    OTINISH_RETURN_IF_ERROR(registry_.ingest(e));
    if (e.type == kRuleSetPublishedType || e.type == kCalendarPublishedType) OTINISH_RETURN_IF_ERROR(apply_policy(e));
    {
      std::lock_guard lock(progress_mu_);
      dispatched_ = e.position;
    }
    intake_progress();
    return index_->apply({}, safe_checkpoint());
  }
  return skip(e.position);
}

Status SlaService::handle_appeal(const std::string& appeal_id, const store::RecordedEvent& e) {
  std::lock_guard lock(stripe(appeal_id));
  // A comment, a child attached to a mass incident's parent: nothing to decide, and nothing to read.
  OTINISH_ASSIGN_OR_RETURN(bool inert, fold_if_inert(appeal_id, e));
  if (!inert) OTINISH_RETURN_IF_ERROR(sync_locked(appeal_id, e.position, std::nullopt, live(e) ? &e : nullptr));
  finish(e.position);
  return Status::Ok();
}

Status SlaService::apply_policy(const store::RecordedEvent& publication) {
  const auto pub = registry_.publication_at(publication.position);
  if (!pub) return Status::Internal("publication at " + std::to_string(publication.position) + " not in registry");
  const RebindPolicy policy = registry_.policy_of(pub->first, pub->second);
  OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const Bundle> to, registry_.bundle_at(publication.position + 1));
  if (!to) return Status::Ok();  // a calendar before any rule set
  std::vector<std::string> open;
  OTINISH_RETURN_IF_ERROR(index_->for_each_open([&](const std::string& id, std::optional<Timestamp>) {
    open.push_back(id);
    return true;
  }));
  SlaPolicyApplied summary{publication.position, to->ref, policy, open.size(), 0};
  if (policy != RebindPolicy::kKeep) {
    for (const std::string& id : open) {
      std::lock_guard lock(stripe(id));
      bool rebound = false;
      // One appeal the rules cannot decide must not stop the service: it keeps its binding, is counted, and its
      // own timer retries its decisions. A storage error is another matter: skipped, the appeal would keep its
      // old binding for good once the publication is checkpointed (only this sweep moves it), or a rebinding
      // appended without its timer would fire at the old, later deadline. So the whole publication is handled
      // again (until_stored); each appeal's rebinding is idempotent.
      if (Status st = rebind_locked(id, to, policy, publication, &rebound); !st.ok()) {
        if (st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kIOError) return st;
        note_decision_error(id, st);
        continue;
      }
      summary.appeals_rebound += rebound ? 1 : 0;
    }
  }
  store::EventData d = encode_policy_applied(summary);
  d.id = store::EventId::derived("sla-policy:" + std::to_string(publication.position));
  d.actor = options_.actor;
  d.causation_id = publication.id.to_hex();
  auto r = store_.append(kRulesStream, store::ExpectedVersion::any(), {&d, 1},
                         {.idempotency_key = "sla-policy:" + std::to_string(publication.position)});
  // kAlreadyExists: a run before a crash recorded this publication's summary already (with its own counts).
  if (!r.ok() && r.status().code() != StatusCode::kAlreadyExists) return r.status();
  return Status::Ok();
}

bool SlaService::rebind_if_provisional_locked(const SlaAppealView& view, const SlaPlan& plan,
                                                      Timestamp decide_at) {
  const bool writes_provisional = std::any_of(plan.events.begin(), plan.events.end(), [&](const SlaClockEvent& e) {
    return !e.provisional.empty() && !view.emitted.contains(e.key());
  });
  if (!writes_provisional) return false;
  const RuleRegistry::CalendarPublication latest = registry_.latest_calendar_publication();
  if (latest.number <= view.bound->calendars_version) return false;
  // Under re-evaluate the publication's own sweep moves every open appeal (to the newest rules too); the lazy move
  // is the provisional policy's, for appeals the sweep did not move.
  if (latest.policy != RebindPolicy::kProvisional) return false;
  // Errors here mean "no move": the appeal is decided on its binding as before and nothing stops.
  auto to = registry_.bundle(view.bound->rules_version, latest.number);
  if (!to.ok() || !*to) return false;
  auto candidate = plan_sla(**to, view.facts, decide_at);
  if (!candidate.ok() || !provisional_changed(plan.decision, candidate->decision)) return false;
  SlaRebound rb = rebound_event(*view.bound, (*to)->ref, RebindPolicy::kProvisional, latest.position, plan.decision,
                                candidate->decision);
  store::EventData d = encode_sla_event(rb);
  // Its own key space: the publication's sweep may rebind the same appeal to another bundle under its own key.
  const std::string key = "sla-rebind-later:" + view.appeal_id + ":" + std::to_string(latest.position);
  d.id = store::EventId::derived(key);
  d.actor = options_.actor;
  auto r = store_.append(appeal_stream(view.appeal_id), store::ExpectedVersion::exact(view.version), {&d, 1},
                         {.idempotency_key = key});
  if (!r.ok() && (r.status().code() == StatusCode::kConflict || r.status().code() == StatusCode::kAlreadyExists)) {
    wait_readable(appeal_stream(view.appeal_id), r.status().current_version());
    return true;  // decide again on what landed
  }
  if (!r.ok()) return false;
  std::lock_guard lock(stats_mu_);
  stats_.rebinds += r->deduplicated ? 0 : 1;
  return true;
}

void SlaService::note_decision_error(const std::string& appeal_id, const Status& s) {
  std::lock_guard lock(stats_mu_);
  ++stats_.decision_errors;
  stats_.last_decision_error = appeal_id + ": " + s.ToString();
}

SlaRebound SlaService::rebound_event(const BundleRef& from, const BundleRef& to, RebindPolicy policy,
                                     std::uint64_t publication_position, const rules::SlaDecision& old_d,
                                     const rules::SlaDecision& new_d) {
  SlaRebound rb{from, to, policy, publication_position, {}, {}};
  std::map<std::string, DeadlineChange> changes;
  for (const auto& c : old_d.clocks) changes[c.clock] = {c.clock, c.deadline, std::nullopt, c.provisional, {}};
  for (const auto& c : new_d.clocks) {
    auto& ch = changes[c.clock];
    ch.clock = c.clock;
    ch.new_deadline = c.deadline;
    ch.new_provisional = c.provisional;
  }
  for (auto& [name, ch] : changes) rb.deadlines.push_back(std::move(ch));
  if (policy == RebindPolicy::kProvisional) {
    rb.cause = calendar_change(from, to) + ": the calendar inputs of a provisional year were published";
  }
  return rb;
}

Status SlaService::rebind_locked(const std::string& appeal_id, std::shared_ptr<const Bundle> newest,
                                 RebindPolicy policy, const store::RecordedEvent& publication, bool* rebound) {
  for (int attempt = 0;; ++attempt) {
    OTINISH_ASSIGN_OR_RETURN(Kept * kept, fresh_view(appeal_id));
    const SlaAppealView& view = kept->view;
    if (!view.exists || !view.bound) return sync_locked(appeal_id, std::nullopt, std::nullopt);
    const BundleRef& from_ref = *view.bound;
    // A calendar publication under kProvisional changes the calendars only: the appeal keeps its rule set.
    std::shared_ptr<const Bundle> target = newest;
    if (policy == RebindPolicy::kProvisional && from_ref.rules_version != newest->ref.rules_version &&
        from_ref.rules_version <= newest->ref.rules_version) {
      OTINISH_ASSIGN_OR_RETURN(target, registry_.bundle(from_ref.rules_version, newest->ref.calendars_version));
    }
    const Bundle& to = *target;
    if (from_ref == to.ref || from_ref.rules_version > to.ref.rules_version ||
        from_ref.calendars_version > to.ref.calendars_version) {
      return Status::Ok();  // already there, or bound to something newer (registered after the publication)
    }
    OTINISH_ASSIGN_OR_RETURN(std::shared_ptr<const Bundle> from,
                             registry_.bundle(from_ref.rules_version, from_ref.calendars_version));
    // Decided just before the publication: deterministic whenever the policy is (re)applied, since every fact
    // recorded before it is in the stream (facts recorded at the same instant may still be arriving).
    const Timestamp at = publication.recorded_at - std::chrono::microseconds(1);
    // The new version must decide the appeal; the old one may not (e.g. its calendar stopped at a year the new
    // one counts): then the move is a change under every policy but keep.
    OTINISH_ASSIGN_OR_RETURN(rules::SlaDecision new_d, rules::decide_sla(to.rules, to.calendars, view.facts, at));
    Result<rules::SlaDecision> old_r = rules::decide_sla(from->rules, from->calendars, view.facts, at);
    const bool old_failed = !old_r.ok();
    rules::SlaDecision old_d = old_failed ? rules::SlaDecision{} : std::move(*old_r);
    if (policy == RebindPolicy::kStricter && !old_failed) {
      const auto o = earliest_open_deadline(old_d), n = earliest_open_deadline(new_d);
      if (!(n && (!o || *n < *o))) return Status::Ok();  // the old binding is at least as strict: kept
    }
    if (policy == RebindPolicy::kProvisional && !old_failed && !provisional_changed(old_d, new_d)) return Status::Ok();
    SlaRebound rb = rebound_event(from_ref, to.ref, policy, publication.position, old_d, new_d);
    store::EventData d = encode_sla_event(rb);
    const std::string key = "sla-rebind:" + appeal_id + ":" + std::to_string(publication.position);
    d.id = store::EventId::derived(key);
    d.actor = options_.actor;
    d.causation_id = publication.id.to_hex();
    auto r = store_.append(appeal_stream(appeal_id), store::ExpectedVersion::exact(view.version), {&d, 1},
                           {.idempotency_key = key});
    if (!r.ok() && r.status().code() == StatusCode::kConflict && attempt < options_.max_conflict_retries) {
      wait_readable(appeal_stream(appeal_id), r.status().current_version());
      continue;
    }
    // kAlreadyExists: this publication's rebinding of the appeal is in the log already (written before a crash).
    if (!r.ok() && r.status().code() == StatusCode::kAlreadyExists) return sync_locked(appeal_id, std::nullopt, std::nullopt);
    if (!r.ok()) return r.status();
    *rebound = !r->deduplicated;
    {
      std::lock_guard lock(stats_mu_);
      stats_.rebinds += *rebound ? 1 : 0;
    }
    return sync_locked(appeal_id, std::nullopt, std::nullopt);
  }
}

}  // namespace otinish::engine
