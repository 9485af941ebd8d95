#include "api/http/json_codec.h"

#include <boost/json.hpp>
#include <sodium.h>

namespace otinish::api {

namespace json = boost::json;
using namespace otinish::engine;

namespace {

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

bool unbase64(std::string_view text, std::string* out) {
  out->assign(text.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return false;
  }
  out->resize(len);
  return true;
}

json::object actor_json(const store::Actor& a) {
  return {{"user", a.user}, {"role", a.role}, {"agency", a.agency}};
}

std::string ts(Timestamp t) { return format_utc(t); }

// Reads optional / required string fields with the field's JSON Pointer in errors.
class Fields {
 public:
  Fields(const json::object& o, std::string prefix) : o_(o), prefix_(std::move(prefix)) {}

  Status str(std::string_view key, bool required, std::string* out) const {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      if (required) return Status::InvalidArgument(ptr(key) + ": is required");
      return Status::Ok();
    }
    if (!v->is_string()) return Status::InvalidArgument(ptr(key) + ": must be a string");
    *out = std::string(v->as_string());
    if (required && out->empty()) return Status::InvalidArgument(ptr(key) + ": must not be empty");
    return Status::Ok();
  }
  Status boolean(std::string_view key, bool* out) const {
    const json::value* v = o_.if_contains(key);
    if (v == nullptr || v->is_null()) return Status::InvalidArgument(ptr(key) + ": is required (true or false)");
    if (!v->is_bool()) return Status::InvalidArgument(ptr(key) + ": must be true or false");
    *out = v->as_bool();
    return Status::Ok();
  }
  template <typename T, typename Parse>
  Status enumeration(std::string_view key, bool required, Parse parse, T* out, bool* present = nullptr) const {
    std::string s;
    OTINISH_RETURN_IF_ERROR(str(key, required, &s));
    if (present) *present = !s.empty();
    if (s.empty()) return Status::Ok();
    auto r = parse(s);
    if (!r.ok()) return Status::InvalidArgument(ptr(key) + ": " + r.status().message());
    *out = *r;
    return Status::Ok();
  }
  Status time(std::string_view key, Timestamp* out) const {
    std::string s;
    OTINISH_RETURN_IF_ERROR(str(key, true, &s));
    if (!parse_utc(s, out)) {
      return Status::InvalidArgument(ptr(key) + ": '" + s + "' is not a time such as 2026-04-01T18:00:00+05:00");
    }
    return Status::Ok();
  }
  Status object(std::string_view key, const json::object** out) const {
    const json::value* v = o_.if_contains(key);
    *out = nullptr;
    if (v == nullptr || v->is_null()) return Status::Ok();
    if (!v->is_object()) return Status::InvalidArgument(ptr(key) + ": must be an object");
    *out = &v->as_object();
    return Status::Ok();
  }
  std::string ptr(std::string_view key) const { return prefix_ + "/" + std::string(key); }

 private:
  const json::object& o_;
  std::string prefix_;
};

template <typename T>
Status optional_priority(const Fields& f, std::optional<Priority>* out) {
  Priority p{};
  bool present = false;
  OTINISH_RETURN_IF_ERROR(f.enumeration("priority", false, parse_priority, &p, &present));
  if (present) *out = p;
  return Status::Ok();
}

template <typename C>
Result<Command> classification(const Fields& f) {
  C c;
  OTINISH_RETURN_IF_ERROR(f.enumeration("category", true, parse_category, &c.category));
  OTINISH_RETURN_IF_ERROR(f.str("topic", true, &c.topic));
  OTINISH_RETURN_IF_ERROR(optional_priority<C>(f, &c.priority));
  OTINISH_RETURN_IF_ERROR(f.str("reason", false, &c.reason));
  return Command{std::move(c)};
}

}  // namespace

