// common/time.h: the one notion of time in otinish, and the one Clock.
//
// The log stores UTC as microseconds since the Unix epoch. Local time exists only inside calendars (rules/).
// Nothing in otinish reads the wall clock except SystemClock; tests inject a ManualClock and run years of SLA
// time in milliseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace otinish {

// A UTC instant with microsecond resolution.
using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

inline Timestamp timestamp_from_micros(std::int64_t us) noexcept {
  return Timestamp(std::chrono::microseconds(us));
}
inline std::int64_t micros_since_epoch(Timestamp t) noexcept { return t.time_since_epoch().count(); }

// "2026-03-20T09:15:00.000000Z"
std::string format_utc(Timestamp t);
// Parses "2026-03-20T09:15:00Z", "2026-03-20T09:15:00.123456Z" or with an offset "2026-03-20T14:15:00+05:00".
// Returns false on anything else.
bool parse_utc(const std::string& text, Timestamp* out);

// A source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const noexcept = 0;
};

// The wall clock. The only place otinish reads it.
class SystemClock final : public Clock {
 public:
  Timestamp now() const noexcept override;
  // A process-wide instance (stateless, so this is not mutable global state).
  static const SystemClock& instance() noexcept;
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) noexcept : us_(micros_since_epoch(start)) {}
  Timestamp now() const noexcept override { return timestamp_from_micros(us_.load(std::memory_order_acquire)); }
  void set(Timestamp t) noexcept { us_.store(micros_since_epoch(t), std::memory_order_release); }
  void advance(std::chrono::microseconds d) noexcept { us_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> us_;
};

}  // namespace otinish
