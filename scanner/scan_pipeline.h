// The one-shot scan: expands targets lazily into endpoints, probes them concurrently within the
// politeness limits, and hands each report to a sink in target order. Memory follows what is in
// flight, not the size of the target ranges.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "collectors/net/targets.h"
#include "collectors/tls/tls_prober.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::scanner {

struct ScanSettings {
  std::vector<net::TargetSpec> targets;
  std::vector<uint16_t> ports;    // for targets without a port
  std::string sni;                // overrides the name sent; empty: the target's host name
  std::string starttls = "auto";  // auto, none, or a protocol name
  size_t concurrency = 32;        // endpoints probed at once
  size_t per_host = 2;            // connections at once to one address
  double rate = 0;                // new connections per second overall, 0 = unlimited
  unsigned threads = 0;           // 0: one per core
  collectors::tls::ProbeOptions probe;
  // Polled before each new endpoint: true ends the scan early (endpoints in flight finish; the
  // rest get no report). Called from the scan's threads.
  std::function<bool()> stop;
  // Called with +1 when an endpoint's probe starts and -1 when it ends (metrics).
  std::function<void(int)> in_flight;
};

// Called once per endpoint, in target order, from one thread at a time.
using ReportSink = std::function<void(tlsaudit::v1::TlsReport&&)>;
// Called after each endpoint with (done, total).
using ProgressSink = std::function<void(uint64_t, uint64_t)>;

// Total endpoints the settings expand to.
uint64_t countEndpoints(const ScanSettings& settings);

// Runs the scan to completion. Errors only for settings that cannot work (e.g. an unknown
// STARTTLS name); what happens on the network is in the reports.
absl::Status runScan(const ScanSettings& settings, const ReportSink& sink,
                     const ProgressSink& progress = nullptr);

}  // namespace tlsaudit::scanner
