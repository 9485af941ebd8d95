#include "rules/rule_set.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/utf8.h"
#include "rules/yaml_support.h"

namespace otinish::rules {

namespace {

using internal::YamlReader;

template <std::size_t N>
std::string join(const std::string_view (&words)[N]) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

template <std::size_t N>
bool one_of(std::string_view s, const std::string_view (&words)[N]) {
  return std::find(std::begin(words), std::end(words), s) != std::end(words);
}

template <std::size_t N>
void check_vocabulary(YamlReader& r, const YAML::Node& node, const std::vector<std::string>& values,
                      std::string_view what, const std::string_view (&allowed)[N]) {
  for (const std::string& v : values) {
    if (v == "*" || one_of(v, allowed)) continue;
    std::string msg = "unknown " + std::string(what) + " '" + v + "'; allowed: " + join(allowed);
    const std::string close = closest_word(v, allowed);
    if (!close.empty()) msg += "; did you mean '" + close + "'?";
    r.error(node, "unknown-" + std::string(what), msg);
  }
}

class RuleSetParser {
 public:
  RuleSetParser(YamlReader& r) : r_(r) {}

  void parse(const YAML::Node& root, RuleSet* rs) {
    r_.check_keys(root, "a rule set",
                  {"rule_set", "version", "description", "calendars", "default_calendar", "rules", "retention"});
    rs->name = r_.scalar(r_.required(root, "rule_set", "a rule set"), "rule_set").value_or("");
    if (root["version"]) rs->version = r_.scalar(root["version"], "version").value_or("");
    if (const YAML::Node cals = root["calendars"]; cals && r_.expect_map(cals, "calendars")) {
      for (const auto& kv : cals) {
        auto path = r_.scalar(kv.second, "a calendar's file");
        if (path) rs->calendar_files[kv.first.Scalar()] = *path;
      }
    }
    if (root["default_calendar"]) {
      rs->default_calendar = r_.scalar(root["default_calendar"], "default_calendar").value_or("");
      check_calendar(root["default_calendar"], rs->default_calendar, *rs);
    }
    const YAML::Node rules = r_.required(root, "rules", "a rule set");
    if (rules && r_.expect_sequence(rules, "rules")) {
      for (const auto& item : rules) parse_rule(item, rs);
    }
    if (const YAML::Node retention = root["retention"]; retention && r_.expect_sequence(retention, "retention")) {
      for (const auto& item : retention) parse_retention(item, rs);
    }
  }

 private:
  void check_calendar(const YAML::Node& node, const std::string& name, const RuleSet& rs) {
    if (name.empty() || rs.calendar_files.count(name)) return;
    std::string known;
    for (const auto& [n, f] : rs.calendar_files) known += (known.empty() ? "" : ", ") + n;
    r_.error(node, "unknown-calendar",
             "calendar '" + name + "' is not declared under `calendars:`" +
                 (known.empty() ? std::string("; declare it there with its file") : "; declared: " + known));
  }

  std::vector<std::string> patterns(const YAML::Node& node, std::string_view what) {
    std::vector<std::string> out = r_.scalar_list(node, what);
    for (const std::string& p : out) {
      std::string stripped = p;
      std::erase(stripped, '*');
      if (p != "*" && !stripped.empty() && !internal::is_identifier(stripped)) {
        r_.error(node, "wrong-value",
                 std::string(what) + " pattern '" + p + "' may hold only lower-case letters, digits, '_', '-', '.' "
                 "and '*'");
      }
    }
    return out;
  }

