#include "scanner/daemon/daemon.h"

#include <openssl/rand.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/api/api_server.h"
#include "scanner/daemon/embedded_postgres.h"
#include "scanner/daemon/scheduler.h"
#include "scanner/daemon/waiver_refresh.h"
#include "scanner/daemon/worker_pool.h"
#include "scanner/metrics/daemon_metrics.h"
#include "scanner/metrics/metrics_server.h"
#include "storage/migrator.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_pool.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // Only ever an instance name: distinct enough from the clock and pid.
    raw = std::to_string(::getpid()) + "-" + std::to_string(std::time(nullptr));
    return raw;
  }
  return absl::BytesToHexString(raw);
}

// One named startup step and how to undo it.
struct Step {
  std::string name;
  std::function<absl::Status()> start;
  std::function<void()> stop;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options) : options_(std::move(options)) {}

  int run();

 private:
  std::shared_ptr<const DaemonConfig> config() const {
    std::lock_guard lock(mutex_);
    return config_;
  }
  std::shared_ptr<const WorkEnvironment> environment() const {
    std::lock_guard lock(mutex_);
    return environment_;
  }
  std::shared_ptr<const rules::PolicyLibrary> library() const {
    std::lock_guard lock(mutex_);
    return environment_->library;
  }

  absl::StatusOr<std::shared_ptr<const WorkEnvironment>> buildEnvironment(
      std::shared_ptr<const DaemonConfig> cfg);
  absl::Status syncWaivers(const DaemonConfig& cfg);
  void reload();
  std::vector<Step> steps();

  DaemonOptions options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const DaemonConfig> config_;
  std::shared_ptr<const WorkEnvironment> environment_;
  std::string owner_;
  storage::PgConnectOptions database_;
  DaemonMetrics metrics_;
  std::atomic<bool> stopping_{false};

  std::unique_ptr<EmbeddedPostgres> embedded_;
  std::unique_ptr<storage::PgPool> pool_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<alerts::AlertDispatcher> alerts_;
  ApiContext api_context_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<MetricsServer> metrics_server_;
};

absl::StatusOr<std::shared_ptr<const WorkEnvironment>> Daemon::buildEnvironment(
    std::shared_ptr<const DaemonConfig> cfg) {
  auto env = std::make_shared<WorkEnvironment>();
  env->config = cfg;
  env->metrics = &metrics_;
  auto trust = collectors::tls::TrustStore::load(cfg->trust.ca_files, cfg->trust.system);
  if (!trust.ok()) return trust.status();
  env->trust = *trust;
  auto lib = rules::PolicyLibrary::shipped();
  if (!lib.ok()) return lib.status();
  for (const auto& f : cfg->policy.files) {
    if (auto st = lib->addFile(f, /*user=*/true); !st.ok()) return st;
  }
  env->library = std::make_shared<const rules::PolicyLibrary>(*std::move(lib));
  return std::shared_ptr<const WorkEnvironment>(std::move(env));
}

// The configured waivers file is the truth for the waivers that came from it: new and changed
// ones are written, ones removed from the file are deleted. API-created waivers are untouched.
absl::Status Daemon::syncWaivers(const DaemonConfig& cfg) {
  rules::WaiverSet set;
  if (!cfg.policy.waivers.empty()) {
    auto loaded = rules::loadWaivers(cfg.policy.waivers);
    if (!loaded.ok()) return loaded.status();
    set = *std::move(loaded);
  }
  auto c = storage::PgConnection::connect(database_);
  if (!c.ok()) return c.status();
  storage::PgFindingStore store(**c);
  auto existing = store.listWaivers();
  if (!existing.ok()) return existing.status();
  std::set<std::string> keep;
  for (auto w : set.waivers) {
    keep.insert(w.id());
    if (auto st = store.putWaiver(w); !st.ok()) return st;
  }
  for (const auto& w : *existing) {
    bool from_file = !w.origin().empty() && w.origin().rfind("api:", 0) != 0;
    if (from_file && !keep.count(w.id())) {
      if (auto st = store.deleteWaiver(w.id()); !st.ok()) return st;
    }
  }
  for (const auto& p : rules::expiredWaivers(set, std::time(nullptr))) {
    spdlog::warn("{}: {}", p.where, p.message);
  }
  // The stored findings follow the waivers now, not at their next scan.
  auto changed = refreshWaivers(**c, {storage::WaiverRefreshScope::kAll, {}, 0}, std::time(nullptr));
  if (!changed.ok()) return changed.status();
  if (*changed > 0) spdlog::info("waivers: {} finding(s) changed state", *changed);
  return absl::OkStatus();
}

