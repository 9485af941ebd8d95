// Deadlines that reach a provisional calendar year, and what happens when the year's inputs are published.
//
// On 4 December 2026 Kazakhstan's 2027 inputs (the first day of Kurban Ait, the government's transfer decree)
// are not published, so examples/calendars/kz.yaml ships 2027 as provisional. A complaint registered Thursday
// 10 December 2026 at 10:00 with 15 working days is due Tuesday 5 January 2027 (1 January is a holiday and
// Monday 4 January is the day off for Saturday 2 January); one registered Monday 28 December 2026 is due
// Thursday 21 January 2027 (7 January is not carried over). Both deadlines are provisional.
//
// The amendment published here is MADE-UP TEST DATA, not a real decree: Kurban Ait on 17 May 2027 and a
// transfer making Friday 8 January 2027 a day off for Saturday 30 January. It moves the second deadline one
// working day later (to Friday 22 January) and leaves the first where it was, now final.
#include <gtest/gtest.h>

#include "engine/serialization.h"
#include "tests/engine/sla_test_city.h"

namespace otinish::engine {
namespace {

using testing::read_text;
using testing::expect_replay_writes_nothing;
using testing::rebounds;
using testing::SlaCity;
using testing::source_dir;
using testing::utc;

constexpr const char* kTestDecree2027 = R"(
  # TEST DATA ONLY: a made-up 2027 decree for the tests; the real 2027 inputs were not published when written.
  - version: "2027-test"
    published: 2027-01-15
    note: made-up test decree for 2027
    yearly:
      - year: 2027
        kurban_ait: 2027-05-17
        transfer_decree:
          - {work: 2027-01-30, off: 2027-01-08, name: Test decree on days off in 2027}
)";

std::string kz_with_test_decree() {
  std::string kz = read_text(source_dir() + "/examples/calendars/kz.yaml");
  return kz + kTestDecree2027;  // kz.yaml ends inside its amendments list
}


// The law clock's latest deadline among the SLA events recorded before log position `before`.
std::optional<SlaClockEvent> deadline_before(SlaCity& city, const std::string& id, std::uint64_t before) {
  std::optional<SlaClockEvent> out;
  auto s = city.store().read_stream("appeal-" + id, 1, store::Direction::kForward, 1000);
  EXPECT_TRUE(s.ok());
  for (const auto& e : *s) {
    if (e.position >= before || e.type != "SlaDeadlineSet") continue;
    auto d = decode_sla_event(e.type, e.schema_version, e.payload);
    EXPECT_TRUE(d.ok());
    const auto& c = std::get<SlaClockEvent>(*d);
    if (c.clock == "law.answer") out = c;
  }
  return out;
}

SlaClockEvent last_deadline(SlaCity& city, const std::string& id) {
  auto d = city.events(id, SlaClockKind::kDeadlineSet, "law.answer");
  EXPECT_FALSE(d.empty());
  return d.empty() ? SlaClockEvent{} : d.back();
}

// A complaint answered and closed in December 2026, before the decree: its law clock stops at resolved.
std::string closed_complaint(SlaCity& city) {
  const std::string id = city.reg_at("2026-11-20T05:00:00Z", Category::kComplaint, "lifts.broken");
  city.run_at("2026-11-20T06:00:00Z", id, SendForReview{}, "operator");
  city.run_at("2026-11-20T07:00:00Z", id, Assign{}, "inspector");
  city.run_at("2026-11-23T05:00:00Z", id, Accept{}, "agency");
  city.run_at("2026-11-23T06:00:00Z", id, StartWork{}, "agency");
  city.run_at("2026-12-01T05:00:00Z", id, Resolve{Outcome::kDone, "lift repaired"}, "agency");
  city.run_at("2026-12-02T05:00:00Z", id, RecordCallback{true, "applicant satisfied"}, "operator");
  city.run_at("2026-12-02T06:00:00Z", id, Close{}, "operator");
  return id;
}

std::uint64_t publish_decree(SlaCity& city, RebindPolicy policy) {
  city.clock().set(utc("2027-01-16T05:00:00Z"));
  auto r = city.registry().publish_calendar(kz_with_test_decree(), "kz.yaml", policy, SlaCity::admin());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  city.settle();
  return r.ok() ? r->position : 0;
}


TEST(SlaProvisional, DeadlinesIntoAnUnpublishedYearAreComputedAndMarkedProvisional) {
  SlaCity city;
  const std::string due_in_2026 = city.reg_at("2026-11-20T05:00:00Z", Category::kComplaint, "lifts.broken");
  EXPECT_EQ(last_deadline(city, due_in_2026).deadline, utc("2026-12-11T13:00:00Z"));
  EXPECT_TRUE(last_deadline(city, due_in_2026).provisional.empty());
  const std::string a = city.reg_at("2026-12-10T05:00:00Z", Category::kComplaint, "lifts.broken");
  const std::string b = city.reg_at("2026-12-28T05:00:00Z", Category::kComplaint, "lifts.broken");
  const SlaClockEvent da = last_deadline(city, a), db = last_deadline(city, b);
  EXPECT_EQ(da.deadline, utc("2027-01-05T13:00:00Z"));
  EXPECT_EQ(db.deadline, utc("2027-01-21T13:00:00Z"));
  EXPECT_NE(da.provisional.find("kz 2027 is provisional: kurban_ait, transfer_decree"), std::string::npos)
      << da.provisional;
  EXPECT_FALSE(db.provisional.empty());
  // The 75% warning of a provisional deadline carries the mark too.
  city.fire_at("2027-01-18T00:00:00Z");
  const auto warn = city.events(b, SlaClockKind::kWarning, "law.answer");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_FALSE(warn[0].provisional.empty());
  expect_replay_writes_nothing(city);
}

TEST(SlaProvisional, PublishingTheYearsInputsRebindsExactlyTheAppealsWhoseProvisionalDeadlinesChange) {
  SlaCity city;
  const std::string due_in_2026 = city.reg_at("2026-11-20T05:00:00Z", Category::kComplaint, "lifts.broken");
  const std::string a = city.reg_at("2026-12-10T05:00:00Z", Category::kComplaint, "lifts.broken");
  const std::string b = city.reg_at("2026-12-28T05:00:00Z", Category::kComplaint, "lifts.broken");
  // A dangerous incident on the 24/7 calendar, which ignores holidays: never provisional.
  const std::string urgent = city.reg_at("2027-01-12T05:00:00Z", Category::kIncident, "roads.manhole_open");
  city.fire_at("2027-01-15T00:00:00Z");  // a's deadline (5 January) passed: breached on the provisional deadline
  ASSERT_EQ(city.events(a, SlaClockKind::kBreached, "law.answer").size(), 1u);

  const std::uint64_t pub = publish_decree(city, RebindPolicy::kProvisional);
  EXPECT_TRUE(rebounds(city, due_in_2026).empty());
  EXPECT_TRUE(rebounds(city, urgent).empty());

  const auto rb = rebounds(city, b);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].policy, RebindPolicy::kProvisional);
  EXPECT_EQ(rb[0].publication_position, pub);
  EXPECT_NE(rb[0].cause.find("kz@2027-test"), std::string::npos) << rb[0].cause;
  bool seen = false;
  for (const auto& d : rb[0].deadlines) {
    if (d.clock != "law.answer") continue;
    seen = true;
    EXPECT_EQ(d.old_deadline, utc("2027-01-21T13:00:00Z"));
    EXPECT_EQ(d.new_deadline, utc("2027-01-22T13:00:00Z"));
    EXPECT_FALSE(d.old_provisional.empty());
    EXPECT_TRUE(d.new_provisional.empty());
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(last_deadline(city, b).deadline, utc("2027-01-22T13:00:00Z"));
  EXPECT_TRUE(last_deadline(city, b).provisional.empty());
  EXPECT_NE(last_deadline(city, b).calendar_version.find("kz@2027-test"), std::string::npos);

  // The same deadline, now final: a moves too (its mark changes), and its breach stands.
  const auto ra = rebounds(city, a);
  ASSERT_EQ(ra.size(), 1u);
  EXPECT_EQ(last_deadline(city, a).deadline, utc("2027-01-05T13:00:00Z"));
  EXPECT_TRUE(last_deadline(city, a).provisional.empty());
  EXPECT_EQ(city.events(a, SlaClockKind::kBreached, "law.answer").size(), 1u);

  // Replay as of the day before the publication: the log shows the provisional deadline then in force.
  const auto before = deadline_before(city, b, pub);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->deadline, utc("2027-01-21T13:00:00Z"));
  EXPECT_FALSE(before->provisional.empty());

  // The breach now fires on the final deadline, not on the provisional one.
  city.fire_at("2027-01-21T14:00:00Z");
  EXPECT_TRUE(city.events(b, SlaClockKind::kBreached, "law.answer").empty());
  city.fire_at("2027-01-22T13:00:01Z");
  const auto breach = city.events(b, SlaClockKind::kBreached, "law.answer");
  ASSERT_EQ(breach.size(), 1u);
  EXPECT_EQ(breach[0].at, utc("2027-01-22T13:00:00Z"));
  expect_replay_writes_nothing(city);
}