  void parse_match(const YAML::Node& node, Match* m) {
    if (!r_.expect_map(node, "match")) return;
    r_.check_keys(node, "match", {"category", "topic", "priority", "channel", "district", "agency", "dangerous"});
    if (node["category"]) {
      m->category = r_.scalar_list(node["category"], "category");
      check_vocabulary(r_, node["category"], m->category, "category", kCategories);
    }
    if (node["priority"]) {
      m->priority = r_.scalar_list(node["priority"], "priority");
      check_vocabulary(r_, node["priority"], m->priority, "priority", kPriorities);
    }
    if (node["channel"]) {
      m->channel = r_.scalar_list(node["channel"], "channel");
      check_vocabulary(r_, node["channel"], m->channel, "channel", kChannels);
    }
    if (node["topic"]) m->topic = patterns(node["topic"], "topic");
    if (node["district"]) m->district = patterns(node["district"], "district");
    if (node["agency"]) m->agency = patterns(node["agency"], "agency");
    if (node["dangerous"]) m->dangerous = r_.boolean(node["dangerous"], "dangerous");
    for (auto* list : {&m->category, &m->topic, &m->priority, &m->channel, &m->district, &m->agency}) {
      if (std::find(list->begin(), list->end(), "*") != list->end()) list->clear();  // "*" = any
    }
  }

  std::optional<Target> target(const YAML::Node& node, std::string_view what) {
    auto s = r_.scalar(node, what);
    if (!s) return std::nullopt;
    Result<Target> t = parse_target(*s);
    if (!t.ok()) {
      r_.error(node, "wrong-unit", std::string(what) + ": " + t.status().message());
      return std::nullopt;
    }
    return *t;
  }

  std::vector<Trigger> triggers(const YAML::Node& node, std::string_view what) {
    std::vector<Trigger> out;
    for (const std::string& s : r_.scalar_list(node, what)) {
      if (s.rfind("event:", 0) == 0) {
        const std::string name = s.substr(6);
        if (!internal::is_identifier(name)) {
          r_.error(node, "wrong-value", std::string(what) + ": event type '" + name + "' must be lower_snake_case");
          continue;
        }
        out.push_back({Trigger::Kind::kEvent, name});
      } else if (one_of(s, kLifecycleStates)) {
        out.push_back({Trigger::Kind::kState, s});
      } else {
        std::string msg = std::string(what) + ": '" + s + "' is not a lifecycle state (" + join(kLifecycleStates) +
                          "); write event:<type> for an event";
        const std::string close = closest_word(s, kLifecycleStates);
        if (!close.empty()) msg += "; did you mean '" + close + "'?";
        r_.error(node, "unknown-state", msg);
      }
    }
    return out;
  }

  void parse_retention(const YAML::Node& item, RuleSet* rs) {
    if (!r_.expect_map(item, "a retention rule")) return;
    r_.check_keys(item, "a retention rule", {"id", "description", "category", "keep"});
    RetentionRule rule;
    rule.where = r_.at(item);
    if (const YAML::Node id = r_.required(item, "id", "a retention rule")) {
      rule.id = r_.scalar(id, "id").value_or("");
      for (const RetentionRule& earlier : rs->retention) {
        if (earlier.id == rule.id) {
          r_.error(id, "duplicate-id", "retention rule id '" + rule.id + "' is already used at line " +
                                           std::to_string(earlier.where.line));
        }
      }
    }
    if (item["category"]) {
      rule.category = r_.scalar_list(item["category"], "category");
      check_vocabulary(r_, item["category"], rule.category, "category", kCategories);
      if (std::find(rule.category.begin(), rule.category.end(), "*") != rule.category.end()) rule.category.clear();
    }
    if (const YAML::Node keep = r_.required(item, "keep", "a retention rule")) {
      if (auto t = target(keep, "keep")) {
        if (t->unit != Unit::kDays && t->unit != Unit::kMonths) {
          r_.error(keep, "wrong-unit", "keep: '" + canonical(*t) + "': personal data is kept for days (\"d\") or "
                                       "calendar months (\"mo\", e.g. 60mo for five years)");
        } else if (t->amount <= 0) {
          r_.error(keep, "wrong-value", "keep: must be longer than 0");
        } else {
          rule.keep = *t;
        }
      }
    }
    rs->retention.push_back(std::move(rule));
  }

