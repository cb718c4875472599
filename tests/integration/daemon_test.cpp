// `tlsaudit serve` end to end with real processes: the daemon on its embedded PostgreSQL, TLS
// servers (openssl s_server, the tarpit) and snmpd on loopback, driven through the tlsaudit CLI
// client and through Python grpcio learning the API by server reflection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "storage/pg_connection.h"
#include "tests/integration/alert_receiver_fixture.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/integration/harness.h"
#include "tests/integration/snmpd_fixture.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr const char* kViewer = "viewer-token-7d1e0c2b9a";
constexpr const char* kOperator = "operator-token-5f3a8e71c4";

std::unique_ptr<Server> legacyServer(const std::string& host = "127.0.0.1") {
  // A legacy phone: TLS 1.0 only, RSA key exchange, MD5-signed 1024-bit chain to a vendor root
  // valid until 2035.
  return startOpensslServer({"-tls1", "-cipher", "AES128-SHA:AES256-SHA:@SECLEVEL=0", "-cert",
                             "md5-leaf.crt", "-key", "md5-leaf.key", "-cert_chain",
                             "md5-root.crt", "-www"},
                            host);
}

std::unique_ptr<Server> modernServer() {
  return startOpensslServer({"-cert", "ecdsa-leaf.crt", "-key", "ecdsa-leaf.key", "-www"});
}

std::string trustBlock() {
  return "trust:\n  ca_files: [" + pki("md5-root.crt") + ", " + pki("ecdsa-root.crt") + "]\n";
}

// Rule ids of the findings of one service ("127.0.0.1:PORT") in a findings list.
std::set<std::string> rulesOf(const Json& list, const std::string& service) {
  std::set<std::string> out;
  for (const auto& f : list.value("findings", Json::array())) {
    if (f.value("service", "") == service) out.insert(f.value("ruleId", ""));
  }
  return out;
}

int64_t count(storage::PgConnection& c, const std::string& sql) {
  auto r = c.exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
  return r.ok() && r->rows() == 1 ? r->int64(0, 0) : -1;
}


// eventually() at a pace for conditions that run the CLI or query the daemon (a process each).
bool eventuallyByCli(const std::function<bool()>& done, milliseconds timeout) {
  return eventually(done, timeout, milliseconds(200));
}

