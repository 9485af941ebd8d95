// api/cli/service_notify.h: telling systemd that `otinish serve` is ready, alive and stopping (sd_notify(3)).
//
// Under a unit with Type=notify, systemd waits for READY=1 before it counts the service as started (so that
// units ordered after it find the port open), and with WatchdogSec= it restarts a server that stops sending
// WATCHDOG=1. The pings here are earned: each one follows a real GET /healthz answered by the server over its
// own listening socket, so a server whose threads are wedged stops pinging and is restarted. Outside systemd
// (no NOTIFY_SOCKET) every call does nothing. Built without libsystemd, too (the build says so).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace otinish::cli {

class ServiceNotifier {
 public:
  ServiceNotifier() = default;
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 with a STATUS line; then, when systemd asked for a watchdog, pings it every half of its interval
  // while `alive()` (called on the notifier's thread) returns true.
  void ready(const std::string& status, std::function<bool()> alive);
  // STOPPING=1, and no more pings (a drain longer than the watchdog's interval is not a hang).
  void stopping();

 private:
  void ping_loop(std::uint64_t interval_us, std::function<bool()> alive);

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool ready_sent_ = false;
  std::thread pinger_;
};

}  // namespace otinish::cli
