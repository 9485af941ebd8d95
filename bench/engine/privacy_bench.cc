// The price of privacy: what sealing adds to a registration, and how long a retention run takes to erase
// 100,000 applicants. Prints a table; never a timed test.
//
//   otinish_privacy_bench [--registrations 20000] [--erase 100000] [--dir /tmp/x] [--seal-only]
//
// Sealing, on one core (one thread, no fsync: the store and the key store run with their syncs off so that the
// figure is CPU, not the disk): the seal call alone (plain cereal bytes against XChaCha20-Poly1305 with the
// applicant's key, for a returning applicant whose key is cached and for a new one whose key is created), and
// whole registrations through the engine with the plain and the AEAD sealer: one at a time (syncs off; a new
// applicant's key then written by its own registration), and under load as the server registers (asynchronous,
// 8 and 32 in flight, syncs on: new applicants' keys written and synced together). The goal: sealing adds <= 5 us
// per registration.
// Erasure: `erase` applicants with one closed appeal each (written with syncs off), then a retention run with
// the syncs on, as the server runs it (batches of 1,000: each batch two synced key-store writes, one durable log
// append and a purge); the key store's files before and after.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <time.h>

#include "engine/engine.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/retention.h"
#include "engine/privacy/sealer.h"
#include "rules/rule_set.h"
#include "store/rocks_store.h"

