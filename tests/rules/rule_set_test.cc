#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/utf8.h"
#include "rules/rules.h"
#include "tests/rules/test_support.h"

namespace otinish::rules {
namespace {

std::vector<Diagnostic> errors_of(const std::string& yaml) {
  std::vector<Diagnostic> diags;
  EXPECT_FALSE(parse_rule_set(yaml, "r.yaml", &diags).has_value());
  return diags;
}

RuleSet parse_ok(const std::string& yaml) {
  std::vector<Diagnostic> diags;
  auto rs = parse_rule_set(yaml, "r.yaml", &diags);
  EXPECT_TRUE(rs.has_value()) << (diags.empty() ? "" : format_diagnostic(diags[0]));
  return rs.value_or(RuleSet{});
}

bool has_code(const std::vector<Diagnostic>& diags, const std::string& code) {
  return std::any_of(diags.begin(), diags.end(), [&](const Diagnostic& d) { return d.code == code; });
}

constexpr const char* kHeader = "rule_set: t\ncalendars: {kz: kz.yaml}\ndefault_calendar: kz\nrules:\n";

TEST(CityRuleSetTest, ShippedCityRulesLoadWithoutErrorsOrLintFindings) {
  std::vector<Diagnostic> diags;
  CalendarLibrary calendars;
  auto rs = load_rule_set_file(testing::example("rules/city.yaml"), &calendars, &diags);
  for (const auto& d : diags) ADD_FAILURE() << format_diagnostic(d);
  ASSERT_TRUE(rs.has_value());
  Result<CalendarSet> cals = compile_calendars(*rs, calendars);
  ASSERT_TRUE(cals.ok()) << cals.status().ToString();
  for (const auto& d : lint(*rs, &*cals)) ADD_FAILURE() << format_diagnostic(d);
  EXPECT_EQ(rs->rules.size(), 9u);
}

TEST(RuleSetValidationTest, ReportsEveryErrorAtOnceWithLineAndColumn) {
  const auto diags = errors_of(std::string(kHeader) + R"(  - id: a
    match: {category: complain, channel: telegramm}
    clocks:
      - name: answer
        trget: 15wd
        start: registerd
        calendar: mars
  - id: b
    clocks:
      - {name: x, target: 15days, start: registered, stop: closed}
)");
  EXPECT_TRUE(has_code(diags, "unknown-category"));
  EXPECT_TRUE(has_code(diags, "unknown-channel"));
  EXPECT_TRUE(has_code(diags, "unknown-key"));
  EXPECT_TRUE(has_code(diags, "missing-key"));  // target
  EXPECT_TRUE(has_code(diags, "unknown-state"));
  EXPECT_TRUE(has_code(diags, "unknown-calendar"));
  EXPECT_TRUE(has_code(diags, "wrong-unit"));
  for (const auto& d : diags) {
    EXPECT_EQ(d.where.file, "r.yaml");
    EXPECT_GT(d.where.line, 4) << format_diagnostic(d);
    EXPECT_GT(d.where.column, 0) << format_diagnostic(d);
  }
}

TEST(RuleSetValidationTest, UnknownKeyNamesAllowedKeysAndClosest) {
  const auto diags = errors_of(std::string(kHeader) + "  - id: a\n    clocks:\n      - {name: x, trget: 1h, start: registered}\n");
  ASSERT_FALSE(diags.empty());
  const auto it = std::find_if(diags.begin(), diags.end(), [](auto& d) { return d.code == "unknown-key"; });
  ASSERT_NE(it, diags.end());
  EXPECT_EQ(it->where.line, 7);
  EXPECT_EQ(it->where.column, 19);
  EXPECT_NE(it->message.find("did you mean 'target'"), std::string::npos) << it->message;
  EXPECT_NE(it->message.find("allowed keys: name, target, calendar"), std::string::npos) << it->message;
}

TEST(RuleSetValidationTest, WrongUnitListsTheUnits) {
  const auto diags = errors_of(std::string(kHeader) + "  - id: a\n    clocks:\n      - {name: x, target: 3weeks, start: registered}\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].message.find("wd (working days)"), std::string::npos) << diags[0].message;
  EXPECT_NE(diags[0].message.find("bh (business hours)"), std::string::npos);
}

TEST(RuleSetValidationTest, TextThatIsNotUtf8IsRefusedAtItsLineAndColumn) {
  const auto diags = errors_of(std::string(kHeader) + "  - id: caf\xE9\n");  // Latin-1, not UTF-8
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, "not-utf8");
  EXPECT_EQ(diags[0].where.line, 5);
  EXPECT_EQ(diags[0].where.column, 12);
}

TEST(RuleSetValidationTest, ControlCharactersAreRefusedAtTheirLineAndColumn) {
  const auto diags = errors_of(std::string(kHeader) + "  - id: a\x06" + std::string(1, '\0') + "b\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, "control-character");
  EXPECT_EQ(diags[0].where.line, 5);
  EXPECT_EQ(diags[0].where.column, 10);
  EXPECT_NE(diags[0].message.find("0x06"), std::string::npos) << diags[0].message;
}

TEST(RuleSetValidationTest, SyntaxErrorsQuotingPartOfACharacterAreStillUtf8) {
  const auto diags = errors_of(std::string(kHeader) + "  - id: \"\\\xD0\x90\"\n");  // "\А": an unknown escape
  ASSERT_FALSE(diags.empty());
  EXPECT_TRUE(has_code(diags, "yaml-syntax"));
  for (const Diagnostic& d : diags) EXPECT_TRUE(is_utf8(format_diagnostic(d))) << format_diagnostic(d);
}

TEST(RuleSetValidationTest, DuplicateRuleIdsAreRejected) {
  const auto diags = errors_of(std::string(kHeader) +
                               "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
                               "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n");
  EXPECT_TRUE(has_code(diags, "duplicate-rule"));
}

TEST(RuleSetValidationTest, SyntaxErrorIsReportedWithPosition) {
  const auto diags = errors_of("rule_set: t\nrules: [\n  - id: a\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, "yaml-syntax");
  EXPECT_GT(diags[0].where.line, 1);
}

TEST(RuleSetHashTest, EquivalentFilesHashTheSame) {
  const RuleSet a = parse_ok(std::string(kHeader) + R"(  - id: r
    description: one way
    match: {category: [complaint, proposal], channel: phone}
    clocks:
      - name: answer
        target: 120m
        start: registered
        stop: [resolved, closed]
        escalation:
          - {at: 50%, notify: controller}
          - {at: breach, notify: [head, controller]}
)");
  const RuleSet b = parse_ok(R"(# the same rules, written differently
rule_set: t
version: "another label"
default_calendar: kz
calendars:
  kz: ../elsewhere/kz.yaml
rules:
  - id: r
    match:
      channel: [phone]
      category: [proposal, complaint, complaint]
    clocks:
      - escalation:
          - at: breach
            notify: [controller, head]
          - {notify: controller, at: 50%}
        stop: [closed, resolved]
        start: [registered]
        calendar: kz
        target: 2h
        name: answer
)");
  EXPECT_EQ(canonical_text(a), canonical_text(b));
  EXPECT_EQ(a.content_hash, b.content_hash);
}

TEST(RuleSetHashTest, ChangingATargetChangesTheHash) {
  const std::string base = std::string(kHeader) + "  - {id: r, clocks: [{name: x, target: TARGET, start: registered, stop: closed}]}\n";
  auto with = [&](const char* t) { return parse_ok(std::string(base).replace(base.find("TARGET"), 6, t)); };
  EXPECT_NE(with("15wd").content_hash, with("14wd").content_hash);
  EXPECT_NE(with("8h").content_hash, with("8bh").content_hash);
  EXPECT_EQ(with("1h").content_hash, with("60m").content_hash);
}

TEST(RuleSetLintTest, FindsShadowedRule) {
  const RuleSet rs = parse_ok(std::string(kHeader) +
                              "  - {id: utilities, match: {topic: utilities.*}, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
                              "  - {id: water, match: {topic: utilities.water, category: incident}, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n");
  const auto findings = lint(rs, nullptr);
  const auto it = std::find_if(findings.begin(), findings.end(), [](auto& d) { return d.code == "shadowed-rule"; });
  ASSERT_NE(it, findings.end());
  EXPECT_EQ(it->where.line, 6);
  EXPECT_NE(it->message.find("'utilities'"), std::string::npos);
}

TEST(RuleSetLintTest, NarrowerEarlierRuleDoesNotShadow) {
  const RuleSet rs = parse_ok(std::string(kHeader) +
                              "  - {id: water, match: {topic: utilities.water}, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
                              "  - {id: all, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n");
  EXPECT_FALSE(has_code(lint(rs, nullptr), "shadowed-rule"));
}

TEST(RuleSetLintTest, FindsCategoryWithNoRuleClockWithoutStopAndLadderOutOfOrder) {
  const RuleSet rs = parse_ok(std::string(kHeader) + R"(  - id: c
    match: {category: complaint}
    clocks:
      - name: x
        target: 10h
        start: registered
        escalation:
          - {at: 80%, notify: head}
          - {at: 50%, notify: controller}
)");
  const auto findings = lint(rs, nullptr);
  EXPECT_TRUE(has_code(findings, "category-without-rule"));
  EXPECT_TRUE(has_code(findings, "clock-without-stop"));
  EXPECT_TRUE(has_code(findings, "escalation-order"));
  for (const auto& d : findings) EXPECT_EQ(d.severity, Severity::kWarning);
}

constexpr const char* kCallbackReset = R"(  - id: complaint
    match: {category: complaint}
    clocks:
      - name: callback
        target: 1wd
        start: resolved
        stop: [verified, closed]
        reset: reopened
)";

TEST(RuleSetLintTest, AResetBeforeALaterStartIsFlaggedAtTheClock) {
  const RuleSet rs = parse_ok(std::string(kHeader) + kCallbackReset);
  const auto findings = lint(rs, nullptr);
  const auto it = std::find_if(findings.begin(), findings.end(),
                               [](const Diagnostic& d) { return d.code == "reset-restarts-before-start"; });
  ASSERT_NE(it, findings.end());
  EXPECT_EQ(it->severity, Severity::kWarning);
  EXPECT_EQ(it->where.line, 8);  // the clock's "- name: callback" line (header is 4 lines)
  EXPECT_EQ(it->where.column, 9);
  EXPECT_NE(it->message.find("write `rearm: reopened`"), std::string::npos) << it->message;
}

TEST(RuleSetLintTest, RearmAndTheLawsResetAreNotFlagged) {
  std::string rearm = kCallbackReset;
  rearm.replace(rearm.find("reset: reopened"), 15, "rearm: reopened");
  const RuleSet rs = parse_ok(std::string(kHeader) + rearm + R"(    law: {answer_within: 15wd}
)");
  EXPECT_FALSE(has_code(lint(rs, nullptr), "reset-restarts-before-start"));
  ASSERT_EQ(rs.rules[0].clocks[0].rearm.size(), 1u);
  EXPECT_TRUE(rs.rules[0].clocks[0].reset.empty());
}

TEST(RuleSetValidationTest, TheSameTriggerAsResetAndRearmIsAnError) {
  std::string both = kCallbackReset;
  both += "        rearm: [reopened, event:extension_granted]\n";
  const auto diags = errors_of(std::string(kHeader) + both);
  const auto it = std::find_if(diags.begin(), diags.end(), [](const Diagnostic& d) { return d.code == "reset-and-rearm"; });
  ASSERT_NE(it, diags.end());
  EXPECT_EQ(it->severity, Severity::kError);
  EXPECT_EQ(it->where.line, 13);  // the rearm line
  EXPECT_NE(it->message.find("'reopened'"), std::string::npos) << it->message;
}

std::string city_text() {
  std::ifstream in(testing::example("rules/city.yaml"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shipped city rules before the callback clock moved to rearm: the warning points at that clock.
TEST(RuleSetLintTest, TheCityCallbackClockWithResetIsFlaggedAtItsLine) {
  std::string city = city_text();
  const auto rearm = city.find("rearm: reopened");
  ASSERT_NE(rearm, std::string::npos);
  city.replace(rearm, 5, "reset");
  const RuleSet rs = parse_ok(city);
  std::vector<Diagnostic> flagged;
  for (const auto& d : lint(rs, nullptr)) {
    if (d.code == "reset-restarts-before-start") flagged.push_back(d);
  }
  ASSERT_EQ(flagged.size(), 1u) << "only the callback clock; the law's and the incidents' resets start at registered";
  const auto clock_at = city.find("name: callback");  // a clock is located at its first key
  const int line = 1 + static_cast<int>(std::count(city.begin(), city.begin() + clock_at, '\n'));
  const int column = 1 + static_cast<int>(clock_at - city.rfind('\n', clock_at) - 1);
  EXPECT_EQ(flagged[0].where.line, line);
  EXPECT_EQ(flagged[0].where.column, column);
  EXPECT_NE(flagged[0].message.find("clock 'callback' starts at 'resolved' and is reset at 'reopened'"), std::string::npos)
      << flagged[0].message;
}

// Hash computed by the code before rearm existed (`otinish rules check` on this text).
TEST(RuleSetHashTest, ARuleSetWithoutRearmKeepsItsHash) {
  const RuleSet rs = parse_ok(std::string(kHeader) + kCallbackReset);
  EXPECT_EQ(to_hex(rs.content_hash), "8782a8fb2c78c00309ef1a82f840d850ee06aadf2c78e3b3d11530a0a2e2a143");
}

TEST(RuleSetHashTest, RearmIsPartOfTheHashWhenUsed) {
  std::string rearm = kCallbackReset;
  rearm.replace(rearm.find("reset: reopened"), 5, "rearm");
  const RuleSet with_reset = parse_ok(std::string(kHeader) + kCallbackReset);
  const RuleSet with_rearm = parse_ok(std::string(kHeader) + rearm);
  EXPECT_NE(with_reset.content_hash, with_rearm.content_hash);
  EXPECT_NE(canonical_text(with_rearm).find(" rearm=[reopened]"), std::string::npos);
}

TEST(RuleSetLintTest, FindsCalendarWithNoWorkingTimeInAYear) {
  CalendarLibrary lib;
  std::vector<Diagnostic> diags;
  ASSERT_TRUE(lib.add(*parse_calendar("calendar: kz\ntime_zone: Asia/Almaty\nyears: {from: 2025, to: 2026}\n"
                                      "week: {mon: \"09:00-18:00\"}\n"
                                      "amendments:\n  - {version: x, published: 2025-01-01, remove_holidays: []}\n",
                                      "kz.yaml", &diags),
                      &diags));
  ASSERT_TRUE(lib.add(*parse_calendar("calendar: empty\ninherits: kz\nweek: {mon: off}\n", "e.yaml", &diags), &diags));
  RuleSet rs = parse_ok("rule_set: t\ncalendars: {kz: kz.yaml, empty: e.yaml}\ndefault_calendar: empty\nrules:\n"
                        "  - {id: a, clocks: [{name: x, target: 1wd, start: registered, stop: closed}]}\n");
  Result<CalendarSet> cals = compile_calendars(rs, lib);
  ASSERT_TRUE(cals.ok()) << cals.status().ToString();
  const auto findings = lint(rs, &*cals);
  EXPECT_EQ(std::count_if(findings.begin(), findings.end(),
                          [](auto& d) { return d.code == "calendar-without-working-time"; }),
            2);
}

TEST(GlobTest, StarMatchesAnyRun) {
  EXPECT_TRUE(glob_match("utilities.*", "utilities.water"));
  EXPECT_TRUE(glob_match("utilities.*", "utilities.water.hot"));
  EXPECT_FALSE(glob_match("utilities.*", "utilities"));
  EXPECT_TRUE(glob_match("*.water", "utilities.water"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("roads", "roads.pothole"));
}

TEST(DurationTest, ParsesAndCanonicalises) {
  EXPECT_EQ(canonical(parse_target("120m").value()), "2h");
  EXPECT_EQ(canonical(parse_target("90bm").value()), "90bm");
  EXPECT_EQ(canonical(parse_target("48h").value()), "2d");
  EXPECT_EQ(canonical(parse_target("15wd").value()), "15wd");
  EXPECT_FALSE(parse_target("15").ok());
  EXPECT_FALSE(parse_target("wd").ok());
  EXPECT_FALSE(parse_target("-1h").ok());
}

}  // namespace
}  // namespace otinish::rules

namespace otinish::rules {
namespace {

constexpr const char* kOneRule = "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n";

TEST(RetentionRulesTest, ParseInOrderAndArePartOfTheHash) {
  const RuleSet without = parse_ok(std::string(kHeader) + kOneRule);
  const RuleSet rs = parse_ok(std::string(kHeader) + kOneRule +
                              "retention:\n"
                              "  - {id: complaints, category: [complaint, proposal], keep: 60mo}\n"
                              "  - {id: rest, category: '*', keep: 1095d}\n");
  ASSERT_EQ(rs.retention.size(), 2u);
  EXPECT_EQ(rs.retention[0].id, "complaints");
  EXPECT_EQ(rs.retention[0].category, (std::vector<std::string>{"complaint", "proposal"}));
  EXPECT_EQ(canonical(rs.retention[0].keep), "60mo");
  EXPECT_TRUE(rs.retention[1].category.empty()) << "'*' is any category";
  EXPECT_EQ(rs.retention[1].where.line, 8);
  EXPECT_NE(rs.content_hash, without.content_hash);
  EXPECT_EQ(to_hex(without.content_hash), to_hex(parse_ok(std::string(kHeader) + kOneRule).content_hash));
}

TEST(RetentionRulesTest, EveryMistakeIsReportedAtItsLineAndColumn) {
  const auto diags = errors_of(std::string(kHeader) + kOneRule +
                               "retention:\n"
                               "  - {id: a, category: complaints, keep: 5h}\n"
                               "  - {id: a, keep: 0d}\n"
                               "  - {id: b}\n"
                               "  - {id: c, keep: 3mo, months: 3}\n");
  EXPECT_TRUE(has_code(diags, "unknown-category"));
  EXPECT_TRUE(has_code(diags, "wrong-unit"));
  EXPECT_TRUE(has_code(diags, "duplicate-id"));
  EXPECT_TRUE(has_code(diags, "wrong-value"));
  EXPECT_TRUE(has_code(diags, "missing-key"));
  EXPECT_TRUE(has_code(diags, "unknown-key"));
  for (const auto& d : diags) {
    EXPECT_GE(d.where.line, 7) << d.message;
    EXPECT_GT(d.where.column, 0) << d.message;
  }
  const auto unit = std::find_if(diags.begin(), diags.end(), [](const Diagnostic& d) { return d.code == "wrong-unit"; });
  EXPECT_EQ(unit->where.line, 7);
  EXPECT_NE(unit->message.find("calendar months"), std::string::npos) << unit->message;
}

}  // namespace
}  // namespace otinish::rules
