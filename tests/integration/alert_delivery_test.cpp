// Alert delivery end to end: outbox rows written by the real ingest path (PgFindingStore) on a
// real PostgreSQL, delivered by AlertDispatcher to receivers the tests start on 127.0.0.1
// (servers/alert_receiver.py: an HTTP(S) endpoint that records every request and can be told
// to fail, and syslog collectors over UDP and TCP). Proves: each event reaches each sink once,
// in id order, signed; an outage of the receiver or of PostgreSQL loses nothing and resends
// nothing the receiver acknowledged (PostgreSQL: at most the one event in flight, with its
// key); filters apply and filtered events are never retried; two daemons deliver each event
// once per sink; the Alertmanager and syslog formats on the wire; TLS verification; deadlines
// and response caps of the HTTP client.
#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/alerts/http_client.h"
#include "storage/migrator.h"
#include "storage/pg_finding_store.h"
#include "tests/integration/alert_receiver_fixture.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using scanner::alerts::AlertDispatcher;
using scanner::alerts::DispatcherOptions;
using scanner::alerts::SinkConfig;
using scanner::alerts::SinkStats;
using std::chrono::seconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;


// ---- receivers ------------------------------------------------------------------------------


std::vector<std::string> keysOf(const std::vector<Request>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.header("idempotency-key"));
  return out;
}

// ---- the fixture ----------------------------------------------------------------------------

struct OutboxRow {
  int64_t id = 0;
  std::string key, kind, rule;
};

DispatcherOptions fastOptions(const std::string& dsn, const std::string& instance) {
  DispatcherOptions o;
  o.database.dsn = dsn;
  o.database.connect_timeout = seconds(2);
  o.poll_interval = milliseconds(100);
  o.backoff_initial = milliseconds(50);
  o.backoff_max = milliseconds(400);
  o.settle = seconds(0);
  o.instance = instance;
  return o;
}

SinkConfig webhookSink(const std::string& name, const std::string& url,
                       const std::string& secret = "") {
  SinkConfig s;
  s.name = name;
  s.type = "webhook";
  s.url = url;
  s.secret = secret;
  // Generous: an attempt that times out on a loaded machine after the receiver answered would be
  // sent again (same key) and look like a duplicate to the tests that count deliveries.
  s.timeout = milliseconds(10000);
  return s;
}

