#include "tests/integration/snmpd_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>

namespace tlsaudit::itest {

namespace {
using Json = nlohmann::json;
std::string servers() { return std::string(TLSAUDIT_SOURCE_DIR) + "/tests/integration/servers/"; }
}  // namespace

// A UDP port on `host` that was free a moment ago (snmpd cannot be told to pick one).
uint16_t freeUdpPort(const std::string& host) { return freePort(host, SOCK_DGRAM); }

void writeFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string systemConf(const std::string& descr, const std::string& object_id,
                       const std::string& name) {
  return "rocommunity public default\n"
         "sysDescr " +
         descr +
         "\n"
         "sysObjectID " +
         object_id +
         "\n"
         "sysName " +
         name +
         "\n"
         "sysLocation lab rack 4\n"
         "sysContact ops@example.invalid\n";
}

Snmpd::Snmpd(const std::string& host, const std::string& conf_body, const std::vector<Row>& rows,
             uint16_t port) {
  static int counter = 0;
  std::string dir =
      scratchDir() + "/snmpd-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  ::mkdir(dir.c_str(), 0700);
  Json data = Json::array();
  for (const auto& r : rows) data.push_back(Json::array({r.oid, r.type, r.value}));
  writeFile(dir + "/rows.json", data.dump());
  std::string conf = conf_body;
  // Priority 10 beats snmpd's own ARP tables (ip-mib registers at the default 127).
  for (const char* root : {".1.3.6.1.2.1.47", ".1.0.8802.1.1.2", ".1.3.6.1.4.1.9.9.23",
                           ".1.3.6.1.2.1.4.22.1.2", ".1.3.6.1.2.1.4.35.1.4"}) {
    conf += std::string("pass_persist -p 10 ") + root + " /usr/bin/python3 " + servers() +
            "snmp_table_agent.py " + root + " " + dir + "/rows.json\n";
  }
  writeFile(dir + "/snmpd.conf", conf);
  for (int attempt = 0; attempt < 3 && !ok(); ++attempt) {
    port_ = port ? port : freeUdpPort(host);
    process_ = std::make_unique<Process>(
        "snmpd", std::vector<std::string>{"env", "SNMP_PERSISTENT_DIR=" + dir + "/persist", "snmpd",
                                          "-f", "-Lo", "-C", "-c", dir + "/snmpd.conf", "-p",
                                          dir + "/snmpd.pid", "-M", "/dev/null", "-m", "",
                                          "udp:" + host + ":" + std::to_string(port_)});
    if (!process_->waitFor(std::regex("(NET-SNMP version)"), milliseconds(10000)) ||
        !process_->running()) {
      noteForFailure("snmpd log", process_->log());
      process_.reset();
    }
  }
}

}  // namespace tlsaudit::itest
