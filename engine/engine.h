// engine/engine.h: the command handler — load an appeal's stream, decide, append with the expected version.
//
// Usage:
//   auto store = otinish::store::open_rocks_store(dir + "/log", {}, clock);
//   engine::Engine eng(**store, clock, &catalogue);
//   CommandMeta meta{.command_id = "desk-7:cmd-1", .actor = {"operator:aigerim", "operator", ""}};
//   auto reg = eng.register_appeal({.centre = "SHY", .category = Category::kComplaint, .topic = "lifts.broken",
//                                   .text = "...", .applicant = {...}}, meta);
//   auto r = eng.execute(reg->appeal_id, SendForReview{}, {.command_id = "desk-7:cmd-2", ...});
//   if (r.status().code() == StatusCode::kFailedPrecondition) { /* message names stage and allowed commands */ }
//
// Guarantees:
//   - Waiting writers of one appeal in this process are serialised (striped locks), so they never conflict with
//     each other, nor do execute_async's (queued per appeal). A conflict with another writer (another process,
//     the SLA service appending to the appeal's stream in between, a waiting execute on an appeal while an
//     execute_async's append is not yet synced: loads read synced events only) is retried on fresh state with
//     a randomised backoff, at most EngineOptions::max_conflict_retries times, then returned as kConflict. A command with an expected (decision) version is retried too, and its version is
//     checked again on the fresh state: it goes through past SLA timing facts and is refused past a command.
//   - A command id makes a retried command harmless: a command whose events are already in the stream returns
//     the first outcome with `duplicate = true` and writes nothing. Commands that touch several streams (merge,
//     a parent's resolution reaching its children) write each stream with a key derived from the command id,
//     so re-sending the same command after a crash completes what the first attempt began.
//   - Appeal numbers are dense per centre and year: the number is the version the store gives an allocation
//     event in the "seq-<centre>-<year>" stream (appends there are ordered by the group commit, so concurrent
//     registrations share one synced write). The allocation does not wait for its own fsync: the registration's
//     durable append covers it. A crash before the allocation is synced loses it with the registration (the
//     number is given again); a crash between a synced allocation and the registration leaves the number
//     reserved (its AppealNumberAllocated event names the command); re-sending that command reuses it.
//
// Thread-safety: thread-safe. Any number of threads may call any method at once.
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/appeal.h"
#include "engine/commands.h"
#include "engine/domain.h"
#include "store/event_store.h"

namespace otinish::engine {

struct EngineOptions {
  // How many times a command is re-decided on fresh state after an expected-version conflict.
  int max_conflict_retries = 8;
  // Events read per read_stream() call while loading an appeal.
  std::size_t load_batch = 1024;
};

// Who sends a command and under which id.
struct CommandMeta {
  std::string command_id{};      // REQUIRED for idempotency; an empty id disables deduplication
  store::Actor actor{};
  std::string correlation_id{};  // the call, chat or request the command belongs to
  // If set, execute() refuses with kConflict (status().current_version() = the appeal's decision version now)
  // unless the appeal's decision version (AppealState::decision_version) is exactly this one: HTTP's If-Match.
  // The SLA service's timing facts written meanwhile (deadlines, warnings) do not move it, so they never refuse
  // a command; another command, or a rung that reassigns the appeal or raises its priority, does. The check
  // and the append are one step: if the stream moves between the load and the append, the command is decided
  // again on fresh state and the check is made again.
  std::optional<std::uint64_t> expected_version{};
};

struct CommandResult {
  std::string appeal_id;
  Stage stage = Stage::kRegistered;  // the appeal's stage after the command
  std::uint64_t version = 0;         // the appeal stream's version after the command
  std::uint64_t decision_version = 0;  // the appeal's decision version after the command (HTTP's ETag)
  std::uint64_t position = 0;        // global position of the command's last event in the appeal's stream
                                     // (0 when duplicate and unknown): wait for projections up to it
  bool duplicate = false;            // the command had already been applied; nothing was written
};

class Engine {
 public:
  // `store`, `clock`, `catalogue` (may be null: topics unchecked) and `sealer` must outlive the engine. The
  // default sealer stores applicants in plain text: for tests only; a real engine passes an
  // engine::privacy::AeadApplicantSealer (examples/embed/embed.cc, docs/privacy.md).
  Engine(store::EventStore& store, const Clock& clock, const TopicCatalogue* catalogue,
         const ApplicantSealer& sealer = PlainApplicantSealer::instance(), EngineOptions options = {});

