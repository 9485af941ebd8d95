#include "engine/engine.h"

#include <date/date.h>

#include <algorithm>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <variant>

#include "common/thread_name.h"

namespace otinish::engine {
namespace {

// The idempotency key of a command's append to one stream: the same command on the same stream always maps
// to the same key, so a re-sent command is deduplicated by the store even in the race window.
std::string idempotency_key(const CommandMeta& meta, std::string_view stream) {
  if (meta.command_id.empty()) return {};
  return meta.command_id + "@" + std::string(stream);
}

store::EventId event_id(const CommandMeta& meta, std::string_view stream, std::size_t index) {
  if (meta.command_id.empty()) return store::EventId::random();
  return store::EventId::derived(meta.command_id + "@" + std::string(stream) + "#" + std::to_string(index));
}

// Spreads competing writers of one stream apart: up to 2^attempt * 100 µs, randomised.
void backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int max_us = 100 << std::min(attempt, 6);
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(max_us)));
}

bool resolved_or_later(Stage s) { return s == Stage::kResolved || s == Stage::kVerified || s == Stage::kClosed; }

// The answer of `work`, or the internal error its exception says: "appeal <id>: <failed>: <what it threw>".
template <typename Work>
Result<CommandResult> answer_of(const AppealId& id, std::string_view failed, Work&& work) {
  try {
    return work();
  } catch (const std::exception& e) {
    return Status::Internal("appeal " + id.to_string() + ": " + std::string(failed) + ": " + e.what());
  }
}

}  // namespace

std::int32_t kz_year(Timestamp t) {
  auto day = std::chrono::floor<date::days>(t + std::chrono::hours(5));
  return static_cast<int>(date::year_month_day{day}.year());
}

Engine::Engine(store::EventStore& store, const Clock& clock, const TopicCatalogue* catalogue,
               const ApplicantSealer& sealer, EngineOptions options)
    : store_(store), clock_(clock), catalogue_(catalogue), sealer_(sealer), options_(options) {}

Result<AppealState> Engine::load_stream(const std::string& stream, std::string_view id, Timestamp as_of) const {
  AppealState state;
  state.id = std::string(id);
  std::uint64_t from = 1;
  const bool now = as_of == Timestamp::max();  // a state as of an earlier time is folded whole, and not kept
  std::uint64_t kept_version = 0;              // the kept state this load started from (0: none)
  std::vector<store::RecordedEvent> fresh;     // the events read past it, folded into it too
  if (now) {
    std::lock_guard lock(kept_mu_);
    if (auto it = kept_.find(stream); it != kept_.end()) {
      state = it->second;
      kept_version = state.version;
      from = kept_version + 1;
    }
  }
  for (;;) {
    auto batch = store_.read_stream(stream, from, store::Direction::kForward, options_.load_batch);
    if (!batch.ok()) {
      if (batch.status().code() == StatusCode::kNotFound) break;
      return batch.status();
    }
    for (const auto& e : *batch) {
      if (e.recorded_at > as_of) return state;
      OTINISH_RETURN_IF_ERROR(evolve(state, e));
      if (kept_version != 0) fresh.push_back(e);
    }
    if (batch->size() < options_.load_batch) break;
    from = batch->back().stream_version + 1;
  }
  if (now && state.version >= kKeepFromVersion && state.version > kept_version) {
    std::lock_guard lock(kept_mu_);
    auto it = kept_.find(stream);
    if (kept_version != 0 && it != kept_.end() && it->second.version == kept_version) {
      // The few new events, folded into the kept state where it is: no second copy of a long state.
      for (const auto& e : fresh) {
        if (!evolve(it->second, e).ok()) {  // folded into `state` just now, so it cannot fail; if it did,
          kept_.erase(it);                  // the kept state is dropped, not trusted
          break;
        }
      }
    } else if (it == kept_.end() || it->second.version < state.version) {
      if (it == kept_.end() && kept_.size() >= kKeptStreams) kept_.clear();
      kept_[stream] = state;
    }
  }
  return state;
}

Result<AppealState> Engine::load(std::string_view appeal_id) const {
  return load_as_of(appeal_id, Timestamp::max());
}

