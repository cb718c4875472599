// The daemon's configuration (`tlsaudit serve --config FILE`): one YAML file validated against
// scanner/daemon/config.schema.json, with ${ENV} expansion in values and `-o key=value`
// overrides, then checked field by field (addresses, durations, schedules, references between
// sections). Every error names the file, line, column and the field.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/snmp/credential.h"
#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/daemon/schedule.h"

namespace tlsaudit::scanner {

enum class Role { kViewer, kOperator };

struct TokenConfig {
  std::string name;   // who holds it (logs and requested_by name this, never the token)
  Role role = Role::kViewer;
  std::string token;  // from `token` or read from `token_file`
};

struct TargetGroup {
  std::string name;
  std::vector<std::string> targets;  // as `tlsaudit scan` takes them
  std::vector<std::string> exclude;
  std::vector<uint16_t> ports;       // empty: DaemonConfig::default_ports
  std::vector<std::string> snmp;     // names of snmp_credentials, tried in this order
  uint16_t snmp_port = 161;          // agents' UDP port (RFC 3417 §3)
  std::string profile;               // empty: policy.profile
  std::string site;
  std::optional<Schedule> schedule;
};

struct Politeness {
  size_t concurrency = 64;  // endpoints (and, for discovery, addresses x4) in flight per item
  size_t per_host = 2;
  size_t per_subnet = 64;
  double rate = 0;
  std::chrono::milliseconds timeout{5000};          // TLS probe I/O step
  std::chrono::milliseconds connect_timeout{2000};  // discovery connect
  size_t max_suites = 64;
  int retries = 1;
};

struct DaemonConfig {
  std::string source;    // the file it came from, or "defaults"
  std::string data_dir;  // embedded PostgreSQL and other state
  std::string instance;  // this daemon's name: lease owner prefix, alert "instance"

  struct Database {
    std::string dsn;  // empty: the embedded cluster under data_dir
    size_t pool = 4;
    std::chrono::milliseconds statement_timeout{30000};
    std::string bin_dir;         // embedded: PostgreSQL server binaries (default: newest)
    std::string user;            // embedded, when run as root: the user the cluster runs as
    std::string shared_buffers;  // embedded: e.g. 128MB
  } database;

  struct Grpc {
    std::string listen = "127.0.0.1:50051";
    std::string tls_certificate;  // PEM files; both empty: plaintext
    std::string tls_key;
    // Tokens over plaintext gRPC on a non-loopback address only with this set (a TLS-terminating
    // proxy in front, say).
    bool allow_plaintext = false;
    std::vector<TokenConfig> tokens;  // none: no authentication, loopback only
  } grpc;

  struct Metrics {
    std::string listen;  // empty: no metrics listener
  } metrics;

  struct Workers {
    size_t count = 2;                    // work items run at once by this daemon
    std::chrono::seconds lease{60};      // heartbeats renew it every lease/3
    int max_attempts = 3;                // before a work item is given up
    size_t addresses_per_item = 256;     // a range is split into items of this many addresses
    std::chrono::seconds shutdown_grace{20};  // SIGTERM: time to finish items in flight
  } workers;

  Politeness politeness;
  std::vector<uint16_t> default_ports;  // TLS ports probed when neither scan nor group says

  struct Trust {
    std::vector<std::string> ca_files;
    bool system = true;
  } trust;

  std::vector<collectors::snmp::Credential> snmp_credentials;
  std::vector<TargetGroup> groups;

  struct Policy {
    std::string profile = "baseline";
    std::vector<std::string> files;
    std::string waivers;  // a waivers file, synced into the database at start and on reload
  } policy;

  std::chrono::hours retention{0};  // drop observations older than this; 0 keeps everything

  std::vector<alerts::SinkConfig> alerts;

  const TargetGroup* group(const std::string& name) const;
  const collectors::snmp::Credential* snmpCredential(const std::string& name) const;
};

// What the command line adds: `-o key=value` overrides (dotted paths, list items by index:
// `groups.0.schedule.every=1h`; the value is read as YAML) and the flags that work without a file.
struct ConfigOverrides {
  std::vector<std::string> settings;  // -o
  std::optional<std::string> data_dir;
  std::optional<std::string> grpc_listen;
  std::optional<std::string> metrics_listen;
  std::optional<std::string> database_dsn;
};

using EnvLookup = std::function<const char*(const char*)>;

// Loads `path` ("" for none: defaults plus overrides). ${NAME} and ${NAME:-default} in scalar
// values are replaced from the environment (an unset variable without default is an error);
// `$${` is a literal `${`.
absl::StatusOr<DaemonConfig> loadDaemonConfig(const std::string& path,
                                              const ConfigOverrides& overrides,
                                              const EnvLookup& env);

// True for 127.0.0.0/8, ::1 and "localhost" listen addresses (host part of host:port).
bool isLoopbackListen(const std::string& listen);

// The JSON Schema text (embedded at build time).
std::string_view configSchemaJson();

}  // namespace tlsaudit::scanner
