#include "scanner/daemon/daemon_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <filesystem>
#include <map>
#include <sstream>

namespace tlsaudit::scanner {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DaemonConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }
  std::string write(const std::string& text) {
    char name[] = "/tmp/tlsaudit-config-XXXXXX.yaml";
    int fd = ::mkstemps(name, 5);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(name) << text;
    files_.push_back(name);
    return name;
  }
  absl::StatusOr<DaemonConfig> load(const std::string& text, ConfigOverrides o = {}) {
    std::string path = write(text);
    return loadDaemonConfig(path, o, [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }
  std::map<std::string, std::string> env_;
  std::vector<std::string> files_;
};

constexpr const char* kFull = R"(
data_dir: /var/lib/tlsaudit
database:
  dsn: "host=/run/postgresql dbname=tlsaudit"
  pool: 6
grpc:
  listen: 0.0.0.0:50051
  tokens:
    - {name: dashboards, role: viewer, token: "${VIEWER_TOKEN}"}
    - {name: ops, role: operator, token: "operator-token-0123456789"}
  allow_plaintext: true             # TLS ends at a proxy in front
metrics:
  listen: 127.0.0.1:9464
workers: {count: 4, lease: 2m, addresses_per_item: 128}
politeness: {concurrency: 16, per_host: 1, timeout: 3s}
snmp_credentials:
  - {name: campus, community: "${SNMP_COMMUNITY:-public}"}
  - {name: ops-v3, user: ops, auth: "SHA:auth-pass-123", priv: "AES:priv-pass-456"}
groups:
  - name: phones
    targets: [10.20.0.0/16]
    exclude: [10.20.99.0/24]
    ports: [443, 5061]
    snmp: [campus, ops-v3]
    profile: pci-dss-4.0
    site: hq
    schedule: {cron: "0 2 * * *"}
  - name: servers
    targets: [10.30.0.10-10.30.0.50]
    schedule: {every: 6h}
)";

TEST_F(DaemonConfigTest, FullFileLoads) {
  env_["VIEWER_TOKEN"] = "viewer-token-0123456789";
  auto c = load(kFull);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->database.dsn, "host=/run/postgresql dbname=tlsaudit");
  EXPECT_EQ(c->database.pool, 6u);
  ASSERT_EQ(c->grpc.tokens.size(), 2u);
  EXPECT_EQ(c->grpc.tokens[0].token, "viewer-token-0123456789");
  EXPECT_EQ(c->grpc.tokens[0].role, Role::kViewer);
  EXPECT_EQ(c->grpc.tokens[1].role, Role::kOperator);
  EXPECT_EQ(c->workers.count, 4u);
  EXPECT_EQ(c->workers.lease, std::chrono::seconds(120));
  EXPECT_EQ(c->politeness.timeout, std::chrono::seconds(3));
  ASSERT_EQ(c->snmp_credentials.size(), 2u);
  EXPECT_EQ(c->snmp_credentials[0].community, "public");  // the ${...:-default}
  EXPECT_EQ(c->snmp_credentials[1].auth, collectors::snmp::AuthProtocol::kSha1);
  ASSERT_EQ(c->groups.size(), 2u);
  EXPECT_EQ(c->groups[0].schedule->spec(), "cron 0 2 * * *");
  EXPECT_EQ(c->groups[1].schedule->spec(), "every 6h");
  EXPECT_EQ(c->groups[0].profile, "pci-dss-4.0");
}

TEST_F(DaemonConfigTest, UnsetVariableIsAnErrorAtItsPlace) {
  auto c = load(kFull);
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr(":9:"));  // the line of the viewer token
  EXPECT_THAT(msg, HasSubstr("grpc.tokens[0].token"));
  EXPECT_THAT(msg, HasSubstr("environment variable VIEWER_TOKEN is not set"));
}

TEST_F(DaemonConfigTest, UnknownKeyNamesFileLineAndExpectedKeys) {
  auto c = load("grpc:\n  listen: 127.0.0.1:1\n  lisen: x\n");
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr(".yaml:3:3"));
  EXPECT_THAT(msg, HasSubstr("unknown key 'lisen'"));
  EXPECT_THAT(msg, HasSubstr("listen"));
}

TEST_F(DaemonConfigTest, BadScheduleNamesTheField) {
  auto c = load("data_dir: /tmp/x\ngroups:\n  - name: g\n    targets: [10.0.0.1]\n"
                "    schedule: {cron: \"0 25 * * *\"}\n");
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr(":5:"));
  EXPECT_THAT(msg, HasSubstr("groups[0].schedule.cron"));
  EXPECT_THAT(msg, HasSubstr("hour 25 is out of range"));
}