  void parse_step(const YAML::Node& item, std::vector<EscalationStep>* out) {
    if (!r_.expect_map(item, "an escalation step")) return;
    r_.check_keys(item, "an escalation step", {"at", "notify", "raise_priority", "reassign"});
    EscalationStep step;
    step.where = r_.at(item);
    const YAML::Node at = r_.required(item, "at", "an escalation step");
    if (auto s = at ? r_.scalar(at, "at") : std::nullopt) {
      if (!s->empty() && s->back() == '%') {
        int p = 0;
        const char* end = s->data() + s->size() - 1;
        auto [q, ec] = std::from_chars(s->data(), end, p);
        if (ec != std::errc() || q != end || p < 1 || p > 1000) {
          r_.error(at, "wrong-value", "at: '" + *s + "' must be a percentage from 1% to 1000%");
        }
        step.at = EscalationStep::At::kPercent;
        step.percent = p;
      } else if (*s == "breach") {
        step.at = EscalationStep::At::kBreach;
      } else if (s->rfind("breach+", 0) == 0) {
        step.at = EscalationStep::At::kBreach;
        Result<Target> delay = parse_target(s->substr(7));
        if (delay.ok() && delay->measure() != Measure::kMonths) {
          step.after_breach = *delay;
        } else {
          r_.error(at, "wrong-unit", "at: '" + *s + "': the delay after breach must be a duration; units: " +
                                         std::string(units_help()));
        }
      } else {
        r_.error(at, "wrong-value", "at: '" + *s + "' must be a percentage (50%), breach, or breach+<duration> "
                                    "(breach+1h)");
      }
    }
    if (item["notify"]) step.notify = r_.scalar_list(item["notify"], "notify");
    if (const YAML::Node p = item["raise_priority"]) {
      step.raise_priority = r_.scalar(p, "raise_priority").value_or("");
      check_vocabulary(r_, p, {step.raise_priority}, "priority", kPriorities);
    }
    if (const YAML::Node re = item["reassign"]; re && r_.expect_map(re, "reassign")) {
      r_.check_keys(re, "reassign", {"agency", "role"});
      if (re["agency"]) step.reassign_agency = r_.scalar(re["agency"], "reassign.agency").value_or("");
      if (re["role"]) step.reassign_role = r_.scalar(re["role"], "reassign.role").value_or("");
      if (step.reassign_agency.empty() == step.reassign_role.empty()) {
        r_.error(re, "wrong-value", "reassign names exactly one of agency or role");
      }
    }
    if (step.notify.empty() && step.raise_priority.empty() && step.reassign_agency.empty() &&
        step.reassign_role.empty()) {
      r_.error(item, "missing-key", "an escalation step needs an action: notify, raise_priority or reassign");
    }
    out->push_back(std::move(step));
  }

  void parse_ladder(const YAML::Node& node, std::vector<EscalationStep>* out) {
    if (!r_.expect_sequence(node, "escalation")) return;
    for (const auto& item : node) parse_step(item, out);
  }

  void parse_clock(const YAML::Node& item, const RuleSet& rs, Rule* rule) {
    if (!r_.expect_map(item, "a clock")) return;
    r_.check_keys(item, "a clock",
                  {"name", "target", "calendar", "start", "stop", "pause", "resume", "reset", "rearm", "escalation"});
    ClockRule c;
    c.where = r_.at(item);
    c.name = r_.scalar(r_.required(item, "name", "a clock"), "name").value_or("");
    if (!c.name.empty() && (!internal::is_identifier(c.name) || c.name.rfind("law.", 0) == 0)) {
      r_.error(item["name"], "wrong-value", "a clock's name must be lower_snake_case and not start with 'law.'");
    }
    if (auto t = target(r_.required(item, "target", "a clock"), "target")) c.target = *t;
    if (c.target.measure() == Measure::kMonths) {
      r_.error(item["target"], "wrong-unit", "target: months (mo) are only for the law's extension cap; use wd");
    }
    c.calendar = rs.default_calendar;
    if (item["calendar"]) {
      c.calendar = r_.scalar(item["calendar"], "calendar").value_or("");
      check_calendar(item["calendar"], c.calendar, rs);
    }
    if (c.calendar.empty()) r_.error(item, "missing-key", "clock '" + c.name + "' needs a calendar (or set default_calendar)");
    c.start = triggers(r_.required(item, "start", "a clock"), "start");
    if (item["stop"]) c.stop = triggers(item["stop"], "stop");
    if (item["pause"]) c.pause = triggers(item["pause"], "pause");
    if (item["resume"]) c.resume = triggers(item["resume"], "resume");
    if (item["reset"]) c.reset = triggers(item["reset"], "reset");
    if (item["rearm"]) c.rearm = triggers(item["rearm"], "rearm");
    for (const Trigger& t : c.rearm) {
      const bool both = std::any_of(c.reset.begin(), c.reset.end(),
                                    [&](const Trigger& r) { return r.kind == t.kind && r.name == t.name; });
      if (both) {
        r_.error(item["rearm"], "reset-and-rearm",
                 "clock '" + c.name + "': '" + t.name + "' is both a reset (restart now) and a rearm (stop and " +
                     "wait for the next start); keep one");
      }
    }
    if (!c.pause.empty() && c.resume.empty()) r_.error(item, "missing-key", "clock '" + c.name + "' pauses but never resumes");
    if (item["escalation"]) parse_ladder(item["escalation"], &c.escalation);
    add_clock(item, std::move(c), rule);
  }

