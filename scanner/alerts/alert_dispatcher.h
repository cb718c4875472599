// Alert delivery for the daemon: reads finding events from the PostgreSQL outbox (written in the
// same transaction as the finding change) and delivers each to every configured sink at least
// once, in order, with an idempotency key that stays the same across retries. A sink that is
// down holds its events in the outbox (nothing is lost) and is retried with backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storage/pg_connection.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::scanner::alerts {

// One configured sink (config file section `alerts`).
struct SinkConfig {
  std::string name;  // unique; the delivery state in the database is kept under it
  std::string type;  // webhook, alertmanager, syslog

  // webhook and alertmanager: http:// or https:// URL (alertmanager: its base URL; alerts go to
  // POST {url}/api/v2/alerts).
  std::string url;
  // webhook: HMAC-SHA256 key; the body's signature goes in X-Tlsaudit-Signature
  // ("sha256=<hex>"). Empty: no signature header.
  std::string secret;
  std::vector<std::pair<std::string, std::string>> headers;  // extra HTTP headers
  std::string ca_file;     // https: extra trusted roots (PEM); empty: the system store
  bool verify_tls = true;  // https: verify the server's certificate and name

  // syslog: host:port of the collector, over udp or tcp (RFC 5424 messages; over TCP framed
  // with octet counting, RFC 6587 §3.4.1).
  std::string address;
  std::string transport = "udp";
  int facility = 10;  // authpriv (RFC 5424 §6.2.1)
  std::string app_name = "tlsaudit";

  // Which events this sink receives; empty lists mean all.
  tlsaudit::v1::Severity min_severity = tlsaudit::v1::SEVERITY_UNSPECIFIED;
  std::vector<std::string> rules;   // rule ids
  std::vector<std::string> events;  // opened, reopened, resolved, waived, unwaived

  std::chrono::milliseconds timeout{5000};  // per delivery attempt (connect + send + answer)

  // alertmanager: endsAt of a firing alert = the event's time + this. tlsaudit sends a firing
  // alert once (Alertmanager expects clients to re-send active alerts, and resolves those it
  // stops hearing about after its resolve_timeout); the `resolved` or `waived` event ends it
  // earlier. 0: no endsAt, so Alertmanager's resolve_timeout applies.
  std::chrono::seconds expires_after{std::chrono::hours(24 * 7)};
};

struct DispatcherOptions {
  storage::PgConnectOptions database;
  std::chrono::milliseconds poll_interval{1000};  // how often the outbox is read when idle
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{60000};
  int batch = 100;                       // events read per round per sink
  std::chrono::seconds settle{600};      // see storage::AlertOutbox::advanceWatermark
  std::string instance;                  // this daemon's name, sent with each alert
};

// Per-sink counters for metrics.
struct SinkStats {
  std::string name;
  std::string type;
  uint64_t delivered = 0;  // events delivered by this process
  uint64_t skipped = 0;    // filtered out by the sink's rules
  uint64_t failures = 0;   // failed attempts
  int64_t depth = -1;      // events not taken yet (last reading; -1 unknown)
  std::string last_error;  // "" when the last attempt succeeded
};

class AlertDispatcher {
 public:
  AlertDispatcher(DispatcherOptions options, std::vector<SinkConfig> sinks);
  // Stops the delivery thread (an attempt in flight ends at its timeout at most).
  ~AlertDispatcher();
  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  // Starts the delivery thread. Thread-safe.
  void start();
  // Stops and joins it. Thread-safe; idempotent.
  void stop();
  // Replaces the sinks (SIGHUP reload); a sink kept under the same name keeps its place in the
  // outbox. Thread-safe.
  void reconfigure(std::vector<SinkConfig> sinks);
  // Wakes the thread to read the outbox now (e.g. after an ingest). Thread-safe.
  void poke();
  std::vector<SinkStats> stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks a sink's settings; an error names the field ("alerts[NAME].url: ...") and never
// repeats a secret or header value.
absl::Status validateSink(const SinkConfig& sink);
// validateSink for each sink, and names unique; the first problem.
absl::Status validateSinks(const std::vector<SinkConfig>& sinks);

}  // namespace tlsaudit::scanner::alerts
