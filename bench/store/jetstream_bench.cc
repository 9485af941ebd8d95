// Durable appends on a three-server NATS JetStream cluster beside the embedded RocksDB log, in the same run, and
// the time appends stop when the stream's leader is killed. Prints figures; never a timed test.
//
//   otinish_jetstream_bench --urls nats://127.0.0.1:14222,... --cluster DIR [--writers 1,8,32] [--seconds 5]
//                           [--dir /tmp/otinish-js-bench]
//
// bench/store/jetstream.sh starts the cluster (scripts/nats-cluster.sh) and runs this. Each writer appends one
// ~300-byte event per call to a random appeal stream (ExpectedVersion::any) and waits for the acknowledgement:
// on RocksDB an fsync; on JetStream two of three servers storing it (docs/jetstream.md).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/jetstream_store.h"
#include "store/rocks_store.h"

namespace {

using Steady = std::chrono::steady_clock;
using otinish::store::EventData;
using otinish::store::EventStore;
using otinish::store::ExpectedVersion;

struct Figures {
  double events_per_s = 0, p50_ms = 0, p99_ms = 0;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

EventData sample_event(std::mt19937_64& rng) {
  EventData e;
  e.type = "AppealRegistered";
  e.payload.resize(300);
  for (char& c : e.payload) c = static_cast<char>('a' + rng() % 26);
  e.actor = {"operator:bench", "operator", ""};
  return e;
}

Figures run_appends(EventStore& store, int writers, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  const auto start = Steady::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(w) * 7919 + 1);
      const EventData e = sample_event(rng);
      while (!stop.load()) {
        const std::string stream = "appeal-SHY-2026-" + std::to_string(rng() % 200000);
        const auto t0 = Steady::now();
        auto r = store.append(stream, ExpectedVersion::any(), {&e, 1});
        if (!r.ok()) {
          std::fprintf(stderr, "append failed: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
        latencies[static_cast<std::size_t>(w)].push_back(
            std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  Figures f;
  f.events_per_s = static_cast<double>(all.size()) / elapsed;
  f.p50_ms = percentile(all, 0.5);
  f.p99_ms = percentile(all, 0.99);
  return f;
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');) out.push_back(std::atoi(x.c_str()));
  return out;
}

// The number (1..3) of the server leading `stream` now, as scripts/nats-cluster.sh names them; 0 if unknown.
int stream_leader(const std::string& urls, const std::string& stream) {
  otinish::store::JetStreamOptions o;
  o.urls = urls;
  o.stream = stream;
  auto leader = otinish::store::jetstream_stream_leader(o);
  return leader.ok() && !leader->empty() ? leader->back() - '0' : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string urls, cluster, dir = "/tmp/otinish-js-bench";
  std::vector<int> writers{1, 8, 32};
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--urls")) urls = argv[i + 1];
    else if (!std::strcmp(argv[i], "--cluster")) cluster = argv[i + 1];
    else if (!std::strcmp(argv[i], "--writers")) writers = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  if (urls.empty() || cluster.empty()) {
    std::fprintf(stderr, "usage: otinish_jetstream_bench --urls URLS --cluster DIR [--writers 1,8,32] [--seconds 5]\n");
    return 2;
  }
  const char* root = std::getenv("OTINISH_SOURCE_DIR");
  const std::string script = "bash " + std::string(root ? root : ".") + "/scripts/nats-cluster.sh";
  std::filesystem::remove_all(dir);
  auto rocks = otinish::store::open_rocks_store(dir);
  otinish::store::JetStreamOptions o;
  o.urls = urls;
  o.stream = "BENCH" + std::to_string(getpid());
  o.subject_prefix = "bench" + std::to_string(getpid());
  auto js = otinish::store::open_jetstream_store(o);
  if (!rocks.ok() || !js.ok()) {
    std::fprintf(stderr, "open failed: %s %s\n", rocks.status().ToString().c_str(), js.status().ToString().c_str());
    return 1;
  }
  std::printf("durable appends (1 event/call)   writers       events/s     p50 ms     p99 ms\n");
  for (int w : writers) {
    const Figures r = run_appends(**rocks, w, seconds);
    const Figures j = run_appends(**js, w, seconds);
    std::printf("RocksDB, one machine          %10d %14.0f %10.3f %10.3f\n", w, r.events_per_s, r.p50_ms, r.p99_ms);
    std::printf("JetStream, 3 servers, R3      %10d %14.0f %10.3f %10.3f   (%.2f of RocksDB)\n", w, j.events_per_s,
                j.p50_ms, j.p99_ms, j.events_per_s / r.events_per_s);
  }

  // Failover: one writer appends continuously; the stream's leader is killed; the longest time between two
  // acknowledged appends is how long writes stopped.
  const int leader = stream_leader(urls, o.stream);
  std::atomic<bool> stop{false};
  std::atomic<double> longest_gap_ms{0};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    std::mt19937_64 rng(7);
    const EventData e = sample_event(rng);
    auto last = Steady::now();
    while (!stop.load()) {
      auto r = (*js)->append("appeal-SHY-2026-failover", ExpectedVersion::any(), {&e, 1});
      const auto now = Steady::now();
      if (r.ok()) {
        const double gap = std::chrono::duration<double, std::milli>(now - last).count();
        if (gap > longest_gap_ms.load()) longest_gap_ms.store(gap);
        last = now;
      } else {
        ++failures;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  if (leader > 0) std::system((script + " kill " + cluster + " " + std::to_string(leader)).c_str());
  std::this_thread::sleep_for(std::chrono::seconds(8));
  stop = true;
  writer.join();
  const int new_leader = stream_leader(urls, o.stream);
  std::printf("failover: killed the stream's leader (server %d; now server %d leads): appends stopped for %.0f ms at "
              "most (%d attempts failed meanwhile)\n",
              leader, new_leader, longest_gap_ms.load(), failures.load());
  if (leader > 0) std::system((script + " restart " + cluster + " " + std::to_string(leader)).c_str());
  js->reset();
  rocks->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
