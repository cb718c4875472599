// Probes one TLS endpoint and reports everything it speaks and presents: versions (SSLv2 ..
// TLS 1.3), cipher suites by elimination with the server's preference, groups, key exchange
// sizes, certificate chains, client-auth requests and extension behaviours.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "collectors/net/asio.h"
#include "collectors/net/connection_gate.h"
#include "collectors/tls/starttls.h"
#include "collectors/tls/x509_analysis.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::collectors::tls {

struct Endpoint {
  std::string host;  // as the user named it
  net::asio::ip::address ip;
  uint16_t port = 443;
  std::string sni;  // server_name to send; empty for none
  StarttlsProtocol starttls = StarttlsProtocol::kNone;
  bool sip = false;  // SIP over TLS: send OPTIONS after a handshake
};

struct ProbeOptions {
  // Deadline for the TCP connect, for each STARTTLS step, and for the server's answer to each
  // hello. A silent endpoint costs one deadline: once it has not answered, it is not asked again.
  std::chrono::milliseconds timeout{5000};
  // Suites offered in one hello; halved (down to min) when a server chokes on large hellos.
  size_t max_suites_per_hello = 64;
  size_t min_suites_per_hello = 8;
  // Connections to this endpoint at once (independent checks run side by side); the
  // ConnectionGate's per-host limit still applies on top.
  size_t parallel = 2;
  // Hard cap on connections to one endpoint, whatever it answers.
  uint32_t max_connections = 600;
  // Hard cap on the time spent on one endpoint (a server that answers every hello slowly).
  std::chrono::milliseconds endpoint_budget{180000};
  std::shared_ptr<const TrustStore> trust_store;  // null: chains are not validated
  std::chrono::system_clock::time_point (*now)() = &std::chrono::system_clock::now;
  // Called with one line per connection (what was offered, what came back); for --trace.
  std::function<void(const std::string&)> trace;
};

// Probes `endpoint`, taking a permit from `gate` for every connection. Never throws: what
// happens on the wire, including garbage and silence, is recorded in the report.
net::awaitable<tlsaudit::v1::TlsReport> probeEndpoint(Endpoint endpoint, ProbeOptions options,
                                                      net::ConnectionGate& gate);

// The cipher suites offered in hellos for SSLv3..TLS 1.2, most commonly deployed first, so that
// the first hello (64 suites) usually holds everything a server accepts.
const std::vector<uint16_t>& legacySuitesByPriority();
const std::vector<uint16_t>& tls13Suites();

tlsaudit::v1::TlsVersion versionFromWire(uint16_t wire);
uint16_t wireFromVersion(tlsaudit::v1::TlsVersion version);

}  // namespace tlsaudit::collectors::tls
