#include "engine/sla_events.h"

#include <array>

#include "engine/serialization.h"

namespace otinish::engine {

namespace {

constexpr std::array<std::string_view, kSlaClockKindCount> kClockTypes = {
    "SlaClockStarted", "SlaClockPaused",  "SlaClockResumed", "SlaClockStopped",
    "SlaDeadlineSet",  "SlaWarning",      "SlaBreached",     "SlaEscalated"};
constexpr std::string_view kBoundType = "SlaBound";
constexpr std::string_view kReboundType = "SlaRebound";
// Version 2 added SlaClockEvent::provisional and SlaRebound's cause and provisional marks (appended at the end
// of the payload); version 1 payloads decode with them empty. Publications (RuleSetPublished, ...) are still 1.
constexpr std::uint32_t kSchema = 2;
constexpr std::uint32_t kPublicationSchema = 1;

struct OptMicros {
  std::optional<Timestamp>& t;
  template <class Archive>
  void save(Archive& ar) const {
    const bool has = t.has_value();
    ar(has);
    if (has) ar(micros_since_epoch(*t));
  }
  template <class Archive>
  void load(Archive& ar) {
    bool has = false;
    ar(has);
    t.reset();
    if (has) {
      std::int64_t us = 0;
      ar(us);
      t = timestamp_from_micros(us);
    }
  }
};

}  // namespace

template <class Archive>
void serialize(Archive& ar, BundleRef& b) {
  ar(b.rules_version, b.calendars_version, b.rule_set_hash, b.calendar_versions);
}
template <class Archive>
void serialize(Archive& ar, RuleSetPublished& e) {
  ar(e.name, e.version_label, e.content_hash, e.file, e.yaml, e.policy);
}
template <class Archive>
void serialize(Archive& ar, CalendarPublished& e) {
  ar(e.name, e.version, e.content_hash, e.file, e.yaml, e.policy);
}
template <class Archive>
void serialize(Archive& ar, SlaPolicyApplied& e) {
  ar(e.publication_position, e.bundle, e.policy, e.appeals_examined, e.appeals_rebound);
}
template <class Archive>
void serialize(Archive& ar, SlaBound& e) {
  ar(e.bundle, e.rule_id);
}
template <class Archive>
void serialize(Archive& ar, DeadlineChange& d) {
  ar(d.clock, OptMicros{d.old_deadline}, OptMicros{d.new_deadline});
}

namespace {
// SLA payloads at a schema version (the envelope's): fields a later version added sit at the end and are read
// only from payloads written at that version.
struct ReboundPayload {
  SlaRebound& e;
  std::uint32_t version;
  template <class Archive>
  void save(Archive& ar) const {
    ar(e.from, e.to, e.policy, e.publication_position, e.deadlines);
    std::vector<std::string> marks;  // v2: old and new provisional mark of each deadline, in order
    for (const auto& d : e.deadlines) marks.insert(marks.end(), {d.old_provisional, d.new_provisional});
    ar(marks, e.cause);
  }
  template <class Archive>
  void load(Archive& ar) {
    ar(e.from, e.to, e.policy, e.publication_position, e.deadlines);
    if (version < 2) return;
    std::vector<std::string> marks;
    ar(marks, e.cause);
    for (std::size_t i = 0; i < e.deadlines.size() && 2 * i + 1 < marks.size(); ++i) {
      e.deadlines[i].old_provisional = marks[2 * i];
      e.deadlines[i].new_provisional = marks[2 * i + 1];
    }
  }
};
struct ClockPayload {
  SlaClockEvent& e;
  std::uint32_t version;
  template <class Archive>
  void serialize(Archive& ar) {
    // The kind is the event type; it is not repeated in the payload.
    ar(e.rule_id, e.rule_where, e.rule_set_hash, e.clock, e.calendar, e.calendar_version, e.cycle, MicrosRef{e.at},
       OptMicros{e.deadline}, e.step, e.label, e.notify, e.raise_priority, e.reassign_agency, e.reassign_role);
    if (version >= 2) ar(e.provisional);
  }
};
}  // namespace

std::string_view to_string(RebindPolicy p) noexcept {
  switch (p) {
    case RebindPolicy::kKeep: return "keep";
    case RebindPolicy::kReevaluate: return "re-evaluate";
    case RebindPolicy::kStricter: return "stricter";
    case RebindPolicy::kProvisional: return "provisional";
  }
  return "?";
}

Result<RebindPolicy> parse_rebind_policy(std::string_view s) {
  if (s == "keep") return RebindPolicy::kKeep;
  if (s == "re-evaluate" || s == "reevaluate") return RebindPolicy::kReevaluate;
  if (s == "stricter") return RebindPolicy::kStricter;
  if (s == "provisional") return RebindPolicy::kProvisional;
  return Status::InvalidArgument("unknown rebind policy '" + std::string(s) +
                                 "'; expected one of: keep, re-evaluate, stricter, provisional");
}

std::string_view event_type(SlaClockKind k) noexcept {
  const auto i = static_cast<std::size_t>(k);
  return i < kClockTypes.size() ? kClockTypes[i] : "?";
}

std::string_view to_string(SlaClockKind k) noexcept {
  static constexpr std::array<std::string_view, kSlaClockKindCount> kWords = {
      "started", "paused", "resumed", "stopped", "deadline", "warning", "breached", "escalated"};
  const auto i = static_cast<std::size_t>(k);
  return i < kWords.size() ? kWords[i] : "?";
}

std::string SlaClockEvent::key() const {
  std::string k = std::string(event_type(kind)) + "/" + clock + "/" + std::to_string(cycle) + "/";
  switch (kind) {
    case SlaClockKind::kWarning:
    case SlaClockKind::kBreached:
    case SlaClockKind::kEscalated: return k + label;
    case SlaClockKind::kDeadlineSet:
      return k + std::to_string(deadline ? micros_since_epoch(*deadline) : 0) + (provisional.empty() ? "" : "p");
    default: return k + std::to_string(micros_since_epoch(at));
  }
}

bool is_sla_event_type(std::string_view type) noexcept {
  if (type == kBoundType || type == kReboundType) return true;
  for (auto t : kClockTypes) {
    if (t == type) return true;
  }
  return false;
}

store::EventData encode_sla_event(const SlaEvent& e) {
  store::EventData d;
  d.schema_version = kSchema;
  std::visit(
      [&](const auto& body) {
        using Body = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<Body, SlaBound>) {
          d.type = std::string(kBoundType);
          d.schema_version = 1;  // unchanged by version 2: an older reader still reads it
          d.payload = to_bytes(body);
        } else if constexpr (std::is_same_v<Body, SlaRebound>) {
          d.type = std::string(kReboundType);
          d.payload = to_bytes(ReboundPayload{const_cast<SlaRebound&>(body), kSchema});
        } else {
          d.type = std::string(event_type(body.kind));
          d.payload = to_bytes(ClockPayload{const_cast<SlaClockEvent&>(body), kSchema});
        }
      },
      e);
  return d;
}