namespace {

using namespace otinish;
using namespace otinish::engine;
using Steady = std::chrono::steady_clock;

double since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

privacy::KeyEncryptionKey kek() { return *privacy::kek_from_hex(std::string(64, 'b'), "bench key"); }

Applicant person(int n) {
  return {"Applicant " + std::to_string(n), "+7 701 " + std::to_string(1000000 + n), "Abay " + std::to_string(n) + ", flat 3"};
}

RegisterAppeal gratitude(int n) {
  RegisterAppeal r;
  r.centre = "SHY";
  r.category = Category::kGratitude;
  r.topic = "gratitude.general";
  r.location = {"Abay", "Tauke khan ave"};
  r.text = "thank you for the new playground";
  r.applicant = person(n);
  return r;
}

InMemoryTopicCatalogue catalogue() {
  return InMemoryTopicCatalogue({{"gratitude.general", "", "", "Thanks", "akimat", Category::kGratitude, false}});
}

double cpu_seconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
double thread_cpu_seconds() { return cpu_seconds(CLOCK_THREAD_CPUTIME_ID); }

// The seal calls alone, on one thread. New applicants two ways, each into a key store of its own: one at a
// time, each key made durable before the next (make_durable: as a lone registration, here a write without
// fsync), and in batches of kBatch, as concurrent registrations share the key store's sync. Each one's share:
// its seal call on the registration's thread (the records into the key log's buffer) and the batch's write on
// the key store's sync thread, measured as CPU time. Then what one erasure costs (both steps and the purge, no
// fsync) in that key store, and again once it holds ten times as many applicants: a purge overwrites what was
// erased where it lies, so the cost should not grow with the store. Returns the seal call's cost for a
// returning applicant, in microseconds.
// `keys_ahead`: as privacy::KeyStoreOptions (0: each key made as it comes, as before December 2026).
double seal_calls(const std::string& dir, int n, std::size_t keys_ahead) {
  const char* how = keys_ahead ? "keys made ahead" : "keys made as they come";
  constexpr int kBatch = 32;
  n = std::max(kBatch, n / kBatch * kBatch);
  std::filesystem::remove_all(dir);
  const auto& plain = PlainApplicantSealer::instance();
  std::string sink;
  auto t = Steady::now();
  for (int i = 0; i < n; ++i) sink = plain.seal(person(i), "SHY-2026-0000001")->bytes;
  const double plain_us = since(t) / n * 1e6;
  double one_us = 0, one_cpu_us = 0;
  {
    auto keys = std::move(privacy::KeyStore::open(dir + "/one", kek(), {.sync = false, .keys_ahead = keys_ahead})).value();
    if (!keys->make_keys_ahead().ok()) std::abort();
    privacy::AeadApplicantSealer aead(*keys);
    t = Steady::now();
    const double cpu = cpu_seconds();
    for (int i = 0; i < n; ++i) {
      sink = aead.seal(person(i), "SHY-2026-0000001")->bytes;
      if (!aead.make_durable().ok()) std::abort();
    }
    one_us = since(t) / n * 1e6;
    one_cpu_us = (cpu_seconds() - cpu) / n * 1e6;
  }
  auto keys = std::move(privacy::KeyStore::open(dir + "/keys", kek(), {.sync = false, .keys_ahead = keys_ahead})).value();
  if (!keys->make_keys_ahead().ok()) std::abort();
  privacy::AeadApplicantSealer aead(*keys);
  double seal_cpu = 0, write_cpu = 0;
  double cpu = cpu_seconds();
  for (int i = 0; i < n; i += kBatch) {
    const double c = thread_cpu_seconds();
    for (int j = i; j < i + kBatch; ++j) sink = aead.seal(person(j), "SHY-2026-0000001")->bytes;
    const double sealed = thread_cpu_seconds();
    if (!aead.make_durable().ok()) std::abort();
    seal_cpu += sealed - c;
    write_cpu += thread_cpu_seconds() - sealed;
  }
  const double batched_cpu = cpu_seconds() - cpu;
  t = Steady::now();
  for (int i = 0; i < n; ++i) sink = aead.seal(person(i), "SHY-2026-0000002")->bytes;
  const double returning_us = since(t) / n * 1e6;
  auto sealed = aead.seal(person(7), "SHY-2026-0000002");
  t = Steady::now();
  for (int i = 0; i < n; ++i) sink = aead.open(*sealed, "SHY-2026-0000002")->name;
  const double open_us = since(t) / n * 1e6;
  // One erasure at a time (as DELETE /v1/applicants/{id}), of applicants sealed above.
  auto erasure_ms = [&](int first) {
    constexpr int kErasures = 50;
    const double c = cpu_seconds();
    const auto w = Steady::now();
    for (int i = first; i < first + kErasures; ++i) {
      const std::string id[] = {aead.seal(person(i), "SHY-2026-0000001")->key_id};
      if (!keys->begin_erasure(id, "bench").ok() || !keys->finish_erasure(id).ok() || !keys->purge().ok()) std::abort();
    }
    return std::pair((cpu_seconds() - c) / kErasures * 1e3, since(w) / kErasures * 1e3);
  };
  const auto [erase_small_ms, erase_small_wall] = erasure_ms(0);
  for (int i = n; i < 10 * n; i += kBatch) {
    for (int j = i; j < i + kBatch; ++j) sink = aead.seal(person(j), "SHY-2026-0000001")->bytes;
    if (!aead.make_durable().ok()) std::abort();
  }
  const auto [erase_large_ms, erase_large_wall] = erasure_ms(n);
  std::printf("| seal: plain (cereal bytes) | %.2f us |\n", plain_us);
  std::printf("| seal: AEAD, a returning applicant (key cached) | %.2f us |\n", returning_us);
  std::printf("| seal: AEAD, a new applicant one at a time, %s (written by make_durable or the key store's "
              "thread, no fsync): wall (process CPU) | %.2f us (%.2f us) |\n", how, one_us, one_cpu_us);
  // In all: the process's CPU during the batches (the two threads', and whatever else ran meanwhile).
  std::printf("| seal: AEAD, %d new applicants in batches of %d, %s, CPU each: the seal call (registration's "
              "thread), make_durable (the same), the process's other threads meanwhile (the key store's); in all | "
              "%.2f, %.2f, %.2f; %.2f us in all (goal <= 5 us) |\n",
              n, kBatch, how, seal_cpu / n * 1e6, write_cpu / n * 1e6,
              std::max(0.0, batched_cpu - seal_cpu - write_cpu) / n * 1e6, batched_cpu / n * 1e6);
  std::printf("| one erasure (both steps and the purge; no fsync but the directory's), CPU (wall): in a key store "
              "of %d applicants / of %d | %.2f ms (%.2f) / %.2f ms (%.2f) |\n",
              n, 10 * n, erase_small_ms, erase_small_wall, erase_large_ms, erase_large_wall);
  std::printf("| open: AEAD (the audited read) | %.2f us |\n", open_us);
  return returning_us;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// What sealing adds to a whole registration through the engine. Two engines side by side in one process, one
// with the plain sealer and one with the AEAD sealer, each on a store (and key store) of its own, take turns in
// blocks of `block` registrations; each block's process CPU time and wall time per registration is taken, and
// the figure is the median of the blocks' differences. Taking turns this finely cancels what drifts on a shared
// machine (the page cache, the other tenants, the log's memtable growing): one pass of each, or even the best of
// three, moved by +-10 us here, more than the cost measured.
// With `returning`, every applicant registered once before (not timed), so that their key exists: the common
// case of a city where people call again. Without, every registration is a new person whose key is made.
// The control: the plain sealer plus a busy wait as long as the AEAD seal call (measured above). Run through the
// same engine and store, it shows what any few microseconds of extra work in the registering thread cost end to
// end, whatever the work is: the store hands each append to its writer thread and the caller waits for the
// answer, so extra time in the caller changes how often those threads sleep and wake.
class SpinningPlainSealer final : public ApplicantSealer {
 public:
  explicit SpinningPlainSealer(double us) : seconds_(us / 1e6) {}
  Result<SealedApplicant> seal(const Applicant& a, std::string_view appeal_id) const override {
    const auto t = Steady::now();
    while (since(t) < seconds_) {
    }
    return PlainApplicantSealer::instance().seal(a, appeal_id);
  }
  Result<Applicant> open(const SealedApplicant& s, std::string_view appeal_id) const override {
    return PlainApplicantSealer::instance().open(s, appeal_id);
  }

 private:
  double seconds_;
};

struct SealingCost {
  double plain_cpu_us = 0, sealed_cpu_us = 0, added_cpu_us = 0;
  double plain_wall_us = 0, sealed_wall_us = 0, added_wall_us = 0;
  // Under load only: the registering thread's CPU the sealed engine adds (median of the blocks' differences),
  // and the key store's own thread's CPU per sealed registration (over the whole run).
  double added_thread_us = 0, keys_thread_us = 0;
  // TimedSealer's, per sealed registration: seal()'s sampled CPU, median and mean wall; make_durable's wall.
  double seal_cpu_us = 0, seal_wall_median_us = 0, seal_wall_mean_us = 0, durable_us = 0;
};

// The sealer the engine is given, measuring what it does on the registering thread. The registering thread's
// CPU difference between two engines also carries whichever thread led RocksDB's write groups and took the
// disk's interrupts, and scatters by several microseconds; the sealer's calls themselves are its work:
//   - seal(): the wall time of every call, its median (the typical call) and its mean (which counts a call
//     preempted meanwhile, two cores and a handful of busy threads, at the length of the preemption: an upper
//     bound); and the thread's CPU time of one call in kSampleEvery (the thread's CPU clock is a system call
//     here, about 1.4 us: read three times, the first two giving the cost of a read, which is taken off). The
//     sampled calls run right after two system calls, which leave the caches and the TLB colder than a
//     registration does: an upper bound too.
//   - make_durable_async(): wall time up to where it answers (on this thread, at once, for a key already
//     durable: then the engine's append runs inside `done`, which is not the sealer's work).
class TimedSealer final : public ApplicantSealer {
 public:
  static constexpr int kSampleEvery = 8;
  explicit TimedSealer(const ApplicantSealer& inner) : inner_(inner) {}
  Result<SealedApplicant> seal(const Applicant& a, std::string_view appeal_id) const override {
    const bool sample = calls_.fetch_add(1) % kSampleEvery == 0;
    double c0 = 0, c1 = 0;
    if (sample) {
      c0 = thread_cpu_seconds();
      c1 = thread_cpu_seconds();
    }
    const auto t = Steady::now();
    auto out = inner_.seal(a, appeal_id);
    const double wall = std::chrono::duration<double>(Steady::now() - t).count();
    const double c2 = sample ? thread_cpu_seconds() : 0;
    std::lock_guard lock(mu_);
    walls_.push_back(wall);
    if (sample) {
      cpu_sampled_ += (c2 - c1) - (c1 - c0);
      ++samples_;
    }
    return out;
  }
  Result<Applicant> open(const SealedApplicant& s, std::string_view appeal_id) const override {
    return inner_.open(s, appeal_id);
  }
  Status make_durable() const override {
    const auto t = Steady::now();
    Status st = inner_.make_durable();
    add_durable(t);
    return st;
  }
  void make_durable_async(const SealedApplicant& sealed, std::function<void(Status)> done) const override {
    struct Pending {
      Steady::time_point start = Steady::now();
      bool counted = false;
    };
    thread_local Pending* current = nullptr;  // this thread's call, while it runs
    Pending p;
    current = &p;
    inner_.make_durable_async(sealed, [this, done = std::move(done)](Status st) {
      if (current && !current->counted) {  // answered on the registering thread, inside the call
        current->counted = true;
        add_durable(current->start);
      }
      done(std::move(st));
    });
    if (!p.counted) add_durable(p.start);
    current = nullptr;
  }

  // What the calls so far took, in seconds (totals; mark() then since_mark() for a part of the run).
  struct Totals {
    double seal_cpu = 0;      // estimated from the samples: their mean times the calls
    double durable_wall = 0;
    double seal_wall_median = 0, seal_wall_mean = 0;
    std::int64_t calls = 0;
  };
  void mark() const {
    std::lock_guard lock(mu_);
    mark_ = {cpu_sampled_, samples_, walls_.size(), durable_nanos_.load()};
  }
  Totals since_mark() const {
    std::lock_guard lock(mu_);
    Totals t;
    t.calls = static_cast<std::int64_t>(walls_.size() - mark_.walls);
    const std::int64_t samples = samples_ - mark_.samples;
    if (samples > 0) t.seal_cpu = (cpu_sampled_ - mark_.cpu) / static_cast<double>(samples) * static_cast<double>(t.calls);
    t.durable_wall = static_cast<double>(durable_nanos_.load() - mark_.durable_nanos) / 1e9;
    std::vector<double> w(walls_.begin() + static_cast<std::ptrdiff_t>(mark_.walls), walls_.end());
    double sum = 0;
    for (double x : w) sum += x;
    t.seal_wall_mean = w.empty() ? 0 : sum / static_cast<double>(w.size());
    t.seal_wall_median = median(std::move(w));
    return t;
  }

 private:
  void add_durable(Steady::time_point since) const {
    durable_nanos_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - since).count();
  }
  struct Mark {
    double cpu = 0;
    std::int64_t samples = 0;
    std::size_t walls = 0;
    std::int64_t durable_nanos = 0;
  };
  const ApplicantSealer& inner_;
  mutable std::atomic<std::int64_t> calls_{0}, durable_nanos_{0};
  mutable std::mutex mu_;
  mutable std::vector<double> walls_;   // GUARDED_BY(mu_)
  mutable double cpu_sampled_ = 0;      // GUARDED_BY(mu_)
  mutable std::int64_t samples_ = 0;    // GUARDED_BY(mu_)
  mutable Mark mark_;                   // GUARDED_BY(mu_)
};

// The CPU time, in seconds, the threads of this process named `name` have run (their schedstat: nanoseconds).
double named_threads_cpu_seconds(std::string_view name) {
  double total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    std::getline(comm, n);
    if (n != name) continue;
    std::ifstream stat(task.path() / "schedstat");
    unsigned long long ns = 0;
    stat >> ns;
    total += ns / 1e9;
  }
  return total;
}

