#include "scanner/daemon/worker_pool.h"

#include <spdlog/spdlog.h>

#include <random>

#include "scanner/metrics/daemon_metrics.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_scan_queue.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Hosts written per transaction by a worker.
constexpr size_t kBatchHosts = 32;

bool retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolOptions options,
                       std::function<std::shared_ptr<const WorkEnvironment>()> environment)
    : options_(std::move(options)), environment_(std::move(environment)) {}

WorkerPool::~WorkerPool() { shutdown(std::chrono::seconds(0)); }

void WorkerPool::start() {
  for (size_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { work(i); });
  heartbeat_ = std::thread([this] { heartbeats(); });
}

void WorkerPool::poke() {
  {
    std::lock_guard lock(mutex_);
    ++pokes_;
  }
  wake_.notify_all();
}

bool WorkerPool::sleepUnlessStopping(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  uint64_t seen = pokes_;
  wake_.wait_for(lock, d, [&] { return stop_claiming_.load() || pokes_ != seen; });
  return !stop_claiming_.load();
}

void WorkerPool::shutdown(std::chrono::seconds grace) {
  if (threads_.empty() && !heartbeat_.joinable()) return;
  // Flags change under the mutex the waiters check them under, so no wake-up is lost.
  {
    std::lock_guard lock(mutex_);
    stop_claiming_ = true;
  }
  wake_.notify_all();
  {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, grace, [&] { return in_flight_.load() == 0; });
  }
  if (in_flight_.load() > 0) {
    spdlog::info("shutdown: {} work item(s) still running after {}s; stopping them and releasing "
                 "their leases",
                 in_flight_.load(), grace.count());
  }
  {
    std::lock_guard lock(mutex_);
    stop_items_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void WorkerPool::heartbeats() {
  std::unique_ptr<storage::PgConnection> c;
  auto period = std::max<std::chrono::milliseconds>(options_.lease / 3, std::chrono::milliseconds(500));
  // Runs until the workers are gone: an item finishing during shutdown still needs its lease.
  while (!(stop_claiming_.load() && in_flight_.load() == 0)) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, period, [&] { return stop_claiming_.load() && in_flight_.load() == 0; });
    }
    std::vector<std::shared_ptr<Running>> running;
    {
      std::lock_guard lock(mutex_);
      running = running_;
    }
    if (running.empty()) continue;
    if (!c || c->broken()) {
      auto fresh = storage::PgConnection::connect(options_.database);
      if (!fresh.ok()) {
        spdlog::warn("heartbeat: database unreachable: {}", std::string(fresh.status().message()));
        continue;
      }
      c = *std::move(fresh);
    }
    std::vector<std::string> ids;
    for (const auto& r : running) ids.push_back(r->item_id);
    auto held = storage::PgScanQueue(*c).heartbeat(options_.owner, ids, options_.lease);
    if (!held.ok()) {
      spdlog::warn("heartbeat failed: {}", std::string(held.status().message()));
      continue;
    }
    for (const auto& r : running) {
      if (std::find(held->begin(), held->end(), r->item_id) == held->end() && !r->lost) {
        r->lost = true;
        spdlog::info("work item {} (scan {}): lease lost (cancelled, or expired and reclaimed); "
                     "stopping it",
                     r->item_id, r->scan_id);
      }
    }
  }
}