  // Waits until every execute_async is answered.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Allocates the next number of (centre, current year in UTC+5) and registers the appeal.
  // Errors: those of decide_register(); kConflict if allocation kept conflicting; the store's errors.
  Result<CommandResult> register_appeal(const RegisterAppeal& command, const CommandMeta& meta);

  // Called with a command's outcome, exactly once (register_appeal_async).
  using CommandCallback = std::function<void(Result<CommandResult>)>;
  // register_appeal without waiting for an fsync: validation, the number's allocation and the sealing run on
  // this thread; a new applicant's key is synced (ApplicantSealer::make_durable_async), then the registration
  // is appended with EventStore::append_async, and `done` gets what register_appeal would have returned: on
  // this thread before the call returns (a refusal), on the sealer's sync thread (the key's sync failed), or
  // on the store's completion thread once the registration is durable. `done` must be short and must not throw (see
  // EventStore::append_async): a server hands the answer to its connection's thread there.
  void register_appeal_async(const RegisterAppeal& command, const CommandMeta& meta, CommandCallback done);

  // Applies `command` to appeal `appeal_id` ("SHY-2026-0012345").
  // Errors: kNotFound (no such appeal, or a merge's parent), those of decide(), kConflict after the retries,
  // the store's errors.
  Result<CommandResult> execute(std::string_view appeal_id, const Command& command, const CommandMeta& meta);

  // execute() without waiting for an fsync: `done` gets what execute() would have returned, and no thread of
  // the caller's waits for a disk. The load and the decision run on this thread under the appeal's lock, the
  // append is handed to the store (EventStore::append_async), and `done` is called once the events are
  // durable, on the store's completion thread; or on this thread before the call returns (a refusal, a
  // re-sent command's first outcome). Commands on one appeal are taken in order: one that arrives while an
  // earlier execute_async on the same appeal is unanswered waits for it (no thread waits) and is decided, on
  // the engine's own threads, on what it left; so they never conflict with each other. The engine's threads
  // also run what must wait: a merge (it writes the parent's stream too), a mass incident's resolution
  // reaching its children, a command decided again after another writer's conflict; `done` is then called
  // there. On a store without a completion thread of its own (JetStream's append_async waits for the cluster)
  // the caller's thread waits for the append. `done` must be short and must not throw; it must not destroy
  // the engine.
  void execute_async(std::string_view appeal_id, const Command& command, const CommandMeta& meta,
                     CommandCallback done);

  // The appeal's state now. Errors: kNotFound; kCorruption if the stream does not fold.
  Result<AppealState> load(std::string_view appeal_id) const;
  // The appeal's state as it was at `as_of` (events recorded at or before it). kNotFound if it did not exist.
  Result<AppealState> load_as_of(std::string_view appeal_id, Timestamp as_of) const;
  // The applicant's personal data, opened by the sealer. Errors: the sealer's (kNotFound when shredded).
  Result<Applicant> applicant(const AppealState& state) const { return sealer_.open(state.applicant, state.id); }

  // The allowed commands of an appeal now (for desks' buttons).
  Result<std::vector<CommandKind>> allowed(std::string_view appeal_id) const;

  store::EventStore& store() const noexcept { return store_; }

