#include "engine/views.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "common/hash.h"
#include "engine/serialization.h"
#include "engine/sla_events.h"
#include "engine/privacy/access_log.h"
#include "engine/privacy/privacy_events.h"

namespace otinish::engine {

// ---- row layouts ------------------------------------------------------------------------------------------------

template <class A>
void serialize(A& ar, AppealRow& r) {
  ar(r.id, r.stage, r.category, r.topic, r.priority, r.channel, r.district, r.agency, MicrosRef{r.registered_at},
     MicrosRef{r.updated_at}, MicrosRef{r.resolved_at}, MicrosRef{r.closed_at}, MicrosRef{r.due_at}, r.outcome,
     r.parent, r.children, r.reopen_count, r.redirect_count, r.version, Trailing<std::string>{r.due_provisional},
     Trailing<bool>{r.applicant_erased}, Trailing<std::string>{r.sla_alert}, Trailing<std::string>{r.street});
}
template <class A>
void serialize(A& ar, TimelineEntry& e) {
  ar(e.version, e.position, MicrosRef{e.at}, e.type, e.user, e.role, e.agency, e.from, e.to, e.summary, e.rule);
}
template <class A>
void serialize(A& ar, PublicEntry& e) {
  ar(e.position, MicrosRef{e.at}, e.appeal_id, e.what, e.category, e.topic, e.district, e.agency, e.stage,
     e.outcome);
}
template <class A>
void serialize(A& ar, AgencyScorecard& s) {
  ar(s.agency, s.assigned, s.resolved, s.with_deadline, s.on_time, s.reopened, s.callbacks, s.satisfied,
     s.total_hours_to_resolve);
}
template <class A>
void serialize(A& ar, RepeatLink& l) {
  ar(l.appeal_id, l.earlier_id, l.reason);
}

namespace {

constexpr char kSep = '\x1f';  // between a value and an id inside a key (values never contain it)

std::string be64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}
std::uint64_t from_be64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s.substr(0, 8)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

std::string_view appeal_id_of(const store::RecordedEvent& e) {
  return std::string_view(e.stream).substr(kAppealStreamPrefix.size());
}
bool is_appeal_stream(const store::RecordedEvent& e) {
  return std::string_view(e.stream).starts_with(kAppealStreamPrefix);
}

// A row the transaction holds decoded (ViewTx::Object), encoded when the batch is written.
template <typename T>
struct RowObject final : ViewTx::Object {
  T row{};
  void encode(std::string& out) const override { append_bytes(row, out); }
  void decoded() {}
};

// The row at `key`, decoded, for update: changes to it are written with the batch. nullptr if there is no row
// (or it does not decode: then `error` says so). Every key is held by one object type, RowObject<T> or Obj.
template <typename T, typename Obj = RowObject<T>>
T* row_for_update(ViewTx& tx, std::string_view key, Status& error) {
  if (ViewTx::Object* o = tx.object(key)) return &static_cast<Obj*>(o)->row;
  auto bytes = tx.get(key);
  if (!bytes) return nullptr;
  auto decoded = std::make_unique<Obj>();
  if (auto s = from_bytes(*bytes, decoded->row, "view row"); !s.ok()) {
    error = s;
    return nullptr;
  }
  decoded->decoded();
  return &static_cast<Obj*>(tx.put_object(key, std::move(decoded)))->row;
}

// A new row at `key` (replacing any), for update.
template <typename T, typename Obj = RowObject<T>>
T& new_row(ViewTx& tx, std::string_view key) {
  return static_cast<Obj*>(tx.put_object(key, std::make_unique<Obj>()))->row;
}

// A row written once and never read by the projection (ViewTx::append): encoded now.
template <typename T>
void append_row(ViewTx& tx, std::string_view key, const T& row) {
  thread_local std::string bytes;
  bytes.clear();
  append_bytes(row, bytes);
  tx.append(key, bytes);
}

// `buf` = the concatenation of `parts` (a key built without allocating once `buf` has grown).
template <typename... Parts>
std::string_view make_key(std::string& buf, const Parts&... parts) {
  buf.clear();
  (buf.append(parts), ...);
  return buf;
}

// ---- "appeals" ------------------------------------------------------------------------------------------------

std::string appeal_key(std::string_view id) { return "a/" + std::string(id); }
std::string_view index_key_into(std::string& buf, char field, std::string_view value, std::string_view id) {
  const char head[] = {'i', '/', field, '/'};
  return make_key(buf, std::string_view(head, 4), value, std::string_view(&kSep, 1), id);
}
std::string index_key(char field, std::string_view value, std::string_view id) {
  std::string k;
  index_key_into(k, field, value, id);
  return k;
}

// The fields of a row that have indexes.
struct IndexedFields {
  Stage stage = Stage::kRegistered;
  Category category = Category::kConsultation;
  std::string topic, agency, district;
  void assign(const AppealRow& r) {
    stage = r.stage;
    category = r.category;
    topic = r.topic;
    agency = r.agency;
    district = r.district;
  }
};

// An appeal row owns its index rows: they are written with the row, from what changed since the last write.
struct AppealObject final : ViewTx::Object {
  AppealRow row;
  std::optional<IndexedFields> indexed;  // the values the index rows in the database (or the batch) hold