const SinkStats* statsOf(const std::vector<SinkStats>& all, const std::string& name) {
  for (const auto& s : all) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

class AlertDeliveryTest : public StorageTest {
 protected:
  // The sinks these tests configure exist before the events they deliver are written (a sink
  // first configured later starts at the events written from then on).
  void SetUp() override {
    StorageTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    auto r = db_->exec(
        "INSERT INTO alert_sinks (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        {"{soc,a,b,am,broken,events,good,high,late,rules,tcp,udp,wrong-ca}"});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // One host with `findings` stored by a new scan: one "opened" outbox event per new finding
  // (and "resolved" for the host's earlier findings that are absent now).
  void ingest(const std::string& ip, const std::vector<v1::Finding>& findings,
              storage::PgConnection* db = nullptr) {
    storage::PgConnection& c = db ? *db : *db_;
    std::string scan = createScan(c);
    auto r = storage::PgFindingStore(c).ingest(makeHostResult(scan, ip, 443, findings));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  std::vector<OutboxRow> outbox(storage::PgConnection* db = nullptr) {
    storage::PgConnection& c = db ? *db : *db_;
    std::vector<OutboxRow> out;
    auto r = c.exec(
        "SELECT id, idempotency_key::text, kind, payload->>'ruleId' FROM alert_outbox ORDER BY "
        "id");
    EXPECT_TRUE(r.ok()) << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) {
      out.push_back({r->int64(i, 0), r->str(i, 1), r->str(i, 2), r->str(i, 3)});
    }
    return out;
  }
  std::vector<std::string> outboxKeys(storage::PgConnection* db = nullptr) {
    std::vector<std::string> out;
    for (const auto& row : outbox(db)) out.push_back(row.key);
    return out;
  }
};

// ---- webhook --------------------------------------------------------------------------------

TEST_F(AlertDeliveryTest, WebhookGetsEveryEventOnceInIdOrderSigned) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  ingest("10.20.0.1",
         {makeFinding("tls10-enabled", v1::HIGH), makeFinding("cert-sig-md5", v1::CRITICAL)});
  ingest("10.20.0.2",
         {makeFinding("tls10-enabled", v1::HIGH), makeFinding("rc4-accepted", v1::MEDIUM),
          makeFinding("cert-sig-md5", v1::CRITICAL)});
  SinkConfig sink = webhookSink("soc", receiver.url("/hooks/tlsaudit"), "whsec-itest");
  sink.headers = {{"X-Team", "voice"}};
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"), {sink});
  dispatcher.start();
  // More events while it runs: one resolved (the host's second scan lacks rc4-accepted).
  ingest("10.20.0.2",
         {makeFinding("tls10-enabled", v1::HIGH), makeFinding("cert-sig-md5", v1::CRITICAL)});
  dispatcher.poke();
  auto rows = outbox();
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows.back().kind, "finding.resolved");
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() >= rows.size(); }))
      << receiver.log();
  // The depth reading follows the deliveries.
  EXPECT_TRUE(eventually([&] {
    auto s = dispatcher.stats();
    return s.size() == 1 && s[0].depth == 0;
  }));
  // A few more polls: nothing else arrives.
  std::this_thread::sleep_for(milliseconds(300));
  dispatcher.stop();

  auto received = receiver.requests();
  ASSERT_EQ(received.size(), rows.size());
  EXPECT_EQ(keysOf(received), outboxKeys());  // each key once, in id order
  for (size_t i = 0; i < received.size(); ++i) {
    const Request& r = received[i];
    SCOPED_TRACE(r.body);
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/hooks/tlsaudit");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("x-tlsaudit-event"), rows[i].kind);
    EXPECT_EQ(r.header("x-team"), "voice");
    EXPECT_EQ(r.header("host"), "127.0.0.1:" + std::to_string(receiver.port()));
    // The signature covers the exact bytes received.
    EXPECT_EQ(r.header("x-tlsaudit-signature"), "sha256=" + hmacSha256Hex("whsec-itest", r.body));
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["idempotencyKey"], rows[i].key);
    EXPECT_EQ(body["kind"], rows[i].kind);
    EXPECT_EQ(body["outboxId"], std::to_string(rows[i].id));
    EXPECT_EQ(body["instance"], "itest-a");
    EXPECT_EQ(body["tool"]["name"], "tlsaudit");
    EXPECT_EQ(body["finding"]["ruleId"], rows[i].rule);
    EXPECT_EQ(body["finding"]["title"], "title of " + rows[i].rule);
    EXPECT_EQ(body["finding"]["service"], std::string(body["finding"]["asset"]) + ":443");
  }
  const std::map<std::string, std::string> severity = {
      {"tls10-enabled", "HIGH"}, {"cert-sig-md5", "CRITICAL"}, {"rc4-accepted", "MEDIUM"}};
  for (const auto& r : received) {
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["finding"]["severity"], severity.at(body["finding"]["ruleId"]));
  }
  auto first = nlohmann::json::parse(received[0].body);
  EXPECT_EQ(first["event"], "opened");
  EXPECT_EQ(first["finding"]["fromState"], "NONE");
  EXPECT_EQ(first["finding"]["toState"], "OPEN");
  auto last = nlohmann::json::parse(received.back().body);
  EXPECT_EQ(last["event"], "resolved");
  EXPECT_EQ(last["finding"]["severity"], "MEDIUM");
  EXPECT_EQ(last["finding"]["fromState"], "OPEN");
  EXPECT_EQ(last["finding"]["toState"], "RESOLVED");

  auto stats = dispatcher.stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].delivered, rows.size());
  EXPECT_EQ(stats[0].failures, 0u);
  // settle = 0: the watermark moved over everything and the delivery rows were dropped.
  EXPECT_EQ(queryCount(*db_, "SELECT watermark FROM alert_sinks WHERE name = 'soc'"),
            rows.back().id);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_deliveries"), 0);
}

TEST_F(AlertDeliveryTest, ReceiverOutageLosesNothingAndAcknowledgedEventsAreNotResent) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"),
                             {webhookSink("soc", receiver.url("/hook"), "k")});
  dispatcher.start();
  ingest("10.21.0.1",
         {makeFinding("a", v1::HIGH), makeFinding("b", v1::LOW), makeFinding("c", v1::MEDIUM)});
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 3; })) << receiver.log();
  std::string before_outage = receiver.log();

  receiver.stop();
  ingest("10.21.0.2", {makeFinding("d", v1::HIGH), makeFinding("e", v1::HIGH)});
  ingest("10.21.0.3", {makeFinding("f", v1::CRITICAL), makeFinding("g", v1::INFO)});
  dispatcher.poke();
  // The dispatcher keeps trying while the receiver is away, with backoff.
  ASSERT_TRUE(eventually([&] {
    auto s = dispatcher.stats();
    return !s.empty() && s[0].failures >= 3;
  }));
  EXPECT_THAT(dispatcher.stats()[0].last_error, HasSubstr("connect"));
  // The queue the outage holds back is visible in the stats.
  EXPECT_TRUE(eventually([&] { return dispatcher.stats()[0].depth == 4; }));
  EXPECT_GE(queryCount(*db_, "SELECT failures FROM alert_sinks WHERE name = 'soc'"), 3);

  ASSERT_TRUE(receiver.start());  // same port
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 7; })) << receiver.log();
  std::this_thread::sleep_for(milliseconds(300));
  dispatcher.stop();

  // Every key exactly once across the outage, in id order; what was acknowledged before it was
  // not sent again after it.
  auto all = receiver.requests();
  EXPECT_EQ(keysOf(all), outboxKeys());
  auto keys = outboxKeys();
  std::string after_outage = receiver.log().substr(before_outage.size());
  for (size_t i = 0; i < 3; ++i) EXPECT_THAT(after_outage, Not(HasSubstr(keys[i])));
  EXPECT_EQ(dispatcher.stats()[0].last_error, "");
  EXPECT_EQ(queryValue(*db_, "SELECT last_error FROM alert_sinks WHERE name = 'soc'"), "");
}