json::object envelope_to_json(const store::RecordedEvent& e, EnvelopeForm form) {
  json::object o;
  o["position"] = e.position;
  o["stream"] = e.stream;
  o["stream_version"] = e.stream_version;
  o["id"] = e.id.to_hex();
  o["type"] = e.type;
  o["schema_version"] = e.schema_version;
  o["recorded_at"] = ts(e.recorded_at);
  o["actor"] = actor_json(e.actor);
  o["correlation_id"] = e.correlation_id;
  o["causation_id"] = e.causation_id;
  if (form == EnvelopeForm::kExport) {
    o["idempotency_key"] = e.idempotency_key;
    o["payload"] = base64(e.payload);
    o["prev_hash"] = to_hex(e.prev_hash);
    o["hash"] = to_hex(e.hash);
    return o;
  }
  o["hash"] = to_hex(e.hash);
  if (is_appeal_event_type(e.type)) {
    auto decoded = decode_event(e.type, e.schema_version, e.payload);
    if (decoded.ok()) o["data"] = appeal_event_to_json(*decoded);
  }
  return o;
}

Result<store::RecordedEvent> envelope_from_json(const json::value& v) {
  if (!v.is_object()) return Status::InvalidArgument("an event must be a JSON object");
  const json::object& o = v.as_object();
  store::RecordedEvent e;
  auto u64 = [&o](std::string_view k, std::uint64_t* out) -> Status {
    const json::value* f = o.if_contains(k);
    if (f == nullptr) return Status::InvalidArgument("/" + std::string(k) + ": is required");
    if (f->is_uint64()) *out = f->as_uint64();
    else if (f->is_int64() && f->as_int64() >= 0) *out = static_cast<std::uint64_t>(f->as_int64());
    else return Status::InvalidArgument("/" + std::string(k) + ": must be a non-negative integer");
    return Status::Ok();
  };
  Fields f(o, "");
  OTINISH_RETURN_IF_ERROR(u64("position", &e.position));
  OTINISH_RETURN_IF_ERROR(f.str("stream", true, &e.stream));
  OTINISH_RETURN_IF_ERROR(u64("stream_version", &e.stream_version));
  std::uint64_t schema = 0;
  OTINISH_RETURN_IF_ERROR(u64("schema_version", &schema));
  e.schema_version = static_cast<std::uint32_t>(schema);
  std::string id, recorded, payload, prev, hash;
  OTINISH_RETURN_IF_ERROR(f.str("id", true, &id));
  if (!from_hex(id, e.id.bytes)) return Status::InvalidArgument("/id: must be 32 hex characters");
  OTINISH_RETURN_IF_ERROR(f.str("type", true, &e.type));
  OTINISH_RETURN_IF_ERROR(f.time("recorded_at", &e.recorded_at));
  const json::object* actor = nullptr;
  OTINISH_RETURN_IF_ERROR(f.object("actor", &actor));
  if (actor != nullptr) {
    Fields a(*actor, "/actor");
    OTINISH_RETURN_IF_ERROR(a.str("user", false, &e.actor.user));
    OTINISH_RETURN_IF_ERROR(a.str("role", false, &e.actor.role));
    OTINISH_RETURN_IF_ERROR(a.str("agency", false, &e.actor.agency));
  }
  OTINISH_RETURN_IF_ERROR(f.str("correlation_id", false, &e.correlation_id));
  OTINISH_RETURN_IF_ERROR(f.str("causation_id", false, &e.causation_id));
  OTINISH_RETURN_IF_ERROR(f.str("idempotency_key", false, &e.idempotency_key));
  OTINISH_RETURN_IF_ERROR(f.str("payload", false, &payload));
  if (!unbase64(payload, &e.payload)) return Status::InvalidArgument("/payload: is not base64");
  OTINISH_RETURN_IF_ERROR(f.str("prev_hash", true, &prev));
  OTINISH_RETURN_IF_ERROR(f.str("hash", true, &hash));
  if (!from_hex(prev, e.prev_hash)) return Status::InvalidArgument("/prev_hash: must be 64 hex characters");
  if (!from_hex(hash, e.hash)) return Status::InvalidArgument("/hash: must be 64 hex characters");
  return e;
}