  void encode(std::string& out) const override { append_bytes(row, out); }
  void decoded() {
    indexed.emplace();
    indexed->assign(row);
  }
  void write_derived(ViewTx::RowSink& out) override {
    thread_local std::string key;
    auto update = [&](char field, std::optional<std::string_view> was, std::string_view is) {
      if (was && *was == is) return;
      if (was && !was->empty()) out.del(index_key_into(key, field, *was, row.id));
      if (!is.empty()) out.put(index_key_into(key, field, is, row.id), "");
    };
    using V = std::optional<std::string_view>;
    const IndexedFields* before = indexed ? &*indexed : nullptr;
    update('s', before ? V(to_string(before->stage)) : std::nullopt, to_string(row.stage));
    update('c', before ? V(to_string(before->category)) : std::nullopt, to_string(row.category));
    update('t', before ? V(before->topic) : std::nullopt, row.topic);
    update('g', before ? V(before->agency) : std::nullopt, row.agency);
    update('d', before ? V(before->district) : std::nullopt, row.district);
    decoded();
  }
};

struct RowFolder {
  AppealRow& r;
  Timestamp at;
  void operator()(const AppealRegistered& e) {
    r.id = e.appeal_id;
    r.category = e.category;
    r.topic = e.topic;
    r.priority = e.priority;
    r.channel = e.channel;
    r.district = e.location.district;
    r.street = e.location.street;
    r.registered_at = at;
  }
  void operator()(const AppealAnsweredOnFirstContact&) {
    r.outcome = Outcome::kExplained;
    r.resolved_at = r.closed_at = at;
  }
  void operator()(const AppealClassified& e) {
    r.category = e.category;
    r.topic = e.topic;
    r.priority = e.priority;
  }
  void operator()(const AppealAssigned& e) {
    r.agency = e.agency;
    if (e.forwarded) r.closed_at = at;
  }
  void operator()(const AppealRedirected& e) {
    r.agency = e.to_agency;
    ++r.redirect_count;
  }
  void operator()(const AppealExtensionGranted& e) {
    r.due_at = e.new_deadline;
    r.due_provisional.clear();  // an extension names a fixed instant
  }
  void operator()(const AppealResolved& e) {
    r.outcome = e.outcome;
    r.resolved_at = at;
  }
  void operator()(const AppealClosed&) { r.closed_at = at; }
  void operator()(const AppealReopened&) {
    ++r.reopen_count;
    r.outcome = Outcome::kNone;
    r.closed_at = Timestamp{};
  }
  void operator()(const AppealMerged& e) { r.parent = e.parent; }
  void operator()(const AppealChildAttached&) { ++r.children; }
  template <typename Other>
  void operator()(const Other&) {}
};

// The deadlines of an appeal's open SLA clocks, kept by its SlaDeadlineSet, SlaClockPaused and SlaClockStopped
// events in one key per appeal (lines "clock#cycle<TAB>micros[<TAB>provisional note]"), so that a view's due
// date is the earliest open deadline whatever the rule set calls its clocks. A paused clock has no deadline
// until the SlaDeadlineSet that comes with its resume. Returns that earliest deadline (Timestamp{} when no
// clock has one) and its provisional note.
// Errors: kCorruption when the stored key does not parse. Each projection keeps its own copy.
struct OpenDeadline {
  Timestamp due{};
  std::string provisional;
};
Result<OpenDeadline> fold_sla_deadline(ViewTx& tx, std::string_view key, const SlaClockEvent& c) {
  std::map<std::string, std::pair<std::int64_t, std::string>> open;
  if (auto v = tx.get(key)) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      const std::size_t tab = rest.find('\t'), nl = rest.find('\n');
      if (tab == std::string_view::npos || nl == std::string_view::npos || tab > nl) {
        return Status::Corruption("SLA deadlines of view key '" + std::string(key) + "' do not parse");
      }
      const std::string_view line = rest.substr(0, nl);
      const std::size_t tab2 = line.find('\t', tab + 1);
      const std::string_view number = line.substr(tab + 1, (tab2 == std::string_view::npos ? nl : tab2) - tab - 1);
      std::int64_t us = 0;
      if (std::from_chars(number.data(), number.data() + number.size(), us).ptr != number.data() + number.size()) {
        return Status::Corruption("SLA deadlines of view key '" + std::string(key) + "' do not parse");
      }
      std::string note = tab2 == std::string_view::npos ? std::string() : std::string(line.substr(tab2 + 1));
      open[std::string(line.substr(0, tab))] = {us, std::move(note)};
      rest.remove_prefix(nl + 1);
    }
  }
  const std::string clock = c.clock + "#" + std::to_string(c.cycle);
  if (c.kind == SlaClockKind::kDeadlineSet && c.deadline) {
    open[clock] = {micros_since_epoch(*c.deadline), c.provisional};
  } else if (c.kind == SlaClockKind::kStopped || c.kind == SlaClockKind::kPaused) {
    open.erase(clock);
  }
  std::string out;
  OpenDeadline earliest;
  std::int64_t earliest_us = 0;
  for (const auto& [name, d] : open) {
    out += name + "\t" + std::to_string(d.first) + (d.second.empty() ? "" : "\t" + d.second) + "\n";
    if (earliest_us == 0 || d.first < earliest_us) {
      earliest_us = d.first;
      earliest.provisional = d.second;
    }
  }
  if (out.empty()) {
    tx.del(key);
  } else {
    tx.put(key, out);
  }
  if (earliest_us) earliest.due = timestamp_from_micros(earliest_us);
  return earliest;
}

