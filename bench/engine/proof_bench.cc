// What the proofs cost: inclusion and consistency proofs served from a large log (goal: >= 100,000 inclusion
// proofs a second from a 10M-event log), and an evidence bundle of a 50-event appeal verified offline (goal:
// < 10 ms). Prints a table; never a timed test. (What the tree adds to durable appends: otinish_store_bench.)
//
//   otinish_proof_bench [--events 10000000] [--threads 2] [--seconds 3] [--dir /tmp/x]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/proof/checkpoint.h"
#include "engine/proof/evidence.h"
#include "store/rocks_store.h"

namespace {

using namespace otinish;
using Steady = std::chrono::steady_clock;

double since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

// Runs `work(rng)` on `threads` threads for `seconds`; returns calls per second.
template <class F>
double rate(int threads, double seconds, F work) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> ts;
  const auto t0 = Steady::now();
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&, i] {
      std::mt19937_64 rng(i + 1);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        work(rng);
        ++n;
      }
      total += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  return static_cast<double>(total.load()) / since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t events = 10'000'000;
  int threads = 2;
  double seconds = 3;
  std::string dir = "/tmp/otinish-proof-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--events")) events = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  std::filesystem::remove_all(dir);
  store::StoreOptions so;
  so.sync_writes = false;
  if (const char* mb = std::getenv("OTINISH_BLOCK_CACHE_MB")) so.block_cache_mb = std::strtoull(mb, nullptr, 10);
  auto store = std::move(store::open_rocks_store(dir, so)).value();

  // A 50-event appeal first (registration and 49 comments), then the rest of the log.
  engine::InMemoryTopicCatalogue topics({{"lifts.stuck", "", "", "Lift", "city-lifts", engine::Category::kComplaint, false}});
  engine::Engine eng(*store, SystemClock::instance(), &topics);
  engine::RegisterAppeal reg{.centre = "SHY", .category = engine::Category::kComplaint, .topic = "lifts.stuck",
                             .location = {"Abay", "Tauke khan"}, .text = "the lift is stuck"};
  auto appeal = eng.register_appeal(reg, {"r", {}, ""});
  if (!appeal.ok()) return 1;
  for (int i = 1; i < 50; ++i) {
    if (!eng.execute(appeal->appeal_id, engine::Comment{"call " + std::to_string(i)}, {"c" + std::to_string(i), {}, ""}).ok()) {
      return 1;
    }
  }
  const auto fill = Steady::now();
  std::mt19937_64 rng(42);
  std::string payload(300, 'x');
  while (store->head_position() < events) {
    std::vector<store::EventData> batch(1000);
    for (auto& e : batch) {
      e.type = "AppealCommented";
      for (char& c : payload) c = static_cast<char>('a' + rng() % 26);
      e.payload = payload;
    }
    if (!store->append("bench-" + std::to_string(rng() % 100000), store::ExpectedVersion::any(), batch).ok()) return 1;
  }
  const std::uint64_t size = store->head_position();
  std::printf("| what | figure |\n|---|---|\n");
  std::printf("| log filled: %llu events (batches of 1,000, no fsync) | %.1f s |\n",
              static_cast<unsigned long long>(size), since(fill));

  const auto root = *store->tree_root(size);
  const double inclusion = rate(threads, seconds, [&](std::mt19937_64& r) {
    const std::uint64_t position = 1 + r() % size;
    auto p = store->inclusion_proof(position, size);
    if (!p.ok()) std::abort();
  });
  std::printf("| inclusion proofs served, %d threads, random positions, tree of %llu | %.0f /s (goal >= 100,000) |\n",
              threads, static_cast<unsigned long long>(size), inclusion);
  const double consistency = rate(threads, seconds, [&](std::mt19937_64& r) {
    const std::uint64_t from = 1 + r() % size;
    auto p = store->consistency_proof(from, size);
    if (!p.ok()) std::abort();
  });
  std::printf("| consistency proofs served, %d threads, random sizes to the head | %.0f /s |\n", threads, consistency);
  // One proof checked, as a client would.
  {
    auto events_at = *store->read_all(size / 2, 1);
    auto p = *store->inclusion_proof(size / 2, size);
    if (!store::merkle::verify_inclusion(size / 2 - 1, size, store::merkle::leaf_hash(events_at[0].hash), p, root)) {
      std::printf("| inclusion proof check | FAILED |\n");
      return 1;
    }
  }

  auto [skey, vkey] = engine::proof::NoteSigner::generate("bench.109.kz/log");
  auto signer = *engine::proof::NoteSigner::parse(skey);
  const std::string note = *engine::proof::sign_checkpoint(*store, "bench.109.kz/log", signer, size);
  auto t = Steady::now();
  auto bundle = engine::proof::make_evidence(*store, appeal->appeal_id, note);
  const double make_ms = since(t) * 1e3;
  if (!bundle.ok()) return 1;
  const std::vector<engine::proof::NoteVerifier> key = {signer.verifier()};
  int runs = 0;
  t = Steady::now();
  while (since(t) < seconds) {
    if (!engine::proof::verify_evidence(*bundle, key).ok) {
      std::printf("| evidence verification | FAILED |\n");
      return 1;
    }
    ++runs;
  }
  std::printf("| evidence bundle of a 50-event appeal (%zu bytes): made | %.2f ms |\n", bundle->size(), make_ms);
  std::printf("| the same bundle verified offline (signature, 50 envelopes, 50 inclusion proofs), one thread | %.3f ms "
              "(goal < 10 ms) |\n", since(t) * 1e3 / runs);
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
