// The store on its own: a synthetic day of a city's 109 centre written to the durable log by eight desks at
// once, read back, and verified. (The full city demo, with the engine and SLA rules, grows from this.)
//
//   otinish_log_demo [DIR]      (default: a fresh temporary directory, removed afterwards)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/rocks_store.h"

namespace {

using otinish::store::EventData;
using otinish::store::ExpectedVersion;

constexpr int kDesks = 8;
constexpr int kAppeals = 3000;  // a day in Shymkent: 3,000 calls, up to 5,000 (seeds/002)

// The lifecycle an appeal of each kind goes through in a day (the engine's state machine decides this for
// real; here it is a fixed script per category).
std::vector<std::string> script_for(int category) {
  switch (category) {
    case 0: return {"AppealRegistered", "AnsweredOnFirstContact", "AppealClosed"};          // consultation
    case 1: return {"AppealRegistered", "AppealAssigned", "WorkStarted", "AppealResolved",  // incident
                    "ApplicantCalledBack", "AppealClosed"};
    case 2: return {"AppealRegistered", "SentForReview", "AppealAssigned"};                 // complaint, open
    default: return {"AppealRegistered", "AppealAssigned", "AppealAccepted"};               // proposal
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool temporary = argc < 2;
  const std::string dir = temporary ? (std::filesystem::temp_directory_path() / "otinish-log-demo").string()
                                    : std::string(argv[1]);
  if (temporary) std::filesystem::remove_all(dir);
  otinish::ManualClock clock(otinish::timestamp_from_micros(1'773'975'600'000'000));  // 2026-03-20 03:00Z
  auto opened = otinish::store::open_rocks_store(dir, {}, clock);
  if (!opened.ok()) {
    std::fprintf(stderr, "otinish: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  std::printf("otinish log demo: one day of the Shymkent 109 centre, %d appeals from %d desks, into %s\n\n",
              kAppeals, kDesks, dir.c_str());

  std::atomic<int> next{0};
  std::atomic<long> events{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> desks;
  for (int d = 0; d < kDesks; ++d) {
    desks.emplace_back([&, d] {
      std::mt19937 rng(d);
      for (int i = next++; i < kAppeals; i = next++) {
        const std::string id = "SHY-2026-" + std::to_string(10000000 + i).substr(1);
        const int category = static_cast<int>(rng() % 10 < 7 ? 0 : 1 + rng() % 3);
        std::uint64_t version = 0;
        for (const std::string& type : script_for(category)) {
          clock.advance(std::chrono::seconds(9));  // ~3,000 appeals x 3-6 events spread over a day
          EventData e;
          e.type = type;
          e.payload = "{\"appeal\":\"" + id + "\",\"desk\":" + std::to_string(d) + "}";
          e.actor = {"operator:desk-" + std::to_string(d), "operator", ""};
          e.correlation_id = "call-" + id;
          auto r = store->append("appeal-" + id, ExpectedVersion::exact(version), {&e, 1});
          if (!r.ok()) {
            std::fprintf(stderr, "otinish: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          version = r->stream_version;
          ++events;
        }
      }
    });
  }
  for (auto& t : desks) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("appended   %ld events in %d streams in %.2f s (%.0f durable events/s, each synced before its ack)\n",
              events.load(), kAppeals, secs, static_cast<double>(events.load()) / secs);

  auto timeline = store->read_stream("appeal-SHY-2026-0000001", 1, otinish::store::Direction::kForward, 100);
  if (timeline.ok()) {
    std::printf("\nappeal SHY-2026-0000001, read back from its stream:\n");
    for (const auto& e : *timeline) {
      std::printf("  v%llu  pos %-6llu %s  %-24s by %s\n", static_cast<unsigned long long>(e.stream_version),
                  static_cast<unsigned long long>(e.position), otinish::format_utc(e.recorded_at).c_str(),
                  e.type.c_str(), e.actor.user.c_str());
    }
  }
  auto conflict = store->append("appeal-SHY-2026-0000001", ExpectedVersion::exact(1),
                                std::vector<EventData>{EventData{.type = "CommentAdded", .payload = "late desk"}});
  std::printf("\na desk that acts on a stale copy is refused:\n  %s\n", conflict.status().ToString().c_str());

  auto report = otinish::store::verify_chain(*store);
  if (!report.ok()) {
    std::fprintf(stderr, "otinish: %s\n", report.status().ToString().c_str());
    return 1;
  }
  std::printf("\nverify: %s\n", report->to_string().c_str());
  store.reset();
  if (temporary) std::filesystem::remove_all(dir);
  return report->ok ? 0 : 1;
}
