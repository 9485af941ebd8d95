// Writes the seeds of the event decoder and import line targets from a real log: a FuzzNode (calendars, rules,
// an appeal) drives its appeal through the lifecycle, reads and erases its applicant, then every event of its
// log is written as stored bytes (encode_envelope) and as an export line (envelope_to_json), at most two of
// each event type. Not part of the build: `cmake --build build --target fuzz_seed_writer`, then
//   build/tests/fuzz/fuzz_seed_writer tests/fuzz/corpus/envelope tests/fuzz/corpus/import_line
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "api/http/json_codec.h"
#include "store/envelope_codec.h"
#include "tests/fuzz/fuzz_node.h"

namespace {

using namespace otinish;
using api::Role;

// Runs `command` on the node's appeal as the first role allowed to, with If-Match set to its version; again
// while the SLA service's own events (appended after each command) make that version stale.
void command(fuzz::FuzzNode& node, const std::string& name, const std::string& body) {
  const std::string path = "/v1/appeals/" + node.appeal_id();
  Role role = Role::kOperator;
  for (Role r : api::kAllRoles) {
    if (api::role_may_run(r, *engine::parse_command_kind(name))) {
      role = r;
      break;
    }
  }
  api::HttpResponse r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::string etag;
    for (const auto& [k, v] : node.call(Role::kAuditor, "GET", path).headers) {
      if (k == "ETag") etag = v;
    }
    r = node.call(role, "POST", path + "/" + name, body, {{"if-match", etag}});
    if (r.status != 409 || r.body.find("version-conflict") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("%s: %d %s\n", name.c_str(), r.status, r.status >= 300 ? r.body.c_str() : "");
}

void write(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary);
  out << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_seed_writer ENVELOPE_DIR IMPORT_LINE_DIR\n");
    return 2;
  }
  fuzz::FuzzNode& node = fuzz::FuzzNode::get();
  command(node, "send_for_review", "{}");
  command(node, "assign", R"({"agency":"city-lifts"})");
  command(node, "accept", "{}");
  command(node, "start_work", "{}");
  command(node, "hold", R"({"reason":"waiting for parts"})");
  command(node, "resume", R"({"reason":"parts arrived"})");
  command(node, "comment", R"({"text":"the technician is on the way"})");
  command(node, "resolve", R"({"outcome":"done","result":"lift repaired"})");
  command(node, "record_callback", R"({"satisfied":true,"note":"thanked"})");
  command(node, "close", "{}");
  command(node, "reopen", R"({"reason":"broke again"})");
  const api::HttpResponse applicant = node.call(Role::kOperator, "GET", "/v1/appeals/" + node.appeal_id() + "/applicant",
                                                "", {{"access-purpose", "callback"}});
  std::printf("applicant: %d %s\n", applicant.status, applicant.body.c_str());
  const std::string applicant_id = boost::json::parse(applicant.body).at("applicant_id").as_string().c_str();
  std::printf("erase: %d\n", node.call(Role::kPrivacyOfficer, "DELETE", "/v1/applicants/" + applicant_id,
                                       R"({"reason":"request of the applicant"})").status);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the SLA service and the access log write theirs
  auto events = node.node().store().read_all(1, 100000);
  if (!events.ok()) fuzz::fail(events.status().ToString());
  std::map<std::string, int> per_type;
  for (const store::RecordedEvent& e : *events) {
    if (++per_type[e.type] > 2) continue;
    const std::string name = e.type + "-" + std::to_string(e.position);
    write(std::string(argv[1]) + "/" + name + ".bin", store::encode_envelope(e));
    write(std::string(argv[2]) + "/" + name + ".jsonl",
          boost::json::serialize(api::envelope_to_json(e, api::EnvelopeForm::kExport)));
  }
  for (const auto& [type, n] : per_type) std::printf("%s: %d\n", type.c_str(), n);
  return 0;
}
