#include "scanner/alerts/alert_dispatcher.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "scanner/alerts/alert_sink.h"
#include "scanner/alerts/retry_backoff.h"
#include "scanner/alerts/sink_filter.h"
#include "storage/pg_alert_outbox.h"

#ifndef TLSAUDIT_VERSION
#define TLSAUDIT_VERSION "dev"
#endif

namespace tlsaudit::scanner::alerts {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every setting that changes what or how a sink delivers; a reload that changes none of them
// keeps the sink's backoff, one that changes any starts it afresh.
std::string configFingerprint(const SinkConfig& s) {
  std::string out =
      absl::StrCat(s.type, "\n", s.url, "\n", s.secret, "\n", s.ca_file, "\n", s.verify_tls, "\n",
                   s.address, "\n", s.transport, "\n", s.facility, "\n", s.app_name, "\n",
                   s.min_severity, "\n", s.timeout.count(), "\n", s.expires_after.count(), "\n");
  for (const auto& [k, v] : s.headers) absl::StrAppend(&out, "h:", k, "=", v, "\n");
  for (const auto& r : s.rules) absl::StrAppend(&out, "r:", r, "\n");
  for (const auto& e : s.events) absl::StrAppend(&out, "e:", e, "\n");
  return out;
}

std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// One configured sink as the delivery thread keeps it.
struct SinkSlot {
  SinkConfig config;
  std::string fingerprint;
  std::unique_ptr<AlertSink> sink;  // null when the configuration was refused
  std::string config_error;
  bool locked = false;  // this process's database session holds the sink's advisory lock
  int failures = 0;     // consecutive failed attempts
  Clock::time_point next_attempt{};
  int64_t retrying = 0;  // the outbox id being retried, and its attempts so far
  int attempts = 0;
  Clock::time_point next_watermark{};
  Clock::time_point next_depth{};
};

enum class Round { kIdle, kMore, kFailed, kDatabaseLost };

}  // namespace

struct AlertDispatcher::Impl {
  DispatcherOptions options;
  MessageContext context;

  std::mutex lifecycle;  // start/stop/reconfigure against each other

  mutable std::mutex mutex;  // everything below up to `thread`
  std::condition_variable wake;
  bool running = false;
  bool stopping = false;
  bool poked = false;
  std::optional<std::vector<SinkConfig>> new_sinks;
  std::vector<SinkStats> stats;  // same order as `slots`
  std::thread thread;

  // The delivery thread's own (or the constructor's, before it runs).
  std::vector<SinkSlot> slots;
  std::unique_ptr<storage::PgConnection> db;
  int db_failures = 0;
  Clock::time_point next_connect{};
  std::mt19937_64 random{std::random_device{}()};

  milliseconds delayAfter(int failures) {
    double unit = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    return retryDelay(failures, options.backoff_initial, options.backoff_max, unit);
  }

  bool stopRequested() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  template <typename F>
  void updateStats(size_t index, F&& f) {
    std::lock_guard lock(mutex);
    if (index < stats.size()) f(stats[index]);
  }

  void applySinks(std::vector<SinkConfig> configs);
  bool ensureDatabase();
  void dropDatabase();
  Round deliverRound(size_t index);
  Round databaseError(size_t index, const absl::Status& status, std::string_view what);
  void housekeeping(size_t index, storage::PgAlertOutbox& outbox);
  void run();
};

void AlertDispatcher::Impl::applySinks(std::vector<SinkConfig> configs) {
  std::vector<SinkSlot> next;
  std::vector<SinkStats> next_stats;
  std::set<std::string> names;
  for (auto& config : configs) {
    SinkSlot slot;
    slot.fingerprint = configFingerprint(config);
    slot.config = std::move(config);
    if (auto st = validateSink(slot.config); !st.ok()) {
      slot.config_error = std::string(st.message());
    } else if (!names.insert(slot.config.name).second) {
      slot.config_error =
          absl::StrCat("alerts[", slot.config.name, "].name: another sink has the same name");
    } else {
      auto sink = makeAlertSink(slot.config, context);
      if (sink.ok()) {
        slot.sink = *std::move(sink);
      } else {
        slot.config_error =
            absl::StrCat("alerts[", slot.config.name, "]: ", sink.status().message());
      }
    }
    if (!slot.config_error.empty()) {
      spdlog::error("alerts: sink not used: {}", redactSecrets(slot.config_error, slot.config));
    }
    SinkStats s;
    s.name = slot.config.name;
    s.type = slot.config.type;
    s.last_error = redactSecrets(slot.config_error, slot.config);
    // A sink kept under its name keeps its lock, counters and, if unchanged, its backoff; its
    // place in the outbox is in the database anyway.
    for (size_t i = 0; i < slots.size(); ++i) {
      SinkSlot& old = slots[i];
      if (old.config.name != slot.config.name) continue;
      slot.locked = old.locked;
      old.locked = false;
      if (old.fingerprint == slot.fingerprint) {
        slot.failures = old.failures;
        slot.next_attempt = old.next_attempt;
        slot.retrying = old.retrying;
        slot.attempts = old.attempts;
      }
      std::lock_guard lock(mutex);
      if (i < stats.size()) {
        s.delivered = stats[i].delivered;
        s.skipped = stats[i].skipped;
        s.failures = stats[i].failures;
        s.depth = stats[i].depth;
        if (slot.config_error.empty() && old.fingerprint == slot.fingerprint) {
          s.last_error = stats[i].last_error;
        }
      }
      break;
    }
    if (slot.locked && !slot.sink) {
      // Refused now: let another daemon (with a good configuration) deliver to it.
      if (db) storage::PgAlertOutbox(*db).unlockSink(slot.config.name).IgnoreError();
      slot.locked = false;
    }
    next_stats.push_back(std::move(s));
    next.push_back(std::move(slot));
  }
  // Sinks no longer configured: release their locks so that nothing holds them for nothing.
  for (auto& old : slots) {
    if (old.locked && db) storage::PgAlertOutbox(*db).unlockSink(old.config.name).IgnoreError();
  }
  slots = std::move(next);
  std::lock_guard lock(mutex);
  stats = std::move(next_stats);
}

