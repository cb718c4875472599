// The tlsaudit binary as a user runs it: JSON and CSV output, exit codes and messages for bad
// input, unreachable endpoints, and the politeness limits (concurrency, per-host, rate) over
// many endpoints at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string target(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// RFC 4180 records ("\n" or "\r\n" line ends, quoted fields with "" escapes).
bool parseCsv(const std::string& text, std::vector<std::vector<std::string>>* rows,
              std::string* error) {
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (field_started && !field.empty()) {
        *error = "quote inside an unquoted field at byte " + std::to_string(i);
        return false;
      }
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(field);
      rows->push_back(row);
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) {
    *error = "unterminated quoted field";
    return false;
  }
  if (field_started || !row.empty()) {
    row.push_back(field);
    rows->push_back(row);
  }
  return true;
}

// A small TLS 1.2 server with exactly these OpenSSL suites.
std::unique_ptr<Server> tls12Server(const std::string& ciphers) {
  return startOpensslServer(
      {"-tls1_2", "-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key", "-cipher", ciphers});
}

std::set<std::string> ianaSet(const std::string& openssl_list) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= openssl_list.size()) {
    size_t end = openssl_list.find(':', start);
    if (end == std::string::npos) end = openssl_list.size();
    const auto* s = opensslSuiteByName(openssl_list.substr(start, end - start));
    out.insert(s ? s->iana : "unknown:" + openssl_list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::set<std::string> jsonSuites(const Json& report, const std::string& version) {
  std::set<std::string> out;
  for (const auto& v : report.value("versions", Json::array())) {
    if (v.value("version", "") != version) continue;
    for (const auto& s : v.value("cipherSuites", Json::array())) out.insert(s.value("name", ""));
  }
  return out;
}

// ---- m. output formats ----------------------------------------------------------------------

const char* kCiphers = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA";

TEST(Cli, JsonOutput) {
  auto server = tls12Server(kCiphers);
  ASSERT_TRUE(server->ok());
  auto r = runTlsaudit({"scan", target(server->port()), "--timeout", "2", "--format", "json",
                        "--no-system-trust", "--ca-file", pki("rsa-root.crt")},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0);
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "stdout is not JSON";
  EXPECT_TRUE(doc["toolVersion"].is_string());
  EXPECT_TRUE(doc["startedAt"].is_string());
  EXPECT_TRUE(doc["finishedAt"].is_string());
  ASSERT_TRUE(doc["reports"].is_array());
  ASSERT_EQ(doc["reports"].size(), 1u);
  const auto& report = doc["reports"][0];
  EXPECT_EQ(report["target"]["port"], server->port());
  EXPECT_EQ(report["target"]["ip"], "127.0.0.1");
  EXPECT_EQ(report["reachable"], true);
  EXPECT_EQ(report["tls"], true);
  ASSERT_TRUE(report["versions"].is_array());
  EXPECT_EQ(jsonSuites(report, "TLS1_2"), ianaSet(kCiphers));
  for (const auto& v : report["versions"]) {
    ASSERT_TRUE(v["version"].is_string());
    for (const auto& s : v.value("cipherSuites", Json::array())) {
      EXPECT_TRUE(s["name"].is_string());
      EXPECT_TRUE(s["code"].is_number());
      EXPECT_TRUE(s["forwardSecret"].is_boolean());
    }
  }
  ASSERT_EQ(report["chains"].size(), 1u);
  EXPECT_EQ(report["chains"][0]["trusted"], true);
  const auto& leaf = report["chains"][0]["certificates"][0];
  EXPECT_TRUE(std::regex_match(leaf.value("sha256", ""), std::regex("[0-9a-fA-F]{64}")))
      << leaf.value("sha256", "");
  EXPECT_EQ(leaf.value("subject", ""), certificateSubject(pki("rsa-leaf.crt")));
  EXPECT_TRUE(report["connections"].is_number());
}

// The CSV columns, in order: the contract for spreadsheets and scripts reading `--format csv`.
const std::vector<std::string> kCsvHeader = {
    "host",           "ip",       "port",     "starttls",  "type",    "version",
    "name",           "code",     "kx",       "auth",      "cipher",  "bits",
    "forward_secret", "kx_group", "kx_bits",  "subject",   "issuer",  "signature_algorithm",
    "signature_hash", "key_type", "key_bits", "not_after", "trusted", "message",
    "severity",       "state",    "evidence"};

TEST(Cli, CsvOutput) {
  auto server = tls12Server(kCiphers);
  ASSERT_TRUE(server->ok());
  auto md5 =
      startOpensslServer({"-tls1", "-cert", "md5-leaf.crt", "-key", "md5-leaf.key", "-cert_chain",
                          "md5-root.crt", "-cipher", "AES128-SHA:@SECLEVEL=0"});
  ASSERT_TRUE(md5->ok());
  ClosedPort closed;
  auto r = runTlsaudit({"scan", target(server->port()), target(md5->port()), target(closed.port()),
                        "--timeout", "2", "--format", "csv"},
                       milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0);
  std::vector<std::vector<std::string>> rows;
  std::string error;
  ASSERT_TRUE(parseCsv(r.out, &rows, &error)) << error;
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows[0], kCsvHeader);
  std::set<std::string> tls12_suites, ports, types;
  bool md5_certificate = false;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), kCsvHeader.size()) << "row " << i;
    ports.insert(row[2]);
    types.insert(row[4]);
    if (row[2] == std::to_string(server->port()) && row[4] == "cipher" && row[5] == "TLS 1.2") {
      tls12_suites.insert(row[6]);
    }
    // Subjects with commas ("CN=...,O=...") must survive quoting.
    if (row[4] == "certificate" && row[15] == certificateSubject(pki("md5-root.crt"))) {
      md5_certificate = row[18] == "MD5";
    }
  }
  EXPECT_EQ(tls12_suites, ianaSet(kCiphers));
  EXPECT_TRUE(md5_certificate);
  EXPECT_EQ(ports,
            (std::set<std::string>{std::to_string(server->port()), std::to_string(md5->port()),
                                   std::to_string(closed.port())}));
  EXPECT_THAT(types,
              ::testing::IsSupersetOf({"version", "cipher", "certificate", "error", "finding"}));
  // The MD5 leaf is a critical finding of the baseline profile, in its own row.
  bool md5_finding = false;
  for (const auto& row : rows) {
    if (row.size() == kCsvHeader.size() && row[4] == "finding" && row[6] == "cert-sig-md5") {
      md5_finding = row[2] == std::to_string(md5->port()) && row[24] == "critical" &&
                    row[25] == "open" && row[26].find("md5WithRSAEncryption") != std::string::npos;
    }
  }
  EXPECT_TRUE(md5_finding);
}