TEST_F(DaemonConfigTest, BadTargetAndUnknownCredentialAreNamed) {
  auto t = load("data_dir: /tmp/x\ngroups:\n  - {name: g, targets: [10.0.0.1, 10.0.0.999]}\n");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("groups[0].targets[1]"));
  auto s = load("data_dir: /tmp/x\ngroups:\n  - {name: g, targets: [10.0.0.1], snmp: [nope]}\n");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("groups[0].snmp[0]: no snmp_credentials entry is named 'nope'"));
}

// Found by daemon_config_fuzz: "019" passes the schema as an integer but not yaml-cpp's reading;
// that used to throw out of the loader (and end the daemon).
TEST_F(DaemonConfigTest, NumbersYamlCannotReadAreErrorsAtTheirPlace) {
  auto p = load("data_dir: /tmp/x\ngroups:\n  - name: g\n    targets: [10.0.0.1]\n"
                "    ports: [443, 019]\n    schedule: {every: 1h}\n");
  ASSERT_FALSE(p.ok());
  std::string msg(p.status().message());
  EXPECT_THAT(msg, HasSubstr(":5:"));
  EXPECT_THAT(msg, HasSubstr("groups[0].ports[1]: '019' is not a valid value here"));
  ConfigOverrides bad;
  bad.settings = {"politeness.concurrency=0x1g"};
  auto o = load("data_dir: /tmp/x\n", bad);
  EXPECT_FALSE(o.ok());
}

TEST_F(DaemonConfigTest, DataDirWithQuotesOrSpacesIsRefused) {
  auto c = load("data_dir: \"/tmp/x' port=1\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("data_dir: '/tmp/x' port=1'"));
  ConfigOverrides o;
  o.data_dir = "/tmp/a b";
  auto d = load("{}\n", o);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("--data-dir: '/tmp/a b'"));
  EXPECT_TRUE(load("data_dir: /var/lib/tlsaudit-2.d/x_y\n").ok());
}

TEST_F(DaemonConfigTest, TokensOffLoopbackNeedTlsOrAnExplicitOptOut) {
  std::string tokens =
      "  tokens: [{name: ops, role: operator, token: operator-token-0123456789}]\n";
  auto clear = load("data_dir: /tmp/x\ngrpc:\n  listen: 0.0.0.0:50051\n" + tokens);
  ASSERT_FALSE(clear.ok());
  EXPECT_THAT(std::string(clear.status().message()), HasSubstr("grpc.tls is not set"));
  EXPECT_THAT(std::string(clear.status().message()), Not(HasSubstr("operator-token")));
  EXPECT_TRUE(load("data_dir: /tmp/x\ngrpc:\n  listen: 0.0.0.0:50051\n  allow_plaintext: true\n" +
                   tokens)
                  .ok());
  EXPECT_TRUE(load("data_dir: /tmp/x\ngrpc:\n  listen: 127.0.0.1:50051\n" + tokens).ok());
}

TEST_F(DaemonConfigTest, UnknownProfileIsRefused) {
  auto c = load("data_dir: /tmp/x\ngroups:\n  - {name: g, targets: [10.0.0.1], profile: pci-3}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("groups[0].profile"));
}

TEST_F(DaemonConfigTest, SecretsNeverAppearInErrors) {
  auto c = load("data_dir: /tmp/x\nsnmp_credentials:\n"
                "  - {name: v3, user: ops, auth: \"SHA:short\"}\n"
                "  - {name: v3b, user: ops, auth: \"WHIRL:topsecretpass\"}\n");
  ASSERT_FALSE(c.ok());
  std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr("snmp_credentials[0].auth"));
  EXPECT_THAT(msg, Not(HasSubstr("short")));
  auto d = load("data_dir: /tmp/x\nsnmp_credentials:\n"
                "  - {name: v3b, user: ops, auth: \"WHIRL:topsecretpass\"}\n");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("WHIRL"));
  EXPECT_THAT(std::string(d.status().message()), Not(HasSubstr("topsecretpass")));
  auto t = load("data_dir: /tmp/x\ngrpc:\n  tokens: [{name: a, role: viewer, token: short-secret}]\n");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr("short-secret")));
}

TEST_F(DaemonConfigTest, NoTokensMeansLoopbackOnly) {
  auto c = load("data_dir: /tmp/x\ngrpc: {listen: 0.0.0.0:50051}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("refusing to serve the API"));
  ConfigOverrides o;
  o.grpc_listen = "[::1]:6000";
  auto v6 = load("data_dir: /tmp/x\n", o);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->grpc.listen, "[::1]:6000");
  EXPECT_TRUE(isLoopbackListen("127.3.4.5:1"));
  EXPECT_TRUE(isLoopbackListen("localhost:1"));
  EXPECT_FALSE(isLoopbackListen("10.0.0.1:1"));
}

