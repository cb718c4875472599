// Faults against a real PostgreSQL that the test stops, crashes and restarts: the writer keeps
// results in its bounded buffer and retries, and afterwards every row is there exactly once;
// the pool refuses work it cannot queue and recovers; statement timeouts and bad DSNs give
// clear errors quickly. Each test has a cluster of its own, since it takes it down.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "storage/host_result_writer.h"
#include "storage/migrator.h"
#include "storage/pg_pool.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

class StorageFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_POSTGRES();
    pg_ = std::make_unique<PostgresCluster>(
        PostgresCluster::Options{.tcp = false, .server_certificate = false, .settings = {}});
    ASSERT_TRUE(pg_->ok());
    db_ = connectOrFail(pg_->dsn());
    ASSERT_NE(db_, nullptr);
    auto migrations = storage::parseMigrations(storage::embeddedMigrationFiles());
    ASSERT_TRUE(migrations.ok());
    ASSERT_TRUE(storage::migrate(*db_, *migrations, false).ok());
    scan_ = createScan(*db_);
    db_.reset();  // the server goes away under the test; reconnect afterwards
  }
  storage::HostResultWriterOptions writerOptions(size_t capacity) {
    storage::HostResultWriterOptions o;
    o.connect.dsn = pg_->dsn();
    o.connect.connect_timeout = seconds(2);
    o.buffer_capacity = capacity;
    o.backoff_initial = milliseconds(20);
    o.backoff_max = milliseconds(200);
    return o;
  }
  std::unique_ptr<PostgresCluster> pg_;
  std::unique_ptr<storage::PgConnection> db_;
  std::string scan_;
};

v1::HostResult hostNumber(const std::string& scan, int i) {
  return makeHostResult(scan, "10.7." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                        443, {makeFinding("tls10", v1::HIGH), makeFinding("md5", v1::CRITICAL)});
}

TEST_F(StorageFaultTest, ServerCrashAndRestartMidIngestLosesAndDuplicatesNothing) {
  constexpr int kHosts = 400;
  storage::HostResultWriter writer(writerOptions(kHosts));
  std::atomic<int> enqueued{0};
  std::thread producer([&] {
    for (int i = 0; i < kHosts; ++i) {
      auto s = writer.enqueue(hostNumber(scan_, i));
      if (!s.ok()) {
        ADD_FAILURE() << s;
        return;
      }
      ++enqueued;
      // Spread the results over the outage instead of buffering them all at once.
      if (i % 20 == 0) std::this_thread::sleep_for(milliseconds(10));
    }
  });
  // Crash the server while results are being written (immediate = no clean shutdown: the
  // transaction in flight is lost by the server and must be retried by the writer).
  for (int spins = 0; writer.stats().stored < 50 && spins < 2000; ++spins) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_GE(writer.stats().stored, 50u);  // the crash lands mid-ingest, not before it
  ASSERT_TRUE(pg_->stop("immediate"));
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_GT(writer.stats().buffered, 0u);  // held while the server is down
  ASSERT_TRUE(pg_->start());
  producer.join();
  ASSERT_TRUE(writer.flush(milliseconds(60000)));
  auto stats = writer.stats();
  EXPECT_EQ(stats.stored, static_cast<uint64_t>(kHosts));
  EXPECT_EQ(stats.given_up, 0u);
  EXPECT_GT(stats.retries, 0u);
  EXPECT_GE(stats.reconnects, 2u);

  db_ = connectOrFail(pg_->dsn());
  ASSERT_NE(db_, nullptr);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM assets"), kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), kHosts);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_versions"), kHosts * 5);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observation_certificates"), kHosts * 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM certificates"), kHosts + 1);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM findings"), kHosts * 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM finding_events"), kHosts * 2);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM alert_outbox"), kHosts * 2);
  // No observation without its rows: nothing half-written survived the crash.
  EXPECT_EQ(queryCount(*db_,
                       "SELECT count(*) FROM observations o WHERE NOT EXISTS (SELECT 1"
                       " FROM observation_extensions e WHERE e.observation_id = o.id)"),
            0);
  EXPECT_THAT(orphanReferences(*db_, /*require=*/true), ::testing::IsEmpty());
}

