#include "rules/sla.h"

#include <algorithm>
#include <limits>

namespace otinish::rules {

namespace {

struct Segment {
  Timestamp begin;
  Timestamp end;
};

bool fits(const std::vector<std::string>& patterns, const std::string& value) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob_match(p, value); });
}

bool triggered(const std::vector<Trigger>& triggers, const Fact& f) {
  const Trigger::Kind kind = f.kind == Fact::Kind::kEvent ? Trigger::Kind::kEvent : Trigger::Kind::kState;
  return std::any_of(triggers.begin(), triggers.end(),
                     [&](const Trigger& t) { return t.kind == kind && t.name == f.name; });
}

// Rungs in the order they fire on a clock that keeps running: percentages, breach, breach+delay.
std::pair<int, std::int64_t> firing_rank(const EscalationStep& s) {
  if (s.at == EscalationStep::At::kPercent) return {0, s.percent};
  if (!s.after_breach) return {1, 0};
  return {2 + static_cast<int>(s.after_breach->measure()), s.after_breach->base_amount()};
}

// One cycle of a clock (from its start or last reset).
struct Cycle {
  int index = 0;
  std::vector<Segment> closed;
  std::optional<Timestamp> open_since;    // running since
  std::optional<Timestamp> paused_at;
  std::optional<Timestamp> stopped_at;
  std::optional<Timestamp> extended_to;   // law.answer after an extension
  Timestamp started;
  int extensions = 0;
};