// Blocks of `block` registrations from 0 to `n` on the plain and the sealed engine in turns: run(engine, from,
// &cpu, &wall) registers [from, from + block) and gives its CPU and wall time per registration. Which engine
// goes first alternates, so neither always runs on a warmer cache. The medians of the blocks.
template <typename Run>
SealingCost alternate(Engine& plain, Engine& sealed, int n, int block, Run&& run) {
  std::vector<double> plain_cpu, sealed_cpu, added_cpu, plain_wall, sealed_wall, added_wall;
  for (int from = 0; from + block <= n; from += block) {
    double pc, pw, sc, sw;
    if ((from / block) % 2 == 0) {
      run(plain, from, &pc, &pw);
      run(sealed, from, &sc, &sw);
    } else {
      run(sealed, from, &sc, &sw);
      run(plain, from, &pc, &pw);
    }
    plain_cpu.push_back(pc);
    sealed_cpu.push_back(sc);
    added_cpu.push_back(sc - pc);
    plain_wall.push_back(pw);
    sealed_wall.push_back(sw);
    added_wall.push_back(sw - pw);
  }
  return {median(plain_cpu), median(sealed_cpu), median(added_cpu),
          median(plain_wall), median(sealed_wall), median(added_wall)};
}

// People first + 0 .. first + n - 1 registered once on both engines (not timed), so that they come back.
void register_once(Engine& plain, Engine& sealed, int first, int n) {
  for (int i = 0; i < n; ++i) {
    if (!plain.register_appeal(gratitude(first + i), {"first" + std::to_string(i), {}, ""}).ok() ||
        !sealed.register_appeal(gratitude(first + i), {"first" + std::to_string(i), {}, ""}).ok()) {
      std::abort();
    }
  }
}