// The SLA clock event `e` is, if it changes a deadline (set, paused or stopped); nullopt otherwise.
Result<std::optional<SlaClockEvent>> deadline_change(const store::RecordedEvent& e) {
  if (!is_sla_event_type(e.type)) return std::optional<SlaClockEvent>();
  OTINISH_ASSIGN_OR_RETURN(SlaEvent sla, decode_sla_event(e.type, e.schema_version, e.payload));
  const auto* c = std::get_if<SlaClockEvent>(&sla);
  if (!c || (c->kind != SlaClockKind::kDeadlineSet && c->kind != SlaClockKind::kStopped &&
             c->kind != SlaClockKind::kPaused)) {
    return std::optional<SlaClockEvent>();
  }
  return std::optional<SlaClockEvent>(*c);
}

class AppealsProjection final : public Projection {
 public:
  std::string_view name() const override { return "appeals"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent* ev, ViewTx& tx) const override {
    if (!ev) {
      if (e.type == privacy::kApplicantErasedType) return apply_erasure(e, tx);
      return apply_sla(e, tx);
    }
    const std::string_view id = appeal_id_of(e);
    thread_local std::string key;
    make_key(key, "a/", id);
    Status error;
    AppealRow* row = row_for_update<AppealRow, AppealObject>(tx, key, error);
    OTINISH_RETURN_IF_ERROR(error);
    if (!row && !std::holds_alternative<AppealRegistered>(ev->body)) {
      return Status::Corruption("event " + e.type + " of " + std::string(id) + " before its registration");
    }
    if (!row) row = &new_row<AppealRow, AppealObject>(tx, key);
    std::visit(RowFolder{*row, e.recorded_at}, ev->body);
    row->id = id;
    row->stage = ev->to;
    row->updated_at = e.recorded_at;
    row->version = e.stream_version;
    return Status::Ok();
  }

 private:
  // The applicant's key was destroyed: the row says so (the appeal itself goes on as it was).
  static Status apply_erasure(const store::RecordedEvent& e, ViewTx& tx) {
    if (!is_appeal_stream(e)) return Status::Ok();
    thread_local std::string key;
    Status error;
    AppealRow* row = row_for_update<AppealRow, AppealObject>(tx, make_key(key, "a/", appeal_id_of(e)), error);
    OTINISH_RETURN_IF_ERROR(error);
    if (row) {
      row->applicant_erased = true;
      row->version = e.stream_version;
    }
    return Status::Ok();
  }
  // An SLA deadline set or stopped: the row's due date is the earliest open deadline (what "overdue" checks).
  static Status apply_sla(const store::RecordedEvent& e, ViewTx& tx) {
    if (!is_appeal_stream(e)) return Status::Ok();
    if (e.type == event_type(SlaClockKind::kWarning) || e.type == event_type(SlaClockKind::kBreached) ||
        e.type == event_type(SlaClockKind::kEscalated)) {
      return apply_rung(e, tx);
    }
    OTINISH_ASSIGN_OR_RETURN(std::optional<SlaClockEvent> change, deadline_change(e));
    if (!change) return Status::Ok();
    const std::string_view id = appeal_id_of(e);
    thread_local std::string key, deadlines_key;
    OTINISH_ASSIGN_OR_RETURN(OpenDeadline due, fold_sla_deadline(tx, make_key(deadlines_key, "sd/", id), *change));
    Status error;
    AppealRow* row = row_for_update<AppealRow, AppealObject>(tx, make_key(key, "a/", id), error);
    OTINISH_RETURN_IF_ERROR(error);
    if (row) {
      row->due_at = due.due;
      row->due_provisional = std::move(due.provisional);
      // A deadline set anew (an extension, a rebinding, a reopening) or stopped starts its warnings over.
      row->sla_alert.clear();
      row->version = e.stream_version;
    }
    return Status::Ok();
  }
  // A warning or breach rung fired: the row carries the most severe since the deadline last changed, so a queue
  // can mark it without reading the appeal's stream.
  static Status apply_rung(const store::RecordedEvent& e, ViewTx& tx) {
    thread_local std::string key;
    Status error;
    AppealRow* row = row_for_update<AppealRow, AppealObject>(tx, make_key(key, "a/", appeal_id_of(e)), error);
    OTINISH_RETURN_IF_ERROR(error);
    if (!row) return Status::Ok();
    if (e.type == event_type(SlaClockKind::kWarning)) {
      if (row->sla_alert.empty()) row->sla_alert = "warned";
    } else {
      row->sla_alert = "breached";
    }
    row->version = e.stream_version;
    return Status::Ok();
  }
};

// ---- "timeline" -----------------------------------------------------------------------------------------------