json::object appeal_event_to_json(const AppealEvent& e) {
  json::object o;
  o["from"] = std::string(to_string(e.from));
  o["to"] = std::string(to_string(e.to));
  std::visit(
      [&o](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, AppealRegistered>) {
          o["appeal_id"] = b.appeal_id;
          o["category"] = std::string(to_string(b.category));
          o["topic"] = b.topic;
          o["priority"] = std::string(to_string(b.priority));
          o["channel"] = std::string(to_string(b.channel));
          o["location"] = {{"district", b.location.district}, {"street", b.location.street}};
          o["text"] = b.text;
          o["dangerous_topic"] = b.dangerous_topic;
        } else if constexpr (std::is_same_v<T, AppealAnsweredOnFirstContact>) {
          o["answer"] = b.answer;
        } else if constexpr (std::is_same_v<T, AppealClassified>) {
          o["category"] = std::string(to_string(b.category));
          o["topic"] = b.topic;
          o["priority"] = std::string(to_string(b.priority));
          o["dangerous_topic"] = b.dangerous_topic;
          o["reclassification"] = b.reclassification;
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealReturnedToOperator> || std::is_same_v<T, AppealPutOnHold> ||
                             std::is_same_v<T, AppealResumed> || std::is_same_v<T, AppealReopened>) {
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealAssigned>) {
          o["agency"] = b.agency;
          o["forwarded"] = b.forwarded;
        } else if constexpr (std::is_same_v<T, AppealRedirected>) {
          o["from_agency"] = b.from_agency;
          o["to_agency"] = b.to_agency;
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealAccepted>) {
          o["agency"] = b.agency;
        } else if constexpr (std::is_same_v<T, AppealExtensionRequested>) {
          o["new_deadline"] = ts(b.new_deadline);
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealExtensionGranted>) {
          o["new_deadline"] = ts(b.new_deadline);
          o["cap"] = ts(b.cap);
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealResolved>) {
          o["outcome"] = std::string(to_string(b.outcome));
          o["result"] = b.result;
          if (!b.via_parent.empty()) o["via_parent"] = b.via_parent;
        } else if constexpr (std::is_same_v<T, AppealCallbackRecorded>) {
          o["satisfied"] = b.satisfied;
          o["note"] = b.note;
        } else if constexpr (std::is_same_v<T, AppealMerged>) {
          o["parent"] = b.parent;
          o["reason"] = b.reason;
        } else if constexpr (std::is_same_v<T, AppealChildAttached>) {
          o["child"] = b.child;
        } else if constexpr (std::is_same_v<T, AppealCommented>) {
          o["text"] = b.text;
        }
      },
      e.body);
  return o;
}

