#include "scanner/metrics/daemon_metrics.h"

namespace tlsaudit::scanner {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

DaemonMetrics::DaemonMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  probes_in_flight_ = &BuildGauge()
                           .Name("tlsaudit_probes_in_flight")
                           .Help("TLS endpoints being probed right now")
                           .Register(r)
                           .Add({});
  probes_total_ = &BuildCounter()
                       .Name("tlsaudit_probes_total")
                       .Help("TLS endpoints probed (rate(): probes per second)")
                       .Register(r)
                       .Add({});
  probe_connections_total_ = &BuildCounter()
                                  .Name("tlsaudit_probe_connections_total")
                                  .Help("TCP connections opened by TLS probes")
                                  .Register(r)
                                  .Add({});
  probe_errors_ = &BuildCounter()
                       .Name("tlsaudit_probe_errors_total")
                       .Help("What probes met, by kind (timeout, refused, reset, alert, ...)")
                       .Register(r);
  addresses_total_ = &BuildCounter()
                          .Name("tlsaudit_discovery_addresses_total")
                          .Help("Addresses swept by discovery")
                          .Register(r)
                          .Add({});
  work_items_in_flight_ = &BuildGauge()
                               .Name("tlsaudit_work_items_in_flight")
                               .Help("Work items this daemon is running")
                               .Register(r)
                               .Add({});
  work_items_total_ = &BuildCounter()
                           .Name("tlsaudit_work_items_total")
                           .Help("Work items this daemon ended, by result")
                           .Register(r);
  db_write_seconds_ =
      &BuildHistogram()
           .Name("tlsaudit_database_write_seconds")
           .Help("Time to store one batch of host results (up to 32 hosts per statement)")
           .Register(r)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  db_writes_ = &BuildCounter()
                    .Name("tlsaudit_database_writes_total")
                    .Help("Batches of host results written, by result")
                    .Register(r);
  db_errors_ = &BuildCounter()
                    .Name("tlsaudit_database_errors_total")
                    .Help("Database operations that failed, by kind")
                    .Register(r);
  queue_items_ = &BuildGauge()
                      .Name("tlsaudit_queue_work_items")
                      .Help("Work items of unfinished scans in the database, by state")
                      .Register(r);
  scans_ = &BuildGauge().Name("tlsaudit_scans").Help("Scans in the database, by state").Register(r);
  open_findings_ = &BuildGauge()
                        .Name("tlsaudit_open_findings")
                        .Help("Open findings in the database, by severity")
                        .Register(r);
  outbox_depth_ = &BuildGauge()
                       .Name("tlsaudit_alert_outbox_depth")
                       .Help("Alert events a sink has not taken yet")
                       .Register(r);
  alerts_delivered_ = &BuildGauge()
                           .Name("tlsaudit_alerts_delivered")
                           .Help("Alerts delivered to a sink by this daemon since it started")
                           .Register(r);
  alert_failures_ = &BuildGauge()
                         .Name("tlsaudit_alert_delivery_failures")
                         .Help("Failed alert delivery attempts by this daemon since it started")
                         .Register(r);
  grpc_requests_ = &BuildCounter()
                        .Name("tlsaudit_grpc_requests_total")
                        .Help("gRPC calls by method and status code")
                        .Register(r);
  database_up_ = &BuildGauge()
                      .Name("tlsaudit_database_up")
                      .Help("1 when the last database check succeeded")
                      .Register(r)
                      .Add({});
}

void DaemonMetrics::probeStarted() { probes_in_flight_->Increment(); }

void DaemonMetrics::probeEnded() { probes_in_flight_->Decrement(); }

void DaemonMetrics::probeFinished(const tlsaudit::v1::TlsReport& report) {
  probes_total_->Increment();
  probe_connections_total_->Increment(report.connections());
  for (const auto& e : report.errors()) {
    probe_errors_->Add({{"kind", e.kind().empty() ? "other" : e.kind()}}).Increment();
  }
}

void DaemonMetrics::addressesSwept(uint64_t n) {
  addresses_total_->Increment(static_cast<double>(n));
}

void DaemonMetrics::workItemStarted() { work_items_in_flight_->Increment(); }

void DaemonMetrics::workItemEnded(const std::string& result) {
  work_items_in_flight_->Decrement();
  work_items_total_->Add({{"result", result}}).Increment();
}

void DaemonMetrics::databaseWrite(double seconds, bool ok) {
  if (ok) db_write_seconds_->Observe(seconds);
  db_writes_->Add({{"result", ok ? "stored" : "failed"}}).Increment();
}

void DaemonMetrics::databaseError(const std::string& kind) {
  db_errors_->Add({{"kind", kind}}).Increment();
}

void DaemonMetrics::setWorkItems(const std::string& state, double n) {
  queue_items_->Add({{"state", state}}).Set(n);
}

void DaemonMetrics::setScans(const std::string& state, double n) {
  scans_->Add({{"state", state}}).Set(n);
}

void DaemonMetrics::setOpenFindings(const std::string& severity, double n) {
  open_findings_->Add({{"severity", severity}}).Set(n);
}

void DaemonMetrics::setOutboxDepth(const std::string& sink, double n) {
  outbox_depth_->Add({{"sink", sink}}).Set(n);
}

void DaemonMetrics::setAlertCounters(const std::string& sink, double delivered, double failures) {
  alerts_delivered_->Add({{"sink", sink}}).Set(delivered);
  alert_failures_->Add({{"sink", sink}}).Set(failures);
}

void DaemonMetrics::grpcRequest(const std::string& method, const std::string& code) {
  grpc_requests_->Add({{"method", method}, {"code", code}}).Increment();
}

void DaemonMetrics::setUp(bool database_reachable) { database_up_->Set(database_reachable ? 1 : 0); }

}  // namespace tlsaudit::scanner