void WorkerPool::work(size_t index) {
  std::unique_ptr<storage::PgConnection> c;
  std::mt19937_64 rng(std::random_device{}() + index);
  auto backoff = std::chrono::milliseconds(200);
  // A live session, reconnecting with backoff; false when shutting down.
  auto session = [&]() -> bool {
    while (!c || c->broken()) {
      if (stop_claiming_.load()) return false;
      auto fresh = storage::PgConnection::connect(options_.database);
      if (fresh.ok()) {
        c = *std::move(fresh);
        db_ok_ = true;
        backoff = std::chrono::milliseconds(200);
        break;
      }
      db_ok_ = false;
      spdlog::warn("worker {}: database unreachable ({}); retrying in {} ms", index,
                   std::string(fresh.status().message()), backoff.count());
      if (!sleepUnlessStopping(backoff)) return false;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
    }
    return true;
  };

  while (!stop_claiming_.load()) {
    if (!session()) break;
    storage::PgScanQueue queue(*c);
    auto claimed = queue.claim(options_.owner, 1, options_.lease);
    if (!claimed.ok()) {
      // Logged when it starts failing, not at every poll of an outage.
      if (db_ok_.exchange(!retryable(claimed.status()))) {
        spdlog::warn("worker {}: claim failed: {}", index, std::string(claimed.status().message()));
      }
      sleepUnlessStopping(options_.idle_poll);
      continue;
    }
    if (!db_ok_.exchange(true)) spdlog::info("worker {}: the database answers again", index);
    if (claimed->empty()) {
      // Jitter keeps several idle daemons from polling in step.
      auto jitter = std::chrono::milliseconds(rng() % (options_.idle_poll.count() / 4 + 1));
      sleepUnlessStopping(options_.idle_poll + jitter);
      continue;
    }
    v1::WorkItem item = claimed->front();
    auto env = environment_();
    DaemonMetrics* metrics = env->metrics;
    auto running = std::make_shared<Running>();
    running->item_id = item.id();
    running->scan_id = item.scan_id();
    {
      std::lock_guard lock(mutex_);
      running_.push_back(running);
    }
    ++in_flight_;
    if (metrics) metrics->workItemStarted();
    auto untrack = [&] {
      std::lock_guard lock(mutex_);
      running_.erase(std::remove(running_.begin(), running_.end(), running), running_.end());
    };

    WorkItemRequest req;
    req.item = item;
    req.now = nowSeconds();
    absl::Status prep = queue.markRunning({item.scan_id()});
    if (prep.ok()) {
      auto scan = queue.getScan(item.scan_id());
      if (scan.ok()) {
        req.scan = *std::move(scan);
      } else {
        prep = scan.status();
      }
    }
    if (prep.ok()) {
      auto waivers = storage::PgFindingStore(*c).listWaivers();
      if (waivers.ok()) {
        req.waivers.waivers = *std::move(waivers);
      } else {
        prep = waivers.status();
      }
    }
    std::string result;
    if (!prep.ok()) {
      spdlog::warn("work item {}: cannot prepare: {}", item.id(), std::string(prep.message()));
      (void)queue.fail(options_.owner, item.id(), std::string(prep.message()),
                       options_.max_attempts);
      result = "failed";
    } else {
      auto stop = [&] { return stop_items_.load() || running->lost.load(); };
      // Hosts wait here and are written kBatchHosts at a time (one transaction per host inside
      // a batch statement; a host's results are never split). Until the database takes them
      // they stay here; when the lease is gone, whoever reclaims the item scans again.
      std::vector<v1::HostResult> pending;
      auto write_pending = [&]() -> absl::Status {
        std::vector<int> attempts(pending.size(), 0);
        auto wait = std::chrono::milliseconds(100);
        while (!pending.empty()) {
          if (session()) {
            auto started = std::chrono::steady_clock::now();
            auto outcomes = storage::PgFindingStore(*c).ingestBatch(pending);
            double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            std::vector<v1::HostResult> again;
            std::vector<int> again_attempts;
            size_t stored = 0;
            for (size_t i = 0; i < pending.size(); ++i) {
              if (outcomes[i].ok()) {
                ++stored;
                continue;
              }
              if (metrics) metrics->databaseError("ingest");
              const auto& st = outcomes[i].status();
              if (!retryable(st) && ++attempts[i] >= 3) {
                if (metrics) metrics->databaseWrite(0, false);
                return st;
              }
              spdlog::warn("work item {}: storing {} failed (attempt {}): {}", item.id(),
                           pending[i].asset().addresses_size() ? pending[i].asset().addresses(0)
                                                               : "?",
                           attempts[i], std::string(st.message()));
              again.push_back(std::move(pending[i]));
              again_attempts.push_back(attempts[i]);
            }
            if (stored > 0) {
              if (metrics) metrics->databaseWrite(seconds, true);
              if (options_.stored) options_.stored();
            }
            pending = std::move(again);
            attempts = std::move(again_attempts);
            if (pending.empty()) break;
          }
          if (running->lost.load() || stop_items_.load()) {
            return absl::UnavailableError("database unavailable and the item was stopped");
          }
          std::this_thread::sleep_for(wait);
          wait = std::min(wait * 2, std::chrono::milliseconds(5000));
        }
        return absl::OkStatus();
      };
      auto sink = [&](v1::HostResult&& host) -> absl::Status {
        pending.push_back(std::move(host));
        return pending.size() >= kBatchHosts ? write_pending() : absl::OkStatus();
      };
      auto counts = runWorkItem(req, *env, sink, stop);
      // What was probed is stored, also when the daemon is stopping (not when the lease is lost:
      // the item is someone else's now).
      if (!running->lost.load() && (counts.ok() || stop_items_.load())) {
        if (auto st = write_pending(); !st.ok() && counts.ok()) counts = st;
      }
      if (!session()) {
        result = "released";
      } else if (counts.ok()) {
        auto done = queue.complete(options_.owner, item.id(), *counts);
        if (done.ok() && *done) {
          result = "done";
          spdlog::info("work item {} (scan {}, {}) done: {} addresses, {} hosts, {} services, "
                       "{} findings",
                       item.id(), item.scan_id(), item.target(), counts->addresses, counts->hosts,
                       counts->services, counts->findings);
        } else {
          result = "lost";
        }
      } else if (running->lost.load()) {
        result = "lost";
      } else if (stop_items_.load()) {
        auto released = queue.release(options_.owner, item.id());
        result = "released";
        if (!released.ok()) spdlog::warn("release of {} failed: {}", item.id(), std::string(released.status().message()));
      } else {
        spdlog::warn("work item {} (scan {}, {}) failed: {}", item.id(), item.scan_id(),
                     item.target(), std::string(counts.status().message()));
        // A target or profile that cannot work fails at once; other errors are retried.
        int attempts = counts.status().code() == absl::StatusCode::kInvalidArgument
                           ? 0
                           : options_.max_attempts;
        auto failed = queue.fail(options_.owner, item.id(), std::string(counts.status().message()),
                                 attempts);
        if (!failed.ok()) spdlog::warn("fail of {} failed: {}", item.id(), std::string(failed.status().message()));
        result = "failed";
      }
      if (result == "done" || result == "failed") {
        auto state = queue.finishIfDone(item.scan_id());
        if (state.ok() && (*state == v1::SCAN_DONE || *state == v1::SCAN_FAILED)) {
          spdlog::info("scan {} finished ({})", item.scan_id(), v1::ScanState_Name(*state));
        }
      }
    }
    untrack();
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
    }
    if (metrics) metrics->workItemEnded(result);
    wake_.notify_all();
  }
  // Leases of nothing: every item this thread ran was completed, failed, released or lost.
}

}  // namespace tlsaudit::scanner
