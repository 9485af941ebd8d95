// `otinish load`: drives a running server with registrations (and optionally a command per appeal) from many
// connections, and prints throughput and latency.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/cli/commands.h"
#include "api/http/client.h"

namespace otinish::cli {

namespace {

struct LoadArgs {
  std::string url = "http://127.0.0.1:8109";
  std::string token;
  std::string centre = "SHY";
  int connections = 32;
  double seconds = 10;
  bool with_commands = false;
};

// One appeal of the 109 mix: mostly housing and utilities, some consultations answered at once.
std::string appeal_body(const std::string& centre, std::uint64_t n) {
  static constexpr const char* kTopics[][2] = {
      {"complaint", "utilities.heating.no_heat"}, {"incident", "lifts.stuck"},
      {"consultation", "reference.general"},      {"complaint", "waste.not_collected"},
      {"proposal", "improvement.yard"},           {"incident", "manholes.open"},
      {"complaint", "housing.ksk.poor_service"},  {"gratitude", "transport.route"}};
  static constexpr const char* kDistricts[] = {"Abay", "Al-Farabi", "Yenbekshi", "Karatau", "Turan"};
  const auto& t = kTopics[n % 8];
  return std::string("{\"centre\":\"") + centre + "\",\"category\":\"" + t[0] + "\",\"topic\":\"" + t[1] +
         "\",\"channel\":\"phone\",\"location\":{\"district\":\"" + kDistricts[n % 5] +
         "\",\"street\":\"Tauke khan\"},\"text\":\"load test appeal " + std::to_string(n) +
         "\",\"applicant\":{\"name\":\"Load Test\",\"phone\":\"+7 700 000 " + std::to_string(1000 + n % 9000) +
         "\",\"address\":\"Tauke khan 1\"}}";
}

void run_load(const LoadArgs& a, Context& ctx) {
  std::string rest = a.url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    ctx.err << "otinish load: --url must be http://HOST:PORT\n";
    ctx.exit_code = 2;
    return;
  }
  const std::string host = rest.substr(0, colon);
  const auto port = static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1)));
  std::atomic<std::uint64_t> next{0}, ok{0}, failed{0};
  std::vector<std::vector<std::uint32_t>> latencies_us(static_cast<std::size_t>(a.connections));
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(a.seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < a.connections; ++i) {
    threads.emplace_back([&, i] {
      api::HttpClient client(host, port);
      const api::HeaderList headers{{"Authorization", "Bearer " + a.token}};
      while (std::chrono::steady_clock::now() < end) {
        const std::uint64_t n = next.fetch_add(1);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = client.request("POST", "/v1/appeals", appeal_body(a.centre, n), headers);
        bool good = r.ok() && r->status == 201;
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
          ctx.err << "first failure: " << (r.ok() ? std::to_string(r->status) + " " + r->body : r.status().ToString())
                  << "\n";
        }
      }
    });
  }
  for (auto& t : threads) t.join();
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
  ctx.exit_code = failed.load() == 0 ? 0 : 1;
}

}  // namespace

void add_load_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand("load", "Drive a running server with appeal registrations");
  cmd->add_option("--url", args->url, "The server")->capture_default_str();
  cmd->add_option("--token", args->token, "An operator token")->required();
  cmd->add_option("--centre", args->centre, "Centre code of the appeals")->capture_default_str();
  cmd->add_option("-c,--connections", args->connections, "Concurrent keep-alive connections")->capture_default_str();
  cmd->add_option("-d,--seconds", args->seconds, "How long to run")->capture_default_str();
  cmd->add_flag("--with-commands", args->with_commands, "Also send each appeal for review (If-Match from its ETag)");
  cmd->footer("Example: otinish load --url http://127.0.0.1:8109 --token $OP_TOKEN -c 64 -d 10\n"
              "Prints appeals/s and p50/p99 latency. Exit 1 if any request failed.");
  cmd->callback([args, &ctx] { run_load(*args, ctx); });
}

}  // namespace otinish::cli
