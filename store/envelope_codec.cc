#include "store/envelope_codec.h"

#include <algorithm>

#include "store/coding.h"
#include "store/event_store.h"

namespace otinish::store {

using coding::put_fixed32;
using coding::put_fixed64;
using coding::put_length_prefixed;

void encode_envelope_body(const RecordedEvent& e, std::string* out) {
  out->push_back(static_cast<char>(kEnvelopeFormat));
  put_fixed64(out, e.position);
  put_fixed64(out, e.stream_version);
  put_fixed64(out, static_cast<std::uint64_t>(micros_since_epoch(e.recorded_at)));
  put_fixed32(out, e.schema_version);
  out->append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
  for (const std::string* s : {&e.stream, &e.type, &e.actor.user, &e.actor.role, &e.actor.agency,
                               &e.correlation_id, &e.causation_id, &e.idempotency_key, &e.payload}) {
    put_length_prefixed(out, *s);
  }
  out->append(reinterpret_cast<const char*>(e.prev_hash.data()), e.prev_hash.size());
}

std::string encode_envelope(const RecordedEvent& e) {
  std::string out;
  out.reserve(128 + e.stream.size() + e.type.size() + e.payload.size());
  encode_envelope_body(e, &out);
  out.append(reinterpret_cast<const char*>(e.hash.data()), e.hash.size());
  return out;
}

Hash256 compute_event_hash(const RecordedEvent& e) {
  std::string body;
  body.reserve(128 + e.stream.size() + e.type.size() + e.payload.size());
  encode_envelope_body(e, &body);
  return blake2b_256(body);
}

Status decode_envelope(std::string_view bytes, RecordedEvent* e) {
  coding::Reader r(bytes);
  auto bad = [](const char* field) {
    return Status::Corruption(std::string("envelope truncated or malformed at field '") + field + "'");
  };
  std::uint8_t format;
  if (!r.get_u8(&format)) return bad("format");
  if (format != kEnvelopeFormat) {
    return Status::Corruption("unknown envelope format " + std::to_string(format) + " (this build reads format " +
                              std::to_string(kEnvelopeFormat) + ")");
  }
  std::uint64_t recorded_us;
  if (!r.get_fixed64(&e->position)) return bad("position");
  if (!r.get_fixed64(&e->stream_version)) return bad("stream_version");
  if (!r.get_fixed64(&recorded_us)) return bad("recorded_at");
  e->recorded_at = timestamp_from_micros(static_cast<std::int64_t>(recorded_us));
  if (!r.get_fixed32(&e->schema_version)) return bad("schema_version");
  std::string_view raw;
  if (!r.get_bytes(16, &raw)) return bad("id");
  std::copy(raw.begin(), raw.end(), e->id.bytes.begin());
  if (!r.get_length_prefixed(&e->stream)) return bad("stream");
  if (!r.get_length_prefixed(&e->type)) return bad("type");
  if (!r.get_length_prefixed(&e->actor.user)) return bad("actor.user");
  if (!r.get_length_prefixed(&e->actor.role)) return bad("actor.role");
  if (!r.get_length_prefixed(&e->actor.agency)) return bad("actor.agency");
  if (!r.get_length_prefixed(&e->correlation_id)) return bad("correlation_id");
  if (!r.get_length_prefixed(&e->causation_id)) return bad("causation_id");
  if (!r.get_length_prefixed(&e->idempotency_key)) return bad("idempotency_key");
  if (!r.get_length_prefixed(&e->payload)) return bad("payload");
  if (!r.get_bytes(32, &raw)) return bad("prev_hash");
  std::copy(raw.begin(), raw.end(), e->prev_hash.begin());
  if (!r.get_bytes(32, &raw)) return bad("hash");
  std::copy(raw.begin(), raw.end(), e->hash.begin());
  if (r.remaining() != 0) return Status::Corruption(std::to_string(r.remaining()) + " trailing bytes after hash");
  return Status::Ok();
}

}  // namespace otinish::store