std::vector<Step> Daemon::steps() {
  std::vector<Step> s;
  s.push_back({"open the database",
               [this]() -> absl::Status {
                 auto cfg = config();
                 database_.statement_timeout = cfg->database.statement_timeout;
                 database_.application_name = "tlsaudit serve " + cfg->instance;
                 if (!cfg->database.dsn.empty()) {
                   database_.dsn = cfg->database.dsn;
                 } else {
                   EmbeddedPostgresOptions o;
                   o.data_dir = cfg->data_dir;
                   o.bin_dir = cfg->database.bin_dir;
                   o.user = cfg->database.user;
                   o.shared_buffers = cfg->database.shared_buffers;
                   o.log = [](const std::string& line) { spdlog::info("embedded PostgreSQL: {}", line); };
                   auto pg = EmbeddedPostgres::start(o);
                   if (!pg.ok()) return pg.status();
                   embedded_ = *std::move(pg);
                   database_.dsn = embedded_->dsn();
                 }
                 // An external server may still be starting: retry for a while.
                 absl::Status last;
                 for (int attempt = 0; attempt < 30; ++attempt) {
                   auto c = storage::PgConnection::connect(database_);
                   if (c.ok()) {
                     spdlog::info("database: {} (PostgreSQL {})", (*c)->describe(),
                                  (*c)->serverVersion());
                     return absl::OkStatus();
                   }
                   last = c.status();
                   if (last.code() != absl::StatusCode::kUnavailable) break;
                   spdlog::warn("database not reachable yet: {}", std::string(last.message()));
                   std::this_thread::sleep_for(std::chrono::seconds(2));
                 }
                 return last;
               },
               [this] {
                 if (embedded_) {
                   if (auto st = embedded_->stop(); !st.ok()) {
                     spdlog::error("stopping the embedded PostgreSQL: {}", std::string(st.message()));
                   }
                   embedded_.reset();
                 }
               }});
  s.push_back({"migrate the schema",
               [this]() -> absl::Status {
                 auto c = storage::PgConnection::connect(database_);
                 if (!c.ok()) return c.status();
                 auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
                 if (!migrations.ok()) return migrations.status();
                 auto report = storage::migrate(**c, *migrations, false);
                 if (!report.ok()) return report.status();
                 for (const auto& a : report->applied) spdlog::info("migration applied: {}", a);
                 spdlog::info("schema at version {}", report->version_after);
                 return absl::OkStatus();
               },
               nullptr});
  s.push_back({"load rules and trust",
               [this]() -> absl::Status {
                 auto env = buildEnvironment(config());
                 if (!env.ok()) return env.status();
                 std::lock_guard lock(mutex_);
                 environment_ = *env;
                 return absl::OkStatus();
               },
               nullptr});
  s.push_back({"sync waivers", [this] { return syncWaivers(*config()); }, nullptr});
  s.push_back({"start the database pool",
               [this]() -> absl::Status {
                 storage::PgPoolOptions o;
                 o.connect = database_;
                 o.connections = config()->database.pool;
                 pool_ = std::make_unique<storage::PgPool>(o);
                 return absl::OkStatus();
               },
               [this] { pool_.reset(); }});
  s.push_back({"start alert delivery",
               [this]() -> absl::Status {
                 alerts::DispatcherOptions o;
                 o.database = database_;
                 o.instance = config()->instance;
                 alerts_ = std::make_unique<alerts::AlertDispatcher>(o, config()->alerts);
                 alerts_->start();
                 return absl::OkStatus();
               },
               [this] {
                 if (alerts_) alerts_->stop();
                 alerts_.reset();
               }});
  s.push_back({"start workers",
               [this]() -> absl::Status {
                 auto cfg = config();
                 WorkerPoolOptions o;
                 o.owner = owner_;
                 o.workers = cfg->workers.count;
                 o.lease = cfg->workers.lease;
                 o.max_attempts = cfg->workers.max_attempts;
                 o.database = database_;
                 o.stored = [this] {
                   if (alerts_) alerts_->poke();
                 };
                 workers_ = std::make_unique<WorkerPool>(o, [this] { return environment(); });
                 workers_->start();
                 return absl::OkStatus();
               },
               [this] {
                 if (!workers_) return;
                 workers_->shutdown(config()->workers.shutdown_grace);
                 workers_.reset();
               }});
  s.push_back({"start the scheduler",
               [this]() -> absl::Status {
                 SchedulerOptions o;
                 o.database = database_;
                 o.max_attempts = config()->workers.max_attempts;
                 o.metrics = &metrics_;
                 o.scans_started = [this] {
                   if (workers_) workers_->poke();
                 };
                 scheduler_ = std::make_unique<Scheduler>(o, [this] { return config(); });
                 scheduler_->start();
                 return absl::OkStatus();
               },
               [this] {
                 if (scheduler_) scheduler_->stop();
                 scheduler_.reset();
               }});
  s.push_back({"start the gRPC API",
               [this]() -> absl::Status {
                 api_context_.pool = pool_.get();
                 api_context_.config = [this] { return config(); };
                 api_context_.library = [this] { return library(); };
                 api_context_.scans_changed = [this] {
                   if (workers_) workers_->poke();
                 };
                 api_context_.metrics = &metrics_;
                 api_context_.stopping = &stopping_;
                 auto cfg = config();
                 auto api = ApiServer::start(api_context_, cfg->grpc.listen,
                                             cfg->grpc.tls_certificate, cfg->grpc.tls_key);
                 if (!api.ok()) return api.status();
                 api_ = *std::move(api);
                 spdlog::info("gRPC API on {} (port {}, {}, {})", cfg->grpc.listen, api_->port(),
                              cfg->grpc.tls_certificate.empty() ? "plaintext" : "TLS",
                              cfg->grpc.tokens.empty() ? "no tokens: loopback only"
                                                       : std::to_string(cfg->grpc.tokens.size()) +
                                                             " token(s)");
                 return absl::OkStatus();
               },
               [this] {
                 stopping_ = true;  // streams end
                 if (api_) api_->shutdown(std::chrono::milliseconds(3000));
                 api_.reset();
               }});
  s.push_back({"start metrics",
               [this]() -> absl::Status {
                 auto cfg = config();
                 if (cfg->metrics.listen.empty()) return absl::OkStatus();
                 auto m = MetricsServer::start(cfg->metrics.listen, metrics_.sharedRegistry(), [this] {
                   bool db = workers_ && workers_->databaseReachable();
                   HealthReport h;
                   h.healthy = db && !stopping_.load();
                   h.text = std::string("database: ") + (db ? "ok" : "unreachable") + "\n" +
                            "state: " + (stopping_.load() ? "stopping" : "serving") + "\n";
                   return h;
                 });
                 if (!m.ok()) return m.status();
                 metrics_server_ = *std::move(m);
                 spdlog::info("metrics on {} (port {}): /metrics, /healthz", cfg->metrics.listen,
                              metrics_server_->port());
                 return absl::OkStatus();
               },
               [this] {
                 if (metrics_server_) metrics_server_->stop();
                 metrics_server_.reset();
               }});
  return s;
}