TEST_F(StorageFaultTest, BufferIsBoundedWhileTheServerIsDownAndDrainsAfter) {
  ASSERT_TRUE(pg_->stop("fast"));
  storage::HostResultWriter writer(writerOptions(10));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.enqueue(hostNumber(scan_, i)).ok());
  auto full = writer.enqueue(hostNumber(scan_, 10));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(writer.flush(milliseconds(300)));
  EXPECT_EQ(writer.stats().buffered, 10u);
  ASSERT_TRUE(pg_->start());
  ASSERT_TRUE(writer.flush(milliseconds(30000)));
  EXPECT_EQ(writer.stats().stored, 10u);
  db_ = connectOrFail(pg_->dsn());
  ASSERT_NE(db_, nullptr);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM observations"), 10);
}

TEST_F(StorageFaultTest, PoolNeverBlocksRefusesWhenFullAndRecovers) {
  storage::PgPoolOptions o;
  o.connect.dsn = pg_->dsn();
  o.connect.connect_timeout = seconds(2);
  o.connections = 1;
  o.queue_capacity = 2;
  o.backoff_initial = milliseconds(20);
  o.max_wait = milliseconds(500);
  storage::PgPool pool(o);
  auto count = [](storage::PgConnection& c) -> absl::StatusOr<int64_t> {
    auto r = c.exec("SELECT count(*) FROM scans");
    if (!r.ok()) return r.status();
    return r->int64(0, 0);
  };
  auto first = pool.run<int64_t>(count);
  ASSERT_EQ(first.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_EQ(*first.get(), 1);

  // Occupy the only session, fill the queue: the next submit is refused at once.
  std::promise<void> release;
  auto released = release.get_future().share();
  auto busy = pool.run<int64_t>([released](storage::PgConnection&) -> absl::StatusOr<int64_t> {
    released.wait();
    return 0;
  });
  while (pool.queued() > 0) std::this_thread::sleep_for(milliseconds(1));
  auto q1 = pool.run<int64_t>(count);
  auto q2 = pool.run<int64_t>(count);
  auto start = std::chrono::steady_clock::now();
  auto refused = pool.run<int64_t>(count);
  ASSERT_EQ(refused.wait_for(milliseconds(0)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(50));
  EXPECT_EQ(refused.get().status().code(), absl::StatusCode::kResourceExhausted);
  release.set_value();
  EXPECT_TRUE(q1.get().ok());
  EXPECT_TRUE(q2.get().ok());

  // Server down: a task fails with kUnavailable after max_wait instead of hanging.
  ASSERT_TRUE(pg_->stop("fast"));
  auto down = pool.run<int64_t>(count);
  ASSERT_EQ(down.wait_for(seconds(10)), std::future_status::ready);
  auto down_result = down.get();
  EXPECT_EQ(down_result.status().code(), absl::StatusCode::kUnavailable) << down_result.status();
  // Back up: the pool reconnects by itself.
  ASSERT_TRUE(pg_->start());
  absl::StatusOr<int64_t> after = absl::UnknownError("");
  for (int i = 0; i < 50 && !after.ok(); ++i) {
    after = pool.run<int64_t>(count).get();
    if (!after.ok()) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 1);
  EXPECT_GE(pool.reconnects(), 2u);
}

TEST_F(StorageFaultTest, StatementTimeoutCancelsALongStatement) {
  storage::PgConnectOptions o;
  o.dsn = pg_->dsn();
  o.statement_timeout = milliseconds(200);
  auto c = storage::PgConnection::connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->exec("SELECT pg_sleep(5)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_FALSE((*c)->broken());  // the session is still usable
  EXPECT_TRUE((*c)->exec("SELECT 1").ok());
}

TEST(StorageConnection, BadDsnsFailQuicklyWithAClearMessage) {
  ClosedPort closed;
  storage::PgConnectOptions o;
  o.dsn = "host=127.0.0.1 port=" + std::to_string(closed.port()) + " dbname=x user=x";
  auto start = std::chrono::steady_clock::now();
  auto refused = storage::PgConnection::connect(o);
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("Connection refused"));
  EXPECT_EQ(std::string(refused.status().message()).find('\n'), std::string::npos);
  o.dsn = "postgresql://[broken";
  auto malformed = storage::PgConnection::connect(o);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument) << malformed.status();
  o.dsn = "host=/nonexistent-socket-dir dbname=x";
  auto nosocket = storage::PgConnection::connect(o);
  EXPECT_EQ(nosocket.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tlsaudit::itest
