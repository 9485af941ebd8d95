#include "engine/events.h"

#include <gtest/gtest.h>

#include <sstream>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "engine/serialization.h"

namespace otinish::engine {
namespace {

TEST(Events, EveryTypeRoundTripsThroughTheCodec) {
  Timestamp t;
  ASSERT_TRUE(parse_utc("2026-03-20T09:15:00Z", &t));
  std::vector<AppealEvent> all = {
      {Stage::kRegistered, Stage::kRegistered,
       AppealRegistered{"SHY-2026-0000001", Category::kComplaint, "lifts.broken", Priority::kHigh,
                        Channel::kWhatsapp, {"Abay", "Tauke khan ave"}, "the lift is stuck", true,
                        SealedApplicant{0, "", "pii"}}},
      {Stage::kRegistered, Stage::kClosed, AppealAnsweredOnFirstContact{"the address is ..."}},
      {Stage::kUnderReview, Stage::kUnderReview,
       AppealClassified{Category::kIncident, "roads.manhole_open", Priority::kCritical, true, false, "danger"}},
      {Stage::kRegistered, Stage::kUnderReview, AppealSentForReview{}},
      {Stage::kUnderReview, Stage::kReturnedToOperator, AppealReturnedToOperator{"no address"}},
      {Stage::kUnderReview, Stage::kAssigned, AppealAssigned{"city-roads", false}},
      {Stage::kAssigned, Stage::kAssigned, AppealRedirected{"a", "b", "competence"}},
      {Stage::kAssigned, Stage::kAccepted, AppealAccepted{"b"}},
      {Stage::kAccepted, Stage::kInProgress, AppealWorkStarted{}},
      {Stage::kInProgress, Stage::kOnHold, AppealPutOnHold{"waiting for the applicant"}},
      {Stage::kOnHold, Stage::kInProgress, AppealResumed{"back"}},
      {Stage::kInProgress, Stage::kInProgress, AppealExtensionRequested{t, "parts"}},
      {Stage::kInProgress, Stage::kInProgress, AppealExtensionGranted{t, t, "head agreed"}},
      {Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "fixed", ""}},
      {Stage::kResolved, Stage::kVerified, AppealCallbackRecorded{false, "still broken"}},
      {Stage::kVerified, Stage::kClosed, AppealClosed{}},
      {Stage::kClosed, Stage::kReopened, AppealReopened{"unsatisfied"}},
      {Stage::kAssigned, Stage::kMerged, AppealMerged{"SHY-2026-0000002", "duplicate"}},
      {Stage::kAssigned, Stage::kAssigned, AppealChildAttached{"SHY-2026-0000003"}},
      {Stage::kClosed, Stage::kClosed, AppealCommented{"note"}},
  };
  ASSERT_EQ(all.size(), std::variant_size_v<EventBody>);
  for (const auto& e : all) {
    store::EventData d = encode_event(e);
    EXPECT_EQ(d.type, event_type(e.body));
    EXPECT_TRUE(is_appeal_event_type(d.type));
    auto back = decode_event(d.type, d.schema_version, d.payload);
    ASSERT_TRUE(back.ok()) << d.type << ": " << back.status().ToString();
    EXPECT_EQ(*back, e) << d.type;
  }
}

// The v1 layout of AppealRegistered, written by hand as an old build would have: no priority field.
struct RegisteredV1Writer {
  Stage from = Stage::kRegistered, to = Stage::kRegistered;
  std::string id = "SHY-2025-0000009";
  Category category = Category::kComplaint;
  std::string topic = "lifts.broken";
  Channel channel = Channel::kTelegram;
  Location location{"Enbekshi", ""};
  std::string text = "old event";
  bool dangerous = false;
  SealedApplicant applicant{0, "", "x"};
  template <class A>
  void serialize(A& ar) {
    ar(from, to, id, category, topic, channel, location, text, dangerous, applicant);
  }
};

TEST(Events, RegisteredV1IsUpcastWithNormalPriority) {
  std::string v1 = to_bytes(RegisteredV1Writer{});
  auto e = decode_event("AppealRegistered", 1, v1);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const auto& r = std::get<AppealRegistered>(e->body);
  EXPECT_EQ(r.appeal_id, "SHY-2025-0000009");
  EXPECT_EQ(r.priority, Priority::kNormal);
  EXPECT_EQ(r.channel, Channel::kTelegram);
  EXPECT_EQ(r.text, "old event");
}

TEST(Events, UnknownTypeIsNotFoundAndFutureVersionIsRefused) {
  EXPECT_EQ(decode_event("SlaDeadlineSet", 1, "").status().code(), StatusCode::kNotFound);
  auto d = encode_event({Stage::kAssigned, Stage::kAccepted, AppealAccepted{"x"}});
  auto r = decode_event(d.type, 7, d.payload);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("upgrade"), std::string::npos);
}