Result<AppealState> Engine::load_as_of(std::string_view appeal_id, Timestamp as_of) const {
  OTINISH_ASSIGN_OR_RETURN(AppealId id, AppealId::parse(appeal_id));
  OTINISH_ASSIGN_OR_RETURN(AppealState state, load_stream(id.stream(), id.to_string(), as_of));
  if (!state.exists) {
    return Status::NotFound("appeal " + id.to_string() + " does not exist" +
                            (as_of == Timestamp::max() ? std::string() : " at " + format_utc(as_of)));
  }
  return state;
}

Result<std::vector<CommandKind>> Engine::allowed(std::string_view appeal_id) const {
  OTINISH_ASSIGN_OR_RETURN(AppealState s, load(appeal_id));
  return allowed_commands(s.stage, guard_facts(s));
}

Result<AppealId> Engine::allocate_number(const std::string& centre, const CommandMeta& meta) {
  const std::int32_t year = kz_year(clock_.now());
  const std::string stream = AppealId::sequence_stream(centre, year);
  // The number is the stream version the store gives the allocation event. Appends with any expected version
  // are ordered by the store's group commit, so numbers are dense without a lock here, and concurrent
  // registrations share one synced write instead of queueing behind one sync each.
  // The payload does not name the number, so that a re-sent command carries the same event: the store's
  // idempotency key then returns the first append's version, and the re-sent command gets the same number.
  store::EventData e = encode_number_allocated({meta.command_id});
  e.id = event_id(meta, stream, 0);
  e.actor = meta.actor;
  e.correlation_id = meta.correlation_id;
  e.causation_id = meta.command_id;
  // The number need not be durable on its own: the registration that follows is appended after it, so its
  // acknowledgement makes the allocation durable too, and a crash before it loses both (the number is then
  // given again: numbers stay dense). So this append does not wait for its fsync.
  OTINISH_ASSIGN_OR_RETURN(auto r, store_.append(stream, store::ExpectedVersion::any(), {&e, 1},
                                                 {.idempotency_key = idempotency_key(meta, stream),
                                                  .wait_for_sync = false}));
  if (r.stream_version > UINT32_MAX) {
    return Status::ResourceExhausted("centre " + centre + " has used every appeal number of " + std::to_string(year));
  }
  return AppealId{centre, year, static_cast<std::uint32_t>(r.stream_version)};
}

Result<Engine::Registration> Engine::prepare_registration(const RegisterAppeal& command, const CommandMeta& meta) {
  // Validate before taking a number, so that a bad command reserves nothing.
  AppealId probe{command.centre, kz_year(clock_.now()), 1};
  OTINISH_RETURN_IF_ERROR(AppealId::parse(probe.to_string()).status());
  DecideContext ctx{clock_.now(), catalogue_};
  // The probe seals nothing: a real sealer would make keys and appeal lists for a number never given.
  OTINISH_RETURN_IF_ERROR(decide_register(command, probe, ctx, PlainApplicantSealer::instance()).status());

  OTINISH_ASSIGN_OR_RETURN(AppealId id, allocate_number(command.centre, meta));
  OTINISH_ASSIGN_OR_RETURN(AppealEvent event, decide_register(command, id, ctx, sealer_));
  Registration reg{.id = id, .events = {std::move(event)}};
  reg.empty.id = id.to_string();
  return reg;
}

Result<CommandResult> Engine::finish_registration(const Registration& reg, const CommandMeta& meta,
                                                  Result<CommandResult> appended) const {
  if (appended.ok() || appended.status().code() != StatusCode::kConflict) return appended;
  // The stream exists: either this command registered it before (a re-send), or a bug gave one number twice.
  OTINISH_ASSIGN_OR_RETURN(AppealState existing, load(reg.empty.id));
  auto it = existing.applied_commands.find(meta.command_id);
  if (meta.command_id.empty() || it == existing.applied_commands.end()) {
    return Status::Internal("appeal " + reg.empty.id + " already exists although its number was just allocated");
  }
  return CommandResult{existing.id, existing.stage, it->second.version, it->second.decision_version, 0, true};
}

