// Discovery: from address ranges and SNMP credentials to Assets. Sweeps every address of the
// target space in a permuted order (TCP connects to the given ports, SIP OPTIONS over UDP, SNMP
// system group), identifies what answered (SIP over UDP/TCP, HTTP(S) Server header and title,
// TLS certificate subject, SNMP ENTITY-MIB), reads the neighbour tables of SNMP agents (LLDP,
// LLDP-MED, CDP, ARP) and sweeps the addresses they name, but only inside the allowed scope.
//
// Memory follows what is in flight plus what was found, never the size of the ranges.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/net/targets.h"
#include "collectors/snmp/snmp_client.h"
#include "tlsaudit/v1/asset.pb.h"

namespace tlsaudit::collectors::discovery {

struct DiscoveryOptions {
  std::vector<uint16_t> tcp_ports;  // connect-probed on every address
  bool sip_udp = true;              // SIP OPTIONS over UDP to sip_port on every address
  uint16_t sip_port = 5060;         // RFC 3261 §19.1.2; SIP over TCP is tried on it too
  // Open ports where plain HTTP is expected (others get a TLS handshake).
  std::vector<uint16_t> http_ports = {80, 8080, 8000, 8008, 8081, 8888, 8090};
  // Open ports where HTTP is expected inside TLS (Server header and title are read).
  std::vector<uint16_t> https_ports = {443, 8443, 4443, 9443, 10443};
  std::vector<snmp::Credential> snmp_credentials;  // tried in order; empty: no SNMP
  uint16_t snmp_port = 161;                        // RFC 3417 §3
  bool snmp_tables = true;        // walk ENTITY/IF/LLDP/CDP/ARP tables of agents that answer
  bool follow_neighbours = true;  // sweep in-scope addresses the neighbour tables name
  bool identify_services = true;  // SIP/HTTP/TLS banners on open TCP ports
  std::chrono::milliseconds connect_timeout{1000};  // per TCP connect attempt
  std::chrono::milliseconds udp_timeout{1000};      // per UDP (SIP, SNMP) attempt
  std::chrono::milliseconds read_timeout{2000};     // per banner I/O step
  int retries = 1;                                  // extra attempts after a timeout
  size_t concurrency = 256;                         // addresses in flight
  size_t per_host = 2;                              // TCP connections at once to one address
  size_t per_subnet = 64;        // connections at once to one /24 (IPv6: /64); 0 = unlimited
  double rate = 0;               // new connections + UDP probes per second; 0 = unlimited
  size_t max_table_rows = 2000;  // per walked table
  std::chrono::milliseconds walk_budget{15000};  // per agent, all its tables together
  size_t max_neighbour_targets = 65536;          // addresses added by neighbour tables
  uint64_t seed = 0;                             // permutation key; 0 = random
  unsigned threads = 0;  // io_context threads, 0 = one per core (SNMP always on the first)
  // One line per probe for --trace (never contains secrets).
  std::function<void(const std::string&)> trace;
  // Called with (addresses done, addresses known so far).
  std::function<void(uint64_t, uint64_t)> progress;
  // Polled before each new address: true stops the sweep early (cancelled scan, shutdown);
  // what was found so far is returned. Called from the sweep's threads.
  std::function<bool()> stop;
};

struct DiscoveryStats {
  uint64_t addresses = 0;   // swept
  uint64_t tcp_probes = 0;  // connect probes (ports × addresses)
  uint64_t udp_probes = 0;
  uint64_t open_ports = 0;
  uint64_t snmp_agents = 0;              // agents that answered with a working credential
  uint64_t neighbours = 0;               // rows read from LLDP/CDP/ARP tables
  uint64_t neighbour_targets = 0;        // in-scope addresses added to the sweep
  uint64_t neighbours_out_of_scope = 0;  // addresses named but never contacted
  // TCP connect attempts the kernel answered before connect() returned (a local stack's RST or
  // handshake), and sockets created for all attempts (a refused socket is reused).
  uint64_t tcp_answered_at_once = 0;
  uint64_t tcp_sockets = 0;
  double seconds = 0;
};

struct DiscoveryResult {
  std::vector<tlsaudit::v1::Asset> assets;  // sorted by primary address
  DiscoveryStats stats;
  // Distinct operational problems worth telling the user (wrong v3 password, ...), without
  // secrets. Silence of a host is not one of them.
  std::vector<std::string> warnings;
};

// Sweeps `targets` and returns what was found. `scope` bounds which addresses neighbour tables
// may add (pass the targets again for "nothing outside what was asked"). `snmp_client` may be
// null when no credential is given. Errors only for options that cannot work.
absl::StatusOr<DiscoveryResult> discover(const net::AddressSpace& targets,
                                         const net::AddressSpace& scope,
                                         const DiscoveryOptions& options,
                                         snmp::SnmpClient* snmp_client);

// Ports where a TLS handshake is worth trying on an open port (implicit TLS, IANA registry).
bool likelyTlsPort(uint16_t port);

}  // namespace tlsaudit::collectors::discovery
