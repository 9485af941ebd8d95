// common/status.h: errors as values, shared by every otinish library.
//
// This folder owns only vocabulary types that every layer needs (Status, Result<T>). It must not know of
// events, appeals, rules or HTTP.
//
// Usage:
//   Result<Position> r = store.append(...);
//   if (!r.ok()) return r.status();          // propagate
//   Position p = *r;                          // or r.value()
//
//   Status s = do_something();
//   if (s.code() == StatusCode::kConflict) ...
//   s.IgnoreError();                          // the explicit, greppable way to drop an error
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace otinish {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kNotFound,         // the thing named does not exist (stream, appeal, rule, file)
  kInvalidArgument,  // the caller's input is wrong; retrying the same input fails again
  kConflict,         // optimistic concurrency: expected version does not match; retry on fresh state
  kAlreadyExists,    // a unique key (e.g. idempotency key) is taken by something different
  kFailedPrecondition,  // the operation is not allowed in the current state
  kCorruption,       // stored bytes do not match what was written (hash, decode, torn write)
  kIOError,          // the operating system or RocksDB failed to read or write
  kResourceExhausted,   // a size or count limit was exceeded
  kUnavailable,      // the component is shutting down or not started
  kInternal,         // a bug: an invariant was broken
};

// Returns the stable lower-case name of a code ("conflict", "not_found", ...), for logs and APIs.
std::string_view status_code_name(StatusCode code) noexcept;

// The outcome of a fallible call: kOk, or a code and a message that says what was wrong, where, and what to do.
// Thread-compatible value type.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() noexcept { return {}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  // Attaches the stream's current version to a kConflict status (the store does this on an expected-version
  // mismatch, so that an HTTP 409 or a retry can say what the version is now).
  Status&& with_current_version(std::uint64_t v) && noexcept {
    current_version_ = v;
    return std::move(*this);
  }
  // For kConflict from an append: the stream's version when the append was refused.
  std::optional<std::uint64_t> current_version() const noexcept { return current_version_; }

  bool ok() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // "conflict: stream appeal-SHY-2026-0000001 is at version 3, expected 2"
  std::string ToString() const;

  // Drops the error on purpose. Grep for IgnoreError to find every such place.
  void IgnoreError() const noexcept {}

  friend bool operator==(const Status& a, const Status& b) noexcept {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::optional<std::uint64_t> current_version_;
};

// A value of T or a non-OK Status (abseil's StatusOr). Accessing the value of an error is a programmer error
// and aborts with the status in the message.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor): implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from an OK status without value");
  }

  bool ok() const noexcept { return std::holds_alternative<T>(v_); }
  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }

  T& value() & { check(); return std::get<T>(v_); }
  const T& value() const& { check(); return std::get<T>(v_); }
  T&& value() && { check(); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  T value_or(T fallback) const& { return ok() ? std::get<T>(v_) : std::move(fallback); }

 private:
  void check() const;
  std::variant<T, Status> v_;
};

namespace detail {
[[noreturn]] void die_on_bad_result_access(const Status& s);
}  // namespace detail

template <typename T>
void Result<T>::check() const {
  if (!ok()) detail::die_on_bad_result_access(std::get<Status>(v_));
}

}  // namespace otinish

// Propagates a non-OK Status from an expression returning Status.
#define OTINISH_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    ::otinish::Status otinish_status_ = (expr);       \
    if (!otinish_status_.ok()) return otinish_status_; \
  } while (0)

#define OTINISH_CONCAT_INNER_(a, b) a##b
#define OTINISH_CONCAT_(a, b) OTINISH_CONCAT_INNER_(a, b)
// Declares `lhs` from a Result-returning expression, or returns its error.
#define OTINISH_ASSIGN_OR_RETURN(lhs, expr) \
  OTINISH_ASSIGN_OR_RETURN_IMPL_(OTINISH_CONCAT_(otinish_result_, __LINE__), lhs, expr)
#define OTINISH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
