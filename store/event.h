// store/event.h: the event envelope, as an appender supplies it and as the log records it.
//
// The byte layout of a recorded envelope is documented in docs/log-format.md and pinned by a golden test.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/hash.h"
#include "common/time.h"

namespace otinish::store {

// A random (or caller-chosen, deterministic) 128-bit event id. All zeros means "not set".
struct EventId {
  std::array<std::uint8_t, 16> bytes{};

  // 16 random bytes from libsodium's CSPRNG.
  static EventId random();
  // A deterministic id derived from `seed` (BLAKE2b, first 16 bytes): the same seed gives the same id, so a
  // retried timer firing or import cannot produce two different events.
  static EventId derived(std::string_view seed);

  bool is_nil() const noexcept;
  std::string to_hex() const;
  friend bool operator==(const EventId&, const EventId&) = default;
};

// Who caused an event. Empty fields mean "not applicable" (e.g. the SLA service has no agency).
struct Actor {
  std::string user;    // a user or service name, e.g. "operator:aigerim" or "sla-service"
  std::string role;    // operator, inspector, controller, agency, admin, auditor, system
  std::string agency;  // the agency the user acts for, if any
  friend bool operator==(const Actor&, const Actor&) = default;
};

// One event as the caller appends it. The store fills in position, version, time and hashes.
struct EventData {
  std::string type;                 // e.g. "AppealRegistered"; REQUIRED non-empty, at most 128 bytes
  std::uint32_t schema_version = 1; // of `payload`; readers upcast old versions
  std::string payload;              // opaque bytes (cereal portable binary in otinish)
  EventId id;                       // nil: the store assigns EventId::random()
  Actor actor;
  std::string correlation_id;       // the conversation/request this event belongs to
  std::string causation_id;         // the event or command that caused this one
};

// An event as recorded in the log: the full envelope.
struct RecordedEvent {
  std::uint64_t position = 0;        // global position, dense, from 1
  std::string stream;                // e.g. "appeal-SHY-2026-0000123"
  std::uint64_t stream_version = 0;  // version within the stream, dense, from 1
  EventId id;
  std::string type;
  std::uint32_t schema_version = 1;
  Timestamp recorded_at;             // from the store's injected Clock; never decreases along the log
  Actor actor;
  std::string correlation_id;
  std::string causation_id;
  std::string idempotency_key;       // of the append that wrote this event, or empty
  std::string payload;
  Hash256 prev_hash{};               // hash of the event at position-1 (all zeros for position 1)
  Hash256 hash{};                    // BLAKE2b-256 over the canonical envelope, which includes prev_hash

  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

}  // namespace otinish::store
