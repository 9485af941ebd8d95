// api/http/problem.h: every HTTP error as RFC 9457 problem+json, and the one map from StatusCode to HTTP.
//
//   {"type": "urn:otinish:problem:version-conflict", "title": "Version conflict", "status": 409,
//    "detail": "appeal SHY-2026-0000001 is at version 4, If-Match said 3: reload it and retry",
//    "field": "If-Match", "current_version": 4}
//
// `type` names the kind of problem (stable; documented in docs/http.md), `title` is the same for every problem
// of that type, `detail` says what to do about this occurrence, and `field` points at the JSON field, query
// parameter or header at fault (a JSON Pointer such as "/location/district" for body fields).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http/http_types.h"
#include "common/status.h"

namespace otinish::api {

// One finding of a validation problem (e.g. a rule-set YAML error at line:column).
struct ProblemError {
  std::string detail;
  std::string field;  // JSON Pointer or "" 
  int line = 0;       // 1-based, 0 when not about a text position
  int column = 0;
  std::string code;   // e.g. "unknown-key"
};

struct Problem {
  int status = 500;
  std::string type;   // short name, e.g. "version-conflict"; the JSON carries "urn:otinish:problem:<type>"
  std::string title;
  std::string detail;
  std::string field;
  std::optional<std::uint64_t> current_version;  // on a version conflict
  std::vector<ProblemError> errors;              // every finding, for 422s
  int retry_after = 0;                           // seconds; > 0 sends Retry-After (503s the client may retry)
};

// The HTTP status for a StatusCode: not_found 404, invalid_argument 422, conflict 409, already_exists 422,
// failed_precondition 409, resource_exhausted 413, unavailable/io_error 503 (with Retry-After),
// corruption/internal 500.
int http_status_for(StatusCode code) noexcept;

// A problem from a Status; `field` names what the caller sent that is at fault, if known. Carries the
// status's current_version (409 on a conflict). 5xx details do not leak internals beyond the status message.
Problem problem_from_status(const Status& status, std::string field = {});

// Shorthands for problems the API raises itself.
Problem bad_request(std::string detail, std::string field = {});        // 400 malformed-request
Problem invalid_field(std::string detail, std::string field);          // 422 invalid-field
Problem not_found(std::string detail);                                  // 404 not-found

// The response: Content-Type application/problem+json.
HttpResponse problem_response(const Problem& p);

// The standard reason phrase of an HTTP status ("Unprocessable Content").
std::string_view reason_phrase(int status) noexcept;

}  // namespace otinish::api
