// Durable appends from many writers, and reading the whole global log. Prints a table; never a timed test.
//
//   otinish_store_bench [--writers 1,8,32] [--seconds 10] [--dir /tmp/x] [--read-events 1000000] [--merkle-rounds 5]
//                       [--events-per-call 1] [--idempotency-keys 0|1]
//
// Each writer appends one ~300-byte event per call (ExpectedVersion::any, a random appeal stream) and waits
// for the durable acknowledgement, as a call-centre desk would. Latency is measured per call.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/rocks_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using otinish::store::EventData;
using otinish::store::ExpectedVersion;

struct Figures {
  int writers;
  double events_per_s;
  double p50_ms;
  double p99_ms;
  std::uint64_t events;
};

EventData sample_event(std::mt19937_64& rng) {
  EventData e;
  e.type = "AppealRegistered";
  e.payload.resize(300);
  for (char& c : e.payload) c = static_cast<char>('a' + rng() % 26);
  e.actor = {"operator:bench", "operator", ""};
  e.correlation_id = "call-" + std::to_string(rng() % 1000000);
  return e;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Events per append call (--events-per-call): 1 by default; 2 is what a registration appends to its new appeal
// stream (bench/api/run.sh compares HTTP registrations with it).
int g_events_per_call = 1;
// --idempotency-keys: every append carries a key of its own, as the engine's commands do (a registration's two
// appends each have one); the store then looks each key up before it writes.
bool g_idempotency_keys = false;

Figures run_appends(otinish::store::EventStore& store, int writers, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(writers);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(w * 7919 + 1);
      auto& lat = latencies[w];
      lat.reserve(1 << 20);
      // Payloads are made once per writer: the bench measures the store, not the random generator
      // (on 2 cores, 300 mt19937 calls per event were 6% of the CPU the store needs).
      std::vector<EventData> pool;
      for (int i = 0; i < 64; ++i) pool.push_back(sample_event(rng));
      std::size_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<EventData> events;
        for (int k = 0; k < g_events_per_call; ++k) {
          events.push_back(pool[n++ % pool.size()]);
          events.back().correlation_id = "call-" + std::to_string(rng() % 1000000);
        }
        const std::string stream = "appeal-SHY-2026-" + std::to_string(rng() % 200000);
        const auto t0 = Clock::now();
        otinish::store::AppendOptions options;
        if (g_idempotency_keys) options.idempotency_key = "bench-" + std::to_string(w) + "-" + std::to_string(n);
        auto r = store.append(stream, ExpectedVersion::any(), events, options);
        const auto t1 = Clock::now();
        if (!r.ok()) {
          std::fprintf(stderr, "append failed: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
        lat.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const std::uint64_t events = all.size() * static_cast<std::uint64_t>(g_events_per_call);
  Figures f{writers, static_cast<double>(events) / elapsed, 0, 0, events};
  f.p50_ms = percentile(all, 0.50);
  f.p99_ms = percentile(all, 0.99);
  return f;
}

// The disk's floor: microseconds for one write of a group's bytes plus fdatasync, on a file in the bench's
// directory, (a) appended to, as RocksDB's WAL is, and (b) overwritten in place (a file already written and
// synced, so the fsync has no size or block allocation to record: what a recycled WAL would cost). No event
// store on this disk can acknowledge a durable append faster than (a); with W closed-loop writers it cannot
// exceed W * 1e6 / (a) events/s even if every fsync answered every writer and the CPU cost nothing.
struct DiskFloor {
  double append_us = 0;
  double overwrite_us = 0;
  double append_cpu_us = 0;  // CPU time of one appending write + fdatasync (the kernel's work for it, in a VM)
};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

DiskFloor measure_disk_floor(const std::string& dir, int rounds) {
  const std::string path = dir + "/fsync-floor.tmp";
  const std::string block(2500, 'x');  // about one group of eight ~300-byte events
  DiskFloor f;
  for (int pass = 0; pass < 2; ++pass) {
    const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) return f;
    if (pass == 1) {  // pre-write and sync the whole range, then overwrite it
      for (int i = 0; i < rounds; ++i) {
        if (::write(fd, block.data(), block.size()) < 0) break;
      }
      ::fsync(fd);
      ::lseek(fd, 0, SEEK_SET);
    }
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    for (int i = 0; i < rounds; ++i) {
      if (::write(fd, block.data(), block.size()) < 0 || ::fdatasync(fd) != 0) break;
    }
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / rounds;
    if (pass == 0) f.append_cpu_us = (process_cpu_seconds() - c0) * 1e6 / rounds;
    (pass == 0 ? f.append_us : f.overwrite_us) = us;
    ::close(fd);
  }
  std::filesystem::remove(path);
  return f;
}

// The CPU of one sleep and one wake-up of a thread, as every appender that waits for its fsync pays: two
// threads hand a turn back and forth through futex words (FUTEX_WAIT / FUTEX_WAKE, as the store's queue does),
// and the process's CPU time is divided by the hand-offs. On a paravirtualised VM this is several microseconds,
// a floor under the CPU per event of any store whose appenders outnumber the cores and sleep.
double measure_wake_cpu_us(int rounds) {
  std::atomic<std::uint32_t> turn{0};  // whose turn: 0 or 1
  auto wait_for = [&](std::uint32_t mine) {
    for (std::uint32_t t = turn.load(); t != mine; t = turn.load()) {
      ::syscall(SYS_futex, static_cast<void*>(&turn), FUTEX_WAIT_PRIVATE, t, nullptr, nullptr, 0);
    }
  };
  auto pass_to = [&](std::uint32_t other) {
    turn.store(other);
    ::syscall(SYS_futex, static_cast<void*>(&turn), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  };
  const double c0 = process_cpu_seconds();
  std::thread peer([&] {
    for (int i = 0; i < rounds; ++i) {
      wait_for(1);
      pass_to(0);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    pass_to(1);
    wait_for(0);
  }
  peer.join();
  return (process_cpu_seconds() - c0) * 1e6 / (2.0 * rounds);
}

// What the Merkle tree costs: two logs on the same disk, one keeping its tree and one not, take turns at
// `writers` writers (`rounds` runs each, alternating so that the disk's drift hits both alike). Prints each
// one's best events/s and its CPU per event (the process's CPU time over the events appended).
void merkle_cost(const std::string& dir, int writers, double seconds, int rounds) {
  otinish::store::StoreOptions with, without;
  without.merkle_tree = false;
  std::filesystem::remove_all(dir + "-tree");
  std::filesystem::remove_all(dir + "-notree");
  auto a = otinish::store::open_rocks_store(dir + "-tree", with);
  auto b = otinish::store::open_rocks_store(dir + "-notree", without);
  if (!a.ok() || !b.ok()) return;
  double best[2] = {0, 0}, cpu[2] = {1e9, 1e9};
  for (int r = 0; r < 2 * rounds; ++r) {
    const int which = r % 2;
    auto& store = which == 0 ? **a : **b;
    const double c0 = process_cpu_seconds();
    Figures f = run_appends(store, writers, seconds);
    const double us = (process_cpu_seconds() - c0) / static_cast<double>(std::max<std::uint64_t>(1, f.events)) * 1e6;
    best[which] = std::max(best[which], f.events_per_s);
    cpu[which] = std::min(cpu[which], us);
  }
  std::printf("%-32s %8d %14.0f   (CPU %.1f us/event; best of %d runs)\n", "with the Merkle tree", writers, best[0],
              cpu[0], rounds);
  std::printf("%-32s %8d %14.0f   (CPU %.1f us/event; best of %d runs)\n", "without it", writers, best[1], cpu[1],
              rounds);
  std::printf("%-32s %8s %13.1f%%   (of the durable append rate; goal <= 10%%; CPU per event +%.1f us)\n",
              "the tree costs", "", 100 * (1 - best[0] / best[1]), cpu[0] - cpu[1]);
  a->reset();
  b->reset();
  std::filesystem::remove_all(dir + "-tree");
  std::filesystem::remove_all(dir + "-notree");
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  for (const char* p = s; *p;) {
    out.push_back(std::atoi(p));
    p = std::strchr(p, ',');
    if (!p) break;
    ++p;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> writers = {1, 8, 32};
  double seconds = 10;
  int merkle_rounds = 5;
  std::uint64_t read_events = 1'000'000;
  std::string dir = (std::filesystem::temp_directory_path() / "otinish-store-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--writers")) writers = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--read-events")) read_events = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--merkle-rounds")) merkle_rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--events-per-call")) g_events_per_call = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--idempotency-keys")) g_idempotency_keys = std::atoi(argv[i + 1]) != 0;
  }
  std::filesystem::remove_all(dir);
  auto opened = otinish::store::open_rocks_store(dir);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(opened).value();

  const DiskFloor floor = measure_disk_floor(dir, 2000);
  std::printf("%-32s %8s %14s   (append %.0f us, overwrite in place %.0f us per write + fdatasync; "
              "CPU %.1f us per appending one)\n",
              "disk floor", "", "", floor.append_us, floor.overwrite_us, floor.append_cpu_us);
  const double wake_us = measure_wake_cpu_us(20000);
  std::printf("%-32s %8s %14s   (CPU of one thread's sleep + wake-up through a futex: %.1f us)\n", "wake-up floor", "",
              "", wake_us);
  // appends/sync: how many appends one fsync answered (the group commit's work); us/sync: the fsync's latency.
  // cpu us/event: the whole process's CPU time (the store's threads, RocksDB's, and the writers' own loop)
  // over the events appended in the step.
  const std::string title = "durable appends (" + std::to_string(g_events_per_call) + " event" +
                            (g_events_per_call == 1 ? "" : "s") + "/call)";
  std::printf("%-32s %8s %14s %10s %10s %12s %10s %14s\n", title.c_str(), "writers", "events/s",
              "p50 ms", "p99 ms", "appends/sync", "us/sync", "cpu us/event");
  for (int w : writers) {
    const otinish::store::CommitStats before = store->commit_stats();
    const double c0 = process_cpu_seconds();
    Figures f = run_appends(*store, w, seconds);
    const double cpu_us = (process_cpu_seconds() - c0) / static_cast<double>(std::max<std::uint64_t>(1, f.events)) * 1e6;
    const otinish::store::CommitStats after = store->commit_stats();
    const double syncs = static_cast<double>(std::max<std::uint64_t>(1, after.syncs - before.syncs));
    std::printf("%-32s %8d %14.0f %10.3f %10.3f %12.1f %10.0f %14.1f\n", "otinish store", f.writers, f.events_per_s,
                f.p50_ms, f.p99_ms, static_cast<double>(after.appends - before.appends) / syncs,
                static_cast<double>(after.sync_micros - before.sync_micros) / syncs, cpu_us);
    if (floor.append_us > 0) {
      const double ceiling = f.writers * g_events_per_call * 1e6 / floor.append_us;
      std::printf("%-32s %8d %14.0f   (every writer in every fsync, no CPU cost: writers * 1e6 / append floor); "
                  "reached %.0f%%\n",
                  "  ceiling of this disk", f.writers, ceiling, 100 * f.events_per_s / ceiling);
    }
    // What the kernel takes per event whatever the store does: the appender's sleep and wake-up (a lone one
    // leads and may not sleep, but the syncer does), and its share of one fsync.
    const double appends_per_sync = static_cast<double>(after.appends - before.appends) / syncs;
    const double kernel_floor = wake_us + floor.append_cpu_us / std::max(1.0, appends_per_sync);
    std::printf("%-32s %8d %14s   (CPU us/event %.1f = kernel floor %.1f [wake-up %.1f + fsync %.1f / %.1f appends] "
                "+ the rest %.1f)\n",
                "  CPU per event", f.writers, "", cpu_us, kernel_floor, wake_us, floor.append_cpu_us, appends_per_sync,
                cpu_us - kernel_floor);
    std::fflush(stdout);
  }

  if (merkle_rounds > 0) merkle_cost(dir + "-merkle", 32, seconds / 2, merkle_rounds);

  // Top the log up to read_events with big batched appends, then read it all back.
  std::mt19937_64 rng(42);
  while (store->head_position() < read_events) {
    std::vector<EventData> batch;
    for (int i = 0; i < 1000; ++i) batch.push_back(sample_event(rng));
    auto r = store->append("bench-fill-" + std::to_string(rng() % 1000), ExpectedVersion::any(), batch);
    if (!r.ok()) return 1;
  }
  for (int round = 0; round < 2; ++round) {  // the first round warms the cache
    const auto t0 = Clock::now();
    std::uint64_t bytes = 0;
    auto n = store->scan(1, UINT64_MAX, [&](const otinish::store::RecordedEvent& e) {
      bytes += e.payload.size();
      return true;
    });
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!n.ok()) return 1;
    if (round == 1) {
      std::printf("%-32s %8s %14.0f   (%llu events, %.1f MB payload)\n", "read whole log (scan)", "1",
                  static_cast<double>(*n) / s, static_cast<unsigned long long>(*n), static_cast<double>(bytes) / 1e6);
    }
  }
  const auto t0 = Clock::now();
  auto report = otinish::store::verify_chain(*store);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!report.ok() || !report->ok) return 1;
  std::printf("%-32s %8s %14.0f   (%s)\n", "verify hash chain", "1", static_cast<double>(report->events) / s,
              report->to_string().substr(0, 40).c_str());
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