TEST(SlaProvisional, KeepLeavesProvisionalDeadlinesAlone) {
  SlaCity city;
  const std::string b = city.reg_at("2026-12-28T05:00:00Z", Category::kComplaint, "lifts.broken");
  publish_decree(city, RebindPolicy::kKeep);
  EXPECT_TRUE(rebounds(city, b).empty());
  EXPECT_EQ(last_deadline(city, b).deadline, utc("2027-01-21T13:00:00Z"));
  EXPECT_FALSE(last_deadline(city, b).provisional.empty());
  expect_replay_writes_nothing(city);
}

TEST(SlaProvisional, AClockStartedAfterThePublicationOnAnOldBindingUsesThePublishedYear) {
  SlaCity city;
  const std::string id = closed_complaint(city);
  publish_decree(city, RebindPolicy::kProvisional);
  EXPECT_TRUE(rebounds(city, id).empty()) << "closed before the publication: nothing to re-decide then";
  // Reopened on Monday 4 January... no: on Wednesday 6 January 2027 (after the decree's publication on the 15th
  // would be too late for the test decree to matter), the law clock restarts: 15 working days from Saturday 16
  // January count from Monday 18, on the final 2027 (no day off of the test decree lies in it).
  city.run_at("2027-01-16T06:00:00Z", id, Reopen{"the lift stopped again"}, "controller");
  const auto rb = rebounds(city, id);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(rb[0].policy, RebindPolicy::kProvisional);
  const SlaClockEvent d = last_deadline(city, id);
  EXPECT_TRUE(d.provisional.empty()) << d.provisional;
  EXPECT_NE(d.calendar_version.find("kz@2027-test"), std::string::npos) << d.calendar_version;
  expect_replay_writes_nothing(city);
}

