#include "scanner/daemon/scheduler.h"

#include <spdlog/spdlog.h>

#include "scanner/daemon/scan_starter.h"
#include "scanner/daemon/waiver_refresh.h"
#include "scanner/metrics/daemon_metrics.h"
#include "storage/pg_inventory_store.h"
#include "storage/pg_scan_queue.h"
#include "storage/pg_schedule_store.h"
#include "storage/timestamps.h"

namespace tlsaudit::scanner {

namespace v1 = tlsaudit::v1;

Scheduler::Scheduler(SchedulerOptions options,
                     std::function<std::shared_ptr<const DaemonConfig>()> config)
    : options_(std::move(options)), config_(std::move(config)) {
  if (!options_.now) {
    options_.now = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() { thread_ = std::thread([this] { run(); }); }

void Scheduler::stop() {
  stopping_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::run() {
  std::unique_ptr<storage::PgConnection> c;
  while (!stopping_.load()) {
    if (!c || c->broken()) {
      auto fresh = storage::PgConnection::connect(options_.database);
      if (fresh.ok()) {
        c = *std::move(fresh);
        reload_ = true;  // schedules are synced on every new session
      } else if (options_.metrics) {
        options_.metrics->setUp(false);
      }
    }
    if (c && !c->broken()) {
      tick(*c);
      if (std::chrono::steady_clock::now() - last_housekeeping_ >= options_.housekeeping) {
        housekeeping(*c);
        last_housekeeping_ = std::chrono::steady_clock::now();
      }
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.tick, [&] { return stopping_.load(); });
  }
}

void Scheduler::tick(storage::PgConnection& c) {
  auto cfg = config_();
  storage::PgScheduleStore store(c);
  int64_t now = options_.now();
  if (reload_.exchange(false)) {
    std::vector<storage::ScheduleEntry> entries;
    for (const auto& g : cfg->groups) {
      if (g.schedule) entries.push_back({g.name, g.schedule->spec(), g.schedule->firstRun(now)});
    }
    if (auto st = store.sync(entries); !st.ok()) {
      spdlog::warn("schedules: cannot sync: {}", std::string(st.message()));
      reload_ = true;
      return;
    }
  }
  auto started = store.runDue(now, [&](const std::string& group, int64_t due)
                                       -> absl::StatusOr<std::pair<std::string, int64_t>> {
    const TargetGroup* g = cfg->group(group);
    if (g == nullptr || !g->schedule) {
      return absl::FailedPreconditionError("group '" + group + "' is no longer scheduled");
    }
    v1::StartScanRequest req;
    req.set_group(group);
    auto planned = planScan(*cfg, req, "schedule");
    if (!planned.ok()) {
      spdlog::error("schedule of group {}: {}", group, std::string(planned.status().message()));
      return planned.status();
    }
    auto scan = createPlannedScan(c, *planned, /*own_transaction=*/false);
    if (!scan.ok()) {
      spdlog::error("schedule of group {}: {}", group, std::string(scan.status().message()));
      return scan.status();
    }
    spdlog::info("schedule of group {} ({}): started scan {} ({} work items)", group,
                 g->schedule->spec(), scan->id(), planned->items.size());
    return std::make_pair(scan->id(), g->schedule->nextAfter(std::max(now, due)));
  });
  if (!started.ok()) {
    spdlog::warn("schedules: {}", std::string(started.status().message()));
    reload_ = true;  // a group removed by a reload is dropped at the next sync
  } else if (!started->empty() && options_.scans_started) {
    options_.scans_started();
  }
}

void Scheduler::housekeeping(storage::PgConnection& c) {
  storage::PgScanQueue queue(c);
  auto reclaimed = queue.reclaimExpired(options_.max_attempts);
  if (reclaimed.ok() && *reclaimed > 0) {
    spdlog::info("returned {} work item(s) with an expired lease to the queue", *reclaimed);
    if (options_.scans_started) options_.scans_started();
  }
  auto finished = queue.finishAllDone();
  if (finished.ok() && *finished > 0) spdlog::info("{} scan(s) finished", *finished);
  // Findings whose waiver expired (or was deleted elsewhere) are OPEN again.
  int64_t now = options_.now() / 1000000;
  auto lapsed = refreshWaivers(c, {storage::WaiverRefreshScope::kLapsed, {}, now}, now);
  if (!lapsed.ok()) {
    spdlog::warn("waiver expiry: {}", std::string(lapsed.status().message()));
  } else if (*lapsed > 0) {
    spdlog::info("{} finding(s) open again: their waiver expired or was removed", *lapsed);
  }
  DaemonMetrics* m = options_.metrics;
  if (m != nullptr) {
    bool ok = reclaimed.ok() && finished.ok();
    auto items = c.exec(
        "SELECT w.state, count(*) FROM scan_work_items w JOIN scans s ON s.id = w.scan_id"
        " WHERE s.state IN (1, 2) GROUP BY w.state");
    if (items.ok()) {
      for (auto st : {v1::WORK_PENDING, v1::WORK_LEASED, v1::WORK_DONE, v1::WORK_FAILED,
                      v1::WORK_CANCELLED}) {
        double n = 0;
        for (int i = 0; i < items->rows(); ++i) {
          if (items->int64(i, 0) == st) n = static_cast<double>(items->int64(i, 1));
        }
        m->setWorkItems(v1::WorkItemState_Name(st), n);
      }
    }
    auto scans = c.exec("SELECT state, count(*) FROM scans GROUP BY state");
    if (scans.ok()) {
      for (int st = v1::SCAN_PENDING; st <= v1::SCAN_FAILED; ++st) {
        double n = 0;
        for (int i = 0; i < scans->rows(); ++i) {
          if (scans->int64(i, 0) == st) n = static_cast<double>(scans->int64(i, 1));
        }
        m->setScans(v1::ScanState_Name(static_cast<v1::ScanState>(st)), n);
      }
    }
    auto findings = c.exec("SELECT severity, count(*) FROM findings WHERE state = 1 GROUP BY severity");
    if (findings.ok()) {
      for (int sev = v1::INFO; sev <= v1::CRITICAL; ++sev) {
        double n = 0;
        for (int i = 0; i < findings->rows(); ++i) {
          if (findings->int64(i, 0) == sev) n = static_cast<double>(findings->int64(i, 1));
        }
        m->setOpenFindings(v1::Severity_Name(static_cast<v1::Severity>(sev)), n);
      }
    }
    m->setUp(ok && items.ok() && scans.ok() && findings.ok());
  }
  auto cfg = config_();
  if (cfg->retention.count() > 0 &&
      std::chrono::steady_clock::now() - last_retention_ >= std::chrono::hours(1)) {
    last_retention_ = std::chrono::steady_clock::now();
    int days = static_cast<int>(cfg->retention.count() / 24);
    auto dropped = storage::PgInventoryStore(c).dropObservationsOlderThan(days);
    if (dropped.ok() && *dropped > 0) {
      spdlog::info("retention: dropped {} observation(s) older than {} days", *dropped, days);
    }
  }
}

}  // namespace tlsaudit::scanner