TEST_F(DaemonConfigTest, OverridesEditTheTreeAndAreChecked) {
  ConfigOverrides o;
  o.settings = {"workers.count=7", "groups.0.schedule.every=2h", "metrics.listen=127.0.0.1:9999"};
  auto c = load("data_dir: /tmp/x\ngroups:\n  - {name: g, targets: [10.0.0.1], "
                "schedule: {every: 1h}}\n",
                o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->workers.count, 7u);
  EXPECT_EQ(c->groups[0].schedule->spec(), "every 2h");
  EXPECT_EQ(c->metrics.listen, "127.0.0.1:9999");

  o.settings = {"workers.cuont=7"};
  auto bad = load("data_dir: /tmp/x\n", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("-o override"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("cuont"));
  o.settings = {"workers.count=many"};
  auto typed = load("data_dir: /tmp/x\n", o);
  ASSERT_FALSE(typed.ok());
  EXPECT_THAT(std::string(typed.status().message()), HasSubstr("workers.count"));
  o.settings = {"noequals"};
  EXPECT_FALSE(load("data_dir: /tmp/x\n", o).ok());
}

TEST_F(DaemonConfigTest, DefaultsWithoutAFile) {
  ConfigOverrides o;
  o.data_dir = "/tmp/tlsaudit-data";
  auto c = loadDaemonConfig("", o, [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "(defaults)");
  EXPECT_EQ(c->grpc.listen, "127.0.0.1:50051");
  EXPECT_TRUE(c->database.dsn.empty());
  EXPECT_FALSE(c->default_ports.empty());
}

TEST_F(DaemonConfigTest, LiteralDollarAndUnclosedBrace) {
  env_["X"] = "1";
  // (data_dir takes no "$" since it reaches PostgreSQL's configuration; instance does.)
  auto ok = load("data_dir: /tmp\ninstance: \"scanner-$${X}\"\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->instance, "scanner-${X}");
  auto bad = load("data_dir: \"/tmp/${X\"\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("without a closing"));
}

TEST_F(DaemonConfigTest, DuplicateNamesAreRefused) {
  auto c = load("data_dir: /tmp/x\ngroups:\n  - {name: g, targets: [10.0.0.1]}\n"
                "  - {name: g, targets: [10.0.0.2]}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("groups[1].name: 'g' is used twice"));
}

}  // namespace
}  // namespace tlsaudit::scanner

namespace tlsaudit::scanner {
namespace {

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The example configurations in packaging/ are what users copy: both must load.
TEST_F(DaemonConfigTest, ShippedExamplesLoad) {
  std::string dir = std::string(TLSAUDIT_SOURCE_DIR) + "/packaging/config/";
  auto embedded = loadDaemonConfig(dir + "embedded.yaml", {}, [](const char*) -> const char* {
    return nullptr;
  });
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  EXPECT_TRUE(embedded->database.dsn.empty());
  ASSERT_EQ(embedded->groups.size(), 1u);

  // production.yaml names files under /etc/tlsaudit: the test gives it its own.
  char tmpl[] = "/tmp/tlsaudit-prod-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string etc = tmpl;
  std::ofstream(etc + "/grpc.crt") << "not read until the listener starts\n";
  std::ofstream(etc + "/grpc.key") << "not read until the listener starts\n";
  std::ofstream(etc + "/operator.token") << "operator-token-from-a-file-0123\n";
  std::ofstream(etc + "/vendor-roots.pem") << "\n";
  std::ofstream(etc + "/servers.txt") << "# servers\n127.0.0.1\n127.0.0.2:8443\n";
  std::ofstream(etc + "/local-rules.yaml")
      << "rules:\n  - id: local-test-rule\n    title: t\n    severity: low\n"
         "    condition: tls.reachable and not tls.tls\n    rationale: r\n    remediation: m\n";
  std::ofstream(etc + "/waivers.yaml") << "waivers: []\n";
  std::string text = readAll(dir + "production.yaml");
  for (size_t at; (at = text.find("/etc/tlsaudit")) != std::string::npos;) {
    text.replace(at, std::string("/etc/tlsaudit").size(), etc);
  }
  env_ = {{"TLSAUDIT_DB_PASSWORD", "x"},
          {"TLSAUDIT_VIEWER_TOKEN", "viewer-token-0123456789"},
          {"SNMP_COMMUNITY", "community"},
          {"SNMP_AUTH", "auth-passphrase"},
          {"SNMP_PRIV", "priv-passphrase"},
          {"TLSAUDIT_WEBHOOK_SECRET", "whsec"}};
  auto prod = load(text);
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_FALSE(prod->database.dsn.empty());
  EXPECT_EQ(prod->grpc.tokens.size(), 2u);
  EXPECT_EQ(prod->grpc.tokens[1].token, "operator-token-from-a-file-0123");
  EXPECT_EQ(prod->groups.size(), 2u);
  EXPECT_EQ(prod->alerts.size(), 3u);
  EXPECT_EQ(prod->retention, std::chrono::hours(400 * 24));
  std::error_code ec;
  std::filesystem::remove_all(etc, ec);
}

}  // namespace
}  // namespace tlsaudit::scanner