TEST_F(AlertDeliveryTest, FailedAttemptsAreRetriedWithTheSameKeyAndBodyBeforeLaterEvents) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  DispatcherOptions options = fastOptions(dsn_, "itest-a");
  options.settle = seconds(600);  // keep the delivery rows to read their attempts
  AlertDispatcher dispatcher(options, {webhookSink("soc", receiver.url("/hook"), "k")});
  receiver.setControl("status 503");
  ingest("10.22.0.1", {makeFinding("a", v1::HIGH), makeFinding("b", v1::HIGH)});
  auto keys = outboxKeys();
  ASSERT_EQ(keys.size(), 2u);
  dispatcher.start();
  ASSERT_TRUE(eventually([&] { return receiver.requests().size() >= 2; })) << receiver.log();
  // The receiver reads the request and hangs up without answering.
  receiver.setControl("close");
  ASSERT_TRUE(eventually([&] {
    auto r = receiver.requests();
    return !r.empty() && r.back().answer == "close";
  })) << receiver.log();
  receiver.setControl("ok");
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 2; })) << receiver.log();
  dispatcher.stop();

  auto all = receiver.requests();
  ASSERT_GE(all.size(), 4u);
  // Nothing of the second event until the first was acknowledged, and every attempt of the
  // first carried the same key, body and signature.
  size_t first_ack = 0;
  while (first_ack < all.size() && !all[first_ack].acknowledged()) ++first_ack;
  ASSERT_LT(first_ack, all.size());
  for (size_t i = 0; i <= first_ack; ++i) {
    EXPECT_EQ(all[i].header("idempotency-key"), keys[0]) << i;
    EXPECT_EQ(all[i].body, all[0].body);
    EXPECT_EQ(all[i].header("x-tlsaudit-signature"), all[0].header("x-tlsaudit-signature"));
  }
  EXPECT_EQ(keysOf(receiver.acknowledged()), keys);  // acknowledged: each key exactly once
  int64_t failed = static_cast<int64_t>(first_ack);
  EXPECT_EQ(queryCount(*db_,
                       "SELECT d.attempts FROM alert_deliveries d JOIN alert_outbox o ON "
                       "o.id = d.outbox_id WHERE o.idempotency_key = '" +
                           keys[0] + "'"),
            failed + 1);
  EXPECT_EQ(queryCount(*db_, "SELECT failures FROM alert_sinks WHERE name = 'soc'"), failed);
  EXPECT_EQ(dispatcher.stats()[0].failures, static_cast<uint64_t>(failed));
  EXPECT_EQ(dispatcher.stats()[0].delivered, 2u);
}

TEST_F(AlertDeliveryTest, FiltersApplyAndFilteredEventsAreNeverRetried) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  SinkConfig high = webhookSink("high", receiver.url("/high"));
  high.min_severity = v1::HIGH;
  SinkConfig rules = webhookSink("rules", receiver.url("/rules"));
  rules.rules = {"tls10-enabled"};
  SinkConfig events = webhookSink("events", receiver.url("/events"));
  events.events = {"resolved"};
  DispatcherOptions options = fastOptions(dsn_, "itest-a");
  options.settle = seconds(600);  // keep the delivery rows
  AlertDispatcher dispatcher(options, {high, rules, events});
  dispatcher.start();
  ingest("10.23.0.1",
         {makeFinding("tls10-enabled", v1::MEDIUM), makeFinding("cert-sig-md5", v1::CRITICAL),
          makeFinding("sha1-chain", v1::LOW)});
  ingest("10.23.0.1", {makeFinding("cert-sig-md5", v1::CRITICAL),
                       makeFinding("sha1-chain", v1::LOW)});  // tls10-enabled resolved
  dispatcher.poke();
  ASSERT_EQ(outbox().size(), 4u);
  ASSERT_TRUE(eventually([&] {
    auto s = dispatcher.stats();
    return s.size() == 3 && s[0].depth == 0 && s[1].depth == 0 && s[2].depth == 0;
  }));
  std::this_thread::sleep_for(milliseconds(400));  // several more polls
  dispatcher.stop();

  auto rulesOf = [&](const std::string& path) {
    std::vector<std::string> out;
    for (const auto& r : receiver.requests(path)) {
      auto body = nlohmann::json::parse(r.body);
      out.push_back(std::string(body["finding"]["ruleId"]) + ":" + std::string(body["event"]));
    }
    return out;
  };
  EXPECT_THAT(rulesOf("/high"), ::testing::ElementsAre("cert-sig-md5:opened"));
  EXPECT_THAT(rulesOf("/rules"),
              ::testing::ElementsAre("tls10-enabled:opened", "tls10-enabled:resolved"));
  EXPECT_THAT(rulesOf("/events"), ::testing::ElementsAre("tls10-enabled:resolved"));
  // Filtered events are recorded as taken without delivery, once each.
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM alert_deliveries WHERE sink = 'high' AND "
                       "NOT delivered"),
            3);
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM alert_deliveries WHERE sink = 'rules' AND "
                       "NOT delivered"),
            2);
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM alert_deliveries WHERE sink = 'events' AND "
                       "NOT delivered"),
            3);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_deliveries"), 12);
  auto stats = dispatcher.stats();
  EXPECT_EQ(statsOf(stats, "high")->skipped, 3u);
  EXPECT_EQ(statsOf(stats, "high")->delivered, 1u);
  EXPECT_EQ(statsOf(stats, "rules")->skipped, 2u);
  EXPECT_EQ(statsOf(stats, "events")->delivered, 1u);
}