// The upgrade this feature exists for: a calendar that stopped at 31 December 2026 cannot decide a complaint
// registered on 10 December; publishing the calendar that counts 2027 provisionally must move it (the old binding
// could not decide it, the new one can) and must not stop the service.
TEST(SlaProvisional, PublishingACalendarThatCountsFurtherMovesAppealsTheOldOneCouldNotDecide) {
  SlaCity city;
  city.clock().set(utc("2026-11-01T05:00:00Z"));
  auto old = city.registry().publish_calendar(R"(
calendar: kz
version: "2025-12-old"
time_zone: Asia/Almaty
years: {from: 2025, to: 2026}
week: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00", fri: "09:00-18:00"}
lunch: "13:00-14:00"
holidays: [{date: "01-01"}, {date: "01-02"}, {date: "12-16"}]
)",
                                              "kz.yaml", RebindPolicy::kKeep, SlaCity::admin());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  city.settle();
  const std::string id = city.reg_at("2026-12-10T05:00:00Z", Category::kComplaint, "lifts.broken");
  EXPECT_GE(city.service().stats().decision_errors, 1u);
  EXPECT_TRUE(city.events(id, SlaClockKind::kDeadlineSet, "law.answer").empty());

  city.clock().set(utc("2026-12-12T05:00:00Z"));
  auto now = city.registry().publish_calendar(read_text(source_dir() + "/examples/calendars/kz.yaml"), "kz.yaml",
                                              RebindPolicy::kProvisional, SlaCity::admin());
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  city.settle();
  EXPECT_TRUE(city.service().status().ok()) << city.service().status().ToString();
  ASSERT_EQ(rebounds(city, id).size(), 1u);
  const SlaClockEvent d = last_deadline(city, id);
  EXPECT_EQ(d.deadline, utc("2027-01-05T13:00:00Z"));
  EXPECT_FALSE(d.provisional.empty());
  expect_replay_writes_nothing(city);
}

