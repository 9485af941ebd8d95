// Model-based property test: random sequences of appends (several streams, all kinds of expected versions,
// repeated idempotency keys), reads and reopens, checked against a simple in-memory model of the log.
// Invariants: the global order has no gaps, stream versions are dense, every read equals the model, refused
// appends write nothing, and the chain verifies.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <map>
#include <sstream>

#include "store/jetstream_store.h"
#include "store/rocks_store.h"
#include "tests/store/nats_cluster.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

struct ModelEvent {
  std::string stream;
  std::uint64_t version;
  std::string type;
  std::string payload;
};

struct Model {
  std::vector<ModelEvent> log;  // index = position - 1
  std::map<std::string, std::uint64_t> versions;
  std::map<std::string, std::pair<AppendResult, std::vector<std::string>>> keys;  // key -> result, payloads+stream
};

enum class OpKind { kAppend, kReadStream, kReadAll, kReopen };

struct Op {
  OpKind kind;
  int stream;          // 0..4
  int expected_mode;   // 0 any, 1 exact current, 2 exact wrong, 3 no_stream
  int events;          // 1..3
  int key;             // -1 none, else 0..3 (reused on purpose)
  std::string payload;
  std::uint64_t from;
};

rc::Gen<Op> gen_op() {
  return rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::weightedElement<OpKind>({{12, OpKind::kAppend},
                                                                 {3, OpKind::kReadStream},
                                                                 {3, OpKind::kReadAll},
                                                                 {1, OpKind::kReopen}})),
      rc::gen::set(&Op::stream, rc::gen::inRange(0, 5)), rc::gen::set(&Op::expected_mode, rc::gen::inRange(0, 4)),
      rc::gen::set(&Op::events, rc::gen::inRange(1, 4)), rc::gen::set(&Op::key, rc::gen::inRange(-3, 4)),
      rc::gen::set(&Op::payload, rc::gen::container<std::string>(rc::gen::inRange<char>('a', 'e'))),
      rc::gen::set(&Op::from, rc::gen::inRange<std::uint64_t>(0, 40)));
}

std::vector<std::string> digest_of(const std::string& stream, const std::vector<EventData>& events) {
  std::vector<std::string> d{stream};
  for (const auto& e : events) d.push_back(e.type + "|" + e.payload);
  return d;
}

void apply_append(EventStore& store, Model& m, const Op& op) {
  const std::string stream = "appeal-" + std::to_string(op.stream);
  const std::uint64_t current = m.versions[stream];
  ExpectedVersion ev = op.expected_mode == 0   ? ExpectedVersion::any()
                       : op.expected_mode == 1 ? ExpectedVersion::exact(current)
                       : op.expected_mode == 2 ? ExpectedVersion::exact(current + 1)
                                               : ExpectedVersion::no_stream();
  std::vector<EventData> events;
  for (int i = 0; i < op.events; ++i) {
    events.push_back(testing::make_event("T" + std::to_string(i), op.payload + std::to_string(i)));
  }
  AppendOptions o;
  if (op.key >= 0) o.idempotency_key = "key-" + std::to_string(op.key);
  auto r = store.append(stream, ev, events, o);

  if (!o.idempotency_key.empty()) {
    if (auto it = m.keys.find(o.idempotency_key); it != m.keys.end()) {
      if (it->second.second == digest_of(stream, events)) {
        RC_ASSERT(r.ok());
        RC_ASSERT(r->deduplicated);
        RC_ASSERT(r->first_position == it->second.first.first_position);
        RC_ASSERT(r->last_position == it->second.first.last_position);
      } else {
        RC_ASSERT(r.status().code() == StatusCode::kAlreadyExists);
      }
      return;
    }
  }
  const bool matches = ev.is_any() || ev.version() == current;
  if (!matches) {
    RC_ASSERT(r.status().code() == StatusCode::kConflict);
    RC_ASSERT(r.status().current_version() == current);
    return;
  }
  RC_ASSERT(r.ok());
  AppendResult expected{m.log.size() + 1, m.log.size() + events.size(), current + events.size(), false};
  RC_ASSERT(*r == expected);
  for (std::size_t i = 0; i < events.size(); ++i) {
    m.log.push_back({stream, current + 1 + i, events[i].type, events[i].payload});
  }
  m.versions[stream] = current + events.size();
  if (!o.idempotency_key.empty()) m.keys[o.idempotency_key] = {expected, digest_of(stream, events)};
}