// --trace: "one line per connection on stderr: what was offered and what came back" (README).
// The TLS 1.2 + 1.3 server makes the prober complete real OpenSSL handshakes as well.
TEST(Cli, TraceHasOneLinePerConnection) {
  auto server = startOpensslServer({"-cert", "rsa-leaf.crt", "-key", "rsa-leaf.key"});
  ASSERT_TRUE(server->ok());
  auto r =
      runTlsaudit({"scan", target(server->port()), "--timeout", "2", "--format", "json", "--trace"},
                  milliseconds(30000));
  ASSERT_EQ(r.exit_code, 0);
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_EQ(doc["reports"].size(), 1u);
  int connections = doc["reports"][0].value("connections", 0);
  ASSERT_GT(connections, 0);
  std::regex line_re("^127\\.0\\.0\\.1:" + std::to_string(server->port()) + " #(\\d+) ");
  std::istringstream lines(r.err);
  std::string line;
  std::vector<int> numbers;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, line_re)) numbers.push_back(std::stoi(m[1]));
  }
  EXPECT_EQ(static_cast<int>(numbers.size()), connections) << "trace lines vs connections";
  std::set<int> unique(numbers.begin(), numbers.end());
  EXPECT_EQ(unique.size(), numbers.size()) << "a connection number appears twice";
  std::set<int> all;
  for (int i = 1; i <= connections; ++i) all.insert(i);
  EXPECT_EQ(unique, all) << "connection numbers are not 1.." << connections;
}

// ---- m. usage errors ------------------------------------------------------------------------

struct BadInput {
  const char* name;
  std::vector<std::string> args;
  std::string named;  // what the message must name
};

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsTwoWithOneMessage) {
  const auto& param = GetParam();
  auto r = runTlsaudit(param.args, milliseconds(10000));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "") << "nothing on stdout for a usage error";
  EXPECT_THAT(r.err, HasSubstr(param.named));
  // One clear message: one line.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_LT(r.elapsed, milliseconds(2000)) << "a usage error must not start a scan";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadInput,
    ::testing::Values(BadInput{"PortOutOfRange", {"scan", "127.0.0.1:99999"}, "99999"},
                      BadInput{"PortsZero", {"scan", "127.0.0.1", "--ports", "0"}, "'0'"},
                      BadInput{"FormatXml", {"scan", "127.0.0.1:443", "--format", "xml"}, "xml"},
                      BadInput{"MissingCaFile",
                               {"scan", "127.0.0.1:443", "--ca-file", "/nonexistent"},
                               "/nonexistent"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return std::string(info.param.name); });

