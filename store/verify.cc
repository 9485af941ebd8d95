#include "store/event_store.h"

namespace otinish::store {

std::string VerifyReport::to_string() const {
  if (ok) {
    std::string s = "ok, " + std::to_string(events) + " events, head hash " + to_hex(head_hash);
    if (indexes_checked) s += "; indexes ok, " + std::to_string(streams) + " streams";
    return s;
  }
  if (indexes_checked) {
    return "FAILED at position " + std::to_string(bad_position) + ": " + problem + " (the hash chain of " +
           std::to_string(events) + " events verified; the index does not match it)";
  }
  return "FAILED at position " + std::to_string(bad_position) + ": " + problem + " (" + std::to_string(events) +
         " events before it verified)";
}

Result<VerifyReport> EventStore::verify_indexes(const std::function<void(std::uint64_t)>&) const {
  return Status::FailedPrecondition("this event store keeps no indexes that can be verified");
}

Result<VerifyReport> verify_chain(const EventStore& store, const std::function<void(std::uint64_t)>& progress) {
  VerifyReport report;
  Hash256 prev{};
  std::uint64_t expected = 1;
  auto visit = [&](const RecordedEvent& e) {
    auto fail = [&](std::string problem) {
      report.ok = false;
      report.bad_position = expected;
      report.problem = std::move(problem);
      return false;
    };
    if (e.position != expected) return fail("envelope says position " + std::to_string(e.position));
    if (e.prev_hash != prev) {
      return fail("prev_hash " + to_hex(e.prev_hash) + " does not match the previous event's hash " + to_hex(prev));
    }
    const Hash256 computed = compute_event_hash(e);
    if (computed != e.hash) {
      return fail("hash mismatch: stored " + to_hex(e.hash) + ", computed " + to_hex(computed) +
                  " (the envelope's bytes were altered)");
    }
    prev = e.hash;
    ++report.events;
    if (progress && (expected & 0xFFFF) == 0) progress(expected);
    ++expected;
    return true;
  };
  auto n = store.scan(1, ~std::uint64_t{0}, visit);
  if (!n.ok()) {
    if (n.status().code() != StatusCode::kCorruption) return n.status();
    // An envelope that does not decode, or a gap, is a verification failure at that position, not an I/O error.
    report.ok = false;
    report.bad_position = expected;
    report.problem = n.status().message();
  }
  if (report.ok) report.head_hash = prev;
  return report;
}

Result<VerifyReport> verify_log(const EventStore& store, const VerifyOptions& options) {
  OTINISH_ASSIGN_OR_RETURN(VerifyReport report, verify_chain(store, options.progress));
  if (!options.indexes || !report.ok) return report;
  OTINISH_ASSIGN_OR_RETURN(VerifyReport indexes, store.verify_indexes(options.progress));
  report.indexes_checked = true;
  report.streams = indexes.streams;
  if (!indexes.ok) {
    report.ok = false;
    report.bad_position = indexes.bad_position;
    report.problem = std::move(indexes.problem);
  }
  return report;
}

}  // namespace otinish::store