std::string day(Timestamp t) { return format_utc(t).substr(0, 10); }

struct Summary {
  std::string operator()(const AppealRegistered& e) const {
    return "registered via " + std::string(to_string(e.channel)) + " as " + std::string(to_string(e.category)) +
           " on " + e.topic + " in " + e.location.district + " (priority " + std::string(to_string(e.priority)) +
           ")";
  }
  std::string operator()(const AppealAnsweredOnFirstContact&) const { return "answered on first contact"; }
  std::string operator()(const AppealClassified& e) const {
    return std::string(e.reclassification ? "reclassified" : "classified") + " as " +
           std::string(to_string(e.category)) + " on " + e.topic + ", priority " +
           std::string(to_string(e.priority)) + (e.reason.empty() ? "" : ": " + e.reason);
  }
  std::string operator()(const AppealSentForReview&) const { return "sent for review"; }
  std::string operator()(const AppealReturnedToOperator& e) const { return "returned to operator: " + e.reason; }
  std::string operator()(const AppealAssigned& e) const {
    return (e.forwarded ? "forwarded to " + e.agency + " and closed" : "assigned to " + e.agency);
  }
  std::string operator()(const AppealRedirected& e) const {
    return "redirected from " + e.from_agency + " to " + e.to_agency + ": " + e.reason;
  }
  std::string operator()(const AppealAccepted& e) const { return "accepted by " + e.agency; }
  std::string operator()(const AppealWorkStarted&) const { return "work started"; }
  std::string operator()(const AppealPutOnHold& e) const { return "put on hold: " + e.reason; }
  std::string operator()(const AppealResumed& e) const {
    return "resumed" + (e.reason.empty() ? std::string() : ": " + e.reason);
  }
  std::string operator()(const AppealExtensionRequested& e) const {
    return "extension requested to " + day(e.new_deadline) + ": " + e.reason;
  }
  std::string operator()(const AppealExtensionGranted& e) const {
    return "extension granted to " + day(e.new_deadline) + " (cap " + day(e.cap) + "): " + e.reason;
  }
  std::string operator()(const AppealResolved& e) const {
    return "resolved (" + std::string(to_string(e.outcome)) + ")" +
           (e.via_parent.empty() ? "" : " through parent " + e.via_parent) + ": " + e.result;
  }
  std::string operator()(const AppealCallbackRecorded& e) const {
    return std::string("callback: applicant ") + (e.satisfied ? "satisfied" : "not satisfied");
  }
  std::string operator()(const AppealClosed&) const { return "closed"; }
  std::string operator()(const AppealReopened& e) const { return "reopened: " + e.reason; }
  std::string operator()(const AppealMerged& e) const { return "merged into " + e.parent; }
  std::string operator()(const AppealChildAttached& e) const { return "duplicate " + e.child + " attached"; }
  std::string operator()(const AppealCommented& e) const { return "comment: " + e.text; }
};

// An SLA event's line in the timeline, and the rule behind it (rule id, where it is written, the rule set's
// hash and the calendar), so an auditor sees which rule in force set each deadline.
void describe_sla(const SlaEvent& ev, std::string* summary, std::string* rule) {
  auto short_hash = [](const std::string& h) { return h.substr(0, 12); };
  if (const auto* b = std::get_if<SlaBound>(&ev)) {
    *summary = "SLA clocks bound to rule " + (b->rule_id.empty() ? std::string("(none matched)") : b->rule_id);
    *rule = b->rule_id + " (rule set " + short_hash(b->bundle.rule_set_hash) + ")";
    return;
  }
  if (const auto* r = std::get_if<SlaRebound>(&ev)) {
    *summary = "SLA rebound to rule set " + short_hash(r->to.rule_set_hash) + " (" +
               std::string(to_string(r->policy)) + "), " + std::to_string(r->deadlines.size()) + " deadline(s) changed";
    for (const auto& d : r->deadlines) {
      if (d.old_deadline == d.new_deadline && d.old_provisional == d.new_provisional) continue;
      *summary += "; " + d.clock + " " + (d.old_deadline ? format_utc(*d.old_deadline) : std::string("none")) +
                  (d.old_provisional.empty() ? "" : " (provisional)") + " -> " +
                  (d.new_deadline ? format_utc(*d.new_deadline) : std::string("none")) +
                  (d.new_provisional.empty() ? "" : " (provisional)");
    }
    if (!r->cause.empty()) *summary += "; " + r->cause;
    *rule = "rule set " + short_hash(r->to.rule_set_hash);
    return;
  }
  const auto& c = std::get<SlaClockEvent>(ev);
  *summary = c.clock + " " + std::string(to_string(c.kind));
  if (!c.label.empty()) *summary += " at " + c.label;
  if (c.deadline) *summary += " " + format_utc(*c.deadline);
  if (c.deadline && !c.provisional.empty()) *summary += " (provisional: " + c.provisional + ")";
  for (std::size_t i = 0; i < c.notify.size(); ++i) *summary += (i ? ", " : "; notify ") + c.notify[i];
  if (!c.raise_priority.empty()) *summary += "; priority raised to " + c.raise_priority;
  if (!c.reassign_agency.empty()) *summary += "; reassigned to " + c.reassign_agency;
  if (!c.reassign_role.empty()) *summary += "; reassigned to role " + c.reassign_role;
  *rule = c.rule_id + " at " + c.rule_where + " (rule set " + short_hash(c.rule_set_hash) + ", calendar " +
          (c.calendar_version.empty() ? c.calendar : c.calendar_version) + ")";
}

}  // namespace

