#include "api/http/problem.h"

#include <boost/json.hpp>

namespace otinish::api {

namespace json = boost::json;

int http_status_for(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kInvalidArgument: return 422;
    case StatusCode::kConflict: return 409;
    case StatusCode::kAlreadyExists: return 422;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 413;
    case StatusCode::kUnavailable:
    case StatusCode::kIOError: return 503;
    case StatusCode::kCorruption:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

namespace {

struct Kind {
  std::string_view type;
  std::string_view title;
};

Kind kind_for(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound: return {"not-found", "Not found"};
    case StatusCode::kInvalidArgument: return {"invalid-field", "Invalid request content"};
    case StatusCode::kConflict: return {"version-conflict", "Version conflict"};
    case StatusCode::kAlreadyExists: return {"idempotency-key-reused", "Idempotency key reused"};
    case StatusCode::kFailedPrecondition: return {"command-not-allowed", "Command not allowed now"};
    case StatusCode::kResourceExhausted: return {"too-large", "Too large"};
    case StatusCode::kUnavailable: return {"unavailable", "Service unavailable"};
    case StatusCode::kCorruption: return {"corruption", "Stored data failed verification"};
    case StatusCode::kIOError: return {"storage-unavailable", "Storage unavailable"};
    case StatusCode::kOk:
    case StatusCode::kInternal: break;
  }
  return {"internal", "Internal error"};
}

}  // namespace

Problem problem_from_status(const Status& status, std::string field) {
  const Kind k = kind_for(status.code());
  Problem p;
  p.status = http_status_for(status.code());
  p.type = std::string(k.type);
  p.title = std::string(k.title);
  p.detail = status.message();
  p.field = std::move(field);
  p.current_version = status.current_version();
  // Both are temporary: a store recovering from a disk failure or a full disk, a closing store. Nothing of
  // the request was done (an append that may have been is said so in the detail: retry it with its key).
  if (status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kIOError) p.retry_after = 1;
  return p;
}

Problem bad_request(std::string detail, std::string field) {
  return {.status = 400, .type = "malformed-request", .title = "Malformed request", .detail = std::move(detail),
          .field = std::move(field)};
}

Problem invalid_field(std::string detail, std::string field) {
  return {.status = 422, .type = "invalid-field", .title = "Invalid request content", .detail = std::move(detail),
          .field = std::move(field)};
}

Problem not_found(std::string detail) {
  return {.status = 404, .type = "not-found", .title = "Not found", .detail = std::move(detail)};
}

HttpResponse problem_response(const Problem& p) {
  json::object o;
  o["type"] = "urn:otinish:problem:" + p.type;
  o["title"] = p.title;
  o["status"] = p.status;
  o["detail"] = p.detail;
  if (!p.field.empty()) o["field"] = p.field;
  if (p.current_version) o["current_version"] = *p.current_version;
  if (!p.errors.empty()) {
    json::array errors;
    for (const ProblemError& e : p.errors) {
      json::object eo;
      eo["detail"] = e.detail;
      if (!e.field.empty()) eo["field"] = e.field;
      if (e.line > 0) eo["line"] = e.line;
      if (e.column > 0) eo["column"] = e.column;
      if (!e.code.empty()) eo["code"] = e.code;
      errors.push_back(std::move(eo));
    }
    o["errors"] = std::move(errors);
  }
  HttpResponse r;
  r.status = p.status;
  r.content_type = "application/problem+json";
  r.body = json::serialize(o);
  if (p.retry_after > 0) r.set_header("Retry-After", std::to_string(p.retry_after));
  return r;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace otinish::api