SealingCost sealing_cost(const std::string& dir, int n, bool returning, const ApplicantSealer* control = nullptr) {
  std::filesystem::remove_all(dir);
  auto plain_store = std::move(store::open_rocks_store(dir + "/plain", {.sync_writes = false})).value();
  auto sealed_store = std::move(store::open_rocks_store(dir + "/log", {.sync_writes = false})).value();
  auto keys = std::move(privacy::KeyStore::open(dir + "/keys", kek(), {.sync = false})).value();
  privacy::AeadApplicantSealer aead(*keys);
  auto cat = catalogue();
  Engine plain(*plain_store, SystemClock::instance(), &cat, PlainApplicantSealer::instance());
  Engine sealed(*sealed_store, SystemClock::instance(), &cat, control ? *control : static_cast<const ApplicantSealer&>(aead));
  // People numbered apart per run, so that "new" really is new to the key store.
  const int first = returning ? 0 : 10'000'000;
  if (returning) register_once(plain, sealed, first, n);
  constexpr int block = 250;
  auto run = [&](Engine& eng, int from, double* cpu, double* wall) {
    const double c = cpu_seconds();
    const auto t = Steady::now();
    for (int i = from; i < from + block && i < n; ++i) {
      if (!eng.register_appeal(gratitude(first + i), {"r" + std::to_string(i), {}, ""}).ok()) std::abort();
    }
    *cpu = (cpu_seconds() - c) / block * 1e6;
    *wall = since(t) / block * 1e6;
  };
  return alternate(plain, sealed, n, block, run);
}

