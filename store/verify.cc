#include "store/event_store.h"

namespace otinish::store {

std::string VerifyReport::to_string() const {
  if (ok) {
    std::string s = "ok, " + std::to_string(events) + " events, head hash " + to_hex(head_hash);
    if (tree_checked) s += ", tree root " + merkle::to_hex(tree_root);
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

void EventStore::append_async(std::string stream, ExpectedVersion expected, std::vector<EventData> events,
                              AppendOptions options, AppendCallback done) {
  done(append(stream, expected, events, options));
}

Result<VerifyReport> EventStore::verify_indexes(const std::function<void(std::uint64_t)>&) const {
  return Status::FailedPrecondition("this event store keeps no indexes that can be verified");
}

Status EventStore::checkpoint_to(const std::string&) {
  return Status::FailedPrecondition("this event store cannot write a copy of itself (use its own backups)");
}

Result<merkle::Hash> EventStore::tree_node(int, std::uint64_t) const {
  return Status::FailedPrecondition("this event store keeps no Merkle tree");
}

merkle::NodeReader EventStore::tree_reader() const {
  return [this](int level, std::uint64_t index) { return tree_node(level, index); };
}

namespace {

Status check_size(const EventStore& store, std::uint64_t size) {
  const std::uint64_t head = store.head_position();
  if (size > head) {
    return Status::InvalidArgument("the log holds " + std::to_string(head) + " events; no tree of size " +
                                   std::to_string(size) + " exists yet");
  }
  return Status::Ok();
}

merkle::NodeReader reader_of(const EventStore& store) { return store.tree_reader(); }

}  // namespace

Result<merkle::Hash> EventStore::tree_root(std::uint64_t size) const {
  OTINISH_RETURN_IF_ERROR(check_size(*this, size));
  return merkle::root(size, reader_of(*this));
}

Result<std::vector<merkle::Hash>> EventStore::inclusion_proof(std::uint64_t position, std::uint64_t size) const {
  OTINISH_RETURN_IF_ERROR(check_size(*this, size));
  if (position == 0 || position > size) {
    return Status::InvalidArgument("position " + std::to_string(position) + " is not in a tree of size " +
                                   std::to_string(size) + " (positions 1.." + std::to_string(size) + ")");
  }
  return merkle::inclusion_proof(position - 1, size, reader_of(*this));
}

Result<std::vector<merkle::Hash>> EventStore::consistency_proof(std::uint64_t from_size, std::uint64_t to_size) const {
  OTINISH_RETURN_IF_ERROR(check_size(*this, to_size));
  return merkle::consistency_proof(from_size, to_size, reader_of(*this));
}

namespace {

// The chain walk: fills `report` and the tree recomputed from the events walked.
Result<VerifyReport> walk_chain(const EventStore& store, const std::function<void(std::uint64_t)>& progress,
                                merkle::Frontier& tree) {
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
    tree.append(merkle::leaf_hash(e.hash), [](int, std::uint64_t, const merkle::Hash&) {});
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

// Compares the store's tree root at the walked size with the recomputed one (a store without a tree: skipped).
void check_tree_root(const EventStore& store, const merkle::Frontier& tree, VerifyReport& report) {
  auto stored = store.tree_root(report.events);
  if (!stored.ok() && stored.status().code() == StatusCode::kFailedPrecondition) return;  // no tree kept
  if (!stored.ok() || *stored != tree.root()) {
    report.ok = false;
    report.bad_position = report.events;
    report.problem = stored.ok() ? "the stored Merkle tree's root at size " + std::to_string(report.events) + " is " +
                                       merkle::to_hex(*stored) + ", but the events give " + merkle::to_hex(tree.root())
                                 : "the Merkle tree cannot be read: " + stored.status().message();
    return;
  }
  report.tree_checked = true;
  report.tree_root = *stored;
}

}  // namespace

Result<VerifyReport> verify_chain(const EventStore& store, const std::function<void(std::uint64_t)>& progress) {
  merkle::Frontier tree;
  OTINISH_ASSIGN_OR_RETURN(VerifyReport report, walk_chain(store, progress, tree));
  if (report.ok) check_tree_root(store, tree, report);
  return report;
}

Result<VerifyReport> verify_log(const EventStore& store, const VerifyOptions& options) {
  merkle::Frontier tree;
  OTINISH_ASSIGN_OR_RETURN(VerifyReport report, walk_chain(store, options.progress, tree));
  if (!report.ok) return report;
  if (options.indexes) {
    // Before the root: a wrong node is then named by its level and index, not only as a wrong root.
    OTINISH_ASSIGN_OR_RETURN(VerifyReport indexes, store.verify_indexes(options.progress));
    report.indexes_checked = true;
    report.streams = indexes.streams;
    if (!indexes.ok) {
      report.ok = false;
      report.bad_position = indexes.bad_position;
      report.problem = std::move(indexes.problem);
      return report;
    }
  }
  check_tree_root(store, tree, report);
  return report;
}

}  // namespace otinish::store