TEST(Daemon, ScanFindingsWatchRescanAndMetrics) {
  SKIP_WITHOUT_DAEMON();
  auto legacy = legacyServer();
  auto modern = modernServer();
  ASSERT_TRUE(legacy->ok() && modern->ok());
  std::string L = "127.0.0.1:" + std::to_string(legacy->port());
  std::string M = "127.0.0.1:" + std::to_string(modern->port());
  DaemonUnderTest d(trustBlock() + "politeness: {timeout: 3s}\n");
  ASSERT_TRUE(d.start());

  // WatchFindings from the first event on (the database is new): every opening must arrive,
  // however late the watcher subscribes.
  Process watch("findings-watch", {TLSAUDIT_BINARY, "findings", "watch", "--format", "json",
                                   "--after", "0", "--server", d.server()});

  auto scan = d.cliJson({"scans", "start", L, M, "--wait"});
  EXPECT_EQ(scan.value("state", ""), "SCAN_DONE") << scan.dump();
  EXPECT_EQ(scan["progress"].value("services", "0"), "2") << scan.dump();

  auto list = d.cliJson({"findings", "list", "--all"});
  auto legacy_rules = rulesOf(list, L);
  for (const char* r : {"cert-sig-md5", "proto-tls10", "kx-rsa-only", "cert-rsa-key-small",
                        "cert-root-weak-hash-long-lived"}) {
    EXPECT_TRUE(legacy_rules.count(r)) << r << " missing for the legacy endpoint: " << list.dump();
  }
  auto modern_rules = rulesOf(list, M);
  for (const char* r : {"cert-sig-md5", "proto-tls10", "kx-rsa-only", "chain-untrusted"}) {
    EXPECT_FALSE(modern_rules.count(r)) << r << " on the modern endpoint: " << list.dump();
  }
  for (const auto& f : list["findings"]) EXPECT_EQ(f.value("state", ""), "OPEN") << f.dump();

  // Filters go through to the database.
  auto md5 = d.cliJson({"findings", "list", "--rule", "cert-sig-md5"});
  ASSERT_EQ(md5["findings"].size(), 1u) << md5.dump();
  EXPECT_EQ(md5["findings"][0].value("service", ""), L);
  EXPECT_THAT(md5["findings"][0].value("evidence", ""),
              HasSubstr("signed md5WithRSAEncryption by CN=Legacy Vendor Root CA"));

  // Every opening reached the watcher, once.
  std::multiset<std::string> opened;
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        opened.clear();
        std::istringstream lines(watch.log());
        std::string line;
        while (std::getline(lines, line)) {
          auto ev = Json::parse(line, nullptr, false);
          if (!ev.is_discarded() && ev.value("kind", "") == "opened") {
            opened.insert(ev["finding"].value("id", ""));
          }
        }
        return opened.size() >= list["findings"].size();
      },
      milliseconds(10000)))
      << watch.log();
  std::multiset<std::string> listed;
  for (const auto& f : list["findings"]) listed.insert(f.value("id", ""));
  EXPECT_EQ(opened, listed);

  // The summary counts the legacy service as TLS 1.0.
  auto summary = d.cliJson({"summary"});
  bool tls10 = false;
  for (const auto& v : summary["versions"]) tls10 = tls10 || v.value("key", "") == "TLS1_0";
  EXPECT_TRUE(tls10) << summary.dump();

  // The legacy device is fixed: TLS 1.2 with a SHA-256 chain on the same port. A rescan
  // resolves what is gone and the watcher hears it.
  uint16_t port = legacy->port();
  legacy.reset();
  Process fixed("openssl s_server (fixed)",
                {"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                 pki("rsa-leaf.crt"), "-key", pki("rsa-leaf.key"), "-www"},
                /*keep_stdin_open=*/true);
  // With a fixed port s_server prints a bare "ACCEPT" once it listens.
  ASSERT_TRUE(fixed.waitFor(std::regex("^(ACCEPT)"), milliseconds(10000))) << fixed.log();
  auto rescan = d.cliJson({"scans", "start", L, M, "--wait"});
  EXPECT_EQ(rescan.value("state", ""), "SCAN_DONE") << rescan.dump();
  auto resolved = d.cliJson({"findings", "list", "--rule", "cert-sig-md5"});
  ASSERT_EQ(resolved["findings"].size(), 1u);
  EXPECT_EQ(resolved["findings"][0].value("state", ""), "RESOLVED");
  ASSERT_TRUE(eventuallyByCli([&] { return watch.log().find("\"resolved\"") != std::string::npos; },
                         milliseconds(10000)))
      << watch.log();
  auto diff = d.cliJson({"summary", "--diff", scan.value("id", ""), rescan.value("id", "")});
  bool md5_resolved = false;
  for (const auto& f : diff.value("resolvedFindings", Json::array())) {
    md5_resolved = md5_resolved || f.value("ruleId", "") == "cert-sig-md5";
  }
  EXPECT_TRUE(md5_resolved) << diff.dump();

  // Metrics and health.
  auto metrics = d.httpGet("/metrics");
  EXPECT_THAT(metrics.out, HasSubstr("200"));
  EXPECT_THAT(metrics.out, HasSubstr("tlsaudit_probes_total 4"));
  // Both endpoints are on one host: one work item and one stored host result per scan.
  EXPECT_THAT(metrics.out, HasSubstr("tlsaudit_work_items_total{result=\"done\"} 2"));
  EXPECT_THAT(metrics.out, HasSubstr("tlsaudit_database_write_seconds_count 2"));
  EXPECT_THAT(metrics.out, HasSubstr("tlsaudit_grpc_requests_total{code=\"OK\",method=\"StartScan\"} 2"));
  auto health = d.httpGet("/healthz");
  EXPECT_THAT(health.out, HasSubstr("200"));
  EXPECT_THAT(health.out, HasSubstr("database: ok"));
  EXPECT_THAT(d.httpGet("/nope").out, HasSubstr("404"));
  EXPECT_EQ(d.terminate(milliseconds(20000)), std::optional<int>(0)) << d.log();
}

