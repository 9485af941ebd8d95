#include "api/http/metrics.h"

#include <cstdio>
#include <memory>

namespace otinish::api {

std::string escape_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

namespace {


// Whole numbers exactly (a Unix time or a position must not become 1.79876e+09), the rest to 6 digits.
std::string number(double v) {
  char buf[64];
  if (v > -1e15 && v < 1e15 && v == static_cast<double>(static_cast<long long>(v))) {  // NaN fails the range
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

LatencyHistogram& histogram_for(std::map<std::string, std::unique_ptr<LatencyHistogram>, std::less<>>& m,
                                std::string_view key) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(std::string(key), std::make_unique<LatencyHistogram>()).first;
  return *it->second;
}

}  // namespace

void LatencyHistogram::observe(std::chrono::microseconds d) noexcept {
  const double s = static_cast<double>(d.count()) / 1e6;
  std::size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += std::string(name) + "_bucket{" + std::string(labels) + sep + "le=\"" + number(kBounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out += std::string(name) + "_bucket{" + std::string(labels) + sep + "le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += std::string(name) + "_sum" + braces + " " +
         number(static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6) + "\n";
  out += std::string(name) + "_count" + braces + " " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void Metrics::observe_request(std::string_view method, std::string_view route, int status,
                              std::chrono::microseconds d) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(method), std::string(route), status}];
  histogram_for(route_latency_, route).observe(d);
}

void Metrics::observe_command(std::string_view command, std::chrono::microseconds d) {
  std::lock_guard lock(mu_);
  histogram_for(command_latency_, command).observe(d);
}

void Metrics::add_gauge_family(std::string name, std::string help, std::function<Series()> read) {
  std::lock_guard lock(mu_);
  families_.push_back({std::move(name), std::move(help), std::move(read)});
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), "gauge", std::move(read)});
}

void Metrics::add_counter(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), "counter", std::move(read)});
}

void Metrics::add_summary(std::string name, std::string help, std::function<SummaryValue()> read) {
  std::lock_guard lock(mu_);
  summaries_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::string Metrics::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  out += "# HELP otinish_http_requests_total HTTP requests answered, by method, route and status.\n";
  out += "# TYPE otinish_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += "otinish_http_requests_total{method=\"" + escape_label(method) + "\",route=\"" + escape_label(route) +
           "\",status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP otinish_http_request_duration_seconds Time from a request's first byte to its response, by route.\n";
  out += "# TYPE otinish_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : route_latency_) {
    h->render(out, "otinish_http_request_duration_seconds", "route=\"" + escape_label(route) + "\"");
  }
  out += "# HELP otinish_command_duration_seconds Engine command latency (decide, append, fsync), by command.\n";
  out += "# TYPE otinish_command_duration_seconds histogram\n";
  for (const auto& [command, h] : command_latency_) {
    h->render(out, "otinish_command_duration_seconds", "command=\"" + escape_label(command) + "\"");
  }
  out += "# HELP otinish_api_appended_events_total Events appended through the API.\n";
  out += "# TYPE otinish_api_appended_events_total counter\n";
  out += "otinish_api_appended_events_total " + std::to_string(appended_.load(std::memory_order_relaxed)) + "\n";
  for (const Gauge& g : gauges_) {
    out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " " + g.type + "\n";
    out += g.name + " " + number(g.read()) + "\n";
  }
  for (const Family& f : families_) {
    out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " gauge\n";
    for (const auto& [labels, value] : f.read()) out += f.name + "{" + labels + "} " + number(value) + "\n";
  }
  for (const Summary& s : summaries_) {
    const SummaryValue v = s.read();
    out += "# HELP " + s.name + " " + s.help + "\n# TYPE " + s.name + " summary\n";
    for (const auto& [q, value] : v.quantiles) {
      out += s.name + "{quantile=\"" + number(q) + "\"} " + number(value) + "\n";
    }
    out += s.name + "_count " + std::to_string(v.count) + "\n";
  }
  return out;
}

}  // namespace otinish::api
