// `otinish load`: drives a running server with registrations (and optionally a command per appeal) from many
// connections, and prints throughput and latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/cli/commands.h"
#include "api/http/client.h"
#include "examples/city/workload.h"

#include <boost/json.hpp>

namespace otinish::cli {

namespace json = boost::json;

namespace {

struct LoadArgs {
  std::string url = "http://127.0.0.1:8109";
  std::string token;
  std::string centre = "SHY";
  std::string catalogue = "examples/catalogue";
  std::uint64_t seed = 109;
  int connections = 32;
  double seconds = 10;
  bool with_commands = false;
  // When the server does not answer (refused, reset, timed out), each connection waits before its next attempt,
  // doubling from the first wait up to the cap; after this long with no answer at all, load gives up.
  std::chrono::milliseconds first_backoff{10};
  std::chrono::milliseconds max_backoff{1000};
  double give_up_after_s = 10;
};

// The wait of one connection between attempts on a server that does not answer: doubling, capped; reset by an
// answer. A server that is gone must not be hammered by a tight loop of connects (which also burns the cores of
// the machine load runs on).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap) : first_(first), cap_(cap), next_(first) {}
  // The wait before the next attempt after a failure (and doubles the one after it).
  std::chrono::milliseconds after_failure() {
    const std::chrono::milliseconds wait = next_;
    next_ = std::min(cap_, next_ * 2);
    return wait;
  }
  void reset() { next_ = first_; }

 private:
  const std::chrono::milliseconds first_, cap_;
  std::chrono::milliseconds next_;
};

// The registrations of a generated city (examples/city/workload.h): the seeds' mix of categories, topics,
// channels and districts from the catalogue, as JSON bodies. The n-th request sends body n mod count.
Result<std::vector<std::string>> appeal_bodies(const LoadArgs& a) {
  auto city = city::CityCatalogue::load(a.catalogue);
  if (!city.ok()) return city.status();
  city::WorkloadOptions o;
  o.centre = a.centre;
  o.seed = a.seed;
  o.days = 3;
  o.mass_incident_per_day = 0;  // merges need the engine's answers; load sends registrations only
  const city::Workload w = city::generate_workload(*city, o);
  std::vector<std::string> bodies;
  bodies.reserve(w.appeals.size());
  for (const auto& p : w.appeals) {
    const engine::RegisterAppeal& r = p.registration;
    json::object body{{"centre", r.centre},
                      {"category", std::string(engine::to_string(r.category))},
                      {"topic", r.topic},
                      {"channel", std::string(engine::to_string(r.channel))},
                      {"location", {{"district", r.location.district}, {"street", r.location.street}}},
                      {"text", r.text},
                      {"applicant", {{"name", r.applicant.name}, {"phone", r.applicant.phone},
                                     {"address", r.applicant.address}}}};
    bodies.push_back(json::serialize(body));
  }
  return bodies;
}

void run_load(const LoadArgs& a, Context& ctx) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_http_url(a.url, &host, &port)) {
    ctx.err << "otinish load: --url must be http://HOST:PORT\n";
    ctx.exit_code = 2;
    return;
  }
  auto bodies = appeal_bodies(a);
  if (!bodies.ok()) {
    ctx.err << "otinish load: " << bodies.status().ToString() << "\n";
    ctx.exit_code = 2;
    return;
  }
  using SteadyClock = std::chrono::steady_clock;
  auto steady = [](double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
  };
  std::atomic<std::uint64_t> next{0}, ok{0}, failed{0}, unanswered{0};
  std::vector<std::vector<std::uint32_t>> latencies_us(static_cast<std::size_t>(a.connections));
  const auto start = SteadyClock::now();
  const auto end = start + steady(a.seconds);
  // The last time any connection got an answer (any HTTP status), and whether load gave up waiting for one.
  std::atomic<SteadyClock::rep> last_answer{start.time_since_epoch().count()};
  std::atomic<bool> gave_up{false};
  std::mutex first_error_mu;
  std::string first_error;  // GUARDED_BY(first_error_mu): the first transport error, for the message
  std::vector<std::thread> threads;
  for (int i = 0; i < a.connections; ++i) {
    threads.emplace_back([&, i] {
      api::HttpClient client(host, port);
      const api::HeaderList headers{{"Authorization", "Bearer " + a.token}};
      Backoff backoff(a.first_backoff, a.max_backoff);
      while (SteadyClock::now() < end && !gave_up.load()) {
        const std::uint64_t n = next.fetch_add(1);
        const auto t0 = SteadyClock::now();
        auto r = client.request("POST", "/v1/appeals", (*bodies)[n % bodies->size()], headers);
        if (!r.ok()) {
          unanswered.fetch_add(1);
          {
            std::lock_guard lock(first_error_mu);
            if (first_error.empty()) first_error = r.status().message();
          }
          const auto now = SteadyClock::now();
          if (now - SteadyClock::time_point(SteadyClock::duration(last_answer.load())) >= steady(a.give_up_after_s)) {
            gave_up.store(true);
            break;
          }
          std::this_thread::sleep_for(std::min<SteadyClock::duration>(backoff.after_failure(), end - now));
          continue;
        }
        backoff.reset();
        last_answer.store(SteadyClock::now().time_since_epoch().count());
        bool good = r->status == 201;
        if (good && a.with_commands) {
          const std::string location = r->header("location");
          auto c = client.request("POST", location + "/send_for_review", "",
                                  {{"Authorization", "Bearer " + a.token}, {"If-Match", r->header("etag")}});
          good = c.ok() && c->status == 200;
        }
        latencies_us[static_cast<std::size_t>(i)].push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count()));
        (good ? ok : failed).fetch_add(1);
        if (!good && failed.load() == 1) {
          ctx.err << "first failure: " << r->status << " " << r->body << "\n";
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (gave_up.load()) {
    ctx.err << "otinish load: no answer from " << host << ":" << port << " for " << a.give_up_after_s
            << " s (" << unanswered.load() << " attempts, backing off up to " << a.max_backoff.count()
            << " ms; first error: " << first_error << "); gave up. Is the server running at " << a.url << "?\n";
  } else if (unanswered.load() > 0) {
    ctx.err << "unanswered attempts: " << unanswered.load() << " (first error: " << first_error << ")\n";
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::uint32_t> all;
  for (auto& v : latencies_us) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))] / 1000.0;
  };
  ctx.out << "appeals registered: " << ok.load() << ", failed: " << failed.load() << ", " << elapsed << " s\n"
          << "throughput: " << static_cast<std::uint64_t>(ok.load() / elapsed) << " appeals/s with " << a.connections
          << " connections\n"
          << "latency ms: p50 " << pct(0.50) << "  p99 " << pct(0.99) << "  max " << pct(1.0) << "\n";
  ctx.exit_code = failed.load() == 0 && unanswered.load() == 0 ? 0 : 1;
}

}  // namespace