TEST(Daemon, TokensRolesBadRequestsAndPythonReflection) {
  SKIP_WITHOUT_DAEMON();
  auto legacy = legacyServer();
  ASSERT_TRUE(legacy->ok());
  std::string L = "127.0.0.1:" + std::to_string(legacy->port());
  DaemonUnderTest d(std::string("grpc:\n  tokens:\n") + "    - {name: dash, role: viewer, token: " +
                    kViewer + "}\n" + "    - {name: ops, role: operator, token: " + kOperator +
                    "}\n");
  ASSERT_TRUE(d.start());

  auto none = d.cli({"scans", "list"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED: missing bearer token"));
  auto wrong = d.cli({"scans", "list", "--token", "not-a-configured-token"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("UNAUTHENTICATED: unknown bearer token"));
  auto viewer_start = d.cli({"scans", "start", L, "--token", kViewer});
  EXPECT_EQ(viewer_start.exit_code, 2);
  EXPECT_THAT(viewer_start.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(viewer_start.err, HasSubstr("token 'dash' has the viewer role"));
  auto viewer_list = d.cli({"scans", "list", "--token", kViewer});
  EXPECT_EQ(viewer_list.exit_code, 0) << viewer_list.err;

  // Bad requests name the field.
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"scans", "start", "127.0.0.300"}, "INVALID_ARGUMENT: targets[0]: target '127.0.0.300'"},
      {{"scans", "start", "@/etc/passwd"}, "targets[0]"},
      {{"scans", "start", "--group", "nope"}, "INVALID_ARGUMENT: group: no target group 'nope'"},
      {{"scans", "status", "abc"}, "INVALID_ARGUMENT: id: 'abc' is not an id"},
      {{"scans", "status", "999999"}, "NOT_FOUND"},
      {{"findings", "list", "--address", "127.0.0.300"}, "INVALID_ARGUMENT: filter.address"},
      {{"findings", "list", "--address", "127.0.0.0/40"}, "filter.address"},
      {{"findings", "list", "--scan", "1; DROP TABLE findings"}, "filter.scan_id"},
      {{"scans", "start", L, "--ports", "0"}, "--ports: '0' is not a port"},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    args.push_back("--token");
    args.push_back(kOperator);
    auto r = d.cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << c.args[1];
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }

  // A client that only knows gRPC: it learns the API by reflection and runs a scan.
  auto py = runCommand({"/usr/bin/python3",
                        std::string(TLSAUDIT_SOURCE_DIR) +
                            "/tests/integration/clients/grpc_reflection_client.py",
                        "--server", d.server(), "--token", kOperator, "--target", L},
                       milliseconds(90000));
  ASSERT_EQ(py.exit_code, 0) << py.out << py.err;
  auto doc = Json::parse(py.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << py.out;
  std::set<std::string> services(doc["services"].begin(), doc["services"].end());
  EXPECT_TRUE(services.count("tlsaudit.v1.ScanService"));
  EXPECT_TRUE(services.count("tlsaudit.v1.FindingService"));
  EXPECT_TRUE(services.count("grpc.health.v1.Health"));
  EXPECT_EQ(doc["scan"].value("state", ""), "SCAN_DONE");
  EXPECT_EQ(doc["scan"].value("requestedBy", ""), "ops");
  std::set<std::string> rules;
  for (const auto& f : doc["findings"]) rules.insert(f.value("ruleId", ""));
  EXPECT_TRUE(rules.count("cert-sig-md5")) << py.out;
  // The viewer cannot start a scan from Python either.
  auto py_viewer = runCommand({"/usr/bin/python3",
                               std::string(TLSAUDIT_SOURCE_DIR) +
                                   "/tests/integration/clients/grpc_reflection_client.py",
                               "--server", d.server(), "--token", kViewer, "--target", L},
                              milliseconds(60000));
  EXPECT_EQ(py_viewer.exit_code, 3);
  EXPECT_THAT(py_viewer.out, HasSubstr("PERMISSION_DENIED"));
}

TEST(Daemon, GrpcOverTlsWithTokens) {
  SKIP_WITHOUT_DAEMON();
  DaemonUnderTest d("grpc:\n  tls: {certificate: " + pki("rsa-leaf.crt") + ", key: " +
                    pki("rsa-leaf.key") + "}\n  tokens:\n    - {name: ops, role: operator, token: " +
                    kOperator + "}\n");
  ASSERT_TRUE(d.start());
  // The leaf's names include IP:127.0.0.1, so a client trusting its root verifies it.
  auto ok = d.cli({"scans", "list", "--tls-ca", pki("rsa-root.crt"), "--token", kOperator});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  // A client that does not trust the root, or speaks plaintext, gets nothing.
  auto untrusted = d.cli({"scans", "list", "--tls-ca", pki("ecdsa-root.crt"), "--token", kOperator,
                          "--timeout", "5"});
  EXPECT_EQ(untrusted.exit_code, 2);
  auto plain = d.cli({"scans", "list", "--token", kOperator, "--timeout", "5"});
  EXPECT_EQ(plain.exit_code, 2);
  EXPECT_THAT(plain.err, HasSubstr("cannot reach the daemon"));
}

// The scan's endpoints, each on a loopback address of its own (one work item per host):
// quick legacy servers and silent ones that hold a work item for the probe deadline, so the
// daemon can be killed with items done, running and pending.
struct SlowFleet {
  std::vector<std::unique_ptr<Server>> servers;
  std::vector<std::string> targets;
  SlowFleet() {
    for (int i = 0; i < 3; ++i) {
      std::string a = "127.0.8." + std::to_string(2 * i + 1);
      std::string b = "127.0.8." + std::to_string(2 * i + 2);
      servers.push_back(legacyServer(a));
      targets.push_back(a + ":" + std::to_string(servers.back()->port()));
      servers.push_back(startPythonServer("tarpit_server.py", {"--max-seconds", "300"}, b));
      targets.push_back(b + ":" + std::to_string(servers.back()->port()));
    }
  }
  bool ok() const {
    for (const auto& s : servers) {
      if (!s || !s->ok()) return false;
    }
    return true;
  }
};

constexpr const char* kSlowConfig =
    "workers: {count: 1, lease: 5s, shutdown_grace: 1s}\n"
    "politeness: {timeout: 2s}\n";

TEST(Daemon, KillNineMidScanLosesAndDuplicatesNothing) {
  SKIP_WITHOUT_DAEMON();
  SlowFleet fleet;
  ASSERT_TRUE(fleet.ok());
  DaemonUnderTest d(kSlowConfig);
  ASSERT_TRUE(d.start());
  std::vector<std::string> args = {"scans", "start"};
  args.insert(args.end(), fleet.targets.begin(), fleet.targets.end());
  auto started = d.cliJson(args);
  std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty());
  // Kill once some items are done and one is running.
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        auto s = d.cliJson({"scans", "status", id});
        const auto& p = s["progress"];
        return std::stoi(p.value("workItemsDone", "0")) >= 2 &&
               std::stoi(p.value("workItemsRunning", "0")) >= 1;
      },
      milliseconds(30000)));
  d.kill9();

  ASSERT_TRUE(d.start());
  EXPECT_THAT(d.log(), HasSubstr("adopted the embedded PostgreSQL"));
  // The dead daemon's lease expires (5 s) and the item is claimed again.
  Json final;
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        final = d.cliJson({"scans", "status", id});
        return final.value("state", "") == "SCAN_DONE";
      },
      milliseconds(60000)))
      << final.dump() << d.log();
  EXPECT_EQ(final["progress"].value("workItemsDone", ""), "6");

  auto db = storage::PgConnection::connect({.dsn = d.dsn()});
  ASSERT_TRUE(db.ok()) << db.status();
  auto& c = **db;
  // One observation per service of the scan, for every service.
  EXPECT_EQ(count(c, "SELECT count(*) FROM observations WHERE scan_id = " + id), 6);
  EXPECT_EQ(count(c, "SELECT count(*) FROM (SELECT service_id FROM observations WHERE scan_id = " +
                         id + " GROUP BY service_id HAVING count(*) > 1) x"),
            0);
  // Every finding opened once, with one alert event each.
  EXPECT_EQ(count(c, "SELECT count(*) FROM (SELECT finding_id FROM finding_events WHERE kind ="
                     " 'opened' GROUP BY finding_id HAVING count(*) > 1) x"),
            0);
  EXPECT_EQ(count(c, "SELECT count(*) FROM finding_events"), count(c, "SELECT count(*) FROM findings"));
  EXPECT_EQ(count(c, "SELECT count(*) FROM alert_outbox"), count(c, "SELECT count(*) FROM findings"));
  // The same findings as a one-shot scan of the same endpoints.
  std::vector<std::string> scan_args = {"scan", "--format", "json", "--timeout", "2"};
  scan_args.insert(scan_args.end(), fleet.targets.begin(), fleet.targets.end());
  auto oneshot = runTlsaudit(scan_args, milliseconds(90000));
  auto reference = Json::parse(oneshot.out, nullptr, false);
  ASSERT_FALSE(reference.is_discarded()) << oneshot.out << oneshot.err;
  std::set<std::pair<std::string, std::string>> want, have;
  for (const auto& f : reference["findings"]) want.emplace(f.value("service", ""), f.value("ruleId", ""));
  auto stored = d.cliJson({"findings", "list", "--all", "--scan", id});
  for (const auto& f : stored["findings"]) have.emplace(f.value("service", ""), f.value("ruleId", ""));
  EXPECT_EQ(have, want);
  EXPECT_EQ(stored["findings"].size(), have.size()) << "duplicate findings";
}

