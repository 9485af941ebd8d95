// Fuzz target for the event decoder: the stored envelope (store/envelope_codec.h, docs/log-format.md) and the
// payload codecs of the events it carries (appeal, SLA, publication and privacy events).
// Properties: decoding never crashes or throws; an envelope that decodes re-encodes to the same bytes; an appeal
// or SLA event that decodes survives encode -> decode unchanged (older schemas are upcast on the way).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/events.h"
#include "engine/privacy/privacy_events.h"
#include "engine/sla_events.h"
#include "store/envelope_codec.h"

namespace {

using namespace otinish;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "property violated: %s\n", what);
  std::abort();
}

void decode_payload(const store::RecordedEvent& e) {
  if (engine::is_appeal_event_type(e.type)) {
    auto ev = engine::decode_event(e.type, e.schema_version, e.payload);
    if (!ev.ok()) return;
    const store::EventData again = engine::encode_event(*ev);
    auto back = engine::decode_event(again.type, again.schema_version, again.payload);
    if (!back.ok() || !(*back == *ev)) fail("an appeal event changed through encode -> decode");
  } else if (engine::is_sla_event_type(e.type)) {
    auto ev = engine::decode_sla_event(e.type, e.schema_version, e.payload);
    if (!ev.ok()) return;
    const store::EventData again = engine::encode_sla_event(*ev);
    auto back = engine::decode_sla_event(again.type, again.schema_version, again.payload);
    if (!back.ok() || !(*back == *ev)) fail("an SLA event changed through encode -> decode");
  } else if (e.type == engine::kRuleSetPublishedType) {
    (void)engine::decode_rule_set_published(e.payload);
  } else if (e.type == engine::kCalendarPublishedType) {
    (void)engine::decode_calendar_published(e.payload);
  } else if (e.type == engine::kSlaPolicyAppliedType) {
    (void)engine::decode_policy_applied(e.payload);
  } else if (e.type == engine::kAppealNumberAllocatedType) {
    (void)engine::decode_number_allocated(e.payload);
  } else if (engine::privacy::is_privacy_event_type(e.type)) {
    (void)engine::privacy::decode_privacy_event(e.type, e.schema_version, e.payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  store::RecordedEvent e;
  if (!store::decode_envelope(bytes, &e).ok()) return 0;
  if (store::encode_envelope(e) != bytes) fail("a decoded envelope re-encodes to other bytes");
  decode_payload(e);
  return 0;
}
