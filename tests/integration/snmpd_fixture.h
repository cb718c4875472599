// A real snmpd for the integration tests: its own generated configuration (communities, v3
// users, system values) and table rows served through pass_persist by
// servers/snmp_table_agent.py, on a loopback address and a UDP port picked at start.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {

// A UDP port on `host` that was free a moment ago (snmpd cannot be told to pick one).
uint16_t freeUdpPort(const std::string& host);

void writeFile(const std::string& path, const std::string& text);

// One table row for snmp_table_agent.py.
struct Row {
  std::string oid, type;
  nlohmann::json value;
};

// snmpd.conf lines for community "public" and the system group.
std::string systemConf(const std::string& descr, const std::string& object_id,
                       const std::string& name);

// A real snmpd on HOST:PORT with a generated config: communities, v3 users, system values and
// pass_persist rows. Runs without root paths (persistent dir, pid file in the scratch folder).
class Snmpd {
 public:
  Snmpd(const std::string& host, const std::string& conf_body, const std::vector<Row>& rows,
        uint16_t port = 0);
  bool ok() const { return process_ != nullptr; }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
};

}  // namespace tlsaudit::itest