TEST_F(AlertDeliveryTest, TwoDispatchersDeliverEachEventOncePerSink) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  std::vector<SinkConfig> sinks = {webhookSink("a", receiver.url("/a")),
                                   webhookSink("b", receiver.url("/b"))};
  auto one = std::make_unique<AlertDispatcher>(fastOptions(dsn_, "daemon-1"), sinks);
  AlertDispatcher two(fastOptions(dsn_, "daemon-2"), sinks);
  one->start();
  two.start();
  for (int i = 0; i < 5; ++i) {
    ingest("10.24.0." + std::to_string(i + 1),
           {makeFinding("r1", v1::HIGH), makeFinding("r2", v1::HIGH)});
    one->poke();
    two.poke();
    std::this_thread::sleep_for(milliseconds(30));
  }
  ASSERT_TRUE(eventually([&] {
    return receiver.acknowledged("/a").size() >= 10 && receiver.acknowledged("/b").size() >= 10;
  })) << receiver.log();

  // The daemon holding a sink goes away: the other takes over where it stopped.
  one->stop();
  one.reset();
  ingest("10.24.0.9", {makeFinding("r1", v1::HIGH), makeFinding("r2", v1::HIGH)});
  two.poke();
  ASSERT_TRUE(eventually([&] {
    return receiver.acknowledged("/a").size() >= 12 && receiver.acknowledged("/b").size() >= 12;
  })) << receiver.log();
  std::this_thread::sleep_for(milliseconds(300));
  two.stop();

  auto keys = outboxKeys();
  ASSERT_EQ(keys.size(), 12u);
  EXPECT_EQ(keysOf(receiver.requests("/a")), keys);
  EXPECT_EQ(keysOf(receiver.requests("/b")), keys);
  // The last two events were delivered by the daemon that was left.
  for (const std::string path : {"/a", "/b"}) {
    auto last = nlohmann::json::parse(receiver.requests(path).back().body);
    EXPECT_EQ(last["instance"], "daemon-2");
  }
}

TEST_F(AlertDeliveryTest, ReconfigureKeepsEachSinksPlaceAndReportsRefusedSinks) {
  Receiver first("http");
  Receiver second("http");
  ASSERT_NE(first.port(), 0);
  ASSERT_NE(second.port(), 0);
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"), {webhookSink("soc", first.url("/soc"))});
  dispatcher.start();
  ingest("10.25.0.1", {makeFinding("a", v1::HIGH), makeFinding("b", v1::HIGH)});
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] { return first.acknowledged().size() == 2; })) << first.log();

  SinkConfig broken;
  broken.name = "broken";
  broken.type = "pagerduty";
  dispatcher.reconfigure(
      {webhookSink("soc", second.url("/soc")), webhookSink("late", second.url("/late")), broken});
  ingest("10.25.0.2", {makeFinding("c", v1::HIGH)});
  dispatcher.poke();
  // "soc" goes on from where it was; a new sink starts at the oldest event in the outbox.
  ASSERT_TRUE(eventually([&] {
    return second.acknowledged("/soc").size() == 1 && second.acknowledged("/late").size() == 3;
  })) << second.log();
  std::this_thread::sleep_for(milliseconds(300));
  dispatcher.stop();
  auto keys = outboxKeys();
  EXPECT_EQ(keysOf(first.requests()), std::vector<std::string>(keys.begin(), keys.begin() + 2));
  EXPECT_EQ(keysOf(second.requests("/soc")), std::vector<std::string>{keys[2]});
  EXPECT_EQ(keysOf(second.requests("/late")), keys);
  auto stats = dispatcher.stats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(statsOf(stats, "soc")->delivered, 3u);  // counters kept across the reload
  EXPECT_THAT(statsOf(stats, "broken")->last_error, HasSubstr("alerts[broken].type"));
}

// ---- PostgreSQL restart ---------------------------------------------------------------------

