// engine/sla_service.h: the SLA timer service: follows the log, decides every appeal's clocks with the pure
// rules::decide_sla, and appends the decisions to the appeal's stream as SLA events (engine/sla_events.h).
//
//   appeal event ─► subscription ─► sync(appeal) ─► decide_sla over the appeal's facts, on its bound bundle
//                                                   ├─► SlaBound / SlaClock* events (expected version)
//   timer index (DIR/sla) ◄─ next due moment ───────┘   + timer and checkpoint in one RocksDB write
//   timer thread / fire_due() ─► due appeals in (due, id) order ─► sync(appeal)
//   RuleSetPublished / CalendarPublished ─► the publication's policy over every open appeal ─► SlaRebound
//
// Guarantees (tests/engine/sla_*_test.cc pin them):
//   - Decisions are a pure function of the appeal's stream: the facts (appeal events, at their recorded
//     time) and the bundle recorded in its SlaBound / latest SlaRebound. Today's rules never re-decide the past.
//   - Exactly once: an SLA event is appended with the expected version of the stream it was decided on, carries
//     a key (SlaClockEvent::key) the service never writes twice for an appeal, a deterministic id
//     (EventId::derived) and an idempotency key; its payload holds no wall time. A crash anywhere, a restart,
//     a lost timer index or two services racing produce the same events once.
//   - A timer never fires early and is never lost: the index holds every open appeal's next due moment, written
//     with the checkpoint; at start the overdue ones fire at once in (due, appeal id) order, before the
//     subscription resumes. Lateness (now - due) of every firing is kept in stats(); the same figure is the
//     envelope's recorded_at minus the rung's `at` in the log.
//   - All time comes from the injected Clock.
//
// Thread-safety: thread-safe. sync() of one appeal is serialised (striped locks); different appeals run in
// parallel (the subscription thread, the timer thread and callers).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "engine/rule_registry.h"
#include "engine/sla_events.h"
#include "engine/timer_index.h"
#include "rules/sla.h"
#include "store/event_store.h"

