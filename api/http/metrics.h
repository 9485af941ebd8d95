// api/http/metrics.h: counters, gauges and histograms, rendered in the Prometheus text format (0.0.4).
//
// Usage:
//   Metrics m;
//   m.observe_request("POST", "/v1/appeals", 201, 1830us);
//   m.add_gauge("otinish_sse_clients", "Open event streams.", [&] { return double(server.open_streams()); });
//   std::string text = m.render();   // served at GET /metrics
//
// Thread-safety: thread-safe. Gauges are read (their callbacks called) inside render().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace otinish::api {

// A Prometheus label value with backslash, quote and newline escaped.
std::string escape_label(std::string_view v);

// A latency histogram with fixed buckets (seconds): 0.5 ms .. 10 s.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1.0,   2.5,   5.0,   10.0};
  void observe(std::chrono::microseconds d) noexcept;
  // Appends `name`_bucket/_sum/_count lines with `labels` ("route=\"/x\"" or "").
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_us_{0};
  std::atomic<std::uint64_t> count_{0};
};

class Metrics {
 public:
  void observe_request(std::string_view method, std::string_view route, int status, std::chrono::microseconds d);
  // A command (or registration) run through the engine: its latency, by command name.
  void observe_command(std::string_view command, std::chrono::microseconds d);
  // Events the API appended (registrations, commands, rule sets).
  void add_appended(std::uint64_t events) noexcept { appended_.fetch_add(events, std::memory_order_relaxed); }
  // A gauge whose value is read at render time. REQUIRES: names are unique and valid Prometheus names.
  void add_gauge(std::string name, std::string help, std::function<double()> read);
  // A counter kept elsewhere (e.g. by the SLA service), read at render time. Same requirements.
  void add_counter(std::string name, std::string help, std::function<double()> read);
  // A summary read at render time: `name`{quantile="q"} per quantile, then `name`_count.
  struct SummaryValue {
    std::vector<std::pair<double, double>> quantiles;  // (q, value), e.g. (0.99, 0.012)
    std::uint64_t count = 0;
  };
  void add_summary(std::string name, std::string help, std::function<SummaryValue()> read);
  // A gauge with one series per label set, read at render time: (labels, value) pairs, labels written as
  // `calendar="kz"` (escaped by the caller with escape_label). Same requirements as add_gauge.
  using Series = std::vector<std::pair<std::string, double>>;
  void add_gauge_family(std::string name, std::string help, std::function<Series()> read);

  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;  // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> route_latency_;    // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>> command_latency_;  // GUARDED_BY(mu_)
  struct Gauge {
    std::string name, help, type;  // type: "gauge" or "counter"
    std::function<double()> read;
  };
  struct Summary {
    std::string name, help;
    std::function<SummaryValue()> read;
  };
  std::vector<Gauge> gauges_;      // GUARDED_BY(mu_)
  std::vector<Summary> summaries_;  // GUARDED_BY(mu_)
  struct Family {
    std::string name, help;
    std::function<Series()> read;
  };
  std::vector<Family> families_;  // GUARDED_BY(mu_)
  std::atomic<std::uint64_t> appended_{0};
};

}  // namespace otinish::api
