// engine/serialization.h (internal to engine/): the one place the engine turns values into bytes.
//
// cereal's portable binary archive (little-endian on every host). Event payloads, projection rows and sealed
// applicants all go through to_bytes()/from_bytes(). Formats are documented in docs/events.md.
#pragma once

#include <istream>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "common/status.h"
#include "common/time.h"
#include "engine/domain.h"

namespace otinish::engine {

template <class Archive>
void serialize(Archive& ar, Location& l) {
  ar(l.district, l.street);
}
template <class Archive>
void serialize(Archive& ar, Applicant& a) {
  ar(a.name, a.phone, a.address);
}
template <class Archive>
void serialize(Archive& ar, SealedApplicant& s) {
  ar(s.scheme, s.key_id, s.bytes);
}
template <class Archive>
void serialize(Archive& ar, AppealId& id) {
  ar(id.centre, id.year, id.sequence);
}

// Timestamps travel as signed microseconds since the epoch.
struct MicrosRef {
  Timestamp& t;
  template <class Archive>
  void save(Archive& ar) const {
    ar(micros_since_epoch(t));
  }
  template <class Archive>
  void load(Archive& ar) {
    std::int64_t us = 0;
    ar(us);
    t = timestamp_from_micros(us);
  }
};

// A read-only streambuf over bytes someone else owns: decoding copies nothing.
class ViewBuf final : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());  // never written: this buffer has no put area
    setg(p, p, p + bytes.size());
  }
};

// An istream over `buf` for one decode: the calling thread's reused stream (constructing a stream costs more
// than decoding a small payload), or a stream of its own when that one is in use (a nested decode).
class StreamLease {
 public:
  explicit StreamLease(std::streambuf* buf) {
    if (std::exchange(in_use(), true)) {
      own_.emplace(buf);
      stream_ = &*own_;
    } else {
      stream_ = &shared();
      stream_->rdbuf(buf);  // also clears the state a previous decode left
    }
  }
  ~StreamLease() {
    if (own_) return;
    stream_->rdbuf(nullptr);
    in_use() = false;
  }
  StreamLease(const StreamLease&) = delete;
  StreamLease& operator=(const StreamLease&) = delete;
  std::istream& stream() { return *stream_; }

 private:
  static std::istream& shared() {
    thread_local std::istream is(nullptr);
    return is;
  }
  static bool& in_use() {
    thread_local bool used = false;
    return used;
  }
  std::optional<std::istream> own_;
  std::istream* stream_;
};

template <typename T>
std::string to_bytes(const T& value) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(const_cast<T&>(value));  // cereal's serialize() is non-const by convention; nothing is modified
  }
  return std::move(os).str();
}

// Decodes `bytes` into `out`. `what` names the thing for the error (e.g. "AppealRegistered v2 payload").
// Errors: kCorruption when the bytes are truncated or malformed.
template <typename T>
Status from_bytes(std::string_view bytes, T& out, std::string_view what) {
  ViewBuf buf(bytes);
  StreamLease lease(&buf);
  try {
    cereal::PortableBinaryInputArchive ar(lease.stream());
    ar(out);
  } catch (const std::exception& e) {
    return Status::Corruption("cannot decode " + std::string(what) + " (" + std::to_string(bytes.size()) +
                              " bytes): " + e.what());
  }
  return Status::Ok();
}

}  // namespace otinish::engine
