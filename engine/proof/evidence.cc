#include "engine/proof/evidence.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "engine/events.h"
#include "engine/sla_events.h"
#include "store/envelope_codec.h"

namespace otinish::engine::proof {

namespace json = boost::json;
namespace merkle = store::merkle;

namespace {

json::array proof_json(const std::vector<merkle::Hash>& proof) {
  json::array a;
  for (const auto& h : proof) a.emplace_back(base64(h));
  return a;
}

Result<json::object> proven(const store::EventStore& store, const store::RecordedEvent& e, std::uint64_t size) {
  OTINISH_ASSIGN_OR_RETURN(auto proof, store.inclusion_proof(e.position, size));
  const std::string envelope = store::encode_envelope(e);
  return json::object{{"position", e.position},
                      {"envelope", base64(std::span(reinterpret_cast<const std::uint8_t*>(envelope.data()), envelope.size()))},
                      {"proof", proof_json(proof)}};
}

}  // namespace

Result<std::string> make_evidence(const store::EventStore& store, std::string_view appeal_id,
                                  std::string_view checkpoint_note) {
  OTINISH_ASSIGN_OR_RETURN(SignedNote note, parse_signed_note(checkpoint_note));
  OTINISH_ASSIGN_OR_RETURN(Checkpoint checkpoint, parse_checkpoint(note.text));
  const std::uint64_t size = checkpoint.size;
  if (size > store.head_position()) {
    return Status::InvalidArgument("the checkpoint is of size " + std::to_string(size) + " but the log holds only " +
                                   std::to_string(store.head_position()) + " events");
  }
  OTINISH_ASSIGN_OR_RETURN(merkle::Hash root, store.tree_root(size));
  if (root != checkpoint.root) {
    return Status::InvalidArgument("the checkpoint's root is not this log's root at size " + std::to_string(size) +
                                   ": it is another log's, or this log was rewritten (otinish verify --since)");
  }
  const std::string stream = std::string(kAppealStreamPrefix) + std::string(appeal_id);
  auto events = store.read_stream(stream, 1, store::Direction::kForward, SIZE_MAX);
  if (!events.ok()) {
    if (events.status().code() == StatusCode::kNotFound) return Status::NotFound("no appeal " + std::string(appeal_id));
    return events.status();
  }
  json::array proven_events;
  std::set<std::string> rule_sets;  // cited content hashes
  std::uint64_t last_citing = 0;    // position of the newest SLA event in the bundle
  for (const auto& e : *events) {
    if (e.position > size) break;
    OTINISH_ASSIGN_OR_RETURN(json::object o, proven(store, e, size));
    proven_events.push_back(std::move(o));
    if (!is_sla_event_type(e.type)) continue;
    auto sla = decode_sla_event(e.type, e.schema_version, e.payload);
    if (!sla.ok()) continue;
    last_citing = e.position;
    if (const auto* c = std::get_if<SlaClockEvent>(&*sla)) rule_sets.insert(c->rule_set_hash);
    if (const auto* b = std::get_if<SlaBound>(&*sla)) rule_sets.insert(b->bundle.rule_set_hash);
    if (const auto* r = std::get_if<SlaRebound>(&*sla)) {
      rule_sets.insert(r->from.rule_set_hash);
      rule_sets.insert(r->to.rule_set_hash);
    }
  }
  if (proven_events.empty()) {
    return Status::NotFound("appeal " + std::string(appeal_id) + " has no event within the checkpoint's " +
                            std::to_string(size) + " events; sign a newer checkpoint");
  }
  // The rule sets cited, and every calendar publication before the newest decision (calendars inherit from one
  // another, and there are few publications).
  json::array publications;
  for (std::string_view pub_stream : {kRulesStream, kCalendarsStream}) {
    auto pubs = store.read_stream(pub_stream, 1, store::Direction::kForward, SIZE_MAX);
    if (!pubs.ok()) {
      if (pubs.status().code() == StatusCode::kNotFound) continue;
      return pubs.status();
    }
    for (const auto& e : *pubs) {
      if (e.position > last_citing) break;
      bool wanted = false;
      if (e.type == kRuleSetPublishedType) {
        auto r = decode_rule_set_published(e.payload);
        wanted = r.ok() && rule_sets.contains(r->content_hash);
      } else if (e.type == kCalendarPublishedType) {
        wanted = true;
      }
      if (!wanted) continue;
      OTINISH_ASSIGN_OR_RETURN(json::object o, proven(store, e, size));
      publications.push_back(std::move(o));
    }
  }
  json::object bundle{{"format", kEvidenceFormat},
                      {"appeal", appeal_id},
                      {"checkpoint", checkpoint_note},
                      {"events", std::move(proven_events)},
                      {"publications", std::move(publications)}};
  return json::serialize(bundle) + "\n";
}

std::string EvidenceReport::to_string() const {
  std::string s;
  for (const auto& t : timeline) {
    s += format_utc(t.at) + "  v" + std::to_string(t.version) + "  " + t.type + "  " +
         (t.user.empty() ? "-" : t.user) + "/" + (t.role.empty() ? "-" : t.role) + "  " + t.summary;
    if (!t.rule.empty()) s += "  [rule " + t.rule + "]";
    s += "\n";
  }
  if (!ok) return s + "FAILED: " + problem + "\n";
  std::string names;
  for (const auto& n : signed_by) names += (names.empty() ? "" : ", ") + n;
  return s + "ok: " + std::to_string(timeline.size()) + " events of " + appeal_id + " (versions 1.." +
         std::to_string(timeline.size()) + "), each proven in the log of " + checkpoint.origin + " at size " +
         std::to_string(checkpoint.size) + " (signed by " + names + "); " + std::to_string(publications) +
         " rule-set and calendar publications cited, all proven\n";
}

namespace {

struct Proven {
  store::RecordedEvent event;
};

// Decodes and proves one {"position", "envelope", "proof"} against the checkpoint.
Result<store::RecordedEvent> check_entry(const json::value& v, const Checkpoint& c, const std::string& where) {
  auto bad = [&](std::string what) { return Status::InvalidArgument(where + ": " + what); };
  if (!v.is_object()) return bad("not an object");
  const auto& o = v.as_object();
  const auto* position = o.if_contains("position");
  const auto* envelope = o.if_contains("envelope");
  const auto* proof = o.if_contains("proof");
  if (!position || !position->is_number() || !envelope || !envelope->is_string() || !proof || !proof->is_array()) {
    return bad("needs position, envelope and proof");
  }
  std::uint64_t pos = 0;
  try {
    pos = position->to_number<std::uint64_t>();
  } catch (const std::exception&) {
    return bad("position is not a positive integer");
  }
  std::string bytes;
  if (!from_base64(envelope->as_string(), &bytes)) return bad("envelope is not base64");
  store::RecordedEvent e;
  if (Status d = store::decode_envelope(bytes, &e); !d.ok()) return bad("envelope does not decode: " + d.message());
  if (e.position != pos) return bad("the envelope says position " + std::to_string(e.position));
  if (store::compute_event_hash(e) != e.hash) return bad("the envelope's hash does not match its bytes (altered)");
  std::vector<merkle::Hash> path;
  for (const auto& h : proof->as_array()) {
    std::string raw;
    if (!h.is_string() || !from_base64(h.as_string(), &raw) || raw.size() != 32) return bad("a proof hash is not base64 of 32 bytes");
    merkle::Hash x;
    std::memcpy(x.data(), raw.data(), 32);
    path.push_back(x);
  }
  if (pos == 0 || pos > c.size || !merkle::verify_inclusion(pos - 1, c.size, merkle::leaf_hash(e.hash), path, c.root)) {
    return bad("the inclusion proof of position " + std::to_string(pos) + " does not verify against the checkpoint");
  }
  return e;
}

}  // namespace

EvidenceReport verify_evidence(std::string_view bundle, std::span<const NoteVerifier> verifiers, std::size_t required) {
  EvidenceReport r;
  auto fail = [&](std::string problem) {
    r.ok = false;
    r.problem = std::move(problem);
    return r;
  };
  json::value root;
  try {
    root = json::parse(bundle);
  } catch (const std::exception& e) {
    return fail(std::string("the bundle is not JSON: ") + e.what());
  }
  if (!root.is_object()) return fail("the bundle is not a JSON object");
  const auto& o = root.as_object();
  const auto* format = o.if_contains("format");
  if (!format || !format->is_string() || format->as_string() != kEvidenceFormat) {
    return fail("not an evidence bundle of format " + std::string(kEvidenceFormat));
  }
  const auto* appeal = o.if_contains("appeal");
  const auto* checkpoint = o.if_contains("checkpoint");
  const auto* events = o.if_contains("events");
  const auto* publications = o.if_contains("publications");
  if (!appeal || !appeal->is_string() || !checkpoint || !checkpoint->is_string() || !events || !events->is_array() ||
      !publications || !publications->is_array()) {
    return fail("the bundle needs appeal, checkpoint, events and publications");
  }
  r.appeal_id = std::string(appeal->as_string());
  auto opened = open_checkpoint(checkpoint->as_string(), verifiers, required);
  if (!opened.ok()) return fail("checkpoint: " + opened.status().message());
  r.checkpoint = opened->checkpoint;
  r.signed_by = opened->signed_by;

  // Publications first: what the decisions may cite.
  std::map<std::string, std::uint64_t> rule_sets;   // content hash -> earliest position
  std::map<std::string, std::uint64_t> calendars;   // name -> earliest position
  for (std::size_t i = 0; i < publications->as_array().size(); ++i) {
    auto e = check_entry(publications->as_array()[i], r.checkpoint, "publication " + std::to_string(i));
    if (!e.ok()) return fail(e.status().message());
    if (e->type == kRuleSetPublishedType && e->stream == kRulesStream) {
      auto p = decode_rule_set_published(e->payload);
      if (!p.ok()) return fail("publication " + std::to_string(i) + ": " + p.status().message());
      auto [it, added] = rule_sets.emplace(p->content_hash, e->position);
      if (!added) it->second = std::min(it->second, e->position);  // the earliest publication counts
    } else if (e->type == kCalendarPublishedType && e->stream == kCalendarsStream) {
      auto p = decode_calendar_published(e->payload);
      if (!p.ok()) return fail("publication " + std::to_string(i) + ": " + p.status().message());
      auto [it, added] = calendars.emplace(p->name, e->position);
      if (!added) it->second = std::min(it->second, e->position);
    } else {
      return fail("publication " + std::to_string(i) + " is a " + e->type + " in " + e->stream +
                  ", not a rule set or calendar publication");
    }
    ++r.publications;
  }
  const std::string stream = std::string(kAppealStreamPrefix) + r.appeal_id;
  Stage stage = Stage::kRegistered;
  std::uint64_t last_position = 0;
  for (std::size_t i = 0; i < events->as_array().size(); ++i) {
    const std::string where = "event " + std::to_string(i + 1);
    auto e = check_entry(events->as_array()[i], r.checkpoint, where);
    if (!e.ok()) return fail(e.status().message());
    if (e->stream != stream) return fail(where + " belongs to " + e->stream + ", not " + stream);
    if (e->stream_version != i + 1) {
      return fail(where + " is version " + std::to_string(e->stream_version) + ": the appeal's history has a gap or is "
                  "out of order");
    }
    if (e->position <= last_position) return fail(where + " is not after the previous event in the log");
    last_position = e->position;
    auto check_cited = [&](const std::string& hash, const std::string& calendar) -> std::optional<std::string> {
      if (!hash.empty()) {
        auto it = rule_sets.find(hash);
        if (it == rule_sets.end() || it->second > e->position) {
          return where + " cites rule set " + hash + ", which the bundle does not prove was published before it";
        }
      }
      if (!calendar.empty()) {
        auto it = calendars.find(calendar);
        if (it == calendars.end() || it->second > e->position) {
          return where + " cites calendar " + calendar + ", which the bundle does not prove was published before it";
        }
      }
      return std::nullopt;
    };
    TimelineEntry t;
    if (is_appeal_event_type(e->type)) {
      auto ev = decode_event(e->type, e->schema_version, e->payload);
      if (!ev.ok()) return fail(where + ": " + ev.status().message());
      describe_appeal_event(*e, &*ev, stage, &t);
      stage = ev->to;
    } else {
      describe_appeal_event(*e, nullptr, stage, &t);
      if (is_sla_event_type(e->type)) {
        auto sla = decode_sla_event(e->type, e->schema_version, e->payload);
        if (!sla.ok()) return fail(where + ": " + sla.status().message());
        std::optional<std::string> problem;
        if (const auto* c = std::get_if<SlaClockEvent>(&*sla)) problem = check_cited(c->rule_set_hash, c->calendar);
        if (const auto* b = std::get_if<SlaBound>(&*sla)) problem = check_cited(b->bundle.rule_set_hash, "");
        if (const auto* rb = std::get_if<SlaRebound>(&*sla)) problem = check_cited(rb->to.rule_set_hash, "");
        if (problem) return fail(*problem);
      }
    }
    r.timeline.push_back(std::move(t));
  }
  if (r.timeline.empty()) return fail("the bundle holds no event of the appeal");
  r.ok = true;
  return r;
}

}  // namespace otinish::engine::proof