Result<CommandResult> Engine::register_appeal(const RegisterAppeal& command, const CommandMeta& meta) {
  OTINISH_ASSIGN_OR_RETURN(Registration reg, prepare_registration(command, meta));
  // A new applicant's key must be durable before the appeal that names it.
  OTINISH_RETURN_IF_ERROR(sealer_.make_durable());
  return finish_registration(reg, meta, append_events(reg.empty, reg.id.stream(), reg.events, meta));
}

void Engine::register_appeal_async(const RegisterAppeal& command, const CommandMeta& meta, CommandCallback done) {
  auto reg = prepare_registration(command, meta);
  if (!reg.ok()) return done(reg.status());
  // Counted until answered, as execute_async's commands are: the continuations below use this engine, so the
  // destructor waits for them. Answered once: an exception on the way (memory exhausted, a bug) answers it with
  // an error and a later answer is dropped, so that the count falls exactly once. What may throw before the
  // count is taken throws to the caller, with nothing counted.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  CommandCallback once = [this, answered, answer = std::move(done)](Result<CommandResult> result) {
    if (answered->exchange(true)) return;
    struct Uncount {  // also when `answer` throws (it must not)
      Engine* engine;
      ~Uncount() {
        std::lock_guard lock(engine->queues_mu_);
        if (--engine->in_flight_ == 0) engine->idle_cv_.notify_all();  // after this, the engine may be gone
      }
    } uncount{this};
    answer(std::move(result));
  };
  auto pending = std::make_shared<std::pair<Registration, CommandCallback>>(std::move(reg).value(), std::move(once));
  {
    std::lock_guard lock(queues_mu_);
    ++in_flight_;
  }
  auto failed = [](const std::exception& e) {
    return Status::Internal(std::string("the registration failed before it was appended: ") + e.what());
  };
  // Two steps, neither waiting on this thread: the sealer makes a new applicant's key durable (at once when
  // there is none), then the registration is appended. The key must be durable before the appeal that names it.
  try {
    SealedApplicant sealed;  // the applicant the registration names, whose key must be durable
    for (const AppealEvent& e : pending->first.events) {
      if (const auto* r = std::get_if<AppealRegistered>(&e.body)) sealed = r->applicant;
    }
    sealer_.make_durable_async(sealed, [this, pending, meta, failed](Status keys) {
      auto& [reg, done] = *pending;
      if (!keys.ok()) return done(keys);
      try {
        const std::string stream = reg.id.stream();
        std::vector<store::EventData> data = encode_for_append(reg.events, stream, meta);
        store_.append_async(
            stream, store::ExpectedVersion::exact(0), std::move(data), {.idempotency_key = idempotency_key(meta, stream)},
            [this, pending, meta](Result<store::AppendResult> appended) {
              // On the store's completion thread. The conflict case (a re-sent registration) reads the appeal: a
              // rare point read, not a wait for a disk.
              auto& [reg, done] = *pending;
              done(answer_of(reg.id, "the registration's append was answered, then reading it failed", [&] {
                return finish_registration(reg, meta,
                                           appended.ok() ? Result<CommandResult>(command_result(reg.empty, reg.events, *appended))
                                                         : Result<CommandResult>(appended.status()));
              }));
            });
      } catch (const std::exception& e) {
        done(failed(e));  // on the sealer's thread, which an escaping exception would end
      }
    });
  } catch (const std::exception& e) {
    pending->second(failed(e));
  }
}

std::vector<store::EventData> Engine::encode_for_append(const std::vector<AppealEvent>& events,
                                                        const std::string& stream, const CommandMeta& meta) {
  std::vector<store::EventData> data;
  data.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    store::EventData d = encode_event(events[i]);
    d.id = event_id(meta, stream, i);
    d.actor = meta.actor;
    d.correlation_id = meta.correlation_id;
    d.causation_id = meta.command_id;
    data.push_back(std::move(d));
  }
  return data;
}

CommandResult Engine::command_result(const AppealState& state, const std::vector<AppealEvent>& events,
                                     const store::AppendResult& appended) {
  CommandResult out;
  out.appeal_id = state.id;
  out.stage = events.back().to;
  out.version = appended.stream_version;
  out.decision_version = state.decision_version + events.size();  // every appeal event moves it
  out.position = appended.last_position;
  out.duplicate = appended.deduplicated;
  return out;
}