// An SLA event of an appeal's stream as data: which clock, what happened, the deadline it set, and the rule,
// file:line, rule-set hash and calendar behind it.
json::object sla_event_to_json(const SlaEvent& ev) {
  json::object o;
  if (const auto* b = std::get_if<SlaBound>(&ev)) {
    o = {{"kind", "bound"}, {"rule_id", b->rule_id}, {"rule_set_hash", b->bundle.rule_set_hash}};
  } else if (const auto* r = std::get_if<SlaRebound>(&ev)) {
    json::array changes;
    for (const auto& d : r->deadlines) {
      json::object c{{"clock", d.clock}};
      if (d.old_deadline) c["old_deadline"] = format_utc(*d.old_deadline);
      if (d.new_deadline) c["new_deadline"] = format_utc(*d.new_deadline);
      if (!d.new_provisional.empty()) c["provisional"] = d.new_provisional;
      changes.push_back(std::move(c));
    }
    o = {{"kind", "rebound"},
         {"policy", std::string(to_string(r->policy))},
         {"rule_set_hash", r->to.rule_set_hash},
         {"deadlines", std::move(changes)}};
    if (!r->cause.empty()) o["cause"] = r->cause;
  } else {
    const auto& c = std::get<SlaClockEvent>(ev);
    o = {{"kind", to_string(c.kind)},
         {"clock", c.clock},
         {"rule_id", c.rule_id},
         {"rule_where", c.rule_where},
         {"rule_set_hash", c.rule_set_hash},
         {"calendar", c.calendar_version.empty() ? c.calendar : c.calendar_version}};
    if (c.deadline) o["deadline"] = format_utc(*c.deadline);
    if (!c.provisional.empty()) o["provisional"] = c.provisional;
    o["cycle"] = c.cycle;  // a clock reset starts a new cycle: its rungs may fire again
    if (!c.label.empty()) o["label"] = c.label;
    if (!c.notify.empty()) {
      json::array n;
      for (const auto& x : c.notify) n.emplace_back(x);
      o["notify"] = std::move(n);
    }
  }
  return o;
}

json::object appeal_state_to_json(const AppealState& s) {
  json::object o;
  o["id"] = s.id;
  o["version"] = s.decision_version;  // the ETag: what a command's If-Match sends back
  o["stream_version"] = s.version;     // the last event's, SLA facts included (the timeline's entries count in it)
  o["stage"] = std::string(to_string(s.stage));
  o["category"] = std::string(to_string(s.category));
  o["topic"] = s.topic;
  o["priority"] = std::string(to_string(s.priority));
  o["channel"] = std::string(to_string(s.channel));
  o["location"] = {{"district", s.location.district}, {"street", s.location.street}};
  o["dangerous_topic"] = s.dangerous_topic;
  o["agency"] = s.agency;
  o["registered_at"] = ts(s.registered_at);
  o["updated_at"] = ts(s.updated_at);
  if (s.resolved_at != Timestamp{}) o["resolved_at"] = ts(s.resolved_at);
  if (s.closed_at != Timestamp{}) o["closed_at"] = ts(s.closed_at);
  o["outcome"] = std::string(to_string(s.outcome));
  o["result"] = s.result;
  if (s.requested_deadline) o["requested_deadline"] = ts(*s.requested_deadline);
  if (s.extended_deadline) o["extended_deadline"] = ts(*s.extended_deadline);
  o["extensions_granted"] = s.extensions_granted;
  if (s.callback_satisfied) o["callback_satisfied"] = *s.callback_satisfied;
  o["reopen_count"] = s.reopen_count;
  o["redirect_count"] = s.redirect_count;
  if (!s.parent.empty()) o["parent"] = s.parent;
  json::array children;
  for (const auto& c : s.children) children.emplace_back(c);
  o["children"] = std::move(children);
  json::array allowed;
  for (CommandKind k : allowed_commands(s.stage, guard_facts(s))) allowed.emplace_back(std::string(to_string(k)));
  o["allowed_commands"] = std::move(allowed);
  return o;
}

Result<RegisterAppeal> register_from_json(const json::object& o) {
  Fields f(o, "");
  RegisterAppeal r;
  OTINISH_RETURN_IF_ERROR(f.str("centre", true, &r.centre));
  OTINISH_RETURN_IF_ERROR(f.enumeration("category", true, parse_category, &r.category));
  OTINISH_RETURN_IF_ERROR(f.str("topic", true, &r.topic));
  OTINISH_RETURN_IF_ERROR(optional_priority<RegisterAppeal>(f, &r.priority));
  OTINISH_RETURN_IF_ERROR(f.enumeration("channel", false, parse_channel, &r.channel));
  OTINISH_RETURN_IF_ERROR(f.str("text", true, &r.text));
  const json::object* loc = nullptr;
  OTINISH_RETURN_IF_ERROR(f.object("location", &loc));
  if (loc != nullptr) {
    Fields l(*loc, "/location");
    OTINISH_RETURN_IF_ERROR(l.str("district", false, &r.location.district));
    OTINISH_RETURN_IF_ERROR(l.str("street", false, &r.location.street));
  }
  const json::object* app = nullptr;
  OTINISH_RETURN_IF_ERROR(f.object("applicant", &app));
  if (app != nullptr) {
    Fields a(*app, "/applicant");
    OTINISH_RETURN_IF_ERROR(a.str("name", false, &r.applicant.name));
    OTINISH_RETURN_IF_ERROR(a.str("phone", false, &r.applicant.phone));
    OTINISH_RETURN_IF_ERROR(a.str("address", false, &r.applicant.address));
  }
  return r;
}

