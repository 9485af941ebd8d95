// Canonical form, content hash input and lint findings of a rule set.
#include <algorithm>
#include <set>

#include "rules/rule_set.h"

namespace otinish::rules {

namespace {

std::string sorted_list(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out + "]";
}

std::string triggers_text(const std::vector<Trigger>& ts) {
  std::vector<std::string> v;
  for (const Trigger& t : ts) v.push_back((t.kind == Trigger::Kind::kEvent ? "event:" : "") + t.name);
  return sorted_list(std::move(v));
}

// Orders ladder rungs by when they fire on a clock that runs on: percentages, breach, then breach+delay.
std::pair<int, std::int64_t> step_order(const EscalationStep& s) {
  if (s.at == EscalationStep::At::kPercent) return {0, s.percent};
  if (!s.after_breach) return {1, 0};
  return {2 + static_cast<int>(s.after_breach->measure()), s.after_breach->base_amount()};
}

std::string step_text(const EscalationStep& s) {
  return s.label() + " notify=" + sorted_list(s.notify) + " raise=" + s.raise_priority +
         " reassign_agency=" + s.reassign_agency + " reassign_role=" + s.reassign_role;
}

std::string clock_text(const ClockRule& c) {
  std::string out = "  clock " + c.name + " target=" + canonical(c.target) + " calendar=" + c.calendar +
                    " law=" + std::to_string(static_cast<int>(c.law));
  if (c.extension_max_total) out += " extension_max=" + canonical(*c.extension_max_total);
  out += "\n    start=" + triggers_text(c.start) + " stop=" + triggers_text(c.stop) +
         " pause=" + triggers_text(c.pause) + " resume=" + triggers_text(c.resume) + " reset=" + triggers_text(c.reset);
  // Written only when used, so that the canonical text (and content hash) of rule sets without it is unchanged.
  if (!c.rearm.empty()) out += " rearm=" + triggers_text(c.rearm);
  out += "\n";
  std::vector<const EscalationStep*> steps;
  for (const auto& s : c.escalation) steps.push_back(&s);
  std::stable_sort(steps.begin(), steps.end(), [](auto* a, auto* b) {
    return std::pair(step_order(*a), step_text(*a)) < std::pair(step_order(*b), step_text(*b));
  });
  for (const auto* s : steps) out += "    step " + step_text(*s) + "\n";
  return out;
}

// Does pattern list `a` cover every value pattern list `b` can match? Empty = anything.
bool covers(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty()) return true;
  if (b.empty()) return false;
  return std::all_of(b.begin(), b.end(), [&](const std::string& pb) {
    return std::any_of(a.begin(), a.end(), [&](const std::string& pa) {
      if (pb.find('*') == std::string::npos) return glob_match(pa, pb);
      // A glob covers a glob if it is a single trailing-star prefix of the other's literal prefix.
      const auto star = pa.find('*');
      if (star == std::string::npos || star + 1 != pa.size()) return pa == pb;
      return pb.compare(0, star, pa, 0, star) == 0;
    });
  });
}

bool match_covers(const Match& a, const Match& b) {
  const bool dangerous = !a.dangerous || (b.dangerous && *a.dangerous == *b.dangerous);
  return dangerous && covers(a.category, b.category) && covers(a.topic, b.topic) && covers(a.priority, b.priority) &&
         covers(a.channel, b.channel) && covers(a.district, b.district) && covers(a.agency, b.agency);
}

Diagnostic warning(const SourceLocation& where, std::string code, std::string message) {
  return {Severity::kWarning, where, std::move(code), std::move(message)};
}

void lint_ladder(const Rule& rule, const ClockRule& c, std::vector<Diagnostic>* out) {
  for (std::size_t i = 1; i < c.escalation.size(); ++i) {
    const auto& prev = c.escalation[i - 1];
    const auto& cur = c.escalation[i];
    if (step_order(cur) <= step_order(prev)) {
      out->push_back(warning(cur.where, "escalation-order",
                             "rule '" + rule.id + "', clock '" + c.name + "': escalation at " + cur.label() +
                                 " is listed after " + prev.label() + "; list the rungs in the order they fire"));
    }
  }
  for (const auto& s : c.escalation) {
    if (s.at == EscalationStep::At::kPercent && s.percent >= 100) {
      out->push_back(warning(s.where, "escalation-order",
                             "rule '" + rule.id + "', clock '" + c.name + "': " + s.label() +
                                 " is at or after the deadline; write `breach` or `breach+<delay>`"));
    }
  }
}

// A reset restarts the clock at once. When the clock measures a phase that begins at a state the appeal enters
// again later (resolved, assigned, ...: anything but registered), a reset at another state restarts it before
// that phase has begun again: the callback clock reset at a reopen runs while the work is redone. That is what
// rearm is for.
void lint_reset(const Rule& rule, const ClockRule& c, std::vector<Diagnostic>* out) {
  for (const Trigger& r : c.reset) {
    if (r.kind != Trigger::Kind::kState) continue;
    for (const Trigger& s : c.start) {
      if (s.kind != Trigger::Kind::kState || s.name == "registered" || s.name == r.name) continue;
      const bool also_start = std::any_of(c.start.begin(), c.start.end(), [&](const Trigger& t) {
        return t.kind == Trigger::Kind::kState && t.name == r.name;
      });
      if (also_start) continue;
      out->push_back(warning(c.where, "reset-restarts-before-start",
                             "rule '" + rule.id + "', clock '" + c.name + "' starts at '" + s.name +
                                 "' and is reset at '" + r.name + "': a reset restarts it at once, so it runs " +
                                 "while the work is redone; to stop it and wait for the next '" + s.name +
                                 "', write `rearm: " + r.name + "`"));
      return;
    }
  }
}

}  // namespace

