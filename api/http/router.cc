#include "api/http/router.h"

#include <algorithm>

#include "api/http/problem.h"

namespace otinish::api {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

void Router::add(std::string method, std::string pattern, RouteHandler handler) {
  Entry e{.method = std::move(method), .pattern = std::move(pattern), .handler = std::move(handler)};
  for (std::string_view s : split_path(e.pattern)) e.segments.emplace_back(s);
  entries_.push_back(std::move(e));
}

namespace {

// A parameter segment, "{name}" or "{name}<suffix>": its name and suffix. False for a literal segment.
bool parse_param(std::string_view seg, std::string_view* name, std::string_view* suffix) {
  const std::size_t close = seg.find('}');
  if (seg.size() < 3 || seg.front() != '{' || close == std::string_view::npos || close < 2) return false;
  *name = seg.substr(1, close - 1);
  *suffix = seg.substr(close + 1);
  return true;
}

// Returns the number of literal segments matched (higher = more specific), or -1 if no match.
int match(const Router::Entry& e, const std::vector<std::string_view>& segs, PathParams* params) {
  if (e.segments.size() != segs.size()) return -1;
  int literals = 0;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    std::string_view name, suffix;
    if (parse_param(e.segments[i], &name, &suffix)) {
      if (segs[i].size() <= suffix.size() || !segs[i].ends_with(suffix)) return -1;
      if (params) (*params)[std::string(name)] = std::string(segs[i].substr(0, segs[i].size() - suffix.size()));
    } else if (e.segments[i] == segs[i]) {
      ++literals;
    } else {
      return -1;
    }
  }
  return literals;
}

}  // namespace

HttpResponse Router::route(const HttpRequest& request) const {
  const auto segs = split_path(request.path);
  const std::string_view method = request.method == "HEAD" ? std::string_view("GET") : request.method;
  const Entry* best = nullptr;
  int best_score = -1;
  std::vector<std::string> allowed;
  for (const Entry& e : entries_) {
    const int score = match(e, segs, nullptr);
    if (score < 0) continue;
    if (e.method != method) {
      if (std::find(allowed.begin(), allowed.end(), e.method) == allowed.end()) allowed.push_back(e.method);
      continue;
    }
    if (score > best_score) {
      best = &e;
      best_score = score;
    }
  }
  if (best == nullptr) {
    if (!allowed.empty()) {
      std::string allow;
      for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
      HttpResponse r = problem_response(Problem{
          .status = 405, .type = "method-not-allowed", .title = "Method not allowed",
          .detail = request.method + " is not served on " + request.path + "; use " + allow});
      r.set_header("Allow", allow);
      r.route = "-";
      return r;
    }
    HttpResponse r = problem_response(
        not_found("no resource at " + request.path + "; GET /v1/openapi.json lists every resource"));
    r.route = "-";
    return r;
  }
  PathParams params;
  match(*best, segs, &params);
  HttpResponse r = best->handler(request, params);
  if (r.route.empty()) r.route = best->pattern;
  return r;
}

}  // namespace otinish::api
