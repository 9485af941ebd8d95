// POST /v1/backups: a verified backup of the data directory while the server runs (api/http/backup.h).
#include <boost/json.hpp>

#include "api/http/problem.h"
#include "api/http/resource_support.h"
#include "api/http/service.h"

namespace otinish::api {

namespace json = boost::json;

HttpResponse ApiService::create_backup(Call& c) {
  if (!options_.backup) {
    return problem_response(Problem{
        .status = 409, .type = "backups-off", .title = "Backups over HTTP are off",
        .detail = "this server has no directory for backups: start it with --backup-dir DIR (or run `otinish "
                  "backup --data DIR --to DIR` while it is stopped)"});
  }
  json::object body;
  if (auto bad = parse_body(c.q, true, &body)) return *bad;
  std::string to;
  if (const json::value* v = body.if_contains("to")) {
    if (!v->is_string()) return problem_response(invalid_field("to must be a path inside the backup directory", "/to"));
    to = std::string(v->as_string());
  }
  auto report = options_.backup(to);
  if (!report.ok()) {
    const Status& s = report.status();
    if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kAlreadyExists) {
      return problem_response(invalid_field(s.message(), "/to"));
    }
    if (s.code() == StatusCode::kConflict) {
      return problem_response(Problem{.status = 409, .type = "backup-running", .title = "A backup is being written",
                                      .detail = s.message(), .retry_after = 5});
    }
    return problem_response(Problem{.status = s.code() == StatusCode::kCorruption ? 500 : 503,
                                    .type = "backup-failed", .title = "The backup failed",
                                    .detail = s.message() + " (nothing was left in its directory)"});
  }
  log_line("info", "backup written",
           json::serialize(json::object{{"dir", report->dir}, {"events", report->events}, {"token", c.who.token_id},
                                        {"seconds", report->seconds}}));
  json::value answer = json::parse(report->manifest());
  answer.as_object()["dir"] = report->dir;
  return json_response(201, answer);
}

}  // namespace otinish::api