TEST(AlertDeliveryFaultTest, DatabaseRestartWhileDeliveringLosesNothing) {
  SKIP_WITHOUT_POSTGRES();
  PostgresCluster pg(
      PostgresCluster::Options{.tcp = false, .server_certificate = false, .settings = {}});
  ASSERT_TRUE(pg.ok());
  auto db = connectOrFail(pg.dsn());
  ASSERT_NE(db, nullptr);
  auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
  ASSERT_TRUE(migrations.ok());
  ASSERT_TRUE(storage::migrate(*db, *migrations, false).ok());
  // The sink exists before the events are written (see AlertDeliveryTest::SetUp).
  ASSERT_TRUE(db->exec("INSERT INTO alert_sinks (name) VALUES ('soc')").ok());
  auto ingestHost = [](storage::PgConnection& c, int host, int findings) {
    std::vector<v1::Finding> list;
    for (int i = 0; i < findings; ++i)
      list.push_back(makeFinding("r" + std::to_string(i), v1::HIGH));
    auto r = storage::PgFindingStore(c).ingest(
        makeHostResult(createScan(c), "10.26.0." + std::to_string(host), 443, list));
    ASSERT_TRUE(r.ok()) << r.status();
  };
  for (int h = 1; h <= 3; ++h) ingestHost(*db, h, 10);

  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  receiver.setControl("ok 40");  // slow enough that the crash lands mid-delivery
  DispatcherOptions options = fastOptions(pg.dsn(), "itest-a");
  options.batch = 5;
  AlertDispatcher dispatcher(options, {webhookSink("soc", receiver.url("/hook"))});
  dispatcher.start();
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() >= 8; })) << receiver.log();
  db.reset();
  ASSERT_TRUE(pg.stop("immediate"));  // a crash: no clean shutdown
  size_t at_crash = receiver.acknowledged().size();
  std::this_thread::sleep_for(milliseconds(500));
  size_t during = receiver.acknowledged().size();
  ASSERT_TRUE(pg.start());
  db = connectOrFail(pg.dsn());
  ASSERT_NE(db, nullptr);
  ingestHost(*db, 4, 6);
  dispatcher.poke();

  std::vector<std::string> keys;
  auto rows = db->exec("SELECT idempotency_key::text FROM alert_outbox ORDER BY id");
  ASSERT_TRUE(rows.ok());
  for (int i = 0; i < rows->rows(); ++i) keys.push_back(rows->str(i, 0));
  ASSERT_EQ(keys.size(), 36u);
  auto distinct = [&] {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& k : keysOf(receiver.acknowledged())) {
      if (seen.insert(k).second) out.push_back(k);
    }
    return out;
  };
  ASSERT_TRUE(eventually([&] { return distinct().size() == keys.size(); }, milliseconds(30000)))
      << receiver.log();
  std::this_thread::sleep_for(milliseconds(300));
  dispatcher.stop();
  // Nothing lost, first receipts in id order; at most the event in flight at the crash came
  // twice (delivered, but its record was lost with the server), and with the same key.
  EXPECT_EQ(distinct(), keys);
  EXPECT_LE(receiver.acknowledged().size(), keys.size() + 1);
  // Without the database nothing is delivered but the attempt that was already in flight.
  EXPECT_LE(during, at_crash + 1);
  EXPECT_EQ(queryCount(*db,
                       "SELECT count(*) FROM alert_outbox o WHERE o.id > (SELECT watermark FROM "
                       "alert_sinks WHERE name = 'soc') AND NOT EXISTS (SELECT 1 FROM "
                       "alert_deliveries d WHERE d.outbox_id = o.id AND d.sink = 'soc')"),
            0);
}

// ---- Alertmanager ---------------------------------------------------------------------------

TEST_F(AlertDeliveryTest, AlertmanagerGetsV2AlertsAndResolvedOnesEnd) {
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  SinkConfig am;
  am.name = "am";
  am.type = "alertmanager";
  am.url = receiver.url("/");  // a base URL; alerts go to /api/v2/alerts under it
  am.headers = {{"Authorization", "Bearer am-token-1"}};
  am.timeout = milliseconds(10000);
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"), {am});
  dispatcher.start();
  ingest("10.27.0.1", {makeFinding("cert-sig-md5", v1::CRITICAL)});
  ingest("10.27.0.1", {});  // resolved
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] { return receiver.acknowledged().size() == 2; })) << receiver.log();
  dispatcher.stop();

  auto rows = outbox();
  ASSERT_EQ(rows.size(), 2u);
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  std::vector<nlohmann::json> alerts;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(requests[i].method, "POST");
    EXPECT_EQ(requests[i].path, "/api/v2/alerts");
    EXPECT_EQ(requests[i].header("content-type"), "application/json");
    EXPECT_EQ(requests[i].header("authorization"), "Bearer am-token-1");
    auto body = nlohmann::json::parse(requests[i].body);
    ASSERT_TRUE(body.is_array());
    ASSERT_EQ(body.size(), 1u);
    alerts.push_back(body[0]);
    EXPECT_EQ(body[0]["annotations"]["idempotency_key"], rows[i].key);
    EXPECT_EQ(body[0]["annotations"]["summary"], "title of cert-sig-md5");
  }
  nlohmann::json labels = {{"alertname", "TlsauditFinding"}, {"rule_id", "cert-sig-md5"},
                           {"severity", "critical"},         {"asset", "10.27.0.1"},
                           {"service", "10.27.0.1:443"},     {"instance", "10.27.0.1:443"}};
  EXPECT_EQ(alerts[0]["labels"], labels);
  EXPECT_EQ(alerts[1]["labels"], labels);  // the same alert for Alertmanager
  EXPECT_EQ(alerts[0]["annotations"]["event"], "opened");
  EXPECT_EQ(alerts[1]["annotations"]["event"], "resolved");
  // The firing alert expires a week after it started unless resolved earlier; the resolved one
  // ends when it was resolved.
  google::protobuf::Timestamp starts, ends;
  using google::protobuf::util::TimeUtil;
  ASSERT_TRUE(TimeUtil::FromString(alerts[0]["startsAt"].get<std::string>(), &starts));
  ASSERT_TRUE(TimeUtil::FromString(alerts[0]["endsAt"].get<std::string>(), &ends));
  EXPECT_EQ(ends.seconds() - starts.seconds(), 7 * 24 * 3600);
  EXPECT_EQ(alerts[1]["endsAt"], alerts[1]["startsAt"]);
  EXPECT_GT(alerts[1]["startsAt"].get<std::string>(), alerts[0]["startsAt"].get<std::string>());
}

