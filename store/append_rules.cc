#include "store/append_rules.h"

#include <string>

#include "store/coding.h"

namespace otinish::store {

Status validate_stream_name(std::string_view stream) {
  if (stream.empty()) return Status::InvalidArgument("stream name is empty");
  if (stream.size() > kMaxStreamNameBytes) {
    return Status::InvalidArgument("stream name is " + std::to_string(stream.size()) + " bytes; the limit is " +
                                   std::to_string(kMaxStreamNameBytes));
  }
  if (stream.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("stream name contains a NUL byte");
  }
  return Status::Ok();
}

std::size_t event_bytes(const EventData& e) {
  return e.type.size() + e.payload.size() + e.actor.user.size() + e.actor.role.size() + e.actor.agency.size() +
         e.correlation_id.size() + e.causation_id.size();
}

Status validate_append(std::string_view stream, std::span<const EventData> events, const AppendOptions& options,
                       const AppendLimits& limits) {
  OTINISH_RETURN_IF_ERROR(validate_stream_name(stream));
  if (events.empty()) return Status::InvalidArgument("append to " + std::string(stream) + " has no events");
  if (events.size() > limits.max_events_per_append) {
    return Status::ResourceExhausted("append to " + std::string(stream) + " has " + std::to_string(events.size()) +
                                     " events; the limit is " + std::to_string(limits.max_events_per_append));
  }
  if (options.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return Status::InvalidArgument("idempotency key is " + std::to_string(options.idempotency_key.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxIdempotencyKeyBytes));
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    const EventData& e = events[i];
    const std::string at = "event " + std::to_string(i) + " of the append to " + std::string(stream);
    if (e.type.empty()) return Status::InvalidArgument(at + " has an empty type");
    if (e.type.size() > kMaxTypeBytes) {
      return Status::InvalidArgument(at + " has a type of " + std::to_string(e.type.size()) + " bytes; the limit is " +
                                     std::to_string(kMaxTypeBytes));
    }
    if (std::size_t n = event_bytes(e); n > limits.max_event_bytes) {
      return Status::ResourceExhausted(at + " is " + std::to_string(n) + " bytes; the limit is " +
                                       std::to_string(limits.max_event_bytes) + " (StoreOptions::max_event_bytes)");
    }
  }
  return Status::Ok();
}

void take_event_data(const EventData& d, RecordedEvent* e) {
  e->id = d.id.is_nil() ? EventId::random() : d.id;
  e->type = d.type;
  e->schema_version = d.schema_version;
  e->actor = d.actor;
  e->correlation_id = d.correlation_id;
  e->causation_id = d.causation_id;
  e->payload = d.payload;
}

Hash256 append_digest(std::string_view stream, std::span<const EventData> events) {
  Blake2b h;
  std::string buf;
  coding::put_length_prefixed(&buf, stream);
  for (const EventData& e : events) {
    coding::put_length_prefixed(&buf, e.type);
    coding::put_fixed32(&buf, e.schema_version);
    coding::put_length_prefixed(&buf, e.payload);
    h.update(buf);
    buf.clear();
  }
  h.update(buf);
  return h.finish();
}

}  // namespace otinish::store
