// tests/engine/forwarding_store.h: an EventStore that passes every call to another one, for tests that
// override a call to inject a fault or another writer's activity.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "store/event_store.h"

namespace otinish::engine::testing {

// A log that passes everything to `inner`: tests override append() or scan() to inject a fault or activity.
class ForwardingStore : public store::EventStore {
 public:
  explicit ForwardingStore(store::EventStore& inner) : inner_(inner) {}
  Result<store::AppendResult> append(std::string_view s, store::ExpectedVersion e, std::span<const store::EventData> ev,
                                     const store::AppendOptions& o) override {
    return inner_.append(s, e, ev, o);
  }
  Result<std::vector<store::RecordedEvent>> read_stream(std::string_view s, std::uint64_t v, store::Direction d,
                                                        std::size_t n) const override {
    return inner_.read_stream(s, v, d, n);
  }
  Result<std::vector<store::RecordedEvent>> read_all(std::uint64_t p, std::size_t n) const override {
    return inner_.read_all(p, n);
  }
  Result<std::uint64_t> scan(std::uint64_t p, std::uint64_t n,
                             const std::function<bool(const store::RecordedEvent&)>& v) const override {
    return inner_.scan(p, n, v);
  }
  Result<std::uint64_t> stream_version(std::string_view s) const override { return inner_.stream_version(s); }
  std::uint64_t head_position() const override { return inner_.head_position(); }
  Hash256 head_hash() const override { return inner_.head_hash(); }
  std::uint64_t recoveries() const override { return inner_.recoveries(); }
  bool exclusive() const override { return inner_.exclusive(); }
  std::unique_ptr<store::Subscription> subscribe(std::uint64_t a, store::EventHandler h) override {
    return inner_.subscribe(a, std::move(h));
  }

 protected:
  store::EventStore& inner_;
};

}  // namespace otinish::engine::testing
