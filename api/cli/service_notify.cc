// Readiness and the watchdog under systemd: api/cli/service_notify.h.
#include "api/cli/service_notify.h"

#include <chrono>

#if defined(OTINISH_HAVE_SYSTEMD)
#include <systemd/sd-daemon.h>
#endif

namespace otinish::cli {

namespace {

void notify(const std::string& state) {
#if defined(OTINISH_HAVE_SYSTEMD)
  sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

// The watchdog interval systemd asked for (WATCHDOG_USEC, for this very process), or 0.
std::uint64_t watchdog_interval_us() {
#if defined(OTINISH_HAVE_SYSTEMD)
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) return usec;
#endif
  return 0;
}

}  // namespace

void ServiceNotifier::ready(const std::string& status, std::function<bool()> alive) {
  notify("READY=1\nSTATUS=" + status);
  ready_sent_ = true;
  if (const std::uint64_t interval = watchdog_interval_us(); interval > 0) {
    pinger_ = std::thread([this, interval, alive = std::move(alive)] { ping_loop(interval, alive); });
  }
}

void ServiceNotifier::ping_loop(std::uint64_t interval_us, std::function<bool()> alive) {
  const auto period = std::chrono::microseconds(interval_us / 2);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    const bool ok = alive();
    lock.lock();
    if (stop_) break;
    // A failed check sends nothing: systemd's own clock then restarts the server, which is the point.
    if (ok) notify("WATCHDOG=1");
    cv_.wait_for(lock, period, [this] { return stop_; });
  }
}

void ServiceNotifier::stopping() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (pinger_.joinable()) pinger_.join();
  if (ready_sent_) notify("STOPPING=1");
}

ServiceNotifier::~ServiceNotifier() { stopping(); }

}  // namespace otinish::cli