void describe_appeal_event(const store::RecordedEvent& e, const AppealEvent* ev, Stage stage_before, TimelineEntry* t) {
  t->rule.clear();
  t->summary.clear();
  t->version = e.stream_version;
  t->position = e.position;
  t->at = e.recorded_at;
  t->type = e.type;
  t->user = e.actor.user;
  t->role = e.actor.role;
  t->agency = e.actor.agency;
  if (ev) {
    t->from = ev->from;
    t->to = ev->to;
    t->summary = std::visit(Summary{}, ev->body);
    return;
  }
  // Another module's event (e.g. SLA): the stage does not change.
  t->from = t->to = stage_before;
  if (is_sla_event_type(e.type)) {
    auto sla = decode_sla_event(e.type, e.schema_version, e.payload);
    if (sla.ok()) describe_sla(*sla, &t->summary, &t->rule);
  } else if (e.type == privacy::kApplicantErasedType) {
    auto erased = privacy::decode_privacy_event(e.type, e.schema_version, e.payload);
    if (erased.ok()) {
      const auto& x = std::get<privacy::ApplicantErased>(*erased);
      t->summary = "applicant's personal data erased: " + x.reason;
      t->rule = x.rule;
    }
  }
}

namespace {

std::string timeline_prefix(std::string_view id) { return "t/" + std::string(id) + kSep; }

class TimelineProjection final : public Projection {
 public:
  std::string_view name() const override { return "timeline"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent* ev, ViewTx& tx) const override {
    if (!is_appeal_stream(e)) return Status::Ok();
    const std::string_view id = appeal_id_of(e);
    thread_local std::string stage_key, key;
    make_key(stage_key, "ts/", id);
    Stage before = Stage::kRegistered;  // read only for another module's event, which keeps the stage
    if (!ev) {
      auto last = tx.get(stage_key);
      if (last && !last->empty()) before = static_cast<Stage>((*last)[0]);
    }
    thread_local TimelineEntry t;  // reused: its strings keep their capacity
    describe_appeal_event(e, ev, before, &t);
    if (ev) {
      const char stage = static_cast<char>(ev->to);
      tx.put(stage_key, std::string_view(&stage, 1));
    }
    append_row(tx, make_key(key, "t/", id, std::string_view(&kSep, 1), be64(e.stream_version)), t);
    return Status::Ok();
  }
};

// ---- "public" -------------------------------------------------------------------------------------------------

struct PublicState {
  Category category = Category::kConsultation;
  std::string topic, district, agency;
  template <class A>
  void serialize(A& ar) {
    ar(category, topic, district, agency);
  }
};

class PublicFeedProjection final : public Projection {
 public:
  std::string_view name() const override { return "public"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent* ev, ViewTx& tx) const override {
    if (!ev) return Status::Ok();
    const std::string_view id = appeal_id_of(e);
    thread_local std::string state_key;
    make_key(state_key, "s/", id);
    Status error;
    PublicState* state = row_for_update<PublicState>(tx, state_key, error);
    OTINISH_RETURN_IF_ERROR(error);
    PublicState& st = state ? *state : new_row<PublicState>(tx, state_key);
    thread_local PublicEntry p;  // reused: its strings keep their capacity
    p.what.clear();
    p.outcome = Outcome::kNone;
    std::visit(
        [&](const auto& b) {
          using B = std::decay_t<decltype(b)>;
          if constexpr (std::is_same_v<B, AppealRegistered>) {
            st.category = b.category;
            st.topic = b.topic;
            st.district = b.location.district;  // the district only: never the street, house or text
            p.what = "registered";
          } else if constexpr (std::is_same_v<B, AppealClassified>) {
            st.category = b.category;
            st.topic = b.topic;
          } else if constexpr (std::is_same_v<B, AppealAnsweredOnFirstContact>) {
            p.what = "answered";
            p.outcome = Outcome::kExplained;
          } else if constexpr (std::is_same_v<B, AppealAssigned>) {
            st.agency = b.agency;
            p.what = b.forwarded ? "forwarded" : "assigned";
          } else if constexpr (std::is_same_v<B, AppealRedirected>) {
            st.agency = b.to_agency;
            p.what = "redirected";
          } else if constexpr (std::is_same_v<B, AppealResolved>) {
            p.what = "resolved";
            p.outcome = b.outcome;
          } else if constexpr (std::is_same_v<B, AppealClosed>) {
            p.what = "closed";
          } else if constexpr (std::is_same_v<B, AppealReopened>) {
            p.what = "reopened";
          } else if constexpr (std::is_same_v<B, AppealMerged>) {
            p.what = "merged";
          }
        },
        ev->body);
    if (p.what.empty()) return Status::Ok();
    p.position = e.position;
    p.at = e.recorded_at;
    p.appeal_id = id;
    p.category = st.category;
    p.topic = st.topic;
    p.district = st.district;
    p.agency = st.agency;
    p.stage = ev->to;
    append_row(tx, "p/" + be64(e.position), p);
    return Status::Ok();
  }
};

// ---- "scorecards" ---------------------------------------------------------------------------------------------

struct Work {
  std::string agency;           // working on it now
  std::string resolved_by;      // the agency of the latest resolution
  Timestamp assigned_at{};
  Timestamp due_at{};
  template <class A>
  void serialize(A& ar) {
    ar(agency, resolved_by, MicrosRef{assigned_at}, MicrosRef{due_at});
  }
};

class ScorecardsProjection final : public Projection {
 public:
  std::string_view name() const override { return "scorecards"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent* ev, ViewTx& tx) const override {
    if (!ev && !is_appeal_stream(e)) return Status::Ok();
    std::optional<SlaClockEvent> sla_change;
    if (!ev) {
      OTINISH_ASSIGN_OR_RETURN(sla_change, deadline_change(e));
      if (!sla_change) return Status::Ok();
    }
    thread_local std::string work_key, agency_key, deadlines_key;
    make_key(work_key, "w/", appeal_id_of(e));
    Status error;
    Work* work = row_for_update<Work>(tx, work_key, error);
    OTINISH_RETURN_IF_ERROR(error);
    Work& w = work ? *work : new_row<Work>(tx, work_key);
    if (sla_change) {
      // "On time" is judged against the earliest open SLA deadline at the moment of resolution.
      OTINISH_ASSIGN_OR_RETURN(OpenDeadline open,
                               fold_sla_deadline(tx, make_key(deadlines_key, "sd/", appeal_id_of(e)), *sla_change));
      w.due_at = open.due;
      return Status::Ok();
    }
    auto bump = [&](const std::string& agency, auto&& change) -> Status {
      if (agency.empty()) return Status::Ok();
      Status err;
      make_key(agency_key, "g/", agency);
      AgencyScorecard* card = row_for_update<AgencyScorecard>(tx, agency_key, err);
      OTINISH_RETURN_IF_ERROR(err);
      AgencyScorecard& s = card ? *card : new_row<AgencyScorecard>(tx, agency_key);
      s.agency = agency;
      change(s);
      return Status::Ok();
    };
    const Timestamp at = e.recorded_at;
    Status s = std::visit(
        [&](const auto& b) -> Status {
          using B = std::decay_t<decltype(b)>;
          if constexpr (std::is_same_v<B, AppealAssigned>) {
            if (b.forwarded) return Status::Ok();
            w.agency = b.agency;
            w.assigned_at = at;
            return bump(w.agency, [](AgencyScorecard& c) { ++c.assigned; });
          } else if constexpr (std::is_same_v<B, AppealRedirected>) {
            w.agency = b.to_agency;
            w.assigned_at = at;
            return bump(w.agency, [](AgencyScorecard& c) { ++c.assigned; });
          } else if constexpr (std::is_same_v<B, AppealExtensionGranted>) {
            w.due_at = b.new_deadline;
            return Status::Ok();
          } else if constexpr (std::is_same_v<B, AppealResolved>) {
            if (!b.via_parent.empty() || w.agency.empty()) return Status::Ok();
            w.resolved_by = w.agency;
            const double hours = std::chrono::duration<double, std::ratio<3600>>(at - w.assigned_at).count();
            const bool has_due = w.due_at != Timestamp{};
            const bool on_time = has_due && at <= w.due_at;
            return bump(w.agency, [&](AgencyScorecard& c) {
              ++c.resolved;
              c.total_hours_to_resolve += hours;
              c.with_deadline += has_due;
              c.on_time += on_time;
            });
          } else if constexpr (std::is_same_v<B, AppealReopened>) {
            return bump(w.resolved_by, [](AgencyScorecard& c) { ++c.reopened; });
          } else if constexpr (std::is_same_v<B, AppealCallbackRecorded>) {
            return bump(w.resolved_by, [&](AgencyScorecard& c) {
              ++c.callbacks;
              c.satisfied += b.satisfied;
            });
          } else {
            return Status::Ok();
          }
        },
        ev->body);
    return s;
  }
};

// ---- "repeats" ------------------------------------------------------------------------------------------------

struct LastSeen {
  std::string appeal_id;
  Timestamp at{};
  template <class A>
  void serialize(A& ar) {
    ar(appeal_id, MicrosRef{at});
  }
};

// A digest that links equal (value, topic) pairs without storing the value.
std::string link_key(char kind, std::string_view value, std::string_view topic) {
  Blake2b h;
  h.update(std::string_view(&kind, 1));
  h.update(value);
  h.update(std::string_view("\x1f", 1));
  h.update(topic);
  auto d = h.finish();
  return std::string("k/") + kind + "/" + to_hex(std::span<const std::uint8_t>(d.data(), 16));
}

class RepeatsProjection final : public Projection {
 public:
  explicit RepeatsProjection(const ViewsOptions& o) : options_(o) {}
  std::string_view name() const override { return "repeats"; }
  Status apply(const store::RecordedEvent& e, const AppealEvent* ev, ViewTx& tx) const override {
    if (!ev) return Status::Ok();
    const auto* reg = std::get_if<AppealRegistered>(&ev->body);
    if (!reg) return Status::Ok();
    // Never opens sealed personal data: a view that did would change when a key is erased, and a rebuild would
    // no longer equal it. A sealed applicant's id already stands for the person.
    std::string person, address;  // what links one appeal to earlier ones
    if (reg->applicant.scheme == 0) {
      auto plain = PlainApplicantSealer::instance().open(reg->applicant, {});
      if (!plain.ok()) return Status::Ok();
      person = normalise_phone(plain->phone);
      address = normalise_address(plain->address);
    } else {
      person = reg->applicant.key_id;
    }
    const std::string_view id = appeal_id_of(e);
    bool linked = false;
    std::string earlier_seen;
    auto check = [&](char kind, const std::string& value, const char* reason) -> Status {
      if (value.empty()) return Status::Ok();
      const std::string key = link_key(kind, value, reg->topic);
      Status err;
      LastSeen* last = row_for_update<LastSeen>(tx, key, err);
      OTINISH_RETURN_IF_ERROR(err);
      if (last && last->appeal_id != earlier_seen && e.recorded_at - last->at <= options_.repeat_window) {
        std::string link_row;
        append_row(tx, make_key(link_row, "r/", id, std::string_view(&kSep, 1), last->appeal_id),
                  RepeatLink{std::string(id), last->appeal_id, reason});
        earlier_seen = last->appeal_id;
        linked = true;
      }
      if (!last) last = &new_row<LastSeen>(tx, key);
      last->appeal_id = id;
      last->at = e.recorded_at;
      return Status::Ok();
    };
    OTINISH_RETURN_IF_ERROR(check('p', person, "same applicant and topic"));
    OTINISH_RETURN_IF_ERROR(check('a', address, "same address and topic"));
    if (linked) {
      auto n = tx.get("n");
      tx.put("n", be64((n ? from_be64(*n) : 0) + 1));
    }
    return Status::Ok();
  }