TEST(Events, TruncatedPayloadIsCorruption) {
  auto d = encode_event({Stage::kInProgress, Stage::kResolved, AppealResolved{Outcome::kDone, "fixed it", ""}});
  auto r = decode_event(d.type, d.schema_version, std::string_view(d.payload).substr(0, d.payload.size() - 3));
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

// One field of every kind the engine's formats use.
struct EveryFieldKind {
  bool flag = true;
  std::uint8_t small = 7;
  std::uint32_t medium = 70000;
  std::uint64_t large = 0x0102030405060708ull;
  std::int64_t negative = -5;
  double hours = 12.25;
  Stage stage = Stage::kInProgress;
  std::string text = "жалоба";
  std::string empty;
  std::vector<std::string> list = {"a", "", "bc"};
  std::optional<std::uint64_t> some = 9, none;
  Location location{"Abay", "Tauke khan ave"};
  Timestamp at = timestamp_from_micros(1'774'000'000'123'456);
  template <class A>
  void serialize(A& ar) {
    ar(flag, small, medium, large, negative, hours, stage, text, empty, list, some, none, location, MicrosRef{at});
  }
  friend bool operator==(const EveryFieldKind&, const EveryFieldKind&) = default;
};

std::string cereal_bytes(const EveryFieldKind& v, cereal::PortableBinaryOutputArchive::Options options) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::PortableBinaryOutputArchive ar(os, options);
    ar(const_cast<EveryFieldKind&>(v));
  }
  return std::move(os).str();
}

// The engine's own archive writes exactly cereal's portable binary bytes, and reads them in either byte order.
TEST(Serialization, BytesAreCerealPortableBinary) {
  EveryFieldKind v;
  EXPECT_EQ(to_bytes(v), cereal_bytes(v, cereal::PortableBinaryOutputArchive::Options::LittleEndian()));
  for (auto options : {cereal::PortableBinaryOutputArchive::Options::LittleEndian(),
                       cereal::PortableBinaryOutputArchive::Options::BigEndian()}) {
    EveryFieldKind back;
    back.flag = false;
    back.list.clear();
    back.none = 1;
    back.some.reset();
    ASSERT_TRUE(from_bytes(cereal_bytes(v, options), back, "test").ok());
    EXPECT_EQ(back, v);
  }
}

// A field added at the end of a stored row (projection rows carry no schema version) reads as its default
// from rows written before it, and round-trips in rows written after.
struct RowV1 {
  std::string id;
  std::int64_t due = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, due);
  }
};
struct RowV2 {
  std::string id;
  std::int64_t due = 0;
  std::string note;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, due, Trailing<std::string>{note});
  }
};

TEST(Serialization, TrailingFieldReadsAsDefaultFromOlderRows) {
  RowV2 back;
  back.note = "stale";
  ASSERT_TRUE(from_bytes(to_bytes(RowV1{"SHY-2026-0000001", 7}), back, "row").ok());
  EXPECT_EQ(back.id, "SHY-2026-0000001");
  EXPECT_EQ(back.due, 7);
  EXPECT_EQ(back.note, "stale") << "left as the caller's default";
  RowV2 v2{"TRK-2026-0000046", 9, "kz 2027 is provisional"};
  RowV2 again;
  ASSERT_TRUE(from_bytes(to_bytes(v2), again, "row").ok());
  EXPECT_EQ(again.note, "kz 2027 is provisional");
}

TEST(Serialization, EveryTruncationIsCorruption) {
  const std::string bytes = to_bytes(EveryFieldKind{});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EveryFieldKind back;
    EXPECT_EQ(from_bytes(std::string_view(bytes).substr(0, n), back, "test").code(), StatusCode::kCorruption) << n;
  }
}

// Golden bytes: the layout documented in docs/events.md. Changing it without a new schema version breaks
// every stored log.
TEST(Events, AcceptedPayloadBytesAreStable) {
  auto d = encode_event({Stage::kAssigned, Stage::kAccepted, AppealAccepted{"ab"}});
  // portable binary: 1 byte endianness flag, from, to (uint8 each), string length (uint64 LE), bytes
  const std::string golden("\x01\x03\x04\x02\x00\x00\x00\x00\x00\x00\x00" "ab", 13);
  EXPECT_EQ(d.payload, golden);
}

TEST(Domain, AppealIdFormatsAndParses) {
  AppealId id{"SHY", 2026, 12345};
  EXPECT_EQ(id.to_string(), "SHY-2026-0012345");
  EXPECT_EQ(id.stream(), "appeal-SHY-2026-0012345");
  auto back = AppealId::parse("SHY-2026-0012345");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id);
  EXPECT_FALSE(AppealId::parse("shy-2026-1").ok());
  EXPECT_FALSE(AppealId::parse("SHY-26-1").ok());
  EXPECT_FALSE(AppealId::parse("SHY-2026-0").ok());
  EXPECT_FALSE(AppealId::parse("SHY-2026-12x").ok());
}

TEST(Domain, PhonesNormaliseToElevenDigits) {
  EXPECT_EQ(normalise_phone("8 777 710 9109"), "77777109109");
  EXPECT_EQ(normalise_phone("+7 (701) 000-00-01"), "77010000001");
  EXPECT_EQ(normalise_phone("7010000001"), "77010000001");
}

TEST(Domain, PlainSealerRoundTripsTheApplicant) {
  Applicant a{"Ерлан", "+77010000001", "Байтурсынов 5, кв 3"};
  auto sealed = PlainApplicantSealer::instance().seal(a, "SHY-2026-0000001");
  ASSERT_TRUE(sealed.ok());
  auto opened = PlainApplicantSealer::instance().open(*sealed, "SHY-2026-0000001");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, a);
}

}  // namespace
}  // namespace otinish::engine
