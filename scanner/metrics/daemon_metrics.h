// The daemon's Prometheus metrics (prometheus-cpp): probes in flight and done, errors by kind,
// scan progress, findings by severity, database write latency, alert outbox depth. Components
// update them through this object; the metrics listener serialises `registry()`.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::scanner {

class DaemonMetrics {
 public:
  DaemonMetrics();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> sharedRegistry() { return registry_; }

  // TLS probing (thread-safe).
  void probeStarted();
  void probeEnded();
  // Counts a finished probe's connections and errors.
  void probeFinished(const tlsaudit::v1::TlsReport& report);
  void addressesSwept(uint64_t n);
  // Work items (thread-safe).
  void workItemStarted();
  void workItemEnded(const std::string& result);  // done, failed, released, lost, cancelled
  // A batch of host results stored: how long the database write took.
  void databaseWrite(double seconds, bool ok);
  void databaseError(const std::string& kind);
  // Gauges refreshed from the database (the fleet as every daemon sees it).
  void setWorkItems(const std::string& state, double n);
  void setScans(const std::string& state, double n);
  void setOpenFindings(const std::string& severity, double n);
  void setOutboxDepth(const std::string& sink, double n);
  void setAlertCounters(const std::string& sink, double delivered, double failures);
  void grpcRequest(const std::string& method, const std::string& code);
  void setUp(bool database_reachable);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge* probes_in_flight_;
  prometheus::Counter* probes_total_;
  prometheus::Counter* probe_connections_total_;
  prometheus::Family<prometheus::Counter>* probe_errors_;
  prometheus::Counter* addresses_total_;
  prometheus::Gauge* work_items_in_flight_;
  prometheus::Family<prometheus::Counter>* work_items_total_;
  prometheus::Histogram* db_write_seconds_;
  prometheus::Family<prometheus::Counter>* db_writes_;
  prometheus::Family<prometheus::Counter>* db_errors_;
  prometheus::Family<prometheus::Gauge>* queue_items_;
  prometheus::Family<prometheus::Gauge>* scans_;
  prometheus::Family<prometheus::Gauge>* open_findings_;
  prometheus::Family<prometheus::Gauge>* outbox_depth_;
  prometheus::Family<prometheus::Gauge>* alerts_delivered_;
  prometheus::Family<prometheus::Gauge>* alert_failures_;
  prometheus::Family<prometheus::Counter>* grpc_requests_;
  prometheus::Gauge* database_up_;
};

}  // namespace tlsaudit::scanner