void check_event(const RecordedEvent& got, const Model& m) {
  RC_ASSERT(got.position >= 1 && got.position <= m.log.size());
  const ModelEvent& want = m.log[got.position - 1];
  RC_ASSERT(got.stream == want.stream);
  RC_ASSERT(got.stream_version == want.version);
  RC_ASSERT(got.type == want.type);
  RC_ASSERT(got.payload == want.payload);
}

// Runs `ops` against the log `open` opens (the same log at every call: a reopen on RocksDB, a new node on
// JetStream), checking it against the model after each.
void check_against_model(const std::vector<Op>& ops, const std::function<Result<std::unique_ptr<EventStore>>()>& open) {
  auto opened = open();
  RC_ASSERT(opened.ok());
  auto store = std::move(opened).value();
  Model m;
  for (const Op& op : ops) {
    switch (op.kind) {
      case OpKind::kAppend:
        apply_append(*store, m, op);
        break;
      case OpKind::kReadStream: {
        const std::string stream = "appeal-" + std::to_string(op.stream);
        auto r = store->read_stream(stream, 1, Direction::kForward, 1000);
        if (m.versions[stream] == 0) {
          RC_ASSERT(r.status().code() == StatusCode::kNotFound);
          break;
        }
        RC_ASSERT(r.ok());
        RC_ASSERT(r->size() == m.versions[stream]);
        for (std::size_t i = 0; i < r->size(); ++i) {
          RC_ASSERT((*r)[i].stream_version == i + 1);  // dense versions
          check_event((*r)[i], m);
        }
        break;
      }
      case OpKind::kReadAll: {
        auto r = store->read_all(op.from, 10);
        RC_ASSERT(r.ok());
        const std::uint64_t first = std::max<std::uint64_t>(op.from, 1);
        const std::uint64_t expect_n = first > m.log.size() ? 0 : std::min<std::uint64_t>(10, m.log.size() - first + 1);
        RC_ASSERT(r->size() == expect_n);
        for (std::size_t i = 0; i < r->size(); ++i) {
          RC_ASSERT((*r)[i].position == first + i);  // no gaps
          check_event((*r)[i], m);
        }
        break;
      }
      case OpKind::kReopen: {
        store.reset();
        auto again = open();
        RC_ASSERT(again.ok());
        store = std::move(again).value();
        break;
      }
    }
    RC_ASSERT(store->head_position() == m.log.size());
  }
  auto report = verify_chain(*store);
  RC_ASSERT(report.ok());
  RC_ASSERT(report->ok);
  RC_ASSERT(report->events == m.log.size());
  RC_ASSERT(report->head_hash == store->head_hash());
}

RC_GTEST_PROP(StoreModelTest, LogMatchesModelAndChainVerifiesAfterAnyOperationSequence, ()) {
  const auto ops = *rc::gen::resize(60, rc::gen::container<std::vector<Op>>(gen_op()));
  testing::TempDir dir;
  check_against_model(ops, [&] { return open_rocks_store(dir.path()); });
}

// The same model, unchanged, on a three-server JetStream cluster: each case a stream of its own, a "reopen" a
// new node that derives the log from the stream. 25 cases instead of rapidcheck's 100 (RC_PARAMS still sets the
// seed): each case creates a replicated stream, about half a second under the sanitizers, and CI's time is kept.
TEST(StoreModelTest, OnJetStreamTheLogMatchesTheModelToo) {
  testing::Cluster& cluster = testing::Cluster::get();
  ASSERT_TRUE(cluster.ok()) << cluster.error();
  int n = 0;
  rc::detail::TestParams params = rc::detail::configuration().testParams;
  params.maxSuccess = 25;
  rc::detail::TestMetadata metadata;
  metadata.id = "StoreModelTest/OnJetStreamTheLogMatchesTheModelToo";
  metadata.description = "OnJetStreamTheLogMatchesTheModelToo";
  const auto result = rc::detail::checkTestable(
      [&] {
        const auto ops = *rc::gen::resize(30, rc::gen::container<std::vector<Op>>(gen_op()));
        JetStreamOptions o;
        o.urls = cluster.urls();
        o.stream = "MODEL" + std::to_string(getpid()) + "x" + std::to_string(++n);
        o.subject_prefix = "model" + std::to_string(getpid()) + "x" + std::to_string(n);
        check_against_model(ops, [&] { return open_jetstream_store(o); });
      },
      metadata, params);
  if (!result.is<rc::detail::SuccessResult>()) {
    std::ostringstream message;
    rc::detail::printResultMessage(result, message);
    FAIL() << message.str();
  }
}

}  // namespace
}  // namespace otinish::store