 private:
  // A registration decided and numbered, before its append.
  struct Registration {
    AppealId id;
    AppealState empty;  // the state before it: no events, the id
    std::vector<AppealEvent> events;
  };
  Result<Registration> prepare_registration(const RegisterAppeal& command, const CommandMeta& meta);
  // The registration's outcome from its append's: a conflict is a re-sent command (its first outcome, read back)
  // or a number given twice (kInternal).
  Result<CommandResult> finish_registration(const Registration& reg, const CommandMeta& meta,
                                            Result<CommandResult> appended) const;
  static std::vector<store::EventData> encode_for_append(const std::vector<AppealEvent>& events,
                                                         const std::string& stream, const CommandMeta& meta);
  static CommandResult command_result(const AppealState& state, const std::vector<AppealEvent>& events,
                                      const store::AppendResult& appended);
  Result<AppealState> load_stream(const std::string& stream, std::string_view id, Timestamp as_of) const;
  Result<AppealId> allocate_number(const std::string& centre, const CommandMeta& meta);
  Result<CommandResult> append_events(const AppealState& state, const std::string& stream,
                                      const std::vector<AppealEvent>& events, const CommandMeta& meta);
  Status check_merge_parent(const AppealState& child, const std::string& parent_id) const;
  Status attach_child(const std::string& parent_id, const std::string& child_id, const CommandMeta& meta);
  Status propagate_resolution(const AppealState& parent, const CommandMeta& meta);
  // Under the stream's stripe lock: load, check meta.expected_version, decide, append once. Fills `state` with
  // the state after. nullopt when the store refused the append because the stream moved since the load (another
  // process, or the SLA service, wrote it): the caller decides again on fresh state.
  std::optional<Result<CommandResult>> decide_and_append(const AppealId& id, const Command& command,
                                                         const CommandMeta& meta, AppealState& state);
  // decide_and_append's two halves. Under the stripe: load into `state`, answer a re-sent command (its first
  // outcome), check meta.expected_version, decide: the events to append, or the answer.
  using Decided = std::variant<std::vector<AppealEvent>, CommandResult>;
  Result<Decided> decide_locked(const AppealId& id, const Command& command, const CommandMeta& meta,
                                AppealState& state);
  // Given the append's outcome: nullopt for a conflict (decide again), the first outcome when the store
  // deduplicated the command, else `result` with `state` advanced past `events`.
  std::optional<Result<CommandResult>> after_append(const AppealId& id, const CommandMeta& meta,
                                                    const std::vector<AppealEvent>& events, AppealState& state,
                                                    Result<CommandResult> result) const;
  // execute_async's steps: one command's decision and append (its appeal's queue entry held), the append's
  // answer, and the answer's delivery (which starts the next command queued on the same appeal).
  struct AsyncCommand {
    AppealId id;
    Command command;
    CommandMeta meta;
    CommandCallback done;
  };
  void start(std::shared_ptr<AsyncCommand> c, int attempt);
  void appended_async(const std::shared_ptr<AsyncCommand>& c, AppealState& state,
                      const std::vector<AppealEvent>& events, int attempt, Result<store::AppendResult> appended);
  void finish(const std::shared_ptr<AsyncCommand>& c, Result<CommandResult> result);
  // The whole command the waiting way (execute()), on the engine's threads, then finish().
  void run_waiting(std::shared_ptr<AsyncCommand> c);
  // Runs `work` on one of the engine's threads (started on first need): execute_async's steps that must not
  // run on the store's completion thread.
  // If no thread can take it (threads or memory exhausted), runs it on this one rather than lose it.
  void run_later(std::function<void()> work);
  void queue_later(std::function<void()>& work);  // run_later's queueing; throws what starting a thread throws
  // Writers of one stream in this process take its stripe, so they never conflict with each other; a kConflict
  // then means another process wrote the stream. Never held across calls that take another stripe.
  std::mutex& stripe(std::string_view stream);

  store::EventStore& store_;
  const Clock& clock_;
  const TopicCatalogue* const catalogue_;
  const ApplicantSealer& sealer_;
  const EngineOptions options_;

  std::array<std::mutex, 256> stripes_;

  // execute_async's commands per appeal stream: an entry exists while one is being decided, appended or
  // followed up; the commands that arrive meanwhile wait in it, in order, and are decided on what the one
  // before them left (so this engine's commands never conflict with each other). in_flight_ counts the calls
  // (and register_appeal_async's) not yet answered: the destructor waits until there are none.
  std::mutex queues_mu_;
  std::unordered_map<std::string, std::deque<std::shared_ptr<AsyncCommand>>> queues_;  // guarded by queues_mu_
  std::size_t in_flight_ = 0;                                                           // guarded by queues_mu_
  std::condition_variable idle_cv_;

  static constexpr int kLaterThreads = 4;
  std::mutex later_mu_;
  std::condition_variable later_cv_;
  std::deque<std::function<void()>> later_;  // guarded by later_mu_
  bool stopping_ = false;                    // guarded by later_mu_
  std::vector<std::thread> later_threads_;   // guarded by later_mu_ (started once)

  // Folded states of long streams, kept so that a load reads only the events after them. A mass incident's
  // parent gains an event per merged child, and every merge loads it (twice): read whole, 2,000 merges were
  // quadratic. Short streams (most appeals) are read whole: cheaper than keeping them. A stream's events never
  // change once synced, so a kept state is never wrong, only perhaps behind; a load copies it (once, under the
  // lock) and folds the new events into both. Bounded: cleared when full.
  static constexpr std::uint64_t kKeepFromVersion = 64;
  static constexpr std::size_t kKeptStreams = 1024;
  mutable std::mutex kept_mu_;
  mutable std::unordered_map<std::string, AppealState> kept_;  // by stream; guarded by kept_mu_
};

// The year of `t` in Kazakhstan's time (UTC+5): the year in a new appeal's number.
std::int32_t kz_year(Timestamp t);

}  // namespace otinish::engine