  void add_clock(const YAML::Node& node, ClockRule c, Rule* rule) {
    for (const auto& other : rule->clocks) {
      if (other.name == c.name) r_.error(node, "duplicate-clock", "rule '" + rule->id + "' has two clocks named '" + c.name + "'");
    }
    rule->clocks.push_back(std::move(c));
  }

  static std::vector<Trigger> states(std::initializer_list<const char*> names) {
    std::vector<Trigger> out;
    for (const char* n : names) {
      const std::string s(n);
      if (s.rfind("event:", 0) == 0) out.push_back({Trigger::Kind::kEvent, s.substr(6)});
      else out.push_back({Trigger::Kind::kState, s});
    }
    return out;
  }

  static ClockRule law_clock(std::string name, std::string calendar, LawClock law, SourceLocation where) {
    ClockRule c;
    c.name = std::move(name);
    c.calendar = std::move(calendar);
    c.law = law;
    c.where = std::move(where);
    return c;
  }

  // The law's deadlines (APC art. 76) as clocks with fixed, documented triggers.
  void parse_law(const YAML::Node& node, const RuleSet& rs, Rule* rule) {
    if (!r_.expect_map(node, "law")) return;
    r_.check_keys(node, "law", {"answer_within", "extension", "redirect_within", "calendar", "escalation"});
    std::string calendar = rs.default_calendar;
    if (node["calendar"]) {
      calendar = r_.scalar(node["calendar"], "calendar").value_or("");
      check_calendar(node["calendar"], calendar, rs);
    }
    if (calendar.empty()) r_.error(node, "missing-key", "law needs a calendar (or set default_calendar)");
    const SourceLocation where = r_.at(node);
    if (const YAML::Node a = node["answer_within"]) {
      ClockRule c = law_clock("law.answer", calendar, LawClock::kAnswer, where);
      if (auto t = target(a, "answer_within")) c.target = *t;
      c.start = states({"registered"});
      c.stop = states({"answered", "resolved", "declined", "closed", "merged"});
      c.reset = states({"reopened"});
      if (node["escalation"]) parse_ladder(node["escalation"], &c.escalation);
      if (const YAML::Node ext = node["extension"]; ext && r_.expect_map(ext, "extension")) {
        r_.check_keys(ext, "extension", {"max_total", "notify_applicant_within"});
        c.extension_max_total = target(r_.required(ext, "max_total", "extension"), "max_total");
        ClockRule notice = law_clock("law.extension_notice", calendar, LawClock::kExtensionNotice, r_.at(ext));
        if (auto t = target(r_.required(ext, "notify_applicant_within", "extension"), "notify_applicant_within")) {
          notice.target = *t;
        }
        notice.start = states({"event:extension_granted"});
        notice.stop = states({"event:applicant_notified", "closed"});
        add_clock(ext, std::move(notice), rule);
      }
      add_clock(a, std::move(c), rule);
    } else if (node["extension"] || node["escalation"]) {
      r_.error(node, "missing-key", "law: extension and escalation apply to answer_within, which is missing");
    }
    if (const YAML::Node rd = node["redirect_within"]) {
      ClockRule c = law_clock("law.redirect", calendar, LawClock::kRedirect, r_.at(rd));
      if (auto t = target(rd, "redirect_within")) c.target = *t;
      c.start = states({"registered"});
      c.stop = states({"accepted", "event:redirected", "answered", "declined", "closed", "merged"});
      add_clock(rd, std::move(c), rule);
    }
  }

