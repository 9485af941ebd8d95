// engine/serialization.h (internal to engine/): the one place the engine turns values into bytes.
//
// The format is cereal's portable binary archive (docs/events.md), written and read here by a small archive
// of our own (cereal's stream-based archives cost more than the decoding itself): a first byte 1 (the writer
// was little-endian), then each field in order: integers, enums (as their underlying type), bool (one byte)
// and double little-endian; a string or a vector as its size (uint64) then its elements; an optional as a
// bool "empty" then the value if present. Event payloads, projection rows and sealed applicants all go through
// to_bytes()/append_bytes()/from_bytes(), with the same serialize() functions cereal would call.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/domain.h"

namespace otinish::engine {

template <class Archive>
void serialize(Archive& ar, Location& l) {
  ar(l.district, l.street);
}
// A string added at the end of a layout that is written only when non-empty, so that values without it keep
// their exact old bytes (sealed applicants written before it existed, and the golden logs).
struct TailIfSet {
  std::string& v;
  template <class Archive>
  void save(Archive& ar) const {
    if (!v.empty()) ar(v);
  }
  template <class Archive>
  void load(Archive& ar) {
    if (!ar.at_end()) ar(v);
  }
};

template <class Archive>
void serialize(Archive& ar, Applicant& a) {
  ar(a.name, a.phone, a.address, TailIfSet{a.original_text});
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

// A field added at the end of a stored row layout (projection rows are not versioned): rows written before it
// existed read it as its default instead of failing.
template <class T>
struct Trailing {
  T& v;
  template <class Archive>
  void save(Archive& ar) const {
    ar(v);
  }
  template <class Archive>
  void load(Archive& ar) {
    if (!ar.at_end()) ar(v);
  }
};

class BinaryWriter;
class BinaryReader;

namespace serialization_detail {
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
}  // namespace serialization_detail

// Writes values in the portable binary format to the end of a string. Not thread-safe; one per encoding.
class BinaryWriter {
 public:
  // Appends the format's first byte to `out`.
  explicit BinaryWriter(std::string& out) : out_(out) { out_.push_back(1); }

  template <class... Ts>
  void operator()(Ts&&... values) {
    (write(values), ...);
  }

 private:
  template <class T>
  void write(const T& v) {
    using namespace serialization_detail;
    if constexpr (std::is_same_v<T, bool>) {
      out_.push_back(v ? 1 : 0);
    } else if constexpr (std::is_arithmetic_v<T>) {
      write_raw(v);
    } else if constexpr (std::is_enum_v<T>) {
      write_raw(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      write_raw(static_cast<std::uint64_t>(v.size()));
      out_.append(v);
    } else if constexpr (IsVector<T>::value) {
      write_raw(static_cast<std::uint64_t>(v.size()));
      for (const auto& e : v) write(e);
    } else if constexpr (IsOptional<T>::value) {
      write(!v.has_value());
      if (v) write(*v);
    } else if constexpr (requires(const T& t, BinaryWriter& w) { t.save(w); }) {
      v.save(*this);
    } else if constexpr (requires(T& t, BinaryWriter& w) { t.serialize(w); }) {
      const_cast<T&>(v).serialize(*this);  // serialize() is non-const by convention; nothing is modified
    } else {
      serialize(*this, const_cast<T&>(v));  // found by argument-dependent lookup
    }
  }
  template <class T>
  void write_raw(T v) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(bytes, bytes + sizeof(T));
    out_.append(bytes, sizeof(T));
  }

  std::string& out_;
};

// Reads values in the portable binary format. After the input ends early every further read leaves its value
// alone and ok() is false. Not thread-safe; one per decoding.
class BinaryReader {
 public:
  // Reads the format's first byte (the writer's byte order) from `in`.
  explicit BinaryReader(std::string_view in) : in_(in) {
    std::uint8_t little = 1;
    read(little);
    swap_ = (little != 1) == (std::endian::native == std::endian::little);
  }

  template <class... Ts>
  void operator()(Ts&&... values) {
    (read(values), ...);
  }
  bool ok() const { return ok_; }
  // Where the input ended early, for error messages.
  std::size_t failed_at() const { return at_; }
  // True when every byte was read (a row written before a Trailing field was added).
  bool at_end() const { return at_ >= in_.size(); }

 private:
  template <class T>
  void read(T& v) {
    using namespace serialization_detail;
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b = 0;
      if (take(&b, 1)) v = b != 0;
    } else if constexpr (std::is_arithmetic_v<T>) {
      read_raw(v);
    } else if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> u{};
      if (read_raw(u)) v = static_cast<T>(u);
    } else if constexpr (std::is_same_v<T, std::string>) {
      std::uint64_t n = 0;
      if (!read_size(n)) return;
      v.assign(in_.data() + at_, n);
      at_ += n;
    } else if constexpr (IsVector<T>::value) {
      std::uint64_t n = 0;
      if (!read_size(n)) return;
      v.resize(n);
      for (auto& e : v) read(e);
    } else if constexpr (IsOptional<T>::value) {
      bool empty = true;
      read(empty);
      if (!ok_ || empty) {
        v.reset();
        return;
      }
      v.emplace();
      read(*v);
    } else if constexpr (requires(T& t, BinaryReader& r) { t.load(r); }) {
      v.load(*this);
    } else if constexpr (requires(T& t, BinaryReader& r) { t.serialize(r); }) {
      v.serialize(*this);
    } else {
      serialize(*this, v);  // found by argument-dependent lookup
    }
  }
  template <class T>
  bool read_raw(T& v) {
    char bytes[sizeof(T)];
    if (!take(bytes, sizeof(T))) return false;
    if (swap_) std::reverse(bytes, bytes + sizeof(T));
    std::memcpy(&v, bytes, sizeof(T));
    return true;
  }
  // A size followed by at least that many bytes (every element of a vector takes one byte or more).
  bool read_size(std::uint64_t& n) {
    if (!read_raw(n)) return false;
    if (n > in_.size() - at_) return ok_ = false;
    return true;
  }
  bool take(void* out, std::size_t n) {
    if (!ok_ || n > in_.size() - at_) return ok_ = false;
    std::memcpy(out, in_.data() + at_, n);
    at_ += n;
    return true;
  }

  std::string_view in_;
  std::size_t at_ = 0;
  bool ok_ = true;
  bool swap_ = false;
};

// Appends the bytes of `value` to `out`.
template <typename T>
void append_bytes(const T& value, std::string& out) {
  BinaryWriter w(out);
  w(value);
}

template <typename T>
std::string to_bytes(const T& value) {
  std::string out;
  append_bytes(value, out);
  return out;
}

// Decodes `bytes` into `out`. `what` names the thing for the error (e.g. "AppealRegistered v2 payload"), or is
// a callable that returns the name (called only on error).
// Errors: kCorruption when the bytes are truncated.
template <typename T, typename What>
Status from_bytes(std::string_view bytes, T& out, const What& what) {
  BinaryReader r(bytes);
  r(out);
  if (r.ok()) return Status::Ok();
  std::string name;
  if constexpr (std::is_invocable_v<const What&>) name = what();
  else name = std::string(what);
  return Status::Corruption("cannot decode " + name + " (" + std::to_string(bytes.size()) +
                            " bytes): the input ends early (at byte " + std::to_string(r.failed_at()) + ")");
}

}  // namespace otinish::engine