std::string canonical_text(const RuleSet& rs) {
  std::string out = "rule_set " + rs.name + "\ndefault_calendar " + rs.default_calendar + "\ncalendars";
  for (const auto& [name, file] : rs.calendar_files) out += " " + name;
  out += "\n";
  for (const Rule& r : rs.rules) {
    const Match& m = r.match;
    out += "rule " + r.id + "\n  match category=" + sorted_list(m.category) + " topic=" + sorted_list(m.topic) +
           " priority=" + sorted_list(m.priority) + " channel=" + sorted_list(m.channel) +
           " district=" + sorted_list(m.district) + " agency=" + sorted_list(m.agency) +
           " dangerous=" + (m.dangerous ? (*m.dangerous ? "true" : "false") : "any") + "\n";
    std::vector<std::string> clocks;
    for (const auto& c : r.clocks) clocks.push_back(clock_text(c));
    std::sort(clocks.begin(), clocks.end());
    for (const auto& c : clocks) out += c;
  }
  for (const RetentionRule& r : rs.retention) {
    out += "retention " + r.id + " category=" + sorted_list(r.category) + " keep=" + canonical(r.keep) + "\n";
  }
  return out;
}

std::vector<Diagnostic> lint(const RuleSet& rs, const CalendarSet* calendars) {
  std::vector<Diagnostic> out;
  for (std::size_t j = 0; j < rs.rules.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (!match_covers(rs.rules[i].match, rs.rules[j].match)) continue;
      out.push_back(warning(rs.rules[j].where, "shadowed-rule",
                            "rule '" + rs.rules[j].id + "' can never match: the earlier rule '" + rs.rules[i].id +
                                "' (line " + std::to_string(rs.rules[i].where.line) +
                                ") matches every appeal it would; move it up or narrow the earlier rule"));
      break;
    }
  }
  for (std::string_view category : kCategories) {
    const bool matched = std::any_of(rs.rules.begin(), rs.rules.end(), [&](const Rule& r) {
      return r.match.category.empty() ||
             std::find(r.match.category.begin(), r.match.category.end(), category) != r.match.category.end();
    });
    if (!matched) {
      out.push_back(warning({rs.file, 1, 1}, "category-without-rule",
                            "no rule matches category '" + std::string(category) + "'; its appeals get no SLA clock"));
    }
  }
  std::set<std::string> used;
  for (const Rule& r : rs.rules) {
    for (const ClockRule& c : r.clocks) {
      used.insert(c.calendar);
      lint_ladder(r, c, &out);
      lint_reset(r, c, &out);
      if (c.stop.empty()) {
        out.push_back(warning(c.where, "clock-without-stop",
                              "rule '" + r.id + "', clock '" + c.name + "' has no stop trigger; it runs forever"));
      }
    }
  }
  if (calendars != nullptr) {
    for (const std::string& name : used) {
      auto it = calendars->find(name);
      if (it == calendars->end()) continue;
      const Calendar& cal = it->second;
      const int first = static_cast<int>(date::year_month_day(cal.first_day()).year());
      const int last = static_cast<int>(date::year_month_day(cal.last_day()).year());
      for (int y = first; y <= last; ++y) {
        if (cal.working_minutes_in_year(y) > 0) continue;
        out.push_back(warning({rs.file, 1, 1}, "calendar-without-working-time",
                              "calendar '" + name + "' has no working time in " + std::to_string(y) +
                                  "; business-hour and working-day deadlines cannot be computed there"));
      }
    }
  }
  sort_diagnostics(out);
  return out;
}

}  // namespace otinish::rules