namespace otinish::engine {

// What the SLA needs of one appeal, folded from its stream.
struct SlaAppealView {
  bool exists = false;
  std::string appeal_id;
  std::uint64_t version = 0;                // stream version of the last event (appeal or SLA)
  std::uint64_t registered_position = 0;    // global position of AppealRegistered
  bool closed = false;                      // stage closed (a reopen clears it)
  rules::AppealFacts facts;                 // attributes now and every fact with its recorded time
  std::optional<BundleRef> bound;           // the latest SlaBound / SlaRebound
  std::set<std::string> emitted;            // SlaClockEvent::key() of every clock event in the stream
  std::vector<SlaClockEvent> clock_events;  // in stream order
};

// Folds one event of an appeal's stream. Unknown types only advance the version. With `clock_events` false,
// SLA clock events are skipped (not decoded): what-if needs only the facts and the binding.
// Errors: kCorruption when an appeal or SLA event does not decode.
Status fold_sla_view(SlaAppealView& view, const store::RecordedEvent& e, bool clock_events = true);
// Reads and folds the whole stream of `appeal_id`. A missing stream gives a view with exists == false.
Result<SlaAppealView> read_sla_view(const store::EventStore& store, const std::string& appeal_id);

// The SLA decisions for an appeal on a bundle at `as_of`: every clock event the service must have written by
// then (transitions and deadlines at each fact's instant, rungs fired by as_of), whether the appeal is still
// open for the SLA and its next due moment. Pure.
struct SlaPlan {
  rules::SlaDecision decision;                  // at as_of
  std::vector<SlaClockEvent> events;            // all of them, in the order they happened
  std::optional<Timestamp> next_due;            // the earliest rung still to fire (none while paused)
  bool open = true;
};
// It decides at the instants of the facts that may move a clock (Bundle::clock_facts), of every change of the
// attributes the rules match on (AppealFacts::changes), and at as_of: at any other fact's instant every clock is
// as it was before it. Where another rule takes over, or an extension is granted, it also decides the instant
// before, so that what was decided then stands (docs/sla.md "Facts the rules see"). `every_instant` decides at
// every fact's instant as well: the same plan, slower, for the tests that prove it the same.
Result<SlaPlan> plan_sla(const Bundle& bundle, const rules::AppealFacts& facts, Timestamp as_of,
                         bool every_instant = false);

// The earliest deadline of a running or paused clock (what kStricter compares), or nullopt.
std::optional<Timestamp> earliest_open_deadline(const rules::SlaDecision& d);

struct SlaServiceOptions {
  // REQUIRED: the directory of the timer index (a RocksDB of its own, e.g. DIR/sla next to DIR/log).
  std::string index_path;
  TimerIndexOptions index{};
  // Who the SLA events are from.
  store::Actor actor{"sla-service", "system", ""};
  // Re-decisions after an expected-version conflict (a command landed while we decided) before giving up.
  int max_conflict_retries = 32;
  // Timers fired per index scan.
  std::size_t fire_batch = 4096;
  // Run a thread that fires due timers; tests turn it off and call fire_due() with a ManualClock.
  bool timer_thread = true;
  // How often the timer thread looks at the clock when nothing wakes it sooner (real time).
  std::chrono::milliseconds poll_interval{20};
  // How many firing latenesses stats() keeps (the newest; for percentiles).
  std::size_t lateness_samples = 1 << 20;
  // When the rules cannot decide an appeal (e.g. its deadline falls beyond the calendar's years), it is retried
  // after this long (clock time) instead of stopping the service; publish the missing calendar year meanwhile.
  std::chrono::microseconds retry_after_error = std::chrono::hours(1);
  // How many appeals' folded streams the service keeps in memory between their events (least recently used
  // first out; at least 64). A kept appeal's next event costs what it adds; one not kept (after a restart, or
  // pushed out) is read from its stream once. An appeal takes about 1-2 KiB plus ~100 bytes per event.
  std::size_t cached_appeals = 16384;
  // Threads that decide the appeals the log's events concern, each its own share of appeals (an appeal's events
  // are decided in log order on one of them). Several decisions then wait for their appends at once and share a
  // group commit, instead of one thread waiting for each append in turn. 0: decide on the subscription's thread.
  // A decision costs a fraction of a millisecond of CPU but waits about a millisecond (its append, then a turn
  // on a busy CPU), so it takes many: on two cores under HTTP registrations with the city's rules, 4 workers kept
  // the lag at the server's 20,000-event limit (registrations' p99 ~570 ms, waiting for it), 32 kept it
  // under 2,000 (p99 ~50 ms) for ~13% fewer registrations a second.
  int workers = 32;
};

struct SlaStats {
  std::uint64_t syncs = 0;            // appeals decided
  std::uint64_t decisions = 0;        // decide_sla calls
  std::uint64_t events_appended = 0;  // SLA events written
  std::uint64_t conflicts = 0;        // re-decisions after a conflict
  std::uint64_t firings = 0;          // timers fired
  std::uint64_t rebinds = 0;          // SlaRebound written
  std::uint64_t decision_errors = 0;  // appeals the rules could not decide (retried after retry_after_error)
  std::string last_decision_error;
  std::uint64_t storage_retries = 0;  // events handled again after the log or the timer index refused a write
  std::string last_storage_error;     // (a failed or full disk): the service waits and retries, in order
  std::vector<std::int64_t> lateness_us;  // of recent firings: now - due
};

class SlaService {
 public:
  // Opens the timer index. `store`, `registry` and `clock` must outlive the service.
  // Errors: kInvalidArgument without index_path; the index's kIOError.
  static Result<std::unique_ptr<SlaService>> open(store::EventStore& store, RuleRegistry& registry,
                                                  const Clock& clock, SlaServiceOptions options);
  ~SlaService();
  SlaService(const SlaService&) = delete;
  SlaService& operator=(const SlaService&) = delete;

  // Loads the registry, fires overdue timers in order, then subscribes after the checkpoint (and starts the
  // timer thread if configured). Errors: the registry's, the store's, the index's.
  Status start();
  // Stops the subscription and the timer thread. Idempotent; the destructor calls it.
  void stop();