void Daemon::reload() {
  sd_notify(0, "RELOADING=1");
  auto cfg = loadDaemonConfig(options_.config_path, options_.overrides,
                              [](const char* v) { return std::getenv(v); });
  if (!cfg.ok()) {
    spdlog::error("reload refused, the running configuration stays: {}",
                  std::string(cfg.status().message()));
    sd_notify(0, "READY=1");
    return;
  }
  auto next = std::make_shared<const DaemonConfig>(*std::move(cfg));
  auto prev = config();
  // The listener stays where it was bound until the next start: a configuration without tokens
  // is only for one that listens on loopback now.
  if (next->grpc.tokens.empty() && !isLoopbackListen(prev->grpc.listen)) {
    spdlog::error(
        "reload refused: grpc.tokens: the API listens on {} (not loopback) until the next start; "
        "removing every token would open it to anyone",
        prev->grpc.listen);
    sd_notify(0, "READY=1");
    return;
  }
  auto env = buildEnvironment(next);
  if (!env.ok()) {
    spdlog::error("reload refused: {}", std::string(env.status().message()));
    sd_notify(0, "READY=1");
    return;
  }
  if (auto st = syncWaivers(*next); !st.ok()) {
    spdlog::error("reload refused: waivers: {}", std::string(st.message()));
    sd_notify(0, "READY=1");
    return;
  }
  auto differs = [&](bool changed, const char* what) {
    if (changed) spdlog::warn("reload: {} changed; it takes effect at the next start", what);
  };
  differs(next->database.dsn != prev->database.dsn || next->data_dir != prev->data_dir,
          "database/data_dir");
  differs(next->grpc.listen != prev->grpc.listen ||
              next->grpc.tls_certificate != prev->grpc.tls_certificate,
          "grpc.listen/grpc.tls");
  differs(next->metrics.listen != prev->metrics.listen, "metrics.listen");
  differs(next->workers.count != prev->workers.count, "workers.count");
  {
    std::lock_guard lock(mutex_);
    config_ = next;
    environment_ = *env;
  }
  if (scheduler_) scheduler_->reload();
  if (alerts_) alerts_->reconfigure(next->alerts);
  spdlog::info("configuration reloaded from {} ({} groups, {} tokens, {} alert sinks)",
               next->source, next->groups.size(), next->grpc.tokens.size(), next->alerts.size());
  sd_notify(0, "READY=1");
}