// What sealing adds to a registration as the server registers under load: registrations handed to
// Engine::register_appeal_async from one thread, `in_flight` at a time, with every sync on (the log's fsync
// group commit, and the key store's on its own thread: a batch of keys made ahead, one write and one fsync,
// and the links new applicants wrote meanwhile; with `keys_ahead` 0, as before December 2026, the keys of the
// new applicants made meanwhile). `new_percent` of the registrations are new applicants, the rest people
// registered before (not timed): 0, 100, and 20 (a city's mix: "most" appeals repeat earlier ones). As
// sealing_cost(): two engines side by side, blocks taken in turns, the median of the blocks' differences in the
// process's CPU per registration (all threads: the registering one, the store's, the key store's sync thread,
// the kernel's work for them).
SealingCost sealing_cost_under_load(const std::string& dir, int n, int in_flight, int new_percent,
                                    std::size_t keys_ahead = privacy::KeyStoreOptions{}.keys_ahead) {
  std::filesystem::remove_all(dir);
  auto plain_store = std::move(store::open_rocks_store(dir + "/plain")).value();
  auto sealed_store = std::move(store::open_rocks_store(dir + "/log")).value();
  auto keys = std::move(privacy::KeyStore::open(dir + "/keys", kek(), {.keys_ahead = keys_ahead})).value();
  if (!keys->make_keys_ahead().ok()) std::abort();  // as the server starts
  privacy::AeadApplicantSealer aead(*keys);
  const TimedSealer timed(aead);
  auto cat = catalogue();
  Engine plain(*plain_store, SystemClock::instance(), &cat, PlainApplicantSealer::instance());
  Engine sealed(*sealed_store, SystemClock::instance(), &cat, timed);
  const int first = 30'000'000;
  auto is_new = [&](int i) { return i % 100 < new_percent; };
  if (new_percent < 100) register_once(plain, sealed, first, n);
  constexpr int block = 500;
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  bool failed = false;
  std::vector<double> thread_cpu[2];  // the registering thread's CPU per registration, each block: plain, sealed
  const double keys_thread = named_threads_cpu_seconds("otinish-keys");
  timed.mark();
  auto run = [&](Engine& eng, int from, double* cpu, double* wall) {
    const double c = cpu_seconds();
    const double tc = thread_cpu_seconds();
    const auto t = Steady::now();
    for (int i = from; i < from + block && i < n; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return pending < in_flight; });
        ++pending;
      }
      eng.register_appeal_async(gratitude((is_new(i) ? 40'000'000 : first) + i), {"load" + std::to_string(i), {}, ""},
                                [&](Result<CommandResult> r) {
                                  std::lock_guard lock(mu);
                                  failed |= !r.ok();
                                  --pending;
                                  cv.notify_all();
                                });
    }
    const double registering = thread_cpu_seconds() - tc;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
    if (failed) std::abort();
    *cpu = (cpu_seconds() - c) / block * 1e6;
    *wall = since(t) / block * 1e6;
    thread_cpu[&eng == &sealed].push_back(registering / block * 1e6);
  };
  SealingCost cost = alternate(plain, sealed, n, block, run);
  std::vector<double> added;
  for (std::size_t i = 0; i < thread_cpu[0].size() && i < thread_cpu[1].size(); ++i) {
    added.push_back(thread_cpu[1][i] - thread_cpu[0][i]);
  }
  cost.added_thread_us = median(added);
  const double registrations = n / block * block;  // of each engine
  cost.keys_thread_us = (named_threads_cpu_seconds("otinish-keys") - keys_thread) / registrations * 1e6;
  const TimedSealer::Totals calls = timed.since_mark();
  cost.seal_cpu_us = calls.seal_cpu / registrations * 1e6;
  cost.durable_us = calls.durable_wall / registrations * 1e6;
  cost.seal_wall_median_us = calls.seal_wall_median * 1e6;
  cost.seal_wall_mean_us = calls.seal_wall_mean * 1e6;
  return cost;
}