TEST(Daemon, SigtermReleasesItsWorkAndTheNextStartFinishesIt) {
  SKIP_WITHOUT_DAEMON();
  SlowFleet fleet;
  ASSERT_TRUE(fleet.ok());
  DaemonUnderTest d(kSlowConfig);
  ASSERT_TRUE(d.start());
  std::vector<std::string> args = {"scans", "start"};
  args.insert(args.end(), fleet.targets.begin(), fleet.targets.end());
  std::string id = d.cliJson(args).value("id", "");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        auto s = d.cliJson({"scans", "status", id});
        return std::stoi(s["progress"].value("workItemsDone", "0")) >= 1 &&
               std::stoi(s["progress"].value("workItemsRunning", "0")) >= 1;
      },
      milliseconds(30000)));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(d.terminate(milliseconds(30000)), std::optional<int>(0)) << d.log();
  // Grace (1 s) + the probe step in flight (2 s) + teardown, far less than the lease.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_THAT(d.log(), HasSubstr("stopped the embedded PostgreSQL"));
  EXPECT_THAT(d.log(), HasSubstr("stopped"));

  auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(d.start());
  Json final;
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        final = d.cliJson({"scans", "status", id});
        return final.value("state", "") == "SCAN_DONE";
      },
      milliseconds(60000)))
      << final.dump();
  // Released, not expired: picked up at once, and no attempt was spent on the shutdown.
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(30));
  auto db = storage::PgConnection::connect({.dsn = d.dsn()});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(count(**db, "SELECT max(attempts) FROM scan_work_items WHERE scan_id = " + id), 1);
  EXPECT_EQ(count(**db, "SELECT count(*) FROM observations WHERE scan_id = " + id), 6);
}

TEST(Daemon, ConfigurationErrorsNameFileLineAndField) {
  SKIP_WITHOUT_DAEMON();
  struct Case {
    std::string config;
    std::vector<std::string> expected;
  } cases[] = {
      {"workers:\n  count: 2\n  lease: soon\n", {":3:", "workers.lease", "'soon' is not"}},
      {"groups:\n  - name: phones\n    targets: [127.0.0.1]\n    schedule: {cron: \"0 2 * *\"}\n",
       {":4:", "groups[0].schedule.cron", "5 fields"}},
      {"grpc:\n  listen: 127.0.0.1:0\n  tokns: []\n", {":3:", "unknown key 'tokns'"}},
      {"snmp_credentials:\n  - {name: c, community: \"${TLSAUDIT_TEST_UNSET_VARIABLE}\"}\n",
       {":2:", "snmp_credentials[0].community",
        "environment variable TLSAUDIT_TEST_UNSET_VARIABLE is not set"}},
  };
  for (const auto& c : cases) {
    DaemonUnderTest d(c.config);
    auto check = runTlsaudit({"serve", "--config", d.configPath(), "--data-dir", d.dataDir(),
                              "--check-config"},
                             milliseconds(20000));
    EXPECT_EQ(check.exit_code, 2) << c.config;
    for (const auto& e : c.expected) EXPECT_THAT(check.err, HasSubstr(e)) << c.config;
    EXPECT_THAT(check.err, HasSubstr(d.configPath()));
    // The daemon itself refuses to start with the same message.
    auto run = runTlsaudit({"serve", "--config", d.configPath(), "--data-dir", d.dataDir()},
                           milliseconds(20000));
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_THAT(run.err, HasSubstr(c.expected.front()));
  }
  // Anywhere but loopback only with tokens.
  auto open = runTlsaudit({"serve", "--data-dir", "/tmp/unused", "--grpc-listen", "0.0.0.0:0",
                           "--check-config"},
                          milliseconds(20000));
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_THAT(open.err, HasSubstr("refusing to serve the API without authentication"));
}