  // Fires every timer due at or before the clock's now, in (due, appeal id) order. Returns how many fired.
  Result<std::size_t> fire_due();
  // Blocks until the service has handled every event up to log position `position` and the SLA events it
  // appended for them are durable and readable; false on timeout or failure.
  bool wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const;
  // Blocks while the service is more than `max_lag` events behind the log's head (processed_position()), for
  // at most `timeout`; false if it still is (or the service failed or stopped meanwhile). Intake
  // (registrations, commands) calls it first: when desks register faster than the machine can also decide
  // their clocks, they slow down instead of the deadlines firing late (the server does, see
  // NodeOptions::max_sla_lag). Callers that must wait stand in one line and go on in the order they came,
  // each as soon as the lag allows, so a wait is a caller's place in the line, not luck; they sleep meanwhile.
  bool wait_for_lag_below(std::uint64_t max_lag, std::chrono::milliseconds timeout) const;
  // Callers waiting in wait_for_lag_below's line now (otinish_sla_intake_waiting).
  std::size_t intake_waiting() const { return intake_waiting_.load(std::memory_order_acquire); }
  // The subscription's status (its error, or a worker's, if it stopped on one).
  Status status() const;
  // The log position up to which the service has handled every event (decided it, or found it changes nothing
  // for it) and made the SLA events it appended for them durable; the log's head minus this is its lag
  // (otinish_sla_lag_events). index().checkpoint() is the same position as last written to disk, which for
  // events that change nothing happens only every so often.
  std::uint64_t processed_position() const;

  // Decides appeal `appeal_id` now and appends what is missing; updates its timer. Safe to call any time.
  Status sync(const std::string& appeal_id);

  const TimerIndex& index() const noexcept { return *index_; }
  SlaStats stats() const;

 private:
  SlaService(store::EventStore& store, RuleRegistry& registry, const Clock& clock, SlaServiceOptions options,
             std::unique_ptr<TimerIndex> index);

  // Decides the appeal (sync_locked's work); sync_locked forgets the kept view when this fails, so that the
  // next event re-reads the stream instead of trusting a view a failed decision may have left ahead.
  Status decide_locked(const std::string& appeal_id, std::optional<std::uint64_t> checkpoint,
                       std::optional<Timestamp> fired_due, const store::RecordedEvent* in_hand);
  // One kept appeal: its folded stream, and the version up to which every event was decided (or found inert).
  // The view may be ahead of `decided`: a publication's rebinding reads the stream without deciding it.
  struct Kept {
    SlaAppealView view;
    std::uint64_t decided = 0;
    std::list<std::string>::iterator at;  // in ViewCache::order
    // The store's recoveries() when the view was read: a recovery since may have dropped appends the view
    // took (its own, acknowledged before their fsync), so the view is read again from the log.
    std::uint64_t recoveries = 0;
  };
  // REQUIRES: the appeal's stripe is held. The appeal's kept view brought up to its stream's synced tail (the
  // whole stream is read if it is not kept). The pointer is valid until the stripe is released or this is
  // called for another appeal of the stripe. Errors: the store's, kCorruption from a stream that does not fold.
  // `in_hand`: the appeal's event being handled, as the log delivered it. When the view ends just before it (a
  // new appeal's first event) it is folded as it is, and when the view ends with it nothing is read: the view
  // is then brought up to that event, not to the stream's tail. A decision on it is still safe: what it appends
  // expects the view's version, so an event it did not see makes the append conflict and the decision is made
  // again on a view read from the stream; a timer it sets is set again by the later event's own decision. Passed
  // only for an event no earlier run of the service can have decided (live()): the stream of one decided before
  // may hold SLA events after it that the view would not see, and nothing later would correct the timer.
  Result<Kept*> fresh_view(const std::string& appeal_id, const store::RecordedEvent* in_hand = nullptr);
  // REQUIRES: the appeal's stripe is held. True when `e` needs no decision: a decision already covered it, or
  // it is the kept view's next event, everything before it is decided, and folded in it changes nothing a
  // decision depends on (no fact a clock of the bound rule set reacts to, no attribute, no binding, not closed).
  Result<bool> fold_if_inert(const std::string& appeal_id, const store::RecordedEvent& e);
  void forget_view(const std::string& appeal_id);  // REQUIRES: the appeal's stripe is held
  void forget_all_views();  // REQUIRES: no stripe is held