 private:
  const ViewsOptions options_;
};

template <typename T>
Result<T> decode_row(std::string_view bytes) {
  T row{};
  OTINISH_RETURN_IF_ERROR(from_bytes(bytes, row, "view row"));
  return row;
}

}  // namespace

std::unique_ptr<Projection> make_appeals_projection() { return std::make_unique<AppealsProjection>(); }
std::unique_ptr<Projection> make_timeline_projection() { return std::make_unique<TimelineProjection>(); }
std::unique_ptr<Projection> make_public_feed_projection() { return std::make_unique<PublicFeedProjection>(); }
std::unique_ptr<Projection> make_scorecards_projection() { return std::make_unique<ScorecardsProjection>(); }
std::unique_ptr<Projection> make_repeats_projection(const ViewsOptions& options) {
  return std::make_unique<RepeatsProjection>(options);
}

std::vector<std::unique_ptr<Projection>> standard_projections(const ViewsOptions& options) {
  std::vector<std::unique_ptr<Projection>> v;
  v.push_back(make_appeals_projection());
  v.push_back(make_timeline_projection());
  v.push_back(make_public_feed_projection());
  v.push_back(make_scorecards_projection());
  v.push_back(make_repeats_projection(options));
  v.push_back(privacy::make_access_projection());
  return v;
}

