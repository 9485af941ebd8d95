// store/append_rules.h (internal): what every EventStore implementation checks of an append, and what an
// idempotency key remembers of it, so that the RocksDB and the JetStream stores refuse the same appends with the
// same messages and treat the same re-sent appends as the same.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "common/hash.h"
#include "common/status.h"
#include "store/event_store.h"

namespace otinish::store {

inline constexpr std::size_t kMaxStreamNameBytes = 256;
inline constexpr std::size_t kMaxTypeBytes = 128;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;

struct AppendLimits {
  std::size_t max_event_bytes = 1 << 20;
  std::size_t max_events_per_append = 10'000;
};

// kInvalidArgument for an empty, oversized or NUL-holding stream name.
Status validate_stream_name(std::string_view stream);
// The errors EventStore::append lists as kInvalidArgument and kResourceExhausted, checked before anything is
// written.
Status validate_append(std::string_view stream, std::span<const EventData> events, const AppendOptions& options,
                       const AppendLimits& limits);
// An event's size as the limit counts it: type, payload and metadata.
std::size_t event_bytes(const EventData& e);
// Copies what the caller gives of an event into the recorded envelope: its id (a random one when nil), type,
// schema version, actor, correlation and causation ids and payload. The store fills in the rest (stream,
// position, version, time, key, hashes).
void take_event_data(const EventData& d, RecordedEvent* e);
// What an idempotency key compares: the stream and each event's type, schema version and payload (not the
// event ids or metadata, which a re-sent request may carry anew).
Hash256 append_digest(std::string_view stream, std::span<const EventData> events);

}  // namespace otinish::store