  void parse_rule(const YAML::Node& item, RuleSet* rs) {
    if (!r_.expect_map(item, "a rule")) return;
    r_.check_keys(item, "a rule", {"id", "description", "match", "clocks", "law"});
    Rule rule;
    rule.where = r_.at(item);
    rule.id = r_.scalar(r_.required(item, "id", "a rule"), "id").value_or("");
    if (!rule.id.empty() && !internal::is_identifier(rule.id)) {
      r_.error(item["id"], "wrong-value", "a rule id must be lower-case letters, digits, '_', '-' or '.'");
    }
    if (!rule.id.empty() && !ids_.insert(rule.id).second) {
      r_.error(item["id"], "duplicate-rule", "rule id '" + rule.id + "' is used twice");
    }
    if (item["description"]) rule.description = r_.scalar(item["description"], "description").value_or("");
    if (item["match"]) parse_match(item["match"], &rule.match);
    if (const YAML::Node clocks = item["clocks"]; clocks && r_.expect_sequence(clocks, "clocks")) {
      for (const auto& c : clocks) parse_clock(c, *rs, &rule);
    }
    if (item["law"]) parse_law(item["law"], *rs, &rule);
    if (rule.clocks.empty()) r_.error(item, "missing-key", "rule '" + rule.id + "' has no clocks and no law");
    rs->rules.push_back(std::move(rule));
  }

  YamlReader& r_;
  std::set<std::string> ids_;
};

}  // namespace

std::string EscalationStep::label() const {
  if (at == At::kPercent) return std::to_string(percent) + "%";
  return after_breach ? "breach+" + canonical(*after_breach) : "breach";
}

std::optional<RuleSet> parse_rule_set(std::string_view text, const std::string& file, std::vector<Diagnostic>* out) {
  YamlReader r(file, out);
  try {
    std::optional<YAML::Node> root = r.load(text);
    if (!root || !r.expect_map(*root, "a rule set file")) return std::nullopt;
    RuleSet rs;
    rs.file = file;
    RuleSetParser(r).parse(*root, &rs);
    if (r.failed()) return std::nullopt;
    rs.content_hash = blake2b_256(canonical_text(rs));
    return rs;
  } catch (const std::exception& e) {
    out->push_back({Severity::kError, {file, 0, 0}, "yaml", "cannot read the rule set: " + to_utf8_lossy(e.what())});
    return std::nullopt;
  }
}

std::optional<RuleSet> load_rule_set_file(const std::string& path, CalendarLibrary* calendars,
                                          std::vector<Diagnostic>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out->push_back({Severity::kError, {path, 0, 0}, "io", "cannot open the rule set file"});
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::optional<RuleSet> rs = parse_rule_set(buf.str(), path, out);
  if (!rs) return std::nullopt;
  bool ok = true;
  for (const auto& [name, file] : rs->calendar_files) {
    const auto full = std::filesystem::path(path).parent_path() / file;
    if (!calendars->load_file(full.string(), out)) {
      ok = false;
      continue;
    }
    if (calendars->find(name) == nullptr) {
      out->push_back({Severity::kError, {path, 0, 0}, "unknown-calendar",
                      "calendar '" + name + "': " + full.string() + " defines a calendar with a different name"});
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return rs;
}

Result<CalendarSet> compile_calendars(const RuleSet& rules, const CalendarLibrary& calendars,
                                      std::optional<date::sys_days> as_of) {
  CalendarSet out;
  for (const auto& [name, file] : rules.calendar_files) {
    OTINISH_ASSIGN_OR_RETURN(Calendar c, calendars.compile(name, as_of));
    out.emplace(name, std::move(c));
  }
  return out;
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative glob with backtracking to the last '*'.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace otinish::rules