class ClockDecider {
 public:
  ClockDecider(const Rule& rule, const ClockRule& clock, const Calendar& cal, Timestamp as_of)
      : clock_(clock), cal_(cal), as_of_(as_of) {
    report_.rule_id = rule.id;
    report_.rule_where = clock.where;
    report_.clock = clock.name;
    report_.calendar = clock.calendar;
    report_.calendar_version = cal.version();
    report_.target = clock.target;
    order_.resize(clock.escalation.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      return firing_rank(clock.escalation[a]) < firing_rank(clock.escalation[b]);
    });
  }

  Status apply(const Fact& f) {
    const ClockState s = report_.state;
    if (triggered(clock_.reset, f)) {
      if (s != ClockState::kNotStarted) {
        end_cycle_at(f.at);
        OTINISH_RETURN_IF_ERROR(collect(/*final=*/false));
      }
      begin_cycle(f.at, s == ClockState::kNotStarted ? 0 : cycle_.index + 1);
      rearmed_ = false;
    } else if (triggered(clock_.rearm, f) && s != ClockState::kNotStarted) {
      // Stops like `stop`, and lets the next start begin a new cycle. The ended cycle's report (fired rungs) is
      // collected when that cycle is left behind, at the next start, or at finish() if none comes.
      if (s == ClockState::kRunning) close_segment(f.at);
      if (s != ClockState::kStopped) cycle_.stopped_at = f.at;
      report_.state = ClockState::kStopped;
      rearmed_ = true;
    } else if (triggered(clock_.start, f) && s == ClockState::kStopped && rearmed_) {
      OTINISH_RETURN_IF_ERROR(collect(/*final=*/false));
      begin_cycle(f.at, cycle_.index + 1);
      rearmed_ = false;
    } else if (triggered(clock_.stop, f) && (s == ClockState::kRunning || s == ClockState::kPaused)) {
      if (s == ClockState::kRunning) close_segment(f.at);
      cycle_.stopped_at = f.at;
      report_.state = ClockState::kStopped;
    } else if (triggered(clock_.pause, f) && s == ClockState::kRunning) {
      close_segment(f.at);
      cycle_.paused_at = f.at;
      report_.state = ClockState::kPaused;
    } else if (triggered(clock_.resume, f) && s == ClockState::kPaused) {
      cycle_.open_since = f.at;
      cycle_.paused_at.reset();
      report_.state = ClockState::kRunning;
    } else if (triggered(clock_.start, f) && s == ClockState::kNotStarted) {
      begin_cycle(f.at, 0);
    } else if (clock_.law == LawClock::kAnswer && f.kind == Fact::Kind::kEvent && f.name == "extension_granted" &&
               (s == ClockState::kRunning || s == ClockState::kPaused)) {
      return extend(f);
    }
    return Status::Ok();
  }

  Result<ClockReport> finish() {
    if (report_.state != ClockState::kNotStarted) OTINISH_RETURN_IF_ERROR(collect(/*final=*/true));
    return std::move(report_);
  }

 private:
  void begin_cycle(Timestamp at, int index) {
    cycle_ = Cycle{};
    cycle_.index = index;
    cycle_.started = at;
    cycle_.open_since = at;
    report_.state = ClockState::kRunning;
    report_.started_at = at;
    report_.cycle = index;
    report_.stopped_at.reset();
    report_.extended = false;
  }

  void close_segment(Timestamp at) {
    if (cycle_.open_since) cycle_.closed.push_back({*cycle_.open_since, at});
    cycle_.open_since.reset();
  }

  void end_cycle_at(Timestamp at) {
    if (report_.state == ClockState::kRunning) close_segment(at);
    if (!cycle_.stopped_at) cycle_.stopped_at = at;
    report_.state = ClockState::kStopped;
  }

  Status extend(const Fact& f) {
    if (cycle_.extensions > 0) {
      report_.notes.push_back("extension at " + format_utc(f.at) + " refused: the law allows one extension");
      return Status::Ok();
    }
    std::optional<Timestamp> cap;
    if (clock_.extension_max_total) {
      OTINISH_ASSIGN_OR_RETURN(Timestamp c, cal_.add(cycle_.started, *clock_.extension_max_total));
      cap = c;
    }
    std::optional<Timestamp> until = f.until ? f.until : cap;
    if (!until) {
      report_.notes.push_back("extension at " + format_utc(f.at) + " ignored: it names no new deadline");
      return Status::Ok();
    }
    if (cap && *until > *cap) {
      report_.notes.push_back("extension to " + format_utc(*until) + " capped at " + format_utc(*cap) + " (" +
                              canonical(*clock_.extension_max_total) + " from the start)");
      until = cap;
    }
    cycle_.extensions = 1;
    cycle_.extended_to = until;
    report_.extended = true;
    return Status::Ok();
  }

  // Running periods of the cycle; `hypothetical_open` treats the last closed period as still running (to
  // report the deadline a stopped clock had).
  Result<std::optional<Timestamp>> crossing(std::int64_t amount, bool hypothetical_open) const {
    std::vector<Segment> segs = cycle_.closed;
    std::optional<Timestamp> open = cycle_.open_since;
    if (!open && hypothetical_open && !segs.empty()) {
      open = segs.back().begin;
      segs.pop_back();
    }
    std::int64_t before = 0;
    const Measure m = clock_.target.measure();
    for (const Segment& s : segs) {
      OTINISH_ASSIGN_OR_RETURN(std::int64_t len, cal_.between(s.begin, s.end, m));
      if (before + len >= amount) return instant(s.begin, amount - before);
      before += len;
    }
    if (!open) return std::optional<Timestamp>();
    return instant(*open, amount - before);
  }

  Result<std::optional<Timestamp>> instant(Timestamp from, std::int64_t amount) const {
    Target t = clock_.target;
    switch (t.measure()) {
      case Measure::kWall: t = Target{amount / 60'000'000, Unit::kMinutes}; break;
      case Measure::kBusiness: t = Target{amount / 60'000'000, Unit::kBusinessMinutes}; break;
      default: t = Target{amount, t.unit};
    }
    OTINISH_ASSIGN_OR_RETURN(Timestamp at, cal_.add(from, t));
    // Sub-minute remainders (targets are whole minutes; elapsed need not be).
    if (t.measure() == Measure::kWall) at += std::chrono::microseconds(amount % 60'000'000);
    return std::optional<Timestamp>(at);
  }

  Result<std::optional<Timestamp>> rung_instant(const EscalationStep& step, std::optional<Timestamp> deadline) const {
    if (step.at == EscalationStep::At::kBreach) {
      if (!deadline) return std::optional<Timestamp>();
      if (!step.after_breach) return deadline;
      OTINISH_ASSIGN_OR_RETURN(Timestamp t, cal_.add(*deadline, *step.after_breach));
      return std::optional<Timestamp>(t);
    }
    if (cycle_.extended_to) {
      const auto span = *cycle_.extended_to - cycle_.started;
      return std::optional<Timestamp>(cycle_.started + span * step.percent / 100);
    }
    const bool hypothetical = report_.state == ClockState::kStopped;
    return crossing(clock_.target.base_amount() * step.percent / 100, hypothetical);
  }

  // Fills elapsed, deadline, breach and the ladder for the current cycle. `final`: the report's last cycle.
  Status collect(bool final) {
    const ClockState s = report_.state;
    const Measure m = clock_.target.measure();
    std::int64_t elapsed = 0;
    for (const Segment& seg : cycle_.closed) {
      OTINISH_ASSIGN_OR_RETURN(std::int64_t len, cal_.between(seg.begin, seg.end, m));
      elapsed += len;
    }
    if (cycle_.open_since && as_of_ > *cycle_.open_since) {
      OTINISH_ASSIGN_OR_RETURN(std::int64_t len, cal_.between(*cycle_.open_since, as_of_, m));
      elapsed += len;
    }
    std::optional<Timestamp> deadline = cycle_.extended_to;
    if (!deadline) {
      OTINISH_ASSIGN_OR_RETURN(deadline, crossing(clock_.target.base_amount(), s == ClockState::kStopped));
    }
    // A clock is active (can breach or escalate) until it stops or pauses; running clocks until as_of.
    const std::optional<Timestamp> inactive_from =
        s == ClockState::kStopped ? cycle_.stopped_at : s == ClockState::kPaused ? cycle_.paused_at : std::nullopt;
    auto fires = [&](Timestamp t) { return t <= as_of_ && (!inactive_from || t < *inactive_from); };
    if (final) {
      report_.elapsed = elapsed;
      report_.deadline = deadline;
      // Only working time depends on which days are off; wall time, months and an extension's fixed instant
      // do not.
      const Measure tm = clock_.target.measure();
      if (deadline && !cycle_.extended_to && (tm == Measure::kBusiness || tm == Measure::kWorkingDays)) {
        report_.provisional = cal_.provisional_note(cycle_.started, *deadline);
      }
      report_.stopped_at = cycle_.stopped_at;
      report_.breached = deadline && fires(*deadline);
    }
    for (std::size_t i : order_) {
      const EscalationStep& step = clock_.escalation[i];
      OTINISH_ASSIGN_OR_RETURN(std::optional<Timestamp> at, rung_instant(step, deadline));
      EscalationEvent e{i, step.label(), at, step.notify, step.raise_priority, step.reassign_agency,
                        step.reassign_role, cycle_.index};
      if (at && fires(*at)) {
        report_.fired.push_back(std::move(e));
        continue;
      }
      if (!final || s == ClockState::kStopped) continue;
      if (s == ClockState::kPaused) {
        e.at.reset();  // unknown until the clock resumes; rungs are in firing order, so the first is next
        if (!report_.next) report_.next = std::move(e);
      } else if (at && (!report_.next || *at < *report_.next->at)) {
        report_.next = std::move(e);
      }
    }
    std::stable_sort(report_.fired.begin(), report_.fired.end(), [](const auto& a, const auto& b) {
      return std::pair(a.cycle, a.at) < std::pair(b.cycle, b.at);
    });
    return Status::Ok();
  }

  const ClockRule& clock_;
  const Calendar& cal_;
  const Timestamp as_of_;
  std::vector<std::size_t> order_;
  Cycle cycle_;
  bool rearmed_ = false;  // stopped by a rearm: the next start begins a new cycle
  ClockReport report_;
};

}  // namespace