// Schema 1 of SlaClockEvent (before the provisional mark): the fields in their order, as logs written before it
// hold them. They must still decode, with no mark.
struct ClockV1 {
  SlaClockEvent e;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(e.rule_id, e.rule_where, e.rule_set_hash, e.clock, e.calendar, e.calendar_version, e.cycle, MicrosRef{e.at},
       e.deadline.has_value(), micros_since_epoch(*e.deadline), e.step, e.label, e.notify, e.raise_priority,
       e.reassign_agency, e.reassign_role);
  }
};

TEST(SlaEventSchema, Version1ClockEventsDecodeWithoutAProvisionalMark) {
  ClockV1 v1;
  v1.e.kind = SlaClockKind::kDeadlineSet;
  v1.e.rule_id = "complaint";
  v1.e.clock = "law.answer";
  v1.e.calendar = "kz";
  v1.e.at = utc("2026-12-10T05:00:00Z");
  v1.e.deadline = utc("2027-01-05T13:00:00Z");
  const std::string bytes = to_bytes(v1);
  auto d = decode_sla_event("SlaDeadlineSet", 1, bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const auto& c = std::get<SlaClockEvent>(*d);
  EXPECT_EQ(c.deadline, v1.e.deadline);
  EXPECT_EQ(c.clock, "law.answer");
  EXPECT_TRUE(c.provisional.empty());
  // The same bytes read as schema 2 lack the mark's field: a truncated payload, refused, never misread.
  EXPECT_EQ(decode_sla_event("SlaDeadlineSet", 2, bytes).status().code(), StatusCode::kCorruption);
  // Schema 2 round-trips the mark, and a provisional deadline has its own key (the same instant, final, is a new
  // decision).
  SlaClockEvent p = v1.e;
  p.provisional = "kz 2027 is provisional: kurban_ait, transfer_decree not published";
  const store::EventData enc = encode_sla_event(p);
  EXPECT_EQ(enc.schema_version, 2u);
  auto back = decode_sla_event(enc.type, enc.schema_version, enc.payload);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::get<SlaClockEvent>(*back), p);
  EXPECT_NE(p.key(), v1.e.key());
}

TEST(SlaEventSchema, ReboundRoundTripsItsCauseAndMarks) {
  SlaRebound rb;
  rb.policy = RebindPolicy::kProvisional;
  rb.publication_position = 42;
  rb.cause = "kz=kz@2026-03-18 -> kz=kz@2027-01: the calendar inputs of a provisional year were published";
  rb.deadlines.push_back({"law.answer", utc("2027-01-21T13:00:00Z"), utc("2027-01-22T13:00:00Z"), "kz 2027 ...", ""});
  rb.deadlines.push_back({"callback", std::nullopt, std::nullopt, "", ""});
  const store::EventData enc = encode_sla_event(rb);
  auto back = decode_sla_event(enc.type, enc.schema_version, enc.payload);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::get<SlaRebound>(*back), rb);
  EXPECT_EQ(parse_rebind_policy("provisional").value(), RebindPolicy::kProvisional);
  EXPECT_EQ(to_string(RebindPolicy::kProvisional), "provisional");
}

}  // namespace
}  // namespace otinish::engine