TEST(Cli, ClosedPortIsNotReachable) {
  ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  auto r = runTlsaudit({"scan", target(closed.port()), "--timeout", "2", "--format", "json"},
                       milliseconds(10000));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_LT(r.elapsed, milliseconds(1500));
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  ASSERT_EQ(doc["reports"].size(), 1u);
  const auto& report = doc["reports"][0];
  EXPECT_EQ(report["reachable"], false);
  EXPECT_EQ(report["tls"], false);
  bool refused = false;
  for (const auto& e : report["errors"]) {
    refused |= e.value("stage", "") == "connect" && e.value("kind", "") == "refused";
  }
  EXPECT_TRUE(refused) << report.dump(1);
}

// ---- n. many endpoints, limits --------------------------------------------------------------

// Cipher sets that make every endpoint's report recognisable.
const std::vector<std::string> kVariants = {"AES128-SHA", "AES256-SHA:AES128-SHA",
                                            "ECDHE-RSA-AES128-GCM-SHA256",
                                            "ECDHE-RSA-AES256-GCM-SHA384:AES256-GCM-SHA384"};

TEST(Cli, TwentyEndpointsInTargetOrderWithinPerHostLimit) {
  constexpr size_t kEndpoints = 20;
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<uint16_t> backends;
  for (size_t i = 0; i < kEndpoints; ++i) {
    servers.push_back(tls12Server(kVariants[i % kVariants.size()]));
    ASSERT_TRUE(servers.back()->ok());
    backends.push_back(servers.back()->port());
  }
  // The scanner talks to the servers through a relay that counts its open connections.
  CountingRelay relay(backends);
  std::vector<std::string> args = {"scan"};
  for (size_t i = 0; i < kEndpoints; ++i) args.push_back(target(relay.port(i)));
  args.insert(args.end(),
              {"--timeout", "2", "--format", "json", "--concurrency", "8", "--per-host", "2"});
  auto r = runTlsaudit(args, milliseconds(60000));
  ASSERT_EQ(r.exit_code, 0);
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_EQ(doc["reports"].size(), kEndpoints);
  int connections = 0;
  for (size_t i = 0; i < kEndpoints; ++i) {
    const auto& report = doc["reports"][i];
    EXPECT_EQ(report["target"]["port"], relay.port(i)) << "report " << i;
    EXPECT_EQ(report["tls"], true) << "report " << i;
    EXPECT_EQ(jsonSuites(report, "TLS1_2"), ianaSet(kVariants[i % kVariants.size()]))
        << "report " << i;
    connections += report.value("connections", 0);
  }
  EXPECT_EQ(relay.accepted(), connections) << "connections counted in the reports vs relayed";
  // Every endpoint is 127.0.0.1: --per-host 2 allows two connections at once in total.
  EXPECT_LE(relay.maxConcurrent(), 2);
  // 8 endpoints in flight, each allowed 2 connections: the limit is actually reached.
  EXPECT_EQ(relay.maxConcurrent(), 2);
}

TEST(Cli, RateLimitSpacesConnections) {
  constexpr double kRate = 50;
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::string> args = {"scan"};
  for (int i = 0; i < 3; ++i) {
    servers.push_back(tls12Server(kVariants[static_cast<size_t>(i)]));
    ASSERT_TRUE(servers.back()->ok());
    args.push_back(target(servers.back()->port()));
  }
  args.insert(args.end(), {"--timeout", "2", "--format", "json", "--concurrency", "8", "--per-host",
                           "2", "--rate", "50"});
  auto r = runTlsaudit(args, milliseconds(60000));
  ASSERT_EQ(r.exit_code, 0);
  Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_EQ(doc["reports"].size(), servers.size());
  int connections = 0;
  for (const auto& report : doc["reports"]) connections += report.value("connections", 0);
  ASSERT_GT(connections, 10);
  // The first connection starts at once; each further one waits 1/rate.
  double floor_s = (connections - 1) / kRate - 0.1;
  EXPECT_GE(r.elapsed.count() / 1000.0, floor_s)
      << connections << " connections in " << r.elapsed.count() << " ms at --rate 50";
}

}  // namespace
}  // namespace tlsaudit::itest