std::string_view clock_state_name(ClockState s) noexcept {
  switch (s) {
    case ClockState::kNotStarted: return "not_started";
    case ClockState::kRunning: return "running";
    case ClockState::kPaused: return "paused";
    case ClockState::kStopped: return "stopped";
  }
  return "unknown";
}

const MatchAttributes& AppealFacts::attributes_at(Timestamp t) const {
  for (const AttributeChange& c : changes) {
    if (c.at > t) return c.before;
  }
  return *this;
}

std::optional<std::size_t> match_rule(const RuleSet& rules, const MatchAttributes& a) {
  for (std::size_t i = 0; i < rules.rules.size(); ++i) {
    const Match& m = rules.rules[i].match;
    if (m.dangerous && *m.dangerous != a.dangerous) continue;
    if (fits(m.category, a.category) && fits(m.topic, a.topic) && fits(m.priority, a.priority) &&
        fits(m.channel, a.channel) && fits(m.district, a.district) && fits(m.agency, a.agency)) {
      return i;
    }
  }
  return std::nullopt;
}

ClockFacts::ClockFacts(const RuleSet& rules) : all_(false) {
  for (const Rule& rule : rules.rules) {
    for (const ClockRule& clock : rule.clocks) {
      for (const auto* list : {&clock.start, &clock.stop, &clock.pause, &clock.resume, &clock.reset, &clock.rearm}) {
        for (const Trigger& t : *list) (t.kind == Trigger::Kind::kState ? states_ : events_).push_back(t.name);
      }
      // ClockDecider::apply's one fact that is not a trigger.
      if (clock.law == LawClock::kAnswer) events_.push_back("extension_granted");
    }
  }
  for (auto* v : {&states_, &events_}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
}

bool ClockFacts::may_move_clocks(const Fact& f) const {
  if (all_) return true;
  const auto& names = f.kind == Fact::Kind::kEvent ? events_ : states_;
  return std::binary_search(names.begin(), names.end(), f.name);
}

Result<SlaDecision> decide_sla(const RuleSet& rules, const CalendarSet& calendars, const AppealFacts& appeal,
                               Timestamp as_of) {
  SlaDecision decision;
  decision.rule_set_hash = to_hex(rules.content_hash);
  const std::optional<std::size_t> index = match_rule(rules, appeal.attributes_at(as_of));
  if (!index) return decision;
  const Rule& rule = rules.rules[*index];
  decision.rule_id = rule.id;

  std::vector<const Fact*> history;
  for (const Fact& f : appeal.history) {
    if (f.at <= as_of) history.push_back(&f);
  }
  std::stable_sort(history.begin(), history.end(), [](const Fact* a, const Fact* b) { return a->at < b->at; });

  for (const ClockRule& clock : rule.clocks) {
    auto cal = calendars.find(clock.calendar);
    if (cal == calendars.end()) {
      return Status::NotFound("rule '" + rule.id + "', clock '" + clock.name + "': calendar '" + clock.calendar +
                              "' is not among the compiled calendars");
    }
    ClockDecider decider(rule, clock, cal->second, as_of);
    for (const Fact* f : history) OTINISH_RETURN_IF_ERROR(decider.apply(*f));
    OTINISH_ASSIGN_OR_RETURN(ClockReport report, decider.finish());
    decision.clocks.push_back(std::move(report));
  }
  return decision;
}

}  // namespace otinish::rules