Result<SlaEvent> decode_sla_event(std::string_view type, std::uint32_t schema_version, std::string_view payload) {
  if (!is_sla_event_type(type)) {
    return Status::NotFound("event type '" + std::string(type) + "' is not an SLA event");
  }
  if (schema_version > kSchema) {
    return Status::InvalidArgument(std::string(type) + " schema version " + std::to_string(schema_version) +
                                   " is newer than this build knows (" + std::to_string(kSchema) +
                                   "); upgrade the reader");
  }
  if (type == kBoundType) {
    SlaBound b;
    OTINISH_RETURN_IF_ERROR(from_bytes(payload, b, "SlaBound v1 payload"));
    return SlaEvent(std::move(b));
  }
  if (type == kReboundType) {
    SlaRebound b;
    ReboundPayload v{b, schema_version};
    OTINISH_RETURN_IF_ERROR(from_bytes(payload, v, "SlaRebound v" + std::to_string(schema_version) + " payload"));
    return SlaEvent(std::move(b));
  }
  SlaClockEvent c;
  for (std::size_t i = 0; i < kClockTypes.size(); ++i) {
    if (kClockTypes[i] == type) c.kind = static_cast<SlaClockKind>(i);
  }
  ClockPayload v{c, schema_version};
  OTINISH_RETURN_IF_ERROR(from_bytes(payload, v, std::string(type) + " v" + std::to_string(schema_version) + " payload"));
  return SlaEvent(std::move(c));
}

namespace {
template <typename T>
store::EventData encode_plain(std::string_view type, const T& body) {
  store::EventData d;
  d.type = std::string(type);
  d.schema_version = kPublicationSchema;
  d.payload = to_bytes(body);
  return d;
}
template <typename T>
Result<T> decode_plain(std::string_view type, std::string_view payload) {
  T out;
  OTINISH_RETURN_IF_ERROR(from_bytes(payload, out, std::string(type) + " payload"));
  return out;
}
}  // namespace

store::EventData encode_rule_set_published(const RuleSetPublished& e) {
  return encode_plain(kRuleSetPublishedType, e);
}
store::EventData encode_calendar_published(const CalendarPublished& e) {
  return encode_plain(kCalendarPublishedType, e);
}
store::EventData encode_policy_applied(const SlaPolicyApplied& e) { return encode_plain(kSlaPolicyAppliedType, e); }
Result<RuleSetPublished> decode_rule_set_published(std::string_view payload) {
  return decode_plain<RuleSetPublished>(kRuleSetPublishedType, payload);
}
Result<CalendarPublished> decode_calendar_published(std::string_view payload) {
  return decode_plain<CalendarPublished>(kCalendarPublishedType, payload);
}
Result<SlaPolicyApplied> decode_policy_applied(std::string_view payload) {
  return decode_plain<SlaPolicyApplied>(kSlaPolicyAppliedType, payload);
}

}  // namespace otinish::engine