// The real Prometheus Alertmanager (Debian's prometheus-alertmanager, on loopback, clustering
// off): it must accept what the sink sends, show the finding as an active alert with our
// labels, and drop it once the resolved event arrives. The receiver above checks the bytes;
// this checks that Alertmanager agrees with them.
TEST_F(AlertDeliveryTest, RealAlertmanagerShowsTheAlertAndResolvesIt) {
  const std::string bin = "/usr/bin/prometheus-alertmanager";
  if (::access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " is not installed (scripts/setup.sh)";
  std::string dir = scratchDir() + "/alertmanager-" + std::to_string(::getpid());
  ASSERT_EQ(::system(("mkdir -p '" + dir + "/data'").c_str()), 0);
  std::ofstream(dir + "/alertmanager.yml") << "route:\n  receiver: none\nreceivers:\n  - name: none\n";
  std::unique_ptr<Process> am;
  std::string base;
  for (int attempt = 0; attempt < 3 && base.empty(); ++attempt) {
    uint16_t port = freePort("127.0.0.1", SOCK_STREAM);
    ASSERT_NE(port, 0);
    std::string listen = "127.0.0.1:" + std::to_string(port);
    am = std::make_unique<Process>(
        "alertmanager",
        std::vector<std::string>{bin, "--config.file=" + dir + "/alertmanager.yml",
                                 "--storage.path=" + dir + "/data", "--web.listen-address=" + listen,
                                 "--cluster.listen-address="});
    if (am->waitFor(std::regex("msg=\"(Listening on)\""), milliseconds(15000))) {
      base = "http://" + listen;
    } else {
      am->stop();
    }
  }
  ASSERT_FALSE(base.empty()) << am->log();
  ASSERT_TRUE(eventually([&] { return httpGet(base + "/-/ready").out.rfind("200", 0) == 0; }))
      << am->log();
  auto active = [&](const std::string& rule) {
    auto r = httpGet(base + "/api/v2/alerts?filter=rule_id%3D%22" + rule + "%22");
    size_t nl = r.out.find('\n');
    auto list = nlohmann::json::parse(nl == std::string::npos ? "" : r.out.substr(nl + 1),
                                      nullptr, false);
    return list.is_array() ? list : nlohmann::json::array({"unreadable: " + r.out});
  };

  SinkConfig sink;
  sink.name = "am";
  sink.type = "alertmanager";
  sink.url = base;
  sink.timeout = milliseconds(10000);
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-am"), {sink});
  dispatcher.start();
  ingest("10.28.0.1", {makeFinding("cert-sig-md5", v1::CRITICAL)});
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] { return dispatcher.stats()[0].delivered == 1; }))
      << dispatcher.stats()[0].last_error << "\n" << am->log();
  auto firing = active("cert-sig-md5");
  ASSERT_EQ(firing.size(), 1u) << firing.dump();
  EXPECT_EQ(firing[0]["status"]["state"], "active");
  EXPECT_EQ(firing[0]["labels"]["alertname"], "TlsauditFinding");
  EXPECT_EQ(firing[0]["labels"]["severity"], "critical");
  EXPECT_EQ(firing[0]["labels"]["asset"], "10.28.0.1");
  EXPECT_EQ(firing[0]["annotations"]["idempotency_key"], outbox()[0].key);

  ingest("10.28.0.1", {});  // the finding is gone: resolved
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] { return dispatcher.stats()[0].delivered == 2; }))
      << dispatcher.stats()[0].last_error;
  EXPECT_TRUE(eventually([&] { return active("cert-sig-md5").empty(); }))
      << active("cert-sig-md5").dump();
  dispatcher.stop();
  EXPECT_EQ(dispatcher.stats()[0].failures, 0u) << dispatcher.stats()[0].last_error;
}

// ---- syslog ---------------------------------------------------------------------------------