  // REQUIRES: the appeal's stripe is held. `fired_due`: the timer being fired (for lateness).
  // `checkpoint`: the log position being handled (by the subscription or a worker). Its SLA events are then
  // appended without waiting for their fsync (the next sync covers them; the service would otherwise wait
  // for one fsync per appeal and fall behind a busy centre), and the checkpoint is held back until they are
  // durable (unsynced_, safe_checkpoint).
  // `in_hand`: the event being handled, if any (see fresh_view).
  Status sync_locked(const std::string& appeal_id, std::optional<std::uint64_t> checkpoint,
                     std::optional<Timestamp> fired_due, const store::RecordedEvent* in_hand = nullptr);
  // The checkpoint that may be written now: every event at or before it was handled (none is still with a
  // worker) and the SLA events appended for it without waiting for their fsync are durable, so that a restart
  // after a power loss re-decides from the first event whose SLA events could be lost (re-deciding is
  // idempotent). An event's timer change is written before the event counts as finished, with a checkpoint
  // before it: a crash never leaves a checkpoint past a change that was not written.
  std::uint64_t safe_checkpoint() const;
  // Polls `done` every `every` until it holds (true), the timeout passes or the service failed (false).
  bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                  std::chrono::microseconds every) const;
  // The event at `position` is handled (its timer change written; its SLA events, if any, are in unsynced_).
  void finish(std::uint64_t position);
  // Every event dispatched to a worker is finished (before a publication is applied to every appeal).
  Status drain_workers();
  // An appeal event, on its worker (or the subscription's thread without workers): folded if inert, else decided.
  Status handle_appeal(const std::string& appeal_id, const store::RecordedEvent& e);
  void worker_loop(std::size_t index);
  // After an expected-version conflict: waits (bounded) until the stream is readable up to `version`, so that
  // the re-decision sees what it conflicted with (it may be an append not yet synced, e.g. our own).
  void wait_readable(const std::string& stream, std::optional<std::uint64_t> version) const;
  Result<std::shared_ptr<const Bundle>> bundle_for(const SlaAppealView& view, std::optional<BundleRef>* bind);
  Status handle(const store::RecordedEvent& e);
  // `handle`, again and again with a growing pause (up to a second) while it fails for want of a disk (the
  // log or the timer index refuses writes: kUnavailable, kIOError), so that a full or failing disk delays
  // the service instead of stopping it. Other errors are returned (they stop the subscription).
  Status until_stored(const std::function<Status()>& handle);
  Status apply_policy(const store::RecordedEvent& publication);
  // Moves the appeal to `newest` (under kProvisional: its own rule set with newest's calendars, and only if a
  // provisional deadline of it changes).
  Status rebind_locked(const std::string& appeal_id, std::shared_ptr<const Bundle> newest, RebindPolicy policy,
                       const store::RecordedEvent& publication, bool* rebound);
  void note_decision_error(const std::string& appeal_id, const Status& s);
  static SlaRebound rebound_event(const BundleRef& from, const BundleRef& to, RebindPolicy policy,
                                  std::uint64_t publication_position, const rules::SlaDecision& old_d,
                                  const rules::SlaDecision& new_d);
  // Before the service writes a provisional deadline: if a newer calendar publication under the provisional policy
  // decides it otherwise, the appeal moves to its own rule set with those calendars first. Returns true if it appended a rebinding
  // (or met a concurrent append), so the caller decides again; any failure is "no move", never an error.
  bool rebind_if_provisional_locked(const SlaAppealView& view, const SlaPlan& plan, Timestamp decide_at);
  void timer_loop();
  std::size_t stripe_index(const std::string& appeal_id) const;
  std::mutex& stripe(const std::string& appeal_id) { return stripes_[stripe_index(appeal_id)]; }

  store::EventStore& store_;
  RuleRegistry& registry_;
  const Clock& clock_;
  const SlaServiceOptions options_;
  const std::unique_ptr<TimerIndex> index_;

  std::array<std::mutex, 64> stripes_;
  // The kept views (SlaAppealView without clock_events), one least-recently-used list per stripe, guarded by
  // the stripe's mutex: SlaServiceOptions::cached_appeals / 64 each.
  struct ViewCache {
    std::list<std::string> order;  // most recently used first
    std::unordered_map<std::string, Kept> views;
  };
  std::array<ViewCache, 64> views_;
  mutable std::mutex subscription_mu_;                 // guards the pointer below (status() reads it anywhere)
  std::unique_ptr<store::Subscription> subscription_;  // set by start(), reset by stop()
  std::thread timer_thread_;
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;  // GUARDED_BY(timer_mu_)

