// api/http/proofs.cc: what a remote auditor checks the log with: the newest signed checkpoint (or one kept by
// size), inclusion proofs and consistency proofs of the log's Merkle tree. Hashes only: every role may read them.
#include <boost/json.hpp>

#include <charconv>

#include "api/http/log_verification.h"
#include "api/http/problem.h"
#include "api/http/resource_support.h"
#include "api/http/service.h"
#include "common/thread_name.h"
#include "engine/proof/checkpoint.h"
#include "engine/proof/evidence.h"
#include "engine/proof/note.h"

namespace otinish::api {

namespace json = boost::json;

namespace {

// A decimal query parameter; nullopt (and the 400 in `error`) when absent or malformed.
std::optional<std::uint64_t> number(const HttpRequest& q, const char* name, std::optional<HttpResponse>& error) {
  auto it = q.query.find(name);
  std::uint64_t v = 0;
  if (it == q.query.end() || it->second.empty() ||
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), v).ptr !=
          it->second.data() + it->second.size()) {
    error = problem_response(bad_request(std::string("?") + name + " must be a decimal number", name));
    return std::nullopt;
  }
  return v;
}

json::array hashes(const std::vector<store::merkle::Hash>& proof) {
  json::array a;
  for (const auto& h : proof) a.emplace_back(engine::proof::base64(h));
  return a;
}

}  // namespace

HttpResponse ApiService::get_checkpoint(Call& c) {
  if (proof_.checkpoints == nullptr) return problem_response(not_found("this server keeps no checkpoints"));
  Result<std::string> note = Status::NotFound("");
  if (c.q.query.contains("size")) {
    std::optional<HttpResponse> error;
    auto size = number(c.q, "size", error);
    if (!size) return *error;
    note = proof_.checkpoints->at(*size);
  } else {
    note = proof_.checkpoints->latest();
  }
  if (!note.ok()) return problem_response(not_found(note.status().message()));
  HttpResponse r;
  r.status = 200;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(note).value();
  return r;
}

HttpResponse ApiService::inclusion_proof(Call& c) {
  std::optional<HttpResponse> error;
  auto position = number(c.q, "position", error);
  if (!position) return *error;
  std::uint64_t size = store_.head_position();
  if (c.q.query.contains("size")) {
    auto s = number(c.q, "size", error);
    if (!s) return *error;
    size = *s;
  }
  auto proof = store_.inclusion_proof(*position, size);
  if (!proof.ok()) return status_problem(proof.status());
  auto root = store_.tree_root(size);
  if (!root.ok()) return status_problem(root.status());
  auto events = store_.read_all(*position, 1);
  if (!events.ok() || events->empty()) return status_problem(events.ok() ? Status::Internal("event missing") : events.status());
  const auto leaf = store::merkle::leaf_hash(events->front().hash);
  return json_response(200, json::object{{"position", *position},
                                         {"leaf_index", *position - 1},
                                         {"size", size},
                                         {"event_hash", to_hex(events->front().hash)},
                                         {"leaf_hash", engine::proof::base64(leaf)},
                                         {"root", engine::proof::base64(*root)},
                                         {"proof", hashes(*proof)}});
}

HttpResponse ApiService::consistency_proof(Call& c) {
  std::optional<HttpResponse> error;
  auto from = number(c.q, "from", error);
  if (!from) return *error;
  std::uint64_t to = store_.head_position();
  if (c.q.query.contains("to")) {
    auto t = number(c.q, "to", error);
    if (!t) return *error;
    to = *t;
  }
  auto proof = store_.consistency_proof(*from, to);
  if (!proof.ok()) return status_problem(proof.status());
  auto from_root = store_.tree_root(*from);
  auto to_root = store_.tree_root(to);
  if (!from_root.ok() || !to_root.ok()) return status_problem(!from_root.ok() ? from_root.status() : to_root.status());
  return json_response(200, json::object{{"from", *from},
                                         {"to", to},
                                         {"from_root", engine::proof::base64(*from_root)},
                                         {"to_root", engine::proof::base64(*to_root)},
                                         {"proof", hashes(*proof)}});
}