Result<Command> command_from_json(CommandKind kind, const json::object& o) {
  Fields f(o, "");
  switch (kind) {
    case CommandKind::kAnswerOnFirstContact: {
      AnswerOnFirstContact c;
      OTINISH_RETURN_IF_ERROR(f.str("answer", true, &c.answer));
      return Command{c};
    }
    case CommandKind::kClassify: return classification<Classify>(f);
    case CommandKind::kReclassify: return classification<Reclassify>(f);
    case CommandKind::kSendForReview: return Command{SendForReview{}};
    case CommandKind::kReturnToOperator: {
      ReturnToOperator c;
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kAssign: {
      Assign c;
      OTINISH_RETURN_IF_ERROR(f.str("agency", false, &c.agency));
      return Command{c};
    }
    case CommandKind::kRedirect: {
      Redirect c;
      OTINISH_RETURN_IF_ERROR(f.str("agency", true, &c.agency));
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kAccept: return Command{Accept{}};
    case CommandKind::kStartWork: return Command{StartWork{}};
    case CommandKind::kHold: {
      Hold c;
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kResume: {
      Resume c;
      OTINISH_RETURN_IF_ERROR(f.str("reason", false, &c.reason));
      return Command{c};
    }
    case CommandKind::kRequestExtension: {
      RequestExtension c;
      OTINISH_RETURN_IF_ERROR(f.time("new_deadline", &c.new_deadline));
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kGrantExtension: {
      GrantExtension c;
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kResolve: {
      Resolve c;
      OTINISH_RETURN_IF_ERROR(f.enumeration("outcome", true, parse_outcome, &c.outcome));
      OTINISH_RETURN_IF_ERROR(f.str("result", true, &c.result));
      return Command{c};
    }
    case CommandKind::kRecordCallback: {
      RecordCallback c;
      OTINISH_RETURN_IF_ERROR(f.boolean("satisfied", &c.satisfied));
      OTINISH_RETURN_IF_ERROR(f.str("note", false, &c.note));
      return Command{c};
    }
    case CommandKind::kClose: return Command{Close{}};
    case CommandKind::kReopen: {
      Reopen c;
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kMerge: {
      MergeInto c;
      OTINISH_RETURN_IF_ERROR(f.str("parent", true, &c.parent));
      OTINISH_RETURN_IF_ERROR(f.str("reason", true, &c.reason));
      return Command{c};
    }
    case CommandKind::kComment: {
      Comment c;
      OTINISH_RETURN_IF_ERROR(f.str("text", true, &c.text));
      return Command{c};
    }
    case CommandKind::kRegister:
    case CommandKind::kApplyParentResolution: break;
  }
  return Status::InvalidArgument("command " + std::string(to_string(kind)) + " cannot be sent over HTTP");
}

std::pair<std::string, std::string> split_field_error(const std::string& message) {
  if (message.empty() || message[0] != '/') return {"", message};
  const std::size_t colon = message.find(": ");
  if (colon == std::string::npos) return {"", message};
  return {message.substr(0, colon), message.substr(colon + 2)};
}

}  // namespace otinish::api