std::uintmax_t dir_bytes(const std::string& dir, int* files) {
  std::uintmax_t bytes = 0;
  *files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    bytes += e.file_size();
    *files += e.path().extension() == ".klog";
  }
  return bytes;
}

void erase_many(const std::string& dir, int n) {
  std::filesystem::remove_all(dir);
  ManualClock clock(Timestamp(std::chrono::sys_days(std::chrono::year(2026) / 3 / 2)));
  {
    auto store = std::move(store::open_rocks_store(dir + "/log", {.sync_writes = false}, clock)).value();
    auto keys = std::move(privacy::KeyStore::open(dir + "/keys", kek(), {.sync = false})).value();
    privacy::AeadApplicantSealer aead(*keys);
    auto cat = catalogue();
    Engine eng(*store, clock, &cat, aead);
    const auto t = Steady::now();
    for (int i = 0; i < n; ++i) {
      auto reg = eng.register_appeal(gratitude(i), {"r" + std::to_string(i), {}, ""});
      if (!reg.ok() || !eng.execute(reg->appeal_id, SendForReview{}, {"s" + std::to_string(i), {}, ""}).ok() ||
          !eng.execute(reg->appeal_id, Assign{"akimat"}, {"a" + std::to_string(i), {}, ""}).ok()) {
        std::abort();
      }
    }
    std::printf("| setup: %d gratitudes registered and closed (no fsync) | %.1f s |\n", n, since(t));
  }
  int files_before = 0, files_after = 0;
  const auto before = dir_bytes(dir + "/keys", &files_before);
  std::vector<rules::Diagnostic> diags;
  auto rs = rules::parse_rule_set(
      "rule_set: bench\ncalendars: {kz: kz.yaml}\ndefault_calendar: kz\nrules:\n"
      "  - {id: a, clocks: [{name: x, target: 1h, start: registered, stop: closed}]}\n"
      "retention:\n  - {id: gratitude, category: gratitude, keep: 36mo}\n",
      "bench.yaml", &diags);
  auto store = std::move(store::open_rocks_store(dir + "/log")).value();  // syncs on, as a server
  auto keys = std::move(privacy::KeyStore::open(dir + "/keys", kek())).value();
  const auto t = Steady::now();
  auto run = privacy::run_retention(*keys, *store, *rs, std::string(64, 'e'),
                                    Timestamp(std::chrono::sys_days(std::chrono::year(2029) / 4 / 1)));
  const double seconds = since(t);
  if (!run.ok()) {
    std::printf("retention run failed: %s\n", run.status().ToString().c_str());
    return;
  }
  auto stats = keys->stats();
  const auto after = dir_bytes(dir + "/keys", &files_after);
  std::printf("| retention run: %llu applicants erased (%llu ApplicantErased events), syncs on | %.1f s (goal < 60 s) |\n",
              static_cast<unsigned long long>(run->erased), static_cast<unsigned long long>(run->appeals), seconds);
  std::printf("| key store before: %.1f MB in %d key log files; after: %.1f MB in %d key log files, %llu live keys, %llu erased marks |\n",
              before / 1e6, files_before, after / 1e6, files_after,
              static_cast<unsigned long long>(stats.ok() ? stats->applicants : 0),
              static_cast<unsigned long long>(stats.ok() ? stats->erased : 0));
}

}  // namespace