HttpResponse ApiService::evidence(Call& c) {
  auto loaded = load_visible(engine_, c.p.at("id"), c.who);
  if (auto* r = std::get_if<HttpResponse>(&loaded)) return *r;
  if (proof_.checkpoints == nullptr) return problem_response(not_found("this server keeps no checkpoints"));
  auto note = proof_.checkpoints->latest();
  if (!note.ok()) {
    return problem_response(not_found("no checkpoint has been signed yet: an evidence bundle is proven against one "
                                      "(the server signs one every --checkpoint-every seconds when it has a key)"));
  }
  auto bundle = engine::proof::make_evidence(store_, std::get<engine::AppealState>(loaded).id, *note);
  if (!bundle.ok()) return status_problem(bundle.status());
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/json";
  r.body = std::move(bundle).value();
  return r;
}

// ---- verify, in the background ---------------------------------------------------------------------------------

namespace {
struct VerificationCancelled {};
}  // namespace

LogVerification::~LogVerification() {
  cancel_ = true;
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

bool LogVerification::start() {
  std::lock_guard lock(mu_);
  if (running_) return false;
  if (thread_.joinable()) thread_.join();  // the previous run has finished: running_ is false
  running_ = true;
  started_at_ = clock_.now();
  head_at_start_ = store_.head_position();
  progress_ = 0;
  thread_ = std::thread([this] { run(); });
  return true;
}

void LogVerification::run() {
  name_this_thread("otinish-verify");
  store::VerifyOptions options;
  options.indexes = true;
  options.progress = [this](std::uint64_t p) {
    progress_ = p;
    // The only way out of a walk in progress; verify_log holds nothing an exception would leak.
    if (cancel_) throw VerificationCancelled{};
  };
  Result<store::VerifyReport> report = Status::Internal("not run");
  bool cancelled = false;
  try {
    report = store::verify_log(store_, options);
  } catch (const VerificationCancelled&) {
    cancelled = true;
  }
  std::lock_guard lock(mu_);
  running_ = false;
  finished_at_ = clock_.now();
  if (cancelled) {
    error_ = "cancelled: the server stopped";
  } else if (!report.ok()) {
    error_ = report.status().ToString();
    report_.reset();
  } else {
    error_.clear();
    report_ = std::move(report).value();
  }
}

json::object LogVerification::status() const {
  std::lock_guard lock(mu_);
  json::object o;
  if (!running_ && !report_ && error_.empty()) {
    o["state"] = "never";
    return o;
  }
  o["state"] = running_ ? "running" : "done";
  o["started_at"] = format_utc(started_at_);
  o["head_at_start"] = head_at_start_;
  if (running_) {
    o["progress"] = progress_.load();
    return o;
  }
  o["finished_at"] = format_utc(finished_at_);
  o["seconds"] = std::chrono::duration<double>(finished_at_ - started_at_).count();
  if (!error_.empty()) {
    o["ok"] = false;
    o["error"] = error_;
    return o;
  }
  const store::VerifyReport& r = *report_;
  o["ok"] = r.ok;
  o["events"] = r.events;
  o["summary"] = r.to_string();
  if (r.ok) o["head_hash"] = to_hex(std::span<const std::uint8_t>(r.head_hash.data(), r.head_hash.size()));
  if (r.tree_checked) o["tree_root"] = engine::proof::base64(r.tree_root);
  if (r.indexes_checked) o["streams"] = r.streams;
  if (!r.ok) {
    o["bad_position"] = r.bad_position;
    o["problem"] = r.problem;
  }
  return o;
}

HttpResponse ApiService::verify_status(Call&) {
  json::object o = verification_->status();
  if (proof_.checkpoints != nullptr) {
    if (auto note = proof_.checkpoints->latest(); note.ok()) {
      // A signed note is its text, a blank line, then the signatures.
      const std::size_t end = note->find("\n\n");
      if (auto cp = engine::proof::parse_checkpoint(std::string_view(*note).substr(0, end == std::string::npos ? note->size() : end + 1));
          cp.ok()) {
        o["checkpoint"] = json::object{{"origin", cp->origin}, {"size", cp->size},
                                       {"root", engine::proof::base64(cp->root)}};
      }
    }
  }
  HttpResponse r = json_response(200, o);
  r.set_header("Cache-Control", "no-store");
  return r;
}

HttpResponse ApiService::verify_start(Call&) {
  HttpResponse r = verification_->start()
                       ? json_response(202, verification_->status())
                       : problem_response(Problem{.status = 409, .type = "verify-running",
                                                  .title = "Verification running",
                                                  .detail = "a verification of the log is already running; "
                                                            "GET /v1/log/verify shows its progress"});
  r.set_header("Location", "/v1/log/verify");
  return r;
}

}  // namespace otinish::api