void add_load_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand("load", "Drive a running server with appeal registrations");
  cmd->add_option("--url", args->url, "The server")->capture_default_str();
  cmd->add_option("--token", args->token, "An operator token")->required();
  cmd->add_option("--centre", args->centre, "Centre code of the appeals")->capture_default_str();
  cmd->add_option("--catalogue", args->catalogue, "Topic catalogue the appeals are drawn from")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the generated city (the same seed sends the same appeals)")
      ->capture_default_str();
  cmd->add_option("-c,--connections", args->connections, "Concurrent keep-alive connections")->capture_default_str();
  cmd->add_option("-d,--seconds", args->seconds, "How long to run")->capture_default_str();
  cmd->add_flag("--with-commands", args->with_commands, "Also send each appeal for review (If-Match from its ETag)");
  cmd->add_option("--give-up-after", args->give_up_after_s,
                  "Seconds with no answer from the server (each connection backing off from 10 ms to 1 s between "
                  "attempts) before load stops")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->footer("Example: otinish load --url http://127.0.0.1:8109 --token $OP_TOKEN -c 64 -d 10\n"
              "Prints appeals/s and p50/p99 latency. Exit 1 if any request failed or went unanswered (a server that "
              "stops answering is retried with backoff, then given up on after --give-up-after), 2 on a bad --url "
              "or arguments.");
  cmd->callback([args, &ctx] { run_load(*args, ctx); });
}

}  // namespace otinish::cli
