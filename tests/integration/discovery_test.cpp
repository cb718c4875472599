// `tlsaudit discover` against real agents on loopback: a real snmpd (its own generated config,
// v2c communities and v3 USM users, ENTITY/LLDP/LLDP-MED/CDP/ARP rows served by pass_persist),
// SIP responders over UDP and TCP, HTTP servers, closed and silent ports. Also `tlsaudit scan`
// over an address block: discovery first, TLS reports attached to their assets.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/snmpd_fixture.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

std::string servers() { return std::string(TLSAUDIT_SOURCE_DIR) + "/tests/integration/servers/"; }

// discovery_responder.py on one address.
class Responder {
 public:
  Responder(const std::string& host, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        "python3", servers() + "discovery_responder.py", "--host", host, "--max-seconds", "120"};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Process>("responder " + host, argv);
    ready_ = process_->waitFor(std::regex("^(READY)"), milliseconds(10000)).has_value();
  }
  bool ok() const { return ready_; }
  // The port of the n-th listener of `kind` (LISTEN lines).
  uint16_t port(const std::string& kind, int n = 0) const {
    std::istringstream in(process_->log());
    std::string line;
    std::regex re("^LISTEN (\\S+) (\\d+)");
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_search(line, m, re) && m[1] == kind && n-- == 0) {
        return static_cast<uint16_t>(std::stoi(m[2]));
      }
    }
    return 0;
  }
  std::vector<std::string> contacts() const {
    std::vector<std::string> out;
    std::istringstream in(process_->log());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("CONTACT", 0) == 0) out.push_back(line);
    }
    return out;
  }
  std::string log() const { return process_->log(); }

 private:
  std::unique_ptr<Process> process_;
  bool ready_ = false;
};

const Json* findAsset(const Json& doc, const std::string& address) {
  for (const auto& a : doc["assets"]) {
    for (const auto& addr : a["addresses"]) {
      if (addr == address) return &a;
    }
  }
  return nullptr;
}

const Json* findService(const Json& asset, int port, const std::string& transport) {
  for (const auto& s : asset["services"]) {
    if (s["port"] == port && s["transport"] == transport) return &s;
  }
  return nullptr;
}

bool contains(const Json& array, const std::string& value) {
  for (const auto& v : array) {
    if (v == value) return true;
  }
  return false;
}

Json parseOut(const CommandResult& r) {
  auto doc = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out;
  return doc.is_discarded() ? Json::object({{"assets", Json::array()}}) : doc;
}