TEST(Daemon, SighupReloadsTokensAndKeepsRunningOnABadFile) {
  SKIP_WITHOUT_DAEMON();
  std::string one = std::string("grpc:\n  tokens:\n    - {name: a, role: viewer, token: ") +
                    kViewer + "}\n";
  DaemonUnderTest d(one);
  ASSERT_TRUE(d.start());
  EXPECT_EQ(d.cli({"scans", "list", "--token", kViewer}).exit_code, 0);
  EXPECT_EQ(d.cli({"scans", "list", "--token", kOperator}).exit_code, 2);

  d.rewriteConfig(one + "    - {name: b, role: operator, token: " + kOperator + "}\n");
  d.process()->signal(SIGHUP);
  ASSERT_TRUE(d.process()->waitFor(std::regex("configuration (reloaded)"), milliseconds(20000)));
  EXPECT_EQ(d.cli({"scans", "list", "--token", kOperator}).exit_code, 0);

  d.rewriteConfig("grpc:\n  tokens: [{name: a, role: viewer, token: tiny-tok}]\n");
  d.process()->signal(SIGHUP);
  ASSERT_TRUE(d.process()->waitFor(std::regex("(reload refused)"), milliseconds(20000)));
  EXPECT_THAT(d.log(), HasSubstr("grpc.tokens[0]"));
  EXPECT_THAT(d.log(), Not(HasSubstr("tiny-tok")));  // a token never appears in the log
  EXPECT_EQ(d.cli({"scans", "list", "--token", kOperator}).exit_code, 0);
  EXPECT_TRUE(d.process()->running());
}

TEST(Daemon, ScheduledGroupWithSnmpInventoryAndAVendorWaiver) {
  SKIP_WITHOUT_DAEMON();
  const std::string host = "127.0.7.1";
  auto tls = startOpensslServer({"-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0", "-cert",
                                 "md5-leaf.crt", "-key", "md5-leaf.key", "-cert_chain",
                                 "md5-root.crt", "-www"},
                                host);
  ASSERT_TRUE(tls->ok());
  std::vector<Row> rows = {
      {".1.3.6.1.2.1.47.1.1.1.1.5.1", "integer", 3},
      {".1.3.6.1.2.1.47.1.1.1.1.10.1", "string", "66.86.0.15"},
      {".1.3.6.1.2.1.47.1.1.1.1.11.1", "string", "YL-SN-0042"},
      {".1.3.6.1.2.1.47.1.1.1.1.12.1", "string", "Yealink"},
      {".1.3.6.1.2.1.47.1.1.1.1.13.1", "string", "SIP-T46S"},
  };
  Snmpd snmpd(host, systemConf("Yealink SIP-T46S 66.86.0.15", ".1.3.6.1.4.1.37459.2.1",
                               "phone-lobby"),
              rows);
  ASSERT_TRUE(snmpd.ok());
  std::string waivers = std::string("/tmp/tlsaudit-waivers-") + std::to_string(::getpid()) + ".yaml";
  writeFile(waivers,
            "waivers:\n"
            "  - asset: {vendor: yealink}\n"
            "    rule: proto-tls10\n"
            "    reason: firmware 67 brings TLS 1.2; rollout in Q1\n"
            "    owner: voice@example.invalid\n"
            "    expires: 2099-12-31\n");
  DaemonUnderTest d("snmp_credentials:\n  - {name: campus, community: public}\n"
                    "policy: {waivers: " + waivers + "}\n"
                    "groups:\n  - name: phones\n    targets: [" + host + "]\n"
                    "    ports: [" + std::to_string(tls->port()) + "]\n"
                    "    snmp: [campus]\n    snmp_port: " + std::to_string(snmpd.port()) + "\n"
                    "    site: lobby\n    schedule: {every: 1h}\n");
  ASSERT_TRUE(d.start());
  Json scans;
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        scans = d.cliJson({"scans", "list", "--group", "phones"});
        return !scans["scans"].empty() && scans["scans"][0].value("state", "") == "SCAN_DONE";
      },
      milliseconds(60000)))
      << scans.dump() << d.log();
  EXPECT_EQ(scans["scans"].size(), 1u) << "an interval schedule starts once, at once";
  EXPECT_EQ(scans["scans"][0].value("requestedBy", ""), "schedule");

  auto assets = d.cliJson({"assets", "list"});
  ASSERT_EQ(assets["assets"].size(), 1u) << assets.dump();
  const auto& a = assets["assets"][0];
  EXPECT_EQ(a.value("vendor", ""), "Yealink");
  EXPECT_EQ(a.value("model", ""), "SIP-T46S");
  EXPECT_EQ(a.value("firmware", ""), "66.86.0.15");
  EXPECT_EQ(a.value("serial", ""), "YL-SN-0042");
  EXPECT_EQ(a.value("site", ""), "lobby");
  EXPECT_EQ(a.value("snmpCredential", ""), "campus");

  auto by_vendor = d.cliJson({"findings", "list", "--vendor", "yealink", "--all"});
  std::map<std::string, std::string> state;
  for (const auto& f : by_vendor["findings"]) state[f.value("ruleId", "")] = f.value("state", "");
  EXPECT_EQ(state["cert-sig-md5"], "OPEN") << by_vendor.dump();
  EXPECT_EQ(state["proto-tls10"], "WAIVED") << by_vendor.dump();
  std::remove(waivers.c_str());
}