bool AlertDispatcher::Impl::ensureDatabase() {
  if (db && !db->broken()) return true;
  if (db) dropDatabase();
  if (Clock::now() < next_connect) return false;
  auto connection = storage::PgConnection::connect(options.database);
  if (!connection.ok()) {
    ++db_failures;
    milliseconds delay = delayAfter(db_failures);
    next_connect = Clock::now() + delay;
    // Events wait in the outbox meanwhile; nothing is lost, so one line per few attempts.
    if (db_failures == 1 || db_failures % 10 == 0) {
      spdlog::warn("alerts: database unavailable ({}); retrying in {} ms",
                   std::string(connection.status().message()), delay.count());
    }
    return false;
  }
  if (db_failures > 0) spdlog::info("alerts: database reachable again");
  db_failures = 0;
  db = *std::move(connection);
  return true;
}

void AlertDispatcher::Impl::dropDatabase() {
  db.reset();
  // Session-level advisory locks end with the session.
  for (auto& slot : slots) slot.locked = false;
  ++db_failures;
  next_connect = Clock::now() + delayAfter(db_failures);
}

Round AlertDispatcher::Impl::databaseError(size_t index, const absl::Status& status,
                                           std::string_view what) {
  SinkSlot& slot = slots[index];
  if (status.code() == absl::StatusCode::kUnavailable || db->broken()) {
    spdlog::warn("alerts[{}]: database lost while {}: {}", slot.config.name, std::string(what),
                 std::string(status.message()));
    return Round::kDatabaseLost;
  }
  // Anything else (a statement timeout, say) is treated like a failed delivery: the sink waits
  // and then starts again from its first event not taken.
  ++slot.failures;
  slot.next_attempt = Clock::now() + delayAfter(slot.failures);
  spdlog::warn("alerts[{}]: database error while {}: {}", slot.config.name, std::string(what),
               std::string(status.message()));
  return Round::kFailed;
}

void AlertDispatcher::Impl::housekeeping(size_t index, storage::PgAlertOutbox& outbox) {
  SinkSlot& slot = slots[index];
  Clock::time_point now = Clock::now();
  if (slot.locked && now >= slot.next_watermark) {
    // Often enough that alert_deliveries stays small, rarely enough to cost nothing.
    auto interval =
        std::clamp<milliseconds>(std::chrono::duration_cast<milliseconds>(options.settle) / 4,
                                 options.poll_interval, milliseconds(60000));
    slot.next_watermark = now + interval;
    auto w = outbox.advanceWatermark(slot.config.name, options.settle);
    if (!w.ok()) {
      spdlog::warn("alerts[{}]: moving the watermark failed: {}", slot.config.name,
                   std::string(w.status().message()));
    }
  }
  if (now >= slot.next_depth) {
    slot.next_depth = now + options.poll_interval;
    auto depth = outbox.depth(slot.config.name);
    if (depth.ok()) updateStats(index, [&](SinkStats& s) { s.depth = *depth; });
  }
}