Result<AppealRow> get_appeal_row(const ViewReader& appeals, std::string_view id) {
  auto bytes = appeals.get(appeal_key(id));
  if (!bytes) return Status::NotFound("appeal " + std::string(id) + " is not in the appeals view");
  return decode_row<AppealRow>(*bytes);
}

Result<AppealPage> query_appeals(const ViewReader& view, const AppealQuery& q) {
  if (q.limit == 0 || q.limit > 10'000) {
    return Status::InvalidArgument("query limit " + std::to_string(q.limit) + " is outside 1..10000");
  }
  // The most selective index the query names; else every row.
  std::string prefix = "a/";
  bool by_index = true;
  if (q.topic) prefix = index_key('t', *q.topic, "");
  else if (q.agency) prefix = index_key('g', *q.agency, "");
  else if (q.district) prefix = index_key('d', *q.district, "");
  else if (q.stage) prefix = index_key('s', to_string(*q.stage), "");
  else if (q.category) prefix = index_key('c', to_string(*q.category), "");
  else by_index = false;

  auto matches = [&](const AppealRow& r) {
    if (q.stage && r.stage != *q.stage) return false;
    if (q.category && r.category != *q.category) return false;
    if (q.topic && r.topic != *q.topic) return false;
    if (q.agency && r.agency != *q.agency) return false;
    if (q.district && r.district != *q.district) return false;
    if (q.overdue_only) {
      bool open = r.stage != Stage::kResolved && r.stage != Stage::kVerified && !is_terminal(r.stage);
      if (!open || r.due_at == Timestamp{} || r.due_at >= q.now) return false;
    }
    return true;
  };

  AppealPage page;
  Status error;
  std::string after = q.after.empty() ? std::string() : prefix + q.after;
  OTINISH_RETURN_IF_ERROR(view.scan(prefix, after, [&](std::string_view key, std::string_view value) {
    if (page.rows.size() == q.limit) {
      page.next_after = page.rows.back().id;
      return false;
    }
    Result<AppealRow> row = Status::Internal("unset");
    if (by_index) {
      row = get_appeal_row(view, key.substr(prefix.size()));
    } else {
      row = decode_row<AppealRow>(value);
    }
    if (!row.ok()) {
      error = row.status();
      return false;
    }
    if (matches(*row)) page.rows.push_back(std::move(row).value());
    return true;
  }));
  OTINISH_RETURN_IF_ERROR(error);
  return page;
}