// The state of one finding ("OPEN", "WAIVED"...) in `findings list --rule RULE`.
std::string stateOf(DaemonUnderTest& d, const std::string& rule) {
  auto list = d.cliJson({"findings", "list", "--rule", rule, "--token", kViewer});
  if (list.value("findings", Json::array()).size() != 1) return "count " + list.dump();
  return list["findings"][0].value("state", "");
}

std::string utcIn(int seconds) {
  std::time_t t = std::time(nullptr) + seconds;
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

TEST(Daemon, WaiversApplyAtOnceAndLapseWithoutARescan) {
  SKIP_WITHOUT_DAEMON();
  auto legacy = legacyServer();
  ASSERT_TRUE(legacy->ok());
  std::string L = "127.0.0.1:" + std::to_string(legacy->port());
  std::string waivers = std::string("/tmp/tlsaudit-waivers-api-") + std::to_string(::getpid()) + ".yaml";
  auto fileWaiver = [&](const std::string& rule, const std::string& expires) {
    writeFile(waivers, "waivers:\n  - asset: {address: 10.255.0.1}\n    rule: cert-sig-sha1\n"
                       "    reason: unrelated\n    owner: x@example.invalid\n    expires: 2099-12-31\n"
                       "  - asset: {cidr: 127.0.0.0/8}\n    rule: " + rule + "\n"
                       "    reason: lab phones, replaced in Q1\n    owner: voice@example.invalid\n"
                       "    expires: " + expires + "\n");
  };
  fileWaiver("cert-rsa-key-small", "2099-12-31");
  std::string config = trustBlock() + "policy: {waivers: " + waivers + "}\n" +
                       "grpc:\n  tokens:\n    - {name: dash, role: viewer, token: " + kViewer +
                       "}\n    - {name: ops, role: operator, token: " + kOperator + "}\n";
  DaemonUnderTest d(config);
  ASSERT_TRUE(d.start());
  auto scan = d.cliJson({"scans", "start", L, "--wait", "--token", kOperator});
  ASSERT_EQ(scan.value("state", ""), "SCAN_DONE") << scan.dump();
  EXPECT_EQ(stateOf(d, "cert-sig-md5"), "OPEN");
  EXPECT_EQ(stateOf(d, "proto-tls10"), "OPEN");
  EXPECT_EQ(stateOf(d, "cert-rsa-key-small"), "WAIVED");  // the file's waiver, in the scan

  // Only an operator waives; bad waivers name the field.
  std::vector<std::string> add = {"waivers",  "add",         "--rule",    "cert-sig-md5",
                                   "--address", "127.0.0.1", "--reason", "vendor fix due",
                                   "--owner",  "voice@example.invalid", "--expires", "2099-06-30"};
  auto as = [&](std::vector<std::string> args, const char* token) {
    args.push_back("--token");
    args.push_back(token);
    return d.cli(args);
  };
  auto viewer = as(add, kViewer);
  EXPECT_EQ(viewer.exit_code, 2);
  EXPECT_THAT(viewer.err, HasSubstr("PERMISSION_DENIED"));
  struct BadWaiver {
    std::vector<std::string> args;  // after --rule RULE --reason r
    std::string message;
  } bad_waivers[] = {
      {{"--rule", "no-such-rule", "--address", "127.0.0.1", "--expires", "2099-06-30"},
       "INVALID_ARGUMENT: waiver.rule_id"},
      {{"--rule", "cert-sig-md5", "--expires", "2099-06-30"}, "INVALID_ARGUMENT: waiver.selector"},
      {{"--rule", "cert-sig-md5", "--address", "127.0.0.1", "--expires", "next week"},
       "--expires 'next week'"},
      {{"--rule", "cert-sig-md5", "--address", "127.0.0.1", "--expires", "2020-01-01"},
       "INVALID_ARGUMENT: waiver.expires: already past"},
  };
  for (const auto& b : bad_waivers) {
    std::vector<std::string> args = {"waivers", "add", "--reason", "r"};
    args.insert(args.end(), b.args.begin(), b.args.end());
    auto r = as(args, kOperator);
    EXPECT_EQ(r.exit_code, 2) << b.message;
    EXPECT_THAT(r.err, HasSubstr(b.message));
  }
  EXPECT_EQ(stateOf(d, "cert-sig-md5"), "OPEN");

  // An API waiver: WAIVED as soon as the call returns, no rescan.
  auto added = as(add, kOperator);
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_EQ(stateOf(d, "cert-sig-md5"), "WAIVED");
  auto list = d.cliJson({"waivers", "list", "--token", kViewer});
  std::string api_id;
  for (const auto& w : list.value("waivers", Json::array())) {
    if (w.value("origin", "") == "api:ops") api_id = w.value("id", "");
  }
  ASSERT_FALSE(api_id.empty()) << list.dump();
  EXPECT_EQ(list["waivers"].size(), 3u) << list.dump();
  // File waivers are changed in the file, not over the API.
  std::string file_id;
  for (const auto& w : list["waivers"]) {
    if (w.value("ruleId", "") == "cert-rsa-key-small") file_id = w.value("id", "");
  }
  auto file_delete = as({"waivers", "delete", file_id}, kOperator);
  EXPECT_EQ(file_delete.exit_code, 2);
  EXPECT_THAT(file_delete.err, HasSubstr("FAILED_PRECONDITION"));
  auto deleted = as({"waivers", "delete", api_id}, kOperator);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(stateOf(d, "cert-sig-md5"), "OPEN");

  // A file waiver that lapses: WAIVED on SIGHUP, OPEN again once it expires, both without a
  // rescan (the scheduler's housekeeping notices the expiry).
  fileWaiver("proto-tls10", utcIn(30));
  d.process()->signal(SIGHUP);
  ASSERT_TRUE(d.process()->waitFor(std::regex("configuration (reloaded)"), milliseconds(15000)))
      << d.log();
  EXPECT_EQ(stateOf(d, "proto-tls10"), "WAIVED");
  EXPECT_EQ(stateOf(d, "cert-rsa-key-small"), "OPEN") << "its waiver left the file";
  EXPECT_TRUE(eventuallyByCli([&] { return stateOf(d, "proto-tls10") == "OPEN"; }, milliseconds(60000)))
      << d.log();

  // Every change has its event and its alert, and no scan ran in between.
  auto db = storage::PgConnection::connect({.dsn = d.dsn()});
  ASSERT_TRUE(db.ok()) << db.status();
  auto kinds = [&](const std::string& rule) {
    auto r = (*db)->exec("SELECT string_agg(e.kind, ',' ORDER BY e.id) FROM finding_events e"
                         " JOIN findings f ON f.id = e.finding_id WHERE f.rule_id = $1",
                         {rule});
    return r.ok() && r->rows() == 1 ? r->str(0, 0) : r.status().ToString();
  };
  EXPECT_EQ(kinds("cert-sig-md5"), "opened,waived,unwaived");
  EXPECT_EQ(kinds("proto-tls10"), "opened,waived,unwaived");
  EXPECT_EQ(kinds("cert-rsa-key-small"), "waived,unwaived");
  EXPECT_EQ(count(**db, "SELECT count(*) FROM alert_outbox WHERE kind = 'finding.waived'"), 3);
  EXPECT_EQ(count(**db, "SELECT count(*) FROM alert_outbox WHERE kind = 'finding.unwaived'"), 3);
  EXPECT_EQ(count(**db, "SELECT count(*) FROM scans"), 1);
  std::remove(waivers.c_str());
}

TEST(Daemon, TwoDaemonsShareOneDatabaseAndCancelStopsWork) {
  SKIP_WITHOUT_DAEMON();
  SKIP_WITHOUT_POSTGRES();
  // An external PostgreSQL both daemons use (database.dsn): no embedded cluster.
  PostgresCluster pg(
      PostgresCluster::Options{.tcp = false, .server_certificate = false, .settings = {}});
  ASSERT_TRUE(pg.ok());
  SlowFleet fleet;
  ASSERT_TRUE(fleet.ok());
  std::string targets;
  for (const auto& t : fleet.targets) targets += (targets.empty() ? "" : ", ") + t;
  std::string config = "database: {dsn: \"" + pg.dsn() + "\"}\n" + kSlowConfig +
                       "groups:\n  - name: fleet\n    targets: [" + targets +
                       "]\n    schedule: {every: 1h}\n";
  DaemonUnderTest a(config), b(config);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  Json scans;
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        scans = a.cliJson({"scans", "list", "--group", "fleet"});
        return !scans["scans"].empty() && scans["scans"][0].value("state", "") == "SCAN_DONE";
      },
      milliseconds(60000)))
      << scans.dump() << a.log() << b.log();
  // Both daemons run the schedule; it started one scan.
  EXPECT_EQ(scans["scans"].size(), 1u) << scans.dump();
  auto db = storage::PgConnection::connect({.dsn = pg.dsn()});
  ASSERT_TRUE(db.ok()) << db.status();
  // Both took part: the items were claimed by two owners, each item done once.
  EXPECT_EQ(count(**db, "SELECT count(DISTINCT split_part(lease_owner, '/', 2)) FROM"
                        " scan_work_items WHERE state = 3"),
            2);
  EXPECT_EQ(count(**db, "SELECT count(*) FROM scan_work_items WHERE state = 3"), 6);
  EXPECT_EQ(count(**db, "SELECT max(attempts) FROM scan_work_items"), 1);

  // Cancel: pending items are never started, the running ones stop at their next checkpoint.
  std::vector<std::string> args = {"scans", "start"};
  args.insert(args.end(), fleet.targets.begin(), fleet.targets.end());
  std::string id = a.cliJson(args).value("id", "");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        auto s = b.cliJson({"scans", "status", id});
        return std::stoi(s["progress"].value("workItemsRunning", "0")) >= 1;
      },
      milliseconds(30000)));
  auto cancelled = b.cliJson({"scans", "cancel", id});
  EXPECT_EQ(cancelled.value("state", ""), "SCAN_CANCELLED") << cancelled.dump();
  EXPECT_GE(std::stoi(cancelled["progress"].value("workItemsCancelled", "0")), 3);
  ASSERT_TRUE(eventuallyByCli(
      [&] {
        return a.log().find("lease lost") != std::string::npos ||
               b.log().find("lease lost") != std::string::npos;
      },
      milliseconds(20000)));
  // No item of the cancelled scan is claimed again.
  std::this_thread::sleep_for(milliseconds(3000));
  EXPECT_EQ(count(**db, "SELECT count(*) FROM scan_work_items WHERE scan_id = " + id +
                            " AND state IN (1, 2)"),
            0);
  auto after = a.cliJson({"scans", "status", id});
  EXPECT_EQ(after.value("state", ""), "SCAN_CANCELLED");
}