struct Syslog5424 {
  int pri = -1;
  std::string timestamp, hostname, app, procid, msgid, sd_id, msg;
  std::map<std::string, std::string> params;
};

// An independent reading of RFC 5424 §6: the header by regex, then the SD-ELEMENT by hand
// (PARAM-VALUE with its \" \\ \] escapes), then BOM + MSG.
std::optional<Syslog5424> parse5424(const std::string& line) {
  static const std::regex kHeader(
      R"(^<(\d{1,3})>1 (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) )");
  std::smatch m;
  if (!std::regex_search(line, m, kHeader)) return std::nullopt;
  Syslog5424 s;
  s.pri = std::stoi(m[1]);
  s.timestamp = m[2];
  s.hostname = m[3];
  s.app = m[4];
  s.procid = m[5];
  s.msgid = m[6];
  size_t p = m.length(0);
  if (p >= line.size() || line[p] != '[') return std::nullopt;
  size_t id_end = line.find_first_of(" ]", p);
  if (id_end == std::string::npos) return std::nullopt;
  s.sd_id = line.substr(p + 1, id_end - p - 1);
  p = id_end;
  while (p < line.size() && line[p] == ' ') {
    size_t eq = line.find('=', p);
    if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
      return std::nullopt;
    }
    std::string name = line.substr(p + 1, eq - p - 1), value;
    size_t i = eq + 2;
    for (; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size() &&
          (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == ']')) {
        ++i;
      } else if (line[i] == ']') {
        return std::nullopt;  // an unescaped ] inside a value
      }
      value += line[i];
    }
    if (i >= line.size()) return std::nullopt;
    s.params[name] = value;
    p = i + 1;
  }
  if (p >= line.size() || line[p] != ']') return std::nullopt;
  std::string rest = line.substr(p + 1);
  if (rest.rfind(" \xEF\xBB\xBF", 0) != 0) return std::nullopt;
  s.msg = rest.substr(4);
  return s;
}

TEST_F(AlertDeliveryTest, SyslogOverUdpAndTcpIsRfc5424) {
  Receiver udp("syslog-udp");
  Receiver tcp("syslog-tcp");
  ASSERT_NE(udp.port(), 0);
  ASSERT_NE(tcp.port(), 0);
  auto syslogSink = [](const std::string& name, const std::string& transport, uint16_t port) {
    SinkConfig s;
    s.name = name;
    s.type = "syslog";
    s.address = "127.0.0.1:" + std::to_string(port);
    s.transport = transport;
    s.timeout = milliseconds(10000);
    return s;
  };
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"), {syslogSink("udp", "udp", udp.port()),
                                                            syslogSink("tcp", "tcp", tcp.port())});
  dispatcher.start();
  v1::Finding odd = makeFinding(R"(odd"rule]\id)", v1::CRITICAL);
  odd.set_title("title with \"quotes\" and ] and \\ and \xE2\x82\xAC");
  ingest("10.28.0.1",
         {makeFinding("tls10-enabled", v1::HIGH), odd, makeFinding("sha1-chain", v1::LOW)});
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] {
    return udp.syslogMessages().size() == 3 && tcp.syslogMessages().size() == 3;
  })) << udp.log()
      << tcp.log();

  // The collector restarts between events: the dead connection is noticed before the next
  // write, so the next event is retried on a new connection, not written into the void.
  tcp.stop();
  ingest("10.28.0.2", {makeFinding("tls10-enabled", v1::HIGH)});
  dispatcher.poke();
  ASSERT_TRUE(eventually([&] {
    const SinkStats* s = statsOf(dispatcher.stats(), "tcp");
    return s && s->failures >= 1;
  }));
  ASSERT_TRUE(tcp.start());
  ASSERT_TRUE(eventually([&] {
    return udp.syslogMessages().size() == 4 && tcp.syslogMessages().size() == 4;
  })) << udp.log()
      << tcp.log();
  dispatcher.stop();
  EXPECT_THAT(tcp.log(), Not(HasSubstr("BADFRAME")));

  auto rows = outbox();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto* receiver : {&udp, &tcp}) {
    auto messages = receiver->syslogMessages();
    ASSERT_EQ(messages.size(), 4u);
    for (size_t i = 0; i < messages.size(); ++i) {
      SCOPED_TRACE(messages[i]);
      auto m = parse5424(messages[i]);
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->app, "tlsaudit");
      EXPECT_EQ(m->procid, std::to_string(::getpid()));
      EXPECT_EQ(m->msgid, "finding.opened");
      EXPECT_EQ(m->sd_id, "tlsaudit@32473");
      EXPECT_EQ(m->params["key"], rows[i].key);
      EXPECT_EQ(m->params["rule"], rows[i].rule);
      EXPECT_EQ(m->params["event"], "opened");
      google::protobuf::Timestamp t;
      EXPECT_TRUE(google::protobuf::util::TimeUtil::FromString(m->timestamp, &t));
      EXPECT_THAT(m->msg, HasSubstr("opened "));
    }
    // authpriv (10) * 8 + err (3) for HIGH, + crit (2) for CRITICAL, + notice (5) for LOW.
    const std::map<std::string, std::pair<int, std::string>> expected = {
        {"tls10-enabled", {83, "HIGH"}},
        {R"(odd"rule]\id)", {82, "CRITICAL"}},
        {"sha1-chain", {85, "LOW"}}};
    for (size_t i = 0; i < messages.size(); ++i) {
      auto m = parse5424(messages[i]);
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->pri, expected.at(rows[i].rule).first) << rows[i].rule;
      EXPECT_EQ(m->params["severity"], expected.at(rows[i].rule).second);
      if (rows[i].rule == R"(odd"rule]\id)") {
        EXPECT_THAT(m->msg, HasSubstr("title with \"quotes\" and ] and \\ and \xE2\x82\xAC"));
      }
    }
  }
}