// Decodes each row under `prefix` (after `after`) as T and hands it to `take`, until `take` returns false.
// Errors: the view's, or the first row that does not decode.
template <class T, class Take>
Status scan_rows(const ViewReader& view, std::string_view prefix, std::string_view after, Take take) {
  Status error;
  OTINISH_RETURN_IF_ERROR(view.scan(prefix, after, [&](std::string_view, std::string_view v) {
    auto row = decode_row<T>(v);
    if (!row.ok()) {
      error = row.status();
      return false;
    }
    return take(std::move(row).value());
  }));
  return error;
}

Result<std::vector<TimelineEntry>> read_timeline(const ViewReader& view, std::string_view appeal_id) {
  std::vector<TimelineEntry> out;
  OTINISH_RETURN_IF_ERROR(scan_rows<TimelineEntry>(view, timeline_prefix(appeal_id), "", [&](TimelineEntry e) {
    out.push_back(std::move(e));
    return true;
  }));
  if (out.empty()) return Status::NotFound("appeal " + std::string(appeal_id) + " has no timeline");
  return out;
}

Result<std::vector<PublicEntry>> read_public_feed(const ViewReader& view, std::uint64_t after, std::size_t limit) {
  std::vector<PublicEntry> out;
  if (limit == 0) return out;
  OTINISH_RETURN_IF_ERROR(scan_rows<PublicEntry>(view, "p/", "p/" + be64(after), [&](PublicEntry e) {
    out.push_back(std::move(e));
    return out.size() < limit;
  }));
  return out;
}

Result<Scorecards> read_scorecards(const ViewReader& view, std::uint64_t min_sample) {
  Scorecards out;
  OTINISH_RETURN_IF_ERROR(scan_rows<AgencyScorecard>(view, "g/", "", [&](AgencyScorecard s) {
    (s.resolved >= min_sample ? out.ranked : out.too_small).push_back(std::move(s));
    return true;
  }));
  std::stable_sort(out.ranked.begin(), out.ranked.end(), [](const AgencyScorecard& a, const AgencyScorecard& b) {
    if (a.on_time_percent() != b.on_time_percent()) return a.on_time_percent() > b.on_time_percent();
    return a.satisfaction() > b.satisfaction();
  });
  return out;
}

Result<std::vector<RepeatLink>> read_repeats(const ViewReader& view, std::string_view appeal_id) {
  std::vector<RepeatLink> out;
  OTINISH_RETURN_IF_ERROR(scan_rows<RepeatLink>(view, "r/" + std::string(appeal_id) + kSep, "", [&](RepeatLink l) {
    out.push_back(std::move(l));
    return true;
  }));
  return out;
}

Result<std::uint64_t> count_repeats(const ViewReader& view) {
  auto n = view.get("n");
  return n ? from_be64(*n) : 0;
}

Result<std::vector<RepeatCandidate>> find_repeat_candidates(const ViewReader& view, std::string_view person,
                                                            std::string_view address, std::string_view topic,
                                                            Timestamp now, std::chrono::hours window) {
  std::vector<RepeatCandidate> out;
  // The same keys the projection writes, so a desk's hint and the link recorded at registration agree.
  auto look = [&](char kind, std::string_view value, const char* reason) -> Status {
    if (value.empty()) return Status::Ok();
    auto bytes = view.get(link_key(kind, value, topic));
    if (!bytes) return Status::Ok();
    OTINISH_ASSIGN_OR_RETURN(LastSeen last, decode_row<LastSeen>(*bytes));
    if (now - last.at > window) return Status::Ok();
    for (const RepeatCandidate& c : out) {
      if (c.earlier_id == last.appeal_id) return Status::Ok();
    }
    out.push_back({std::move(last.appeal_id), last.at, reason});
    return Status::Ok();
  };
  OTINISH_RETURN_IF_ERROR(look('p', person, "same applicant and topic"));
  OTINISH_RETURN_IF_ERROR(look('a', address, "same address and topic"));
  std::sort(out.begin(), out.end(), [](const RepeatCandidate& a, const RepeatCandidate& b) { return a.at > b.at; });
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> dump_view(const ViewReader& view) {
  std::vector<std::pair<std::string, std::string>> out;
  OTINISH_RETURN_IF_ERROR(view.scan("", "", [&](std::string_view k, std::string_view v) {
    if (!k.empty() && k[0] == '\0') return true;  // the checkpoint
    out.emplace_back(std::string(k), std::string(v));
    return true;
  }));
  return out;
}

}  // namespace otinish::engine
