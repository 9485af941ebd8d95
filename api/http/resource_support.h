// api/http/resource_support.h: what every resource file of the API shares (internal to api/http; an integrator
// never needs it): JSON answers, problems from a Status, request bodies, the actor of a request, and loading an
// appeal the caller may see.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <boost/json/fwd.hpp>

#include "api/http/auth.h"
#include "api/http/auth_throttle.h"
#include "api/http/http_types.h"
#include "common/status.h"
#include "engine/appeal.h"
#include "engine/engine.h"
#include "engine/projection.h"
#include "store/event.h"
#include "store/event_store.h"

namespace otinish::api {

HttpResponse json_response(int status, const boost::json::value& v);
// A problem for a Status whose message may start with the JSON Pointer of the field at fault.
HttpResponse status_problem(const Status& s);
// Parses a request body as a JSON object ({} when empty and `empty_ok`); a 400 problem otherwise.
std::optional<HttpResponse> parse_body(const HttpRequest& q, bool empty_ok, boost::json::object* out);
// The actor recorded for a request: "token:<id>", the role, the agency.
store::Actor actor_of(const Principal& who);
// The appeal `id` if it exists and `who` may see it (an agency: only its own); else the 404 to answer.
std::variant<engine::AppealState, HttpResponse> load_visible(engine::Engine& eng, const std::string& id,
                                                             const Principal& who);

// 429 too-many-auth-failures with Retry-After: the peer presented too many invalid tokens (auth_throttle.h).
HttpResponse too_many_auth_failures(std::chrono::seconds retry_after, const AuthThrottleOptions& limits);

// 503 views-unavailable: the server runs without projections.
HttpResponse views_unavailable();
// How long a view query waits for the views to reach the position it must see.
inline constexpr std::chrono::seconds kViewWait{2};
// 503 view-behind with Retry-After: the views did not reach log position `position` within kViewWait.
HttpResponse view_behind(std::uint64_t position);
// Read-your-writes for view queries: a query sees every event acknowledged before it arrived. Waits (briefly)
// for the views to apply the log up to its head as of now; the 503 to answer if they are further behind.
std::optional<HttpResponse> await_views(const engine::ProjectionRunner& views, const store::EventStore& store);

}  // namespace otinish::api
