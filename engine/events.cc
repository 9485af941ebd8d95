// The event codec and its upcasters: the one registry of appeal event types, names and schema versions.
// Adding a field: bump the type's version in kRegistry, keep a decoder for every older version that fills the
// new field with its meaning for old events, and describe both in docs/events.md.
#include "engine/events.h"

#include <array>
#include <functional>
#include <unordered_map>

#include "engine/serialization.h"

namespace otinish::engine {

// ---- field layouts (portable binary, in this order) -----------------------------------------------------------

template <class A>
void serialize(A& ar, AppealRegistered& e) {
  ar(e.appeal_id, e.category, e.topic, e.priority, e.channel, e.location, e.text, e.dangerous_topic, e.applicant);
}
template <class A>
void serialize(A& ar, AppealAnsweredOnFirstContact& e) {
  ar(e.answer);
}
template <class A>
void serialize(A& ar, AppealClassified& e) {
  ar(e.category, e.topic, e.priority, e.dangerous_topic, e.reclassification, e.reason);
}
template <class A>
void serialize(A&, AppealSentForReview&) {}
template <class A>
void serialize(A& ar, AppealReturnedToOperator& e) {
  ar(e.reason);
}
template <class A>
void serialize(A& ar, AppealAssigned& e) {
  ar(e.agency, e.forwarded);
}
template <class A>
void serialize(A& ar, AppealRedirected& e) {
  ar(e.from_agency, e.to_agency, e.reason);
}
template <class A>
void serialize(A& ar, AppealAccepted& e) {
  ar(e.agency);
}
template <class A>
void serialize(A&, AppealWorkStarted&) {}
template <class A>
void serialize(A& ar, AppealPutOnHold& e) {
  ar(e.reason);
}
template <class A>
void serialize(A& ar, AppealResumed& e) {
  ar(e.reason);
}
template <class A>
void serialize(A& ar, AppealExtensionRequested& e) {
  ar(MicrosRef{e.new_deadline}, e.reason);
}
template <class A>
void serialize(A& ar, AppealExtensionGranted& e) {
  ar(MicrosRef{e.new_deadline}, MicrosRef{e.cap}, e.reason);
}
template <class A>
void serialize(A& ar, AppealResolved& e) {
  ar(e.outcome, e.result, e.via_parent);
}
template <class A>
void serialize(A& ar, AppealCallbackRecorded& e) {
  ar(e.satisfied, e.note);
}
template <class A>
void serialize(A&, AppealClosed&) {}
template <class A>
void serialize(A& ar, AppealReopened& e) {
  ar(e.reason);
}
template <class A>
void serialize(A& ar, AppealMerged& e) {
  ar(e.parent, e.reason);
}
template <class A>
void serialize(A& ar, AppealChildAttached& e) {
  ar(e.child);
}
template <class A>
void serialize(A& ar, AppealCommented& e) {
  ar(e.text);
}
template <class A>
void serialize(A& ar, AppealNumberAllocated& e) {
  ar(e.command_id);
}

namespace {

// AppealRegistered v1: as v2 without `priority`.
struct AppealRegisteredV1 {
  AppealRegistered* e;
  template <class A>
  void serialize(A& ar) {
    ar(e->appeal_id, e->category, e->topic, e->channel, e->location, e->text, e->dangerous_topic, e->applicant);
  }
};

// Every appeal payload: the stage header, then the body's fields.
template <typename Body>
struct Framed {
  Stage& from;
  Stage& to;
  Body& body;
  template <class A>
  void serialize(A& ar) {
    ar(from, to, body);
  }
};

struct TypeInfo {
  std::string_view type;
  std::uint32_t version;
};

// Names and current versions, indexed like EventBody's alternatives.
constexpr std::array<TypeInfo, std::variant_size_v<EventBody>> kRegistry = {{
    {"AppealRegistered", 2},
    {"AppealAnsweredOnFirstContact", 1},
    {"AppealClassified", 1},
    {"AppealSentForReview", 1},
    {"AppealReturnedToOperator", 1},
    {"AppealAssigned", 1},
    {"AppealRedirected", 1},
    {"AppealAccepted", 1},
    {"AppealWorkStarted", 1},
    {"AppealPutOnHold", 1},
    {"AppealResumed", 1},
    {"AppealExtensionRequested", 1},
    {"AppealExtensionGranted", 1},
    {"AppealResolved", 1},
    {"AppealCallbackRecorded", 1},
    {"AppealClosed", 1},
    {"AppealReopened", 1},
    {"AppealMerged", 1},
    {"AppealChildAttached", 1},
    {"AppealCommented", 1},
}};

using Decoder = std::function<Result<AppealEvent>(std::uint32_t version, std::string_view payload)>;

template <std::size_t I>
Result<AppealEvent> decode_alternative(std::uint32_t version, std::string_view payload) {
  using Body = std::variant_alternative_t<I, EventBody>;
  AppealEvent ev;
  Body body{};
  auto what = [&] { return std::string(kRegistry[I].type) + " v" + std::to_string(version) + " payload"; };
  if (version == kRegistry[I].version) {
    Framed<Body> f{ev.from, ev.to, body};
    OTINISH_RETURN_IF_ERROR(from_bytes(payload, f, what));
  } else if constexpr (std::is_same_v<Body, AppealRegistered>) {
    if (version != 1) {
      return Status::InvalidArgument(what() + ": unknown schema version (this build reads 1 and 2); upgrade otinish");
    }
    AppealRegisteredV1 v1{&body};
    Framed<AppealRegisteredV1> f{ev.from, ev.to, v1};
    OTINISH_RETURN_IF_ERROR(from_bytes(payload, f, what));
    body.priority = Priority::kNormal;
  } else {
    return Status::InvalidArgument(what() + ": unknown schema version (this build reads " +
                                   std::to_string(kRegistry[I].version) + "); upgrade otinish");
  }
  ev.body = std::move(body);
  return ev;
}

template <std::size_t... I>
std::unordered_map<std::string_view, Decoder> make_decoders(std::index_sequence<I...>) {
  return {{kRegistry[I].type, &decode_alternative<I>}...};
}

const std::unordered_map<std::string_view, Decoder>& decoders() {
  static const auto m = make_decoders(std::make_index_sequence<std::variant_size_v<EventBody>>{});
  return m;
}

}  // namespace

std::string_view event_type(const EventBody& body) noexcept { return kRegistry[body.index()].type; }
std::uint32_t current_schema_version(const EventBody& body) noexcept { return kRegistry[body.index()].version; }
bool is_appeal_event_type(std::string_view type) noexcept { return decoders().count(type) != 0; }

store::EventData encode_event(const AppealEvent& event) {
  store::EventData d;
  d.type = std::string(event_type(event.body));
  d.schema_version = current_schema_version(event.body);
  std::visit(
      [&](const auto& body) {
        using Body = std::decay_t<decltype(body)>;
        Stage from = event.from, to = event.to;
        Body copy = body;
        d.payload = to_bytes(Framed<Body>{from, to, copy});
      },
      event.body);
  return d;
}

Result<AppealEvent> decode_event(std::string_view type, std::uint32_t schema_version, std::string_view payload) {
  auto it = decoders().find(type);
  if (it == decoders().end()) {
    return Status::NotFound("event type '" + std::string(type) + "' is not an appeal event this build knows");
  }
  return it->second(schema_version, payload);
}

store::EventData encode_number_allocated(const AppealNumberAllocated& a) {
  store::EventData d;
  d.type = std::string(kAppealNumberAllocatedType);
  d.payload = to_bytes(a);
  return d;
}

Result<AppealNumberAllocated> decode_number_allocated(std::string_view payload) {
  AppealNumberAllocated a;
  OTINISH_RETURN_IF_ERROR(from_bytes(payload, a, "AppealNumberAllocated v1 payload"));
  return a;
}

}  // namespace otinish::engine
