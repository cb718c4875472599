// The daemon's clockwork, one thread: starts scheduled scans (each due schedule once across
// every daemon on the database), returns expired leases of dead daemons to the queue, ends
// scans whose work is all done, refreshes the fleet gauges of the metrics, applies retention.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "scanner/daemon/daemon_config.h"
#include "storage/pg_connection.h"

namespace tlsaudit::scanner {

class DaemonMetrics;

struct SchedulerOptions {
  storage::PgConnectOptions database;
  std::chrono::milliseconds tick{1000};
  std::chrono::seconds housekeeping{5};  // reclaim, finish, gauges
  int max_attempts = 3;
  DaemonMetrics* metrics = nullptr;
  std::function<void()> scans_started;  // wake the workers
  // The clock (Unix microseconds); injected in tests.
  std::function<int64_t()> now;
};

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, std::function<std::shared_ptr<const DaemonConfig>()> config);
  ~Scheduler();
  void start();
  void stop();
  // Re-reads the schedules from the configuration at the next tick (SIGHUP).
  void reload() { reload_ = true; }

 private:
  void run();
  void tick(storage::PgConnection& c);
  void housekeeping(storage::PgConnection& c);

  SchedulerOptions options_;
  std::function<std::shared_ptr<const DaemonConfig>()> config_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reload_{true};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  std::chrono::steady_clock::time_point last_housekeeping_{};
  std::chrono::steady_clock::time_point last_retention_{};
};

}  // namespace tlsaudit::scanner