Round AlertDispatcher::Impl::deliverRound(size_t index) {
  SinkSlot& slot = slots[index];
  if (!slot.sink || Clock::now() < slot.next_attempt) return Round::kIdle;
  const std::string& name = slot.config.name;
  storage::PgAlertOutbox outbox(*db);
  if (!slot.locked) {
    auto locked = outbox.tryLockSink(name);
    if (!locked.ok()) return databaseError(index, locked.status(), "locking the sink");
    if (!*locked) {
      // Another daemon delivers to this sink; only keep its depth current.
      housekeeping(index, outbox);
      return Round::kIdle;
    }
    slot.locked = true;
  }
  const int batch = std::clamp(options.batch, 1, 1000);
  auto events = outbox.pending(name, batch);
  if (!events.ok()) return databaseError(index, events.status(), "reading the outbox");

  for (const storage::OutboxEvent& row : *events) {
    if (stopRequested()) return Round::kIdle;
    auto event = parseOutboxEvent(row);
    if (!event.ok() || !sinkAccepts(slot.config, *event)) {
      // Not for this sink (or never deliverable): taken without delivery, never retried.
      if (!event.ok()) {
        spdlog::error("alerts[{}]: skipping {}", name, std::string(event.status().message()));
      }
      auto taken = outbox.markTaken(name, row.id, false, 0);
      if (!taken.ok()) return databaseError(index, taken, "recording a filtered event");
      updateStats(index, [](SinkStats& s) { ++s.skipped; });
      continue;
    }
    if (slot.retrying != row.id) {
      slot.retrying = row.id;
      slot.attempts = 0;
    }
    ++slot.attempts;
    absl::Status delivered = slot.sink->deliver(*event);
    if (!delivered.ok()) {
      std::string error = redactSecrets(std::string(delivered.message()), slot.config);
      ++slot.failures;
      milliseconds delay = delayAfter(slot.failures);
      slot.next_attempt = Clock::now() + delay;
      updateStats(index, [&](SinkStats& s) {
        ++s.failures;
        s.last_error = error;
      });
      spdlog::warn("alerts[{}]: event {} not delivered (attempt {}): {}; next try in {} ms", name,
                   row.id, slot.attempts, error, delay.count());
      auto recorded = outbox.recordFailure(name, error);
      if (!recorded.ok() && (recorded.code() == absl::StatusCode::kUnavailable || db->broken())) {
        return Round::kDatabaseLost;
      }
      // The depth matters most while a sink is down: keep reading it.
      housekeeping(index, outbox);
      return Round::kFailed;
    }
    if (slot.failures > 0) spdlog::info("alerts[{}]: delivering again", name);
    slot.failures = 0;
    int attempts = slot.attempts;
    slot.retrying = 0;
    slot.attempts = 0;
    updateStats(index, [](SinkStats& s) {
      ++s.delivered;
      s.last_error.clear();
    });
    // If this fails the event was delivered but not recorded: it is sent again, with the same
    // idempotency key, once the database is back (at least once).
    auto taken = outbox.markTaken(name, row.id, true, attempts);
    if (!taken.ok()) return databaseError(index, taken, "recording a delivery");
  }
  housekeeping(index, outbox);
  return static_cast<int>(events->size()) == batch ? Round::kMore : Round::kIdle;
}

void AlertDispatcher::Impl::run() {
  for (;;) {
    std::optional<std::vector<SinkConfig>> sinks;
    {
      std::lock_guard lock(mutex);
      if (stopping) break;
      poked = false;
      sinks.swap(new_sinks);
    }
    if (sinks) applySinks(*std::move(sinks));

    bool more = false;
    try {
      if (ensureDatabase()) {
        for (size_t i = 0; i < slots.size() && !stopRequested(); ++i) {
          Round r = deliverRound(i);
          if (r == Round::kDatabaseLost) {
            dropDatabase();
            break;
          }
          more = more || r == Round::kMore;
        }
      }
    } catch (const std::exception& e) {
      // Nothing here throws by design; if something does (memory), the events stay in the
      // outbox and the thread starts over on a new session after a pause, instead of ending.
      spdlog::error("alerts: delivery round failed: {}", e.what());
      dropDatabase();
      more = false;
    }
    if (more) continue;

    Clock::time_point until = Clock::now() + options.poll_interval;
    if (!db) until = next_connect;
    for (const auto& slot : slots) {
      if (slot.sink && slot.failures > 0) until = std::min(until, slot.next_attempt);
    }
    std::unique_lock lock(mutex);
    wake.wait_until(lock, until, [&] { return stopping || poked || new_sinks.has_value(); });
  }
  // Locks end with the session; closing it releases them for another daemon at once.
  db.reset();
  for (auto& slot : slots) slot.locked = false;
}

AlertDispatcher::AlertDispatcher(DispatcherOptions options, std::vector<SinkConfig> sinks)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->context.instance = impl_->options.instance;
  impl_->context.tool_version = TLSAUDIT_VERSION;
  impl_->context.hostname = hostName();
  impl_->context.pid = ::getpid();
  impl_->applySinks(std::move(sinks));
}

AlertDispatcher::~AlertDispatcher() { stop(); }

void AlertDispatcher::start() {
  std::lock_guard lifecycle(impl_->lifecycle);
  std::lock_guard lock(impl_->mutex);
  if (impl_->running) return;
  impl_->running = true;
  impl_->stopping = false;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void AlertDispatcher::stop() {
  std::lock_guard lifecycle(impl_->lifecycle);
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->running) return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
  std::lock_guard lock(impl_->mutex);
  impl_->running = false;
}

void AlertDispatcher::reconfigure(std::vector<SinkConfig> sinks) {
  std::lock_guard lifecycle(impl_->lifecycle);
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->running) {
      impl_->new_sinks = std::move(sinks);
      impl_->wake.notify_all();
      return;
    }
  }
  // No delivery thread: the slots are ours to change.
  impl_->applySinks(std::move(sinks));
}

void AlertDispatcher::poke() {
  std::lock_guard lock(impl_->mutex);
  impl_->poked = true;
  impl_->wake.notify_all();
}

std::vector<SinkStats> AlertDispatcher::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace tlsaudit::scanner::alerts