// ---- HTTPS and the HTTP client --------------------------------------------------------------

TEST_F(AlertDeliveryTest, HttpsIsVerifiedAndSecretsStayOutOfErrors) {
  Receiver receiver("http", {"--cert", "rsa-chain.pem", "--key", "rsa-leaf.key"});
  ASSERT_NE(receiver.port(), 0);
  SinkConfig good = webhookSink("good", receiver.url("/good", "https"), "whsec-good");
  good.ca_file = pki("rsa-root.crt");
  SinkConfig wrong_ca = webhookSink("wrong-ca", receiver.url("/bad?token=url-token-777", "https"),
                                    "whsec-never-logged");
  wrong_ca.ca_file = pki("ecdsa-root.crt");
  wrong_ca.headers = {{"Authorization", "Bearer tok-never-logged"}};
  // Handshakes with the Python receiver can be slow on a loaded machine: an attempt that timed
  // out would be retried but would not say "certificate".
  good.timeout = wrong_ca.timeout = milliseconds(15000);
  AlertDispatcher dispatcher(fastOptions(dsn_, "itest-a"), {good, wrong_ca});
  dispatcher.start();
  ingest("10.29.0.1", {makeFinding("tls10-enabled", v1::HIGH)});
  dispatcher.poke();
  ASSERT_TRUE(eventually(
      [&] {
        const SinkStats* bad = statsOf(dispatcher.stats(), "wrong-ca");
        return receiver.acknowledged("/good").size() == 1 && bad && bad->failures >= 2;
      },
      milliseconds(60000)))
      << receiver.log();
  dispatcher.stop();
  EXPECT_TRUE(receiver.requests("/bad?token=url-token-777").empty());
  const SinkStats* bad = statsOf(dispatcher.stats(), "wrong-ca");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->delivered, 0u);
  EXPECT_THAT(bad->last_error, HasSubstr("certificate"));
  std::string stored =
      queryValue(*db_, "SELECT last_error FROM alert_sinks WHERE name = 'wrong-ca'");
  EXPECT_THAT(stored, HasSubstr("certificate"));
  for (const std::string& text : {bad->last_error, stored}) {
    EXPECT_THAT(text, Not(HasSubstr("never-logged")));
    EXPECT_THAT(text, Not(HasSubstr("url-token")));
  }
}

TEST(AlertHttpClientTest, DeadlinesAndResponseCaps) {
  using scanner::alerts::HttpClient;
  auto client = HttpClient::create({});
  ASSERT_TRUE(client.ok()) << client.status();
  Receiver receiver("http");
  ASSERT_NE(receiver.port(), 0);
  auto url = *scanner::alerts::parseHttpUrl(receiver.url("/x"));
  auto timed = [&](milliseconds timeout) {
    auto start = steady_clock::now();
    auto r = (*client)->post(url, {{"Content-Type", "application/json"}}, "{}", timeout);
    return std::make_pair(std::move(r), steady_clock::now() - start);
  };

  receiver.setControl("hang");  // reads the request, never answers
  auto [hung, hung_time] = timed(milliseconds(500));
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded) << hung.status();
  EXPECT_GE(hung_time, milliseconds(450));
  EXPECT_LT(hung_time, milliseconds(1500));

  receiver.setControl("huge-body");  // 503, then 100 MiB of body
  auto [huge, huge_time] = timed(milliseconds(3000));
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(huge->status, 503);  // answered; the body is only read up to its cap
  EXPECT_GE(huge->body.size(), 1024u);
  EXPECT_LE(huge->body.size(), 64u * 1024);
  EXPECT_LT(huge_time, milliseconds(2500));
  auto refusal = scanner::alerts::acceptedOrError(url, huge);
  EXPECT_EQ(refusal.code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(refusal.message().size(), 300u);  // a line for the log, not the body

  receiver.setControl("huge-header");  // header lines without end
  auto [header, header_time] = timed(milliseconds(3000));
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnavailable) << header.status();
  EXPECT_LT(header_time, milliseconds(2500));

  ClosedPort closed;
  auto refused = (*client)->post(
      *scanner::alerts::parseHttpUrl("http://127.0.0.1:" + std::to_string(closed.port()) + "/"), {},
      "{}", milliseconds(2000));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("connect"));
}

}  // namespace
}  // namespace tlsaudit::itest