Result<CommandResult> Engine::append_events(const AppealState& state, const std::string& stream,
                                            const std::vector<AppealEvent>& events, const CommandMeta& meta) {
  const std::vector<store::EventData> data = encode_for_append(events, stream, meta);
  OTINISH_ASSIGN_OR_RETURN(auto appended, store_.append(stream, store::ExpectedVersion::exact(state.version), data,
                                                        {.idempotency_key = idempotency_key(meta, stream)}));
  return command_result(state, events, appended);
}

Status Engine::check_merge_parent(const AppealState& child, const std::string& parent_id) const {
  auto parent = load(parent_id);
  if (!parent.ok()) {
    return Status(parent.status().code(), "cannot merge " + child.id + ": " + parent.status().message());
  }
  if (!parent->parent.empty()) {
    return Status::InvalidArgument("cannot merge " + child.id + " into " + parent_id + ": that appeal is itself merged into " +
                                   parent->parent + "; merge into " + parent->parent + " instead");
  }
  if (parent->stage == Stage::kClosed) {
    return Status::FailedPrecondition("cannot merge " + child.id + " into " + parent_id +
                                      ": the parent is closed; reopen it or register the problem anew");
  }
  return Status::Ok();
}

Status Engine::attach_child(const std::string& parent_id, const std::string& child_id, const CommandMeta& meta) {
  OTINISH_ASSIGN_OR_RETURN(AppealId pid, AppealId::parse(parent_id));
  for (int attempt = 0; attempt <= options_.max_conflict_retries; ++attempt) {
    AppealState parent;
    {
      std::lock_guard lock(stripe(pid.stream()));
      OTINISH_ASSIGN_OR_RETURN(parent, load(parent_id));
      bool attached = std::find(parent.children.begin(), parent.children.end(), child_id) != parent.children.end();
      if (!attached) {
        AppealEvent e{parent.stage, parent.stage, AppealChildAttached{child_id}};
        auto r = append_events(parent, pid.stream(), {e}, meta);
        if (!r.ok() && r.status().code() == StatusCode::kConflict) {
          backoff(attempt);
          continue;
        }
        OTINISH_RETURN_IF_ERROR(r.status());
      }
    }
    // A parent resolved before the child arrived hands its resolution over at once.
    if (resolved_or_later(parent.stage)) {
      CommandMeta child_meta = meta;
      if (!meta.command_id.empty()) child_meta.command_id = meta.command_id + "/parent-resolution";
      auto r = execute(child_id, ApplyParentResolution{parent_id, parent.outcome, parent.result}, child_meta);
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }
  return Status::Conflict("could not attach " + child_id + " to " + parent_id + " after " +
                          std::to_string(options_.max_conflict_retries) + " conflicts; re-send the merge command");
}

Status Engine::propagate_resolution(const AppealState& parent, const CommandMeta& meta) {
  for (const auto& child : parent.children) {
    CommandMeta child_meta = meta;
    if (!meta.command_id.empty()) child_meta.command_id = meta.command_id + "/child/" + child;
    auto r = execute(child, ApplyParentResolution{parent.id, parent.outcome, parent.result}, child_meta);
    // A child that left `merged` on its own (it cannot today) or was already resolved is not an error.
    if (!r.ok() && r.status().code() != StatusCode::kFailedPrecondition) return r.status();
  }
  return Status::Ok();
}

namespace {
CommandResult applied_result(const AppealState& state, const AppliedCommand& a) {
  return CommandResult{state.id, state.stage, a.version, a.decision_version, 0, true};
}
}  // namespace

Result<Engine::Decided> Engine::decide_locked(const AppealId& id, const Command& command, const CommandMeta& meta,
                                              AppealState& state) {
  OTINISH_ASSIGN_OR_RETURN(state, load(id.to_string()));
  if (auto it = state.applied_commands.find(meta.command_id);
      !meta.command_id.empty() && it != state.applied_commands.end()) {
    return Decided(applied_result(state, it->second));
  }
  if (meta.expected_version && *meta.expected_version != state.decision_version) {
    return Status::Conflict("appeal " + state.id + " is at version " + std::to_string(state.decision_version) +
                            ", the command expected " + std::to_string(*meta.expected_version) +
                            "; reload the appeal and decide again")
        .with_current_version(state.decision_version);
  }
  DecideContext ctx{clock_.now(), catalogue_};
  // The applicant's own data is taken out of the command's free text (an erased applicant has none to take).
  // Opened at most once, and only for a command that carries free text: most lifecycle steps carry none.
  std::optional<Result<Applicant>> applicant;
  ctx.applicant = [&]() -> const Applicant* {
    if (!applicant) applicant.emplace(sealer_.open(state.applicant, state.id));
    return applicant->ok() ? &**applicant : nullptr;
  };
  OTINISH_ASSIGN_OR_RETURN(std::vector<AppealEvent> events, decide(state, command, ctx));
  if (const auto* merge = std::get_if<MergeInto>(&command)) {
    OTINISH_RETURN_IF_ERROR(check_merge_parent(state, merge->parent));
  }
  return Decided(std::move(events));
}

std::optional<Result<CommandResult>> Engine::after_append(const AppealId& id, const CommandMeta& meta,
                                                          const std::vector<AppealEvent>& events, AppealState& state,
                                                          Result<CommandResult> result) const {
  if (!result.ok() && result.status().code() == StatusCode::kConflict) return std::nullopt;
  OTINISH_RETURN_IF_ERROR(result.status());
  if (result->duplicate) {
    // The store knew the command's key: another process appended it after our load. Answer as it did.
    OTINISH_ASSIGN_OR_RETURN(state, load(id.to_string()));
    auto it = state.applied_commands.find(meta.command_id);
    if (it == state.applied_commands.end()) {
      return Status::Internal("appeal " + state.id + ": the store deduplicated command " + meta.command_id +
                              " but its events are not in the stream");
    }
    return applied_result(state, it->second);
  }
  for (const auto& e : events) {
    store::RecordedEvent own;  // fold our own events to know the state the follow-ups act on
    own.stream_version = state.version + 1;
    own.recorded_at = clock_.now();
    evolve_decoded(state, own, e);
  }
  return result;
}

std::optional<Result<CommandResult>> Engine::decide_and_append(const AppealId& id, const Command& command,
                                                               const CommandMeta& meta, AppealState& state) {
  std::lock_guard lock(stripe(id.stream()));
  auto decided = decide_locked(id, command, meta, state);
  if (!decided.ok()) return Result<CommandResult>(decided.status());
  if (auto* answer = std::get_if<CommandResult>(&*decided)) return Result<CommandResult>(std::move(*answer));
  const auto& events = std::get<std::vector<AppealEvent>>(*decided);
  // Appended at exactly the stream version loaded: anything written since, even an SLA fact that leaves the
  // decision version alone, makes the store refuse, and the command is decided again on what is there now.
  return after_append(id, meta, events, state, append_events(state, id.stream(), events, meta));
}

Result<CommandResult> Engine::execute(std::string_view appeal_id, const Command& command, const CommandMeta& meta) {
  OTINISH_ASSIGN_OR_RETURN(AppealId id, AppealId::parse(appeal_id));
  for (int attempt = 0; attempt <= options_.max_conflict_retries; ++attempt) {
    AppealState state;
    auto result = decide_and_append(id, command, meta, state);
    if (!result) {
      backoff(attempt);  // the stream moved under us: decide again (and check the expected version again)
      continue;
    }
    OTINISH_RETURN_IF_ERROR(result->status());  // a stale expected version too: the caller must reload, not us
    // Follow-ups on other streams run on every attempt (also for a duplicate): they are idempotent, and a
    // re-sent command completes what a crashed first attempt began. No stripe lock is held here.
    if (const auto* merge = std::get_if<MergeInto>(&command)) {
      OTINISH_RETURN_IF_ERROR(attach_child(merge->parent, state.id, meta));
    } else if (std::holds_alternative<Resolve>(command) && resolved_or_later(state.stage)) {
      OTINISH_RETURN_IF_ERROR(propagate_resolution(state, meta));
    }
    return std::move(result).value();
  }
  return Status::Conflict("appeal " + std::string(appeal_id) + ": the stream kept changing; gave up after " +
                          std::to_string(options_.max_conflict_retries) + " retries; re-send the command");
}

void Engine::execute_async(std::string_view appeal_id, const Command& command, const CommandMeta& meta,
                           CommandCallback done) {
  auto parsed = AppealId::parse(appeal_id);
  if (!parsed.ok()) return done(parsed.status());
  auto c = std::make_shared<AsyncCommand>(AsyncCommand{*parsed, command, meta, std::move(done)});
  {
    // Counted once queued (what may throw here throws to the caller, with nothing counted): a command counted
    // is a command that will be answered.
    std::lock_guard lock(queues_mu_);
    auto [queue, first] = queues_.try_emplace(c->id.stream());
    if (!first) {
      // An earlier command on this appeal is not answered yet: this one is decided on what that one leaves.
      queue->second.push_back(std::move(c));
      ++in_flight_;
      return;
    }
    ++in_flight_;
  }
  start(std::move(c), 0);
}

// The command's appeal stream is this engine's to append to (queues_ holds it) until finish().
//
// Whatever throws before the append is handed to the store (memory exhausted, a bug) answers the command with
// an internal error. Unanswered, it would hold its appeal's queue (every later command on the appeal would wait
// behind it) and the destructor would wait for it forever; thrown on, it would end the engine's thread that
// runs a queued command.
void Engine::start(std::shared_ptr<AsyncCommand> c, int attempt) {
  // A merge writes its parent's stream too: the waiting way, on the engine's threads.
  if (std::holds_alternative<MergeInto>(c->command)) return run_waiting(c);
  struct Early {
    std::mutex mu;
    bool returned = false;                                 // guarded by mu
    std::optional<Result<store::AppendResult>> answer;  // guarded by mu
  };
  std::shared_ptr<AppealState> state;
  std::shared_ptr<const std::vector<AppealEvent>> events;
  std::shared_ptr<Early> early;
  std::optional<Result<Decided>> decided;
  std::unique_lock<std::mutex> lock;
  try {
    state = std::make_shared<AppealState>();
    const std::string stream = c->id.stream();
    lock = std::unique_lock(stripe(stream));
    decided.emplace(decide_locked(c->id, c->command, c->meta, *state));
    if (decided->ok() && std::holds_alternative<std::vector<AppealEvent>>(**decided)) {
      events = std::make_shared<const std::vector<AppealEvent>>(std::get<std::vector<AppealEvent>>(std::move(**decided)));
      early = std::make_shared<Early>();
      // The store may answer on this thread before append_async returns (a refusal; a store without a completion
      // thread of its own), while the stripe is held: that answer is kept and handled once the stripe is
      // released. A store that throws has not taken the append.
      store_.append_async(stream, store::ExpectedVersion::exact(state->version),
                          encode_for_append(*events, stream, c->meta), {.idempotency_key = idempotency_key(c->meta, stream)},
                          [this, c, state, events, attempt, early](Result<store::AppendResult> appended) {
                            {
                              std::lock_guard l(early->mu);
                              if (!early->returned) {
                                early->answer.emplace(std::move(appended));
                                return;
                              }
                            }
                            appended_async(c, *state, *events, attempt, std::move(appended));
                          });
    }
  } catch (const std::exception& e) {
    decided.emplace(Status::Internal("appeal " + c->id.to_string() + ": deciding the command failed: " + e.what()));
    events.reset();
  }
  if (lock.owns_lock()) lock.unlock();
  if (!events) {
    if (!decided->ok()) return finish(c, decided->status());
    // A re-sent resolution completes what its first attempt began among the children: execute() does that.
    if (std::holds_alternative<Resolve>(c->command)) return run_waiting(c);
    return finish(c, std::get<CommandResult>(std::move(**decided)));
  }
  std::optional<Result<store::AppendResult>> answered;
  {
    std::lock_guard l(early->mu);
    early->returned = true;
    answered = std::move(early->answer);
  }
  if (answered) appended_async(c, *state, *events, attempt, std::move(*answered));
}

// On the store's completion thread (or the caller's): nothing here waits for a disk.
void Engine::appended_async(const std::shared_ptr<AsyncCommand>& c, AppealState& state,
                            const std::vector<AppealEvent>& events, int attempt, Result<store::AppendResult> appended) {
  auto finished = after_append(c->id, c->meta, events, state,
                               appended.ok() ? Result<CommandResult>(command_result(state, events, *appended))
                                             : Result<CommandResult>(appended.status()));
  if (!finished) {
    // Another writer (the SLA service, another process) appended since the load: decide again on fresh state.
    if (attempt >= options_.max_conflict_retries) {
      return finish(c, Status::Conflict("appeal " + c->id.to_string() + ": the stream kept changing; gave up after " +
                                        std::to_string(options_.max_conflict_retries) + " retries; re-send the command"));
    }
    return run_later([this, c, attempt] {
      backoff(attempt);
      start(c, attempt + 1);
    });
  }
  if (finished->ok() && std::holds_alternative<Resolve>(c->command) && resolved_or_later(state.stage) &&
      !state.children.empty()) {
    return run_later([this, c, parent = state, result = *finished] {
      finish(c, answer_of(c->id, "the command failed", [&] {
               const Status children = propagate_resolution(parent, c->meta);
               return children.ok() ? result : Result<CommandResult>(children);
             }));
    });
  }
  finish(c, std::move(*finished));
}

void Engine::run_waiting(std::shared_ptr<AsyncCommand> c) {
  run_later([this, c] {
    finish(c, answer_of(c->id, "the command failed", [&] { return execute(c->id.to_string(), c->command, c->meta); }));
  });
}

void Engine::finish(const std::shared_ptr<AsyncCommand>& c, Result<CommandResult> result) {
  try {
    c->done(std::move(result));
  } catch (...) {
    // `done` must not throw. If it does, the appeal's queue still moves on and the count still falls: the
    // exception would otherwise leave every later command on the appeal, and the destructor, waiting forever.
  }
  std::shared_ptr<AsyncCommand> next;
  {
    std::lock_guard lock(queues_mu_);
    auto queue = queues_.find(c->id.stream());
    if (queue->second.empty()) {
      queues_.erase(queue);
    } else {
      next = std::move(queue->second.front());
      queue->second.pop_front();
    }
    if (--in_flight_ == 0) idle_cv_.notify_all();  // after this, `this` may be gone unless `next` holds it
  }
  // The next command on this appeal is decided now that this one is durable, on the engine's threads: never on
  // the store's completion thread, whose other completions would wait behind it.
  if (next) run_later([this, next] { start(next, 0); });
}

void Engine::run_later(std::function<void()> work) {
  try {
    queue_later(work);
  } catch (const std::exception&) {
    // No thread could take it (threads or memory exhausted): it runs here rather than being lost, which would
    // leave its command unanswered.
    work();
  }
}

void Engine::queue_later(std::function<void()>& work) {
  std::lock_guard lock(later_mu_);
  if (later_threads_.empty()) {
    for (int i = 0; i < kLaterThreads; ++i) {
      later_threads_.emplace_back([this] {
        name_this_thread("otinish-later");
        std::unique_lock l(later_mu_);
        for (;;) {
          later_cv_.wait(l, [this] { return stopping_ || !later_.empty(); });
          if (later_.empty()) return;  // stopping, and nothing left to do
          auto next = std::move(later_.front());
          later_.pop_front();
          l.unlock();
          next();
          l.lock();
        }
      });
    }
  }
  later_.push_back(std::move(work));
  later_cv_.notify_one();
}

Engine::~Engine() {
  {
    // Every execute_async is answered first (its completion and its follow-ups use this engine).
    std::unique_lock lock(queues_mu_);
    idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
  }
  {
    std::lock_guard lock(later_mu_);
    stopping_ = true;
  }
  later_cv_.notify_all();
  for (auto& t : later_threads_) t.join();
}

std::mutex& Engine::stripe(std::string_view stream) {
  return stripes_[std::hash<std::string_view>{}(stream) % stripes_.size()];
}

}  // namespace otinish::engine
