// The daemon's workers: each claims one work item at a time from PostgreSQL (FOR UPDATE SKIP
// LOCKED lease), runs it (discovery -> TLS -> rules -> storage) and completes it; one heartbeat
// thread renews the leases of every item in flight. A lease that is lost (expired and reclaimed
// by another daemon, or the scan cancelled) stops the item at its next checkpoint. Shutdown
// stops claiming, lets items in flight finish within a grace period, then stops them and gives
// their leases back so another daemon (or the next start) takes them at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "scanner/daemon/work_item_runner.h"
#include "storage/pg_connection.h"

namespace tlsaudit::scanner {

struct WorkerPoolOptions {
  std::string owner;  // lease owner, unique per process (instance/pid/random)
  size_t workers = 2;
  std::chrono::seconds lease{60};
  int max_attempts = 3;
  storage::PgConnectOptions database;
  std::chrono::milliseconds idle_poll{1000};  // how often idle workers look for work
  // Called after every host stored (e.g. to wake the alert dispatcher).
  std::function<void()> stored;
};

class WorkerPool {
 public:
  // `environment` is read at the start of each item (a reload swaps it).
  WorkerPool(WorkerPoolOptions options,
             std::function<std::shared_ptr<const WorkEnvironment>()> environment);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  // Stops claiming; waits up to `grace` for items in flight, then stops them and releases their
  // leases. Returns when every worker thread has ended.
  void shutdown(std::chrono::seconds grace);
  // Wakes idle workers (a scan was just started).
  void poke();
  size_t inFlight() const { return in_flight_.load(); }
  // True while the last database contact of the workers succeeded.
  bool databaseReachable() const { return db_ok_.load(); }

 private:
  struct Running {
    std::string item_id;
    std::string scan_id;
    std::atomic<bool> lost{false};
  };
  void work(size_t index);
  void heartbeats();
  bool sleepUnlessStopping(std::chrono::milliseconds d);

  WorkerPoolOptions options_;
  std::function<std::shared_ptr<const WorkEnvironment>()> environment_;
  std::atomic<bool> stop_claiming_{false};
  std::atomic<bool> stop_items_{false};  // grace over: items in flight stop at a checkpoint
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> db_ok_{true};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  uint64_t pokes_ = 0;
  std::vector<std::shared_ptr<Running>> running_;
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
};

}  // namespace tlsaudit::scanner