  // Which events are handled, for the checkpoint. The subscription hands appeal events to the workers, which
  // finish them out of order.
  mutable std::mutex progress_mu_;
  std::condition_variable progress_cv_;                 // an event finished
  std::uint64_t dispatched_ = 0;                        // GUARDED_BY(progress_mu_): every event up to it was
                                                        // handed to a worker or handled on the subscription
  std::set<std::uint64_t> in_flight_;                   // GUARDED_BY(progress_mu_): with a worker, not finished
  mutable std::map<std::uint64_t, std::uint64_t> unsynced_;  // GUARDED_BY(progress_mu_): finished, position ->
                                                             // appended up to, not yet known durable
  Status worker_error_;                                 // GUARDED_BY(progress_mu_): the first that stopped one

  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<store::RecordedEvent> queue;  // GUARDED_BY(mu)
    std::thread thread;
  };
  static constexpr std::size_t kWorkerQueue = 256;  // events a worker may have waiting; then the subscription waits
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> workers_stopping_{false};
  std::atomic<bool> worker_failed_{false};  // worker_error_ is set

  // Subscription thread only (and stop(), after it): the checkpoint moves in memory with every event, and is
  // written with every decision's timer change and, for events that change nothing for the service (another
  // stream's, e.g. a read-audit record, or a comment), every kCheckpointEvery events and at stop. Re-reading
  // them after a crash changes nothing, and a write per event would cost a RocksDB write per audited read.
  static constexpr std::uint64_t kCheckpointEvery = 1024;
  std::uint64_t since_checkpoint_write_ = 0;
  Status skip(std::uint64_t position);

  // Events after this log position, appended while this start()'s store recoveries() was `live_recoveries_`,
  // may be decided as they were delivered, without reading their stream back (fresh_view's `in_hand`): no earlier
  // run of the service decided them, so their stream holds no SLA events of a decision this run has not made
  // itself. Only on a log that this process alone appends to (EventStore::exclusive()): on a cluster another
  // node's service decides the same appeals, and its decision may already follow the event. Set by start(),
  // before the subscription; UINT64_MAX: never.
  std::atomic<std::uint64_t> live_from_{UINT64_MAX};
  std::atomic<std::uint64_t> live_recoveries_{0};
  // Whether `e` may be decided as delivered (see live_from_).
  bool live(const store::RecordedEvent& e) const;

  // The intake line (wait_for_lag_below). A waiter at the front is let through once the lag is at most its
  // limit, by whoever sees that first: the service as it finishes an event (intake_progress), or the waiter
  // let through just before it, so that the line empties at once when the service has caught up. Only the
  // front also looks by itself, every kIntakeRecheck, for a lag that fell with no event finishing (the
  // service's own appends becoming durable) or a service that failed. The others sleep until their turn:
  // 64 desks polling the lag every millisecond had cost a tenth of the machine, and the ones that happened to
  // look at the right moment went first while others waited seconds.
  struct IntakeWaiter {
    std::uint64_t max_lag = 0;
    std::condition_variable cv;
    bool admitted = false;  // GUARDED_BY(intake_mu_)
  };
  static constexpr std::chrono::milliseconds kIntakeRecheck{5};
  bool lag_at_most(std::uint64_t max_lag) const;
  void admit_intake_locked() const;  // REQUIRES: intake_mu_ held; lets the front through if the lag allows
  void intake_progress() const;      // an event finished: the front may go
  void release_intake() const;       // the service stops or failed: every waiter goes on, refused
  mutable std::mutex intake_mu_;                          // taken before progress_mu_, never after it
  mutable std::deque<IntakeWaiter*> intake_line_;         // GUARDED_BY(intake_mu_): in arrival order
  mutable std::atomic<std::size_t> intake_waiting_{0};   // the line's length, read without the lock
  mutable std::uint64_t intake_released_ = 0;            // GUARDED_BY(intake_mu_): bumped by release_intake

  mutable std::mutex stats_mu_;
  SlaStats stats_;                  // GUARDED_BY(stats_mu_)
  std::size_t lateness_next_ = 0;   // GUARDED_BY(stats_mu_): ring position in stats_.lateness_us
};

}  // namespace otinish::engine