int main(int argc, char** argv) {
  int regs = 20000, erase = 100000;
  bool seal_only = false;        // only the seal calls: for a profiler
  bool under_load_only = false;  // only new applicants under load
  std::string dir = "/tmp/otinish-privacy-bench";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seal-only")) seal_only = true;
    if (!std::strcmp(argv[i], "--under-load-only")) under_load_only = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--registrations")) regs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--erase")) erase = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  std::printf("| what | figure |\n|---|---|\n");
  if (under_load_only) {  // the lines under load alone: for a profiler
    for (int in_flight : {8, 32}) {
      const SealingCost load = sealing_cost_under_load(dir, regs, in_flight, 100);
      std::printf("| new applicants, %d in flight: seal() median + make_durable + the key store's thread = in all; "
                  "seal() mean wall, sampled CPU; the registering thread's CPU added | %.1f + %.1f + %.1f = %.1f us; "
                  "%.1f, %.1f us; %.1f us |\n", in_flight, load.seal_wall_median_us, load.durable_us,
                  load.keys_thread_us, load.seal_wall_median_us + load.durable_us + load.keys_thread_us,
                  load.seal_wall_mean_us, load.seal_cpu_us, load.added_thread_us);
    }
    return 0;
  }
  // Keys made ahead (the default) and as they come, alternately: the machine's speed drifts between runs.
  const double seal_us = seal_calls(dir, regs, privacy::KeyStoreOptions{}.keys_ahead);
  seal_calls(dir, regs, 0);
  if (seal_only) {
    seal_calls(dir, regs, privacy::KeyStoreOptions{}.keys_ahead);
    seal_calls(dir, regs, 0);
    return 0;
  }
  const SealingCost returning = sealing_cost(dir, regs, true);
  const SealingCost fresh = sealing_cost(dir, regs, false);
  std::printf("| registration, one thread, no fsync, returning applicants: plain / AEAD sealer (CPU, median of "
              "blocks) | %.1f / %.1f us |\n", returning.plain_cpu_us, returning.sealed_cpu_us);
  std::printf("| sealing adds per registration, returning applicant: CPU (wall) | %.1f us (%.1f us) (goal <= 5 us) |\n",
              returning.added_cpu_us, returning.added_wall_us);
  const SpinningPlainSealer spinning(seal_us);
  const SealingCost control = sealing_cost(dir, regs, true, &spinning);
  std::printf("| control: a plain sealer that also spins %.1f us (the seal call's cost) adds: CPU (wall) | %.1f us "
              "(%.1f us) |\n", seal_us, control.added_cpu_us, control.added_wall_us);
  std::printf("| registration, one thread, no fsync, new applicants: plain / AEAD sealer (CPU) | %.1f / %.1f us |\n",
              fresh.plain_cpu_us, fresh.sealed_cpu_us);
  std::printf("| sealing adds per registration, new applicant (its key written; with syncs on, one more fsync on "
              "the key store's thread, shared by concurrent registrations): CPU (wall) | %.1f us (%.1f us) |\n",
              fresh.added_cpu_us, fresh.added_wall_us);
  for (int new_percent : {0, 20, 100, -100}) {  // -100: new applicants, their keys made as they come
    for (int in_flight : {8, 32}) {
      const SealingCost load = new_percent >= 0 ? sealing_cost_under_load(dir, regs, in_flight, new_percent)
                                                : sealing_cost_under_load(dir, regs, in_flight, 100, /*keys_ahead=*/0);
      const std::string who_text = new_percent == 0     ? "returning"
                                   : new_percent == 100 ? "new (keys made ahead)"
                                   : new_percent == 20  ? "20% new, 80% returning"
                                                        : "new, keys made as they come (no keys ahead, as before)";
      const char* who = who_text.c_str();
      std::printf("| registrations under load (%d in flight, asynchronous, syncs on), %s applicants: plain / AEAD "
                  "sealer, CPU of the process per registration | %.1f / %.1f us |\n",
                  in_flight, who, load.plain_cpu_us, load.sealed_cpu_us);
      std::printf("| sealing adds per registration under load (%d in flight), %s applicant: the process's CPU "
                  "(wall), noisy (RocksDB's background work, group commit) | %.1f us (%.1f us) |\n",
                  in_flight, who, load.added_cpu_us, load.added_wall_us);
      std::printf("| the registering thread's CPU the AEAD engine adds under load (%d in flight), %s applicant "
                  "(median of the blocks' differences; carries RocksDB's write groups and the disk's interrupts "
                  "too, noisy) | %.1f us |\n", in_flight, who, load.added_thread_us);
      std::printf("| sealing's own work per registration under load (%d in flight), %s applicant: seal() on the "
                  "registering thread (median wall) + make_durable (mean wall) + the key store's thread (CPU) = in "
                  "all; seal()'s mean wall and sampled CPU, both upper bounds | %.1f + %.1f + %.1f = %.1f us (goal "
                  "<= 5 us); %.1f, %.1f us |\n",
                  in_flight, who, load.seal_wall_median_us, load.durable_us, load.keys_thread_us,
                  load.seal_wall_median_us + load.durable_us + load.keys_thread_us, load.seal_wall_mean_us,
                  load.seal_cpu_us);
    }
  }
  if (erase > 0) erase_many(dir, erase);
  std::filesystem::remove_all(dir);
  return 0;
}