// The switch at 127.0.5.1 knows, via LLDP, a Yealink phone at 127.0.5.7 (in scope, not a
// target: it must be swept), and a device at 127.0.9.9 (outside the scope: never contacted);
// via CDP a Cisco phone at 127.0.5.8; via ARP 127.0.5.9.
TEST(DiscoveryTest, SnmpInventoryNeighboursAndScope) {
  Responder phone("127.0.5.7", {"--sip-udp", "0", "--user-agent", "Yealink SIP-T46S 66.86.0.15"});
  ASSERT_TRUE(phone.ok()) << phone.log();
  uint16_t sip_port = phone.port("sip-udp");
  // A listener on every port the sweep would use, on the out-of-scope address.
  Responder switch_port("127.0.5.1", {"--tcp", "0"});  // an open port on the switch itself
  ASSERT_TRUE(switch_port.ok());
  uint16_t tcp_port = switch_port.port("tcp");
  std::vector<Row> rows = {
      // ENTITY-MIB chassis row.
      {".1.3.6.1.2.1.47.1.1.1.1.2.1", "string", "Catalyst 2960-X chassis"},
      {".1.3.6.1.2.1.47.1.1.1.1.5.1", "integer", 3},
      {".1.3.6.1.2.1.47.1.1.1.1.8.1", "string", "V05"},
      {".1.3.6.1.2.1.47.1.1.1.1.10.1", "string", "15.2(7)E3"},
      {".1.3.6.1.2.1.47.1.1.1.1.11.1", "string", "FOC1234X0AB"},
      {".1.3.6.1.2.1.47.1.1.1.1.12.1", "string", "Cisco Systems"},
      {".1.3.6.1.2.1.47.1.1.1.1.13.1", "string", "WS-C2960X-48FPD-L"},
      // LLDP local ports 3 and 4.
      {".1.0.8802.1.1.2.1.3.7.1.3.3", "string", "Gi1/0/3"},
      {".1.0.8802.1.1.2.1.3.7.1.4.3", "string", "GigabitEthernet1/0/3"},
      {".1.0.8802.1.1.2.1.3.7.1.3.4", "string", "Gi1/0/4"},
      // LLDP remote 0.3.1: the phone (chassis id = MAC).
      {".1.0.8802.1.1.2.1.4.1.1.4.0.3.1", "integer", 4},
      {".1.0.8802.1.1.2.1.4.1.1.5.0.3.1", "octet", "80 5e c0 11 22 33"},
      {".1.0.8802.1.1.2.1.4.1.1.7.0.3.1", "string", "WAN PORT"},
      {".1.0.8802.1.1.2.1.4.1.1.9.0.3.1", "string", "phone-lobby"},
      {".1.0.8802.1.1.2.1.4.1.1.10.0.3.1", "string", "Yealink SIP-T46S 66.86.0.15"},
      // LLDP remote 0.4.2: outside the scope.
      {".1.0.8802.1.1.2.1.4.1.1.9.0.4.2", "string", "rogue-device"},
      // lldpRemManAddrIfSubtype for 127.0.5.7 and 127.0.9.9 (IPv4, 4 bytes).
      {".1.0.8802.1.1.2.1.4.2.1.3.0.3.1.1.4.127.0.5.7", "integer", 2},
      {".1.0.8802.1.1.2.1.4.2.1.3.0.4.2.1.4.127.0.9.9", "integer", 2},
      // LLDP-MED inventory of the phone.
      {".1.0.8802.1.1.2.1.5.4795.1.3.3.1.1.0.3.1", "string", "T46S-HW2"},
      {".1.0.8802.1.1.2.1.5.4795.1.3.3.1.3.0.3.1", "string", "66.86.0.15"},
      {".1.0.8802.1.1.2.1.5.4795.1.3.3.1.4.0.3.1", "string", "YL-SN-0001"},
      {".1.0.8802.1.1.2.1.5.4795.1.3.3.1.5.0.3.1", "string", "Yealink"},
      {".1.0.8802.1.1.2.1.5.4795.1.3.3.1.6.0.3.1", "string", "SIP-T46S"},
      // CDP cache ifIndex 9, device 1: a Cisco phone at 127.0.5.8.
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.3.9.1", "integer", 1},
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.4.9.1", "octet", "7f 00 05 08"},
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.5.9.1", "string", "sip88xx.14-1-1MN-366"},
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.6.9.1", "string", "SEP00112233AABB"},
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.7.9.1", "string", "Port 1"},
      {".1.3.6.1.4.1.9.9.23.1.2.1.1.8.9.1", "string", "Cisco IP Phone 8845"},
      // ARP: 127.0.5.9 (ipNetToMedia) and 127.0.9.10 (ipNetToPhysical, out of scope).
      {".1.3.6.1.2.1.4.22.1.2.9.127.0.5.9", "octet", "00 11 22 33 44 55"},
      {".1.3.6.1.2.1.4.35.1.4.9.1.4.127.0.9.10", "octet", "00 11 22 33 44 66"},
  };
  Snmpd snmpd("127.0.5.1",
              systemConf("Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version "
                         "15.2(7)E3, RELEASE SOFTWARE (fc3)",
                         ".1.3.6.1.4.1.9.1.1208", "sw-lab-1"),
              rows);
  ASSERT_TRUE(snmpd.ok());
  Responder rogue("127.0.9.9", {"--tcp", std::to_string(tcp_port), "--udp",
                                std::to_string(sip_port), "--udp", std::to_string(snmpd.port())});
  ASSERT_TRUE(rogue.ok()) << rogue.log();
  Responder rogue_arp(
      "127.0.9.10", {"--tcp", std::to_string(tcp_port), "--udp", std::to_string(sip_port), "--udp",
                     std::to_string(snmpd.port())});
  ASSERT_TRUE(rogue_arp.ok()) << rogue_arp.log();

  auto r = runTlsaudit({"discover",         "127.0.5.1",
                        "--scope",          "127.0.5.0/24",
                        "--ports",          std::to_string(tcp_port),
                        "--sip-port",       std::to_string(sip_port),
                        "--snmp-port",      std::to_string(snmpd.port()),
                        "--snmp-community", "wrong",
                        "--snmp-community", "public",
                        "--timeout",        "0.5",
                        "--udp-timeout",    "0.5",
                        "--retries",        "0",
                        "--format",         "json",
                        "--trace"},
                       milliseconds(60000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);

  const Json* sw = findAsset(doc, "127.0.5.1");
  ASSERT_NE(sw, nullptr) << r.out;
  EXPECT_EQ((*sw)["snmpCredential"], "v2c#2");  // the second community was the working one
  EXPECT_EQ((*sw)["sysName"], "sw-lab-1");
  EXPECT_EQ((*sw)["sysLocation"], "lab rack 4");
  EXPECT_EQ((*sw)["sysObjectId"], "1.3.6.1.4.1.9.1.1208");
  EXPECT_EQ((*sw)["model"], "WS-C2960X-48FPD-L");  // ENTITY-MIB outranks the signature
  EXPECT_EQ((*sw)["serial"], "FOC1234X0AB");
  EXPECT_EQ((*sw)["hardwareRevision"], "V05");
  EXPECT_EQ((*sw)["firmware"], "15.2(7)E3");
  EXPECT_EQ((*sw)["vendor"], "Cisco Systems");
  EXPECT_EQ((*sw)["deviceClass"], "SWITCH");
  EXPECT_TRUE(contains((*sw)["discoveredBy"], "snmp"));
  EXPECT_NE(findService(*sw, tcp_port, "tcp"), nullptr);

  const Json* ph = findAsset(doc, "127.0.5.7");
  ASSERT_NE(ph, nullptr) << r.out;
  EXPECT_EQ((*ph)["vendor"], "Yealink");
  EXPECT_EQ((*ph)["model"], "SIP-T46S");
  EXPECT_EQ((*ph)["firmware"], "66.86.0.15");
  EXPECT_EQ((*ph)["serial"], "YL-SN-0001");
  EXPECT_EQ((*ph)["mac"], "80:5e:c0:11:22:33");
  EXPECT_EQ((*ph)["deviceClass"], "PHONE");
  EXPECT_EQ((*ph)["attachment"]["switchName"], "sw-lab-1");
  EXPECT_EQ((*ph)["attachment"]["switchAddress"], "127.0.5.1");
  EXPECT_EQ((*ph)["attachment"]["switchPort"], "GigabitEthernet1/0/3");
  EXPECT_EQ((*ph)["attachment"]["protocol"], "LLDP");
  EXPECT_TRUE(contains((*ph)["discoveredBy"], "lldp"));
  // Swept because LLDP named it inside the scope: its SIP agent answered over UDP.
  EXPECT_TRUE(contains((*ph)["discoveredBy"], "sip")) << r.out;
  const Json* sip = findService(*ph, sip_port, "udp");
  ASSERT_NE(sip, nullptr) << r.out;
  EXPECT_EQ((*sip)["product"], "Yealink SIP-T46S 66.86.0.15");
  EXPECT_THAT(phone.contacts(), Not(::testing::IsEmpty()));

  const Json* cdp = findAsset(doc, "127.0.5.8");
  ASSERT_NE(cdp, nullptr) << r.out;
  EXPECT_EQ((*cdp)["model"], "Cisco IP Phone 8845");
  EXPECT_EQ((*cdp)["hostname"], "SEP00112233AABB");
  EXPECT_EQ((*cdp)["attachment"]["protocol"], "CDP");
  EXPECT_TRUE(contains((*cdp)["discoveredBy"], "cdp"));

  const Json* arp = findAsset(doc, "127.0.5.9");
  ASSERT_NE(arp, nullptr) << r.out;
  EXPECT_EQ((*arp)["mac"], "00:11:22:33:44:55");

  // Out of scope: reported as the switch's neighbour, never contacted.
  const Json* rogue_asset = findAsset(doc, "127.0.9.9");
  ASSERT_NE(rogue_asset, nullptr) << r.out;
  EXPECT_TRUE((*rogue_asset)["services"].empty());
  EXPECT_EQ(findAsset(doc, "127.0.9.10"), nullptr);  // ARP rows outside the scope are dropped
  EXPECT_THAT(r.err, HasSubstr("neighbour 127.0.9.9 (lldp) outside the scope: not probed"));
  EXPECT_THAT(r.err, Not(HasSubstr("tcp 127.0.9.9")));
  EXPECT_THAT(r.err, HasSubstr("neighbour 127.0.5.7 (lldp) added to the sweep"));
  EXPECT_TRUE(rogue.contacts().empty()) << rogue.log();
  EXPECT_TRUE(rogue_arp.contacts().empty()) << rogue_arp.log();
  // The community is a secret: never in the output.
  EXPECT_THAT(r.out, Not(HasSubstr("public")));
  EXPECT_THAT(r.err, Not(HasSubstr("public")));
}

// Without --scope the scope is the targets: the in-range neighbour of the switch is not swept.
TEST(DiscoveryTest, NeighboursOutsideTargetsAreNotProbedByDefault) {
  Responder phone("127.0.5.27", {"--sip-udp", "0", "--user-agent", "Yealink SIP-T46S 66.86.0.15"});
  ASSERT_TRUE(phone.ok());
  std::vector<Row> rows = {
      {".1.0.8802.1.1.2.1.4.1.1.9.0.3.1", "string", "phone"},
      {".1.0.8802.1.1.2.1.4.2.1.3.0.3.1.1.4.127.0.5.27", "integer", 2},
  };
  Snmpd snmpd("127.0.5.21", systemConf("Linux sw 6.1.0", ".1.3.6.1.4.1.8072.3.2.10", "sw2"), rows);
  ASSERT_TRUE(snmpd.ok());
  auto r = runTlsaudit({"discover", "127.0.5.21", "--ports", "none", "--sip-port",
                        std::to_string(phone.port("sip-udp")), "--snmp-port",
                        std::to_string(snmpd.port()), "--snmp-community", "public", "--udp-timeout",
                        "0.5", "--retries", "0", "--format", "json", "--trace"},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  ASSERT_NE(findAsset(doc, "127.0.5.21"), nullptr) << r.out;
  EXPECT_TRUE(phone.contacts().empty()) << phone.log();
  EXPECT_THAT(r.err, HasSubstr("neighbour 127.0.5.27 (lldp) outside the scope"));
}

TEST(DiscoveryTest, SnmpV3UsmLevelsAndProtocols) {
  Snmpd snmpd("127.0.6.1",
              systemConf("Polycom VVX 450 test agent", ".1.3.6.1.4.1.13885.1", "vvx-1") +
                  "createUser shauser SHA shapassword1 AES aespassword1\n"
                  "createUser md5user MD5 md5password1\n"
                  "createUser sha256user SHA-256 sha256password DES despassword1\n"
                  "createUser noauthuser\n"
                  "createUser aes192user SHA-512 sha512password AES192 aes192password\n"
                  "createUser aes256user SHA-384 sha384password AES256 aes256password\n"
                  "rouser shauser priv\nrouser md5user auth\nrouser sha256user priv\n"
                  "rouser noauthuser noauth\nrouser aes192user priv\nrouser aes256user priv\n",
              {});
  ASSERT_TRUE(snmpd.ok());
  struct Case {
    std::vector<std::string> args;
    std::string name;
  };
  std::vector<Case> cases = {
      {{"--snmp-v3-user", "shauser", "--snmp-v3-auth", "SHA:shapassword1", "--snmp-v3-priv",
        "AES:aespassword1"},
       "v3:shauser"},
      {{"--snmp-v3-user", "md5user", "--snmp-v3-auth", "MD5:md5password1"}, "v3:md5user"},
      {{"--snmp-v3-user", "sha256user", "--snmp-v3-auth", "SHA-256:sha256password",
        "--snmp-v3-priv", "DES:despassword1"},
       "v3:sha256user"},
      {{"--snmp-v3-user", "noauthuser"}, "v3:noauthuser"},
      {{"--snmp-v3-user", "aes192user", "--snmp-v3-auth", "SHA-512:sha512password",
        "--snmp-v3-priv", "AES-192:aes192password"},
       "v3:aes192user"},
      {{"--snmp-v3-user", "aes256user", "--snmp-v3-auth", "SHA-384:sha384password",
        "--snmp-v3-priv", "AES-256:aes256password"},
       "v3:aes256user"},
      // SNMPv1 with the community the fixture's system configuration grants.
      {{"--snmp-version", "1", "--snmp-community", "public"}, "v1#1"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"discover",
                                     "127.0.6.1",
                                     "--ports",
                                     "none",
                                     "--no-sip-udp",
                                     "--snmp-port",
                                     std::to_string(snmpd.port()),
                                     "--udp-timeout",
                                     "1",
                                     "--retries",
                                     "1",
                                     "--format",
                                     "json",
                                     "--no-snmp-tables"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = runTlsaudit(args, milliseconds(30000));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto doc = parseOut(r);
    const Json* a = findAsset(doc, "127.0.6.1");
    ASSERT_NE(a, nullptr) << c.name << "\n" << r.out << r.err;
    EXPECT_EQ((*a)["snmpCredential"], c.name);
    EXPECT_EQ((*a)["vendor"], "Polycom");
    EXPECT_EQ((*a)["model"], "VVX 450");
    EXPECT_EQ((*a)["deviceClass"], "PHONE");
    // Passphrases never appear anywhere.
    for (const auto& arg : c.args) {
      if (arg.find(':') != std::string::npos) {
        auto pass = arg.substr(arg.find(':') + 1);
        EXPECT_THAT(r.out + r.err, Not(HasSubstr(pass)));
      }
    }
  }
}

TEST(DiscoveryTest, WrongV3PasswordIsAClearErrorWithoutHanging) {
  Snmpd snmpd("127.0.6.11",
              systemConf("test", ".1.3.6.1.4.1.8072.3.2.10", "agent") +
                  "createUser shauser SHA shapassword1 AES aespassword1\nrouser shauser priv\n",
              {});
  ASSERT_TRUE(snmpd.ok());
  auto run = [&](const std::string& auth, const std::string& priv) {
    return runTlsaudit(
        {"discover", "127.0.6.11", "--ports", "none", "--no-sip-udp", "--snmp-port",
         std::to_string(snmpd.port()), "--udp-timeout", "0.5", "--retries", "1", "--snmp-v3-user",
         "shauser", "--snmp-v3-auth", auth, "--snmp-v3-priv", priv},
        milliseconds(30000));
  };
  auto r = run("SHA:wrongpassword", "AES:aespassword1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("SNMPv3 authentication failed at 127.0.6.11"));
  EXPECT_THAT(r.err, HasSubstr("wrong auth passphrase"));
  EXPECT_THAT(r.err, Not(HasSubstr("wrongpassword")));
  EXPECT_LT(r.elapsed, milliseconds(5000));
  EXPECT_THAT(r.out, HasSubstr("0 assets"));

  r = run("SHA:shapassword1", "AES:wrongprivpass");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("wrong priv passphrase"));
  EXPECT_THAT(r.err, Not(HasSubstr("wrongprivpass")));
  // Two attempts of 0.5 s plus discovery: bounded.
  EXPECT_LT(r.elapsed, milliseconds(5000));

  r = run("SHA:short", "AES:aespassword1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("at least 8 characters"));
  EXPECT_THAT(r.err, Not(HasSubstr("short")));
}

TEST(DiscoveryTest, WrongCommunityAndSilentAgentTimeOutWithinBounds) {
  Snmpd snmpd("127.0.6.21", systemConf("test", ".1.3.6.1.4.1.8072.3.2.10", "agent"), {});
  ASSERT_TRUE(snmpd.ok());
  auto r = runTlsaudit({"discover", "127.0.6.21", "--ports", "none", "--no-sip-udp", "--snmp-port",
                        std::to_string(snmpd.port()), "--snmp-community", "nottheone",
                        "--udp-timeout", "0.4", "--retries", "1", "--trace"},
                       milliseconds(30000));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0 assets"));
  EXPECT_THAT(r.err, HasSubstr("wrong community or no agent"));
  EXPECT_GE(r.elapsed, milliseconds(700));   // two attempts of 0.4 s were waited for
  EXPECT_LT(r.elapsed, milliseconds(4000));  // and not much more
  EXPECT_THAT(r.err, Not(HasSubstr("nottheone")));

  // A UDP port that swallows everything: SNMP and SIP both give up on time.
  Responder silent("127.0.6.22", {"--udp", "0"});
  ASSERT_TRUE(silent.ok());
  auto port = std::to_string(silent.port("udp"));
  r = runTlsaudit({"discover", "127.0.6.22", "--ports", "none", "--sip-port", port, "--snmp-port",
                   port, "--snmp-community", "public", "--udp-timeout", "0.5", "--retries", "1"},
                  milliseconds(30000));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("0 assets"));
  EXPECT_GE(r.elapsed, milliseconds(900));
  EXPECT_LT(r.elapsed, milliseconds(4000));
  EXPECT_GE(silent.contacts().size(), 4u) << silent.log();  // SIP and SNMP, each retried
}

TEST(DiscoveryTest, SipOverUdpAndTcpHttpAndClosedPorts) {
  Responder dev("127.0.7.2", {"--sip-udp", "0", "--user-agent", "snomD785/10.1.73.16"});
  ASSERT_TRUE(dev.ok());
  uint16_t sip = dev.port("sip-udp");
  // SIP over TCP on the same port number, and an HTTP server.
  Responder tcp("127.0.7.2",
                {"--sip-tcp", std::to_string(sip), "--user-agent", "snomD785/10.1.73.16", "--http",
                 "0", "--http-server", "snom embedded", "--http-title", "snom D785 Phone"});
  ASSERT_TRUE(tcp.ok()) << tcp.log();
  uint16_t http = tcp.port("http");
  ClosedPort closed;
  // A PBX answering SIP over TCP only (Server header).
  Responder pbx("127.0.7.3", {"--sip-tcp", std::to_string(sip), "--server", "Asterisk PBX 18.9.0",
                              "--http", std::to_string(http), "--http-server",
                              "Apache/2.4.57 (Debian)", "--http-title", "FreePBX Administration"});
  ASSERT_TRUE(pbx.ok()) << pbx.log();
  auto r = runTlsaudit(
      {"discover", "127.0.7.2-3", "--ports",
       std::to_string(sip) + "," + std::to_string(http) + "," + std::to_string(closed.port()),
       "--sip-port", std::to_string(sip), "--http-ports", std::to_string(http), "--timeout", "1",
       "--udp-timeout", "0.5", "--retries", "0", "--format", "json", "--trace"},
      milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  const Json* phone = findAsset(doc, "127.0.7.2");
  ASSERT_NE(phone, nullptr) << r.out;
  EXPECT_EQ((*phone)["vendor"], "Snom");
  EXPECT_EQ((*phone)["model"], "D785");
  EXPECT_EQ((*phone)["firmware"], "10.1.73.16");
  EXPECT_EQ((*phone)["deviceClass"], "PHONE");
  const Json* udp = findService(*phone, sip, "udp");
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ((*udp)["protocol"], "sip");
  const Json* tcp_sip = findService(*phone, sip, "tcp");
  ASSERT_NE(tcp_sip, nullptr);
  EXPECT_EQ((*tcp_sip)["protocol"], "sip");
  EXPECT_EQ((*tcp_sip)["product"], "snomD785/10.1.73.16");
  const Json* web = findService(*phone, http, "tcp");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ((*web)["protocol"], "http");
  EXPECT_EQ((*web)["product"], "snom embedded");
  EXPECT_EQ((*web)["banner"], "snom D785 Phone");
  EXPECT_EQ(findService(*phone, closed.port(), "tcp"), nullptr);  // closed: not a service
  EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.2:" + std::to_string(closed.port()) + " refused"));

  const Json* asterisk = findAsset(doc, "127.0.7.3");
  ASSERT_NE(asterisk, nullptr) << r.out;
  EXPECT_EQ((*asterisk)["model"], "Asterisk");
  EXPECT_EQ((*asterisk)["firmware"], "18.9.0");
  EXPECT_EQ((*asterisk)["deviceClass"], "PBX");
  EXPECT_EQ((*asterisk)["fingerprint"], "asterisk");
}

// A port whose accept queue is full drops SYNs: the connect deadline (and its one retry) is what
// ends the probe.
TEST(DiscoveryTest, SilentTcpPortHonoursTheConnectDeadline) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.7.50", &sa.sin_addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t len = sizeof sa;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len);
  uint16_t port = ntohs(sa.sin_port);
  // Fill the accept queue (never accepted): later SYNs are dropped.
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fillers.push_back(fd);
  }
  ::usleep(100000);
  auto r = runTlsaudit({"discover", "127.0.7.50", "--ports", std::to_string(port), "--no-sip-udp",
                        "--timeout", "0.5", "--retries", "1", "--trace"},
                       milliseconds(30000));
  for (int fd : fillers) ::close(fd);
  ::close(listener);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.50:" + std::to_string(port) + " timeout (2 attempts)"));
  EXPECT_GE(r.elapsed, milliseconds(950));
  EXPECT_LT(r.elapsed, milliseconds(3000));
}

// HTTPS: TLS handshake (certificate subject as evidence), then Server header and title read
// inside TLS.
TEST(DiscoveryTest, HttpsBannerAndCertificateSubject) {
  std::string dir = scratchDir();
  auto gen = runCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                         "-subj", "/CN=SEP001122AABBCC/O=Cisco Systems Inc.", "-keyout",
                         dir + "/phone.key", "-out", dir + "/phone.crt"},
                        milliseconds(30000));
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Responder phone("127.0.7.60", {"--https", "0", "--cert", dir + "/phone.crt", "--key",
                                 dir + "/phone.key", "--http-server", "Cisco-IP-Phone-Web",
                                 "--http-title", "Cisco IP Phone CP-8845 ( SEP001122AABBCC )"});
  ASSERT_TRUE(phone.ok()) << phone.log();
  uint16_t port = phone.port("https");
  auto r = runTlsaudit({"discover", "127.0.7.60", "--ports", std::to_string(port), "--https-ports",
                        std::to_string(port), "--no-sip-udp", "--format", "json", "--trace"},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  const Json* a = findAsset(doc, "127.0.7.60");
  ASSERT_NE(a, nullptr) << r.out;
  const Json* s = findService(*a, port, "tcp");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s)["tls"], true);
  EXPECT_EQ((*s)["protocol"], "https");
  EXPECT_EQ((*s)["product"], "Cisco-IP-Phone-Web");
  EXPECT_EQ((*s)["banner"], "Cisco IP Phone CP-8845 ( SEP001122AABBCC )");
  EXPECT_EQ((*a)["vendor"], "Cisco");
  EXPECT_EQ((*a)["model"], "CP-8845");
  EXPECT_EQ((*a)["deviceClass"], "PHONE");
  EXPECT_TRUE(contains((*a)["discoveredBy"], "tls"));
  EXPECT_TRUE(contains((*a)["discoveredBy"], "http"));
}