TEST(Daemon, WebhookGetsEveryAlertOncePerKeyAcrossAnOutage) {
  SKIP_WITHOUT_DAEMON();
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  auto legacy = legacyServer();
  ASSERT_TRUE(legacy->ok());
  uint16_t port = legacy->port();
  std::string L = "127.0.0.1:" + std::to_string(port);
  const std::string secret = "whsec-daemon-e2e-4f2a";
  DaemonUnderTest d(trustBlock() + "alerts:\n  - name: soc\n    type: webhook\n    url: " +
                    receiver.url("/hook") + "\n    secret: " + secret +
                    "\n    events: [opened, resolved]\n");
  ASSERT_TRUE(d.start());
  auto first = d.cliJson({"scans", "start", L, "--wait"});
  ASSERT_EQ(first.value("state", ""), "SCAN_DONE");
  size_t opened = std::stoul(first["progress"].value("findings", "0"));
  ASSERT_GT(opened, 3u);
  ASSERT_TRUE(eventuallyByCli([&] { return receiver.acknowledged("/hook").size() >= opened; },
                         milliseconds(30000)))
      << receiver.log() << d.log();

  // The receiver goes down; the device is fixed and rescanned, so "resolved" alerts wait.
  receiver.stop();
  legacy.reset();
  Process fixed("openssl s_server (fixed)",
                {"openssl", "s_server", "-accept", L, "-cert", pki("rsa-leaf.crt"), "-key",
                 pki("rsa-leaf.key"), "-www"},
                /*keep_stdin_open=*/true);
  ASSERT_TRUE(fixed.waitFor(std::regex("^(ACCEPT)"), milliseconds(10000))) << fixed.log();
  auto second = d.cliJson({"scans", "start", L, "--wait"});
  ASSERT_EQ(second.value("state", ""), "SCAN_DONE");
  // Attempts fail while it is down: the sink records them before the receiver comes back.
  auto db = storage::PgConnection::connect({.dsn = d.dsn()});
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(eventuallyByCli(
      [&] { return count(**db, "SELECT failures FROM alert_sinks WHERE name = 'soc'") >= 1; },
      milliseconds(30000)))
      << d.log();
  ASSERT_TRUE(receiver.start());

  auto keys = (*db)->exec("SELECT idempotency_key::text FROM alert_outbox WHERE kind IN"
                          " ('finding.opened', 'finding.resolved') ORDER BY id");
  ASSERT_TRUE(keys.ok());
  std::set<std::string> expected;
  for (int i = 0; i < keys->rows(); ++i) expected.insert(keys->str(i, 0));
  // The outbox names the asset by its address alone ("127.0.0.1", not inet's "127.0.0.1/32").
  EXPECT_EQ(count(**db, "SELECT count(*) FROM alert_outbox WHERE payload->>'asset' <> '127.0.0.1'"),
            0);
  ASSERT_GT(expected.size(), opened) << "no resolved events were written";
  ASSERT_TRUE(eventuallyByCli([&] { return receiver.acknowledged("/hook").size() >= expected.size(); },
                         milliseconds(90000)))
      << receiver.log();

  std::map<std::string, int> per_key;
  std::set<std::string> kinds;
  for (const auto& r : receiver.acknowledged("/hook")) {
    ++per_key[r.header("idempotency-key")];
    EXPECT_EQ(r.header("x-tlsaudit-signature"), "sha256=" + hmacSha256Hex(secret, r.body));
    auto body = Json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.body;
    kinds.insert(body.value("event", ""));
  }
  std::set<std::string> got;
  for (const auto& [key, n] : per_key) {
    got.insert(key);
    EXPECT_EQ(n, 1) << "key " << key << " acknowledged " << n << " times";
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(kinds, (std::set<std::string>{"opened", "resolved"}));
}

}  // namespace
}  // namespace tlsaudit::itest