int Daemon::run() {
  // Signals are taken by the main loop (sigtimedwait); every thread started after this
  // inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto cfg = loadDaemonConfig(options_.config_path, options_.overrides,
                              [](const char* v) { return std::getenv(v); });
  if (!cfg.ok()) {
    spdlog::error("configuration: {}", std::string(cfg.status().message()));
    return 2;
  }
  config_ = std::make_shared<const DaemonConfig>(*std::move(cfg));
  owner_ = config_->instance + "/" + std::to_string(::getpid()) + "/" + randomHex(4);
  spdlog::info("tlsaudit {} serve: instance {}, configuration {}", TLSAUDIT_VERSION, owner_,
               config_->source);

  std::vector<Step> all = steps();
  size_t started = 0;
  int exit_code = 0;
  for (; started < all.size(); ++started) {
    spdlog::info("startup: {}", all[started].name);
    absl::Status st;
    try {
      st = all[started].start();
    } catch (const std::exception& e) {
      st = absl::InternalError(e.what());
    }
    if (!st.ok()) {
      spdlog::error("startup failed at step '{}': {}", all[started].name, std::string(st.message()));
      exit_code = 2;
      break;
    }
  }
  if (exit_code == 0) {
    if (!options_.ready_file.empty()) {
      // The address a local client dials: the listen host (a wildcard becomes loopback) with
      // the port actually bound (":0" lets the OS choose).
      auto dial = [](const std::string& listen, int port) {
        std::string host = listen.substr(0, listen.rfind(':'));
        if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
        if (host == "[::]") host = "[::1]";
        return host + ":" + std::to_string(port);
      };
      auto cfg = config();
      std::ofstream out(options_.ready_file + ".tmp");
      out << "grpc=" << dial(cfg->grpc.listen, api_->port());
      if (metrics_server_) out << " metrics=" << dial(cfg->metrics.listen, metrics_server_->port());
      out << "\n";
      out.close();
      std::rename((options_.ready_file + ".tmp").c_str(), options_.ready_file.c_str());
    }
    sd_notify(0, "READY=1\nSTATUS=serving");
    spdlog::info("ready");
    uint64_t watchdog_usec = 0;
    bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    auto period = watchdog ? std::chrono::microseconds(watchdog_usec / 2) : std::chrono::seconds(5);
    for (;;) {
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(period).count());
      ts.tv_nsec = static_cast<long>((period % std::chrono::seconds(1)).count() * 1000);
      int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig == SIGHUP) {
        spdlog::info("SIGHUP: reloading {}", options_.config_path.empty() ? "(no file)" : options_.config_path);
        reload();
      } else if (sig == SIGTERM || sig == SIGINT) {
        spdlog::info("{}: stopping (no new work; items in flight get {}s)",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", config()->workers.shutdown_grace.count());
        break;
      }
      if (watchdog) sd_notify(0, "WATCHDOG=1");
    }
    sd_notify(0, "STOPPING=1");
  }
  stopping_ = true;
  // Teardown in reverse order, always, for every step that started (and the one that failed).
  for (size_t i = std::min(started + 1, all.size()); i-- > 0;) {
    if (!all[i].stop) continue;
    spdlog::info("shutdown: undo '{}'", all[i].name);
    try {
      all[i].stop();
    } catch (const std::exception& e) {
      spdlog::error("shutdown of '{}' failed: {}", all[i].name, e.what());
    }
  }
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace

int runDaemon(const DaemonOptions& options) {
  Daemon daemon(options);
  return daemon.run();
}

}  // namespace tlsaudit::scanner