TEST(DiscoveryTest, SilentTcpServiceHonoursTheReadDeadline) {
  auto tarpit = startPythonServer("tarpit_server.py", {}, "127.0.7.12");
  ASSERT_TRUE(tarpit && tarpit->ok());
  auto port = std::to_string(tarpit->port());
  // An open port that never answers an HTTP request: the banner read gives up on time.
  auto r = runTlsaudit({"discover", "127.0.7.12", "--ports", port, "--http-ports", port,
                        "--no-sip-udp", "--read-timeout", "0.5", "--format", "json"},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  const Json* a = findAsset(doc, "127.0.7.12");
  ASSERT_NE(a, nullptr) << r.out;
  const Json* s = findService(*a, tarpit->port(), "tcp");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s)["protocol"], "");
  EXPECT_GE(r.elapsed, milliseconds(450));
  EXPECT_LT(r.elapsed, milliseconds(3000));
}

TEST(DiscoveryTest, RangesExclusionsAndBadInput) {
  Responder a("127.0.7.21", {"--tcp", "0"});
  ASSERT_TRUE(a.ok());
  auto port = std::to_string(a.port("tcp"));
  Responder b("127.0.7.22", {"--tcp", port});
  Responder c("127.0.7.23", {"--tcp", port});
  ASSERT_TRUE(b.ok() && c.ok());
  auto r = runTlsaudit({"discover", "127.0.7.20/30", "--exclude", "127.0.7.22", "--ports", port,
                        "--no-sip-udp", "--no-identify", "--format", "json"},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  EXPECT_NE(findAsset(doc, "127.0.7.21"), nullptr);
  EXPECT_EQ(findAsset(doc, "127.0.7.22"), nullptr);
  EXPECT_NE(findAsset(doc, "127.0.7.23"), nullptr);
  EXPECT_TRUE(b.contacts().empty()) << b.log();

  r = runTlsaudit({"discover", "127.0.7.30-127.0.7.20"}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("comes before the first"));
  r = runTlsaudit({"discover", "127.0.7.1:443"}, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--ports"));
  r = runTlsaudit(
      {"discover", "127.0.7.1", "--snmp-v3-user", "u", "--snmp-v3-auth", "RC4:12345678"},
      milliseconds(10000));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown authentication protocol 'RC4'"));
}

TEST(DiscoveryTest, Ipv6AndRateLimit) {
  Responder v6("::1", {"--tcp", "0"});
  ASSERT_TRUE(v6.ok()) << v6.log();
  auto port = std::to_string(v6.port("tcp"));
  auto r = runTlsaudit(
      {"discover", "::1", "--ports", port, "--no-sip-udp", "--no-identify", "--format", "json"},
      milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  const Json* a = findAsset(doc, "::1");
  ASSERT_NE(a, nullptr) << r.out;
  EXPECT_NE(findService(*a, v6.port("tcp"), "tcp"), nullptr);

  // 8 addresses x 3 ports at 10 probes/s: the first probe is immediate, the last at 2.3 s.
  ClosedPort closed;
  auto p = std::to_string(closed.port());
  r = runTlsaudit({"discover", "127.0.7.40/29", "--ports", p + "," + port + ",1", "--rate", "10",
                   "--no-sip-udp", "--stats"},
                  milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("tcp probes 24"));
  EXPECT_GE(r.elapsed, milliseconds(2200));
  EXPECT_LT(r.elapsed, milliseconds(8000));
}

// `tlsaudit scan` over a block: discovery finds the one TLS server, the TLS engine probes only
// it, and its report is attached to the asset.
TEST(DiscoveryTest, ScanOverABlockDiscoversFirstAndAttachesReports) {
  // A phone's certificate: the TLS report's leaf subject identifies the device.
  std::string dir = scratchDir();
  auto gen = runCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                         "-subj", "/CN=SEP00AABBCCDDEE/O=Cisco Systems Inc.", "-keyout",
                         dir + "/scanphone.key", "-out", dir + "/scanphone.crt"},
                        milliseconds(30000));
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto server = startOpensslServer(
      {"-cert", dir + "/scanphone.crt", "-key", dir + "/scanphone.key", "-tls1_2"}, "127.0.8.3");
  ASSERT_TRUE(server && server->ok());
  auto port = std::to_string(server->port());
  auto r = runTlsaudit({"scan", "127.0.8.0/29", "--ports", port, "--format", "json",
                        "--no-system-trust", "--timeout", "2"},
                       milliseconds(120000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = parseOut(r);
  ASSERT_EQ(doc["reports"].size(), 1u) << r.out;
  EXPECT_EQ(doc["reports"][0]["target"]["ip"], "127.0.8.3");
  const Json* a = findAsset(doc, "127.0.8.3");
  ASSERT_NE(a, nullptr) << r.out;
  const Json* s = findService(*a, server->port(), "tcp");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s)["reportIndex"], 0);
  EXPECT_EQ((*s)["tls"], true);
  EXPECT_EQ(doc["assets"].size(), 1u);
  EXPECT_EQ((*a)["vendor"], "Cisco");
  EXPECT_EQ((*a)["deviceClass"], "PHONE");
  EXPECT_EQ((*a)["fingerprint"], "cert-cisco-phone");

  r = runTlsaudit({"scan", "127.0.8.0/29", "--ports", port, "--no-system-trust", "--timeout", "2"},
                  milliseconds(120000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("== 127.0.8.3: Cisco, phone"));
}

}  // namespace
}  // namespace tlsaudit::itest
