// Migrations against a real PostgreSQL: from an empty database, re-run, dry run, concurrent
// migrators, checksum drift, an unknown newer migration, a failing migration, and the
// `tlsaudit migrate` command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "storage/migrator.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class StorageMigrationTest : public StorageTest {
 protected:
  bool migrateOnSetUp() const override { return false; }
  std::vector<storage::Migration> embedded() {
    auto m = storage::parseMigrations(storage::embeddedMigrationFiles());
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::vector<storage::Migration>{};
  }
};

TEST_F(StorageMigrationTest, FromEmptyThenReRunIsANoOp) {
  auto migrations = embedded();
  ASSERT_FALSE(migrations.empty());
  auto first = storage::migrate(*db_, migrations, false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version_before, 0);
  EXPECT_EQ(first->version_after, static_cast<int>(migrations.size()));
  EXPECT_EQ(first->applied.size(), migrations.size());
  EXPECT_EQ(first->applied.front(), "0001_initial");
  for (const char* table :
       {"scans", "scan_work_items", "assets", "services", "observations", "observation_versions",
        "observation_cipher_suites", "observation_client_auth", "observation_extensions",
        "certificates", "observation_certificates", "findings", "finding_events", "scan_findings",
        "waivers", "alert_outbox"}) {
    EXPECT_EQ(queryValue(*db_, std::string("SELECT to_regclass('") + table + "') IS NOT NULL"), "t")
        << table;
  }
  std::string before = databaseFingerprint(*db_);
  auto second = storage::migrate(*db_, migrations, false);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->applied, IsEmpty());
  EXPECT_EQ(second->version_before, first->version_after);
  EXPECT_EQ(databaseFingerprint(*db_), before);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(migrations.size()));
}

TEST_F(StorageMigrationTest, DryRunListsPendingAndWritesNothing) {
  auto report = storage::migrate(*db_, embedded(), true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->pending, ::testing::Contains("0001_initial"));
  EXPECT_THAT(report->applied, IsEmpty());
  EXPECT_EQ(queryValue(*db_, "SELECT to_regclass('schema_migrations') IS NULL"), "t");
  EXPECT_EQ(queryValue(*db_, "SELECT to_regclass('findings') IS NULL"), "t");
}

TEST_F(StorageMigrationTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  auto migrations = embedded();
  constexpr int kMigrators = 4;
  std::vector<absl::StatusOr<storage::MigrationReport>> reports(kMigrators,
                                                                absl::UnknownError("not run"));
  std::vector<std::unique_ptr<storage::PgConnection>> connections;
  for (int i = 0; i < kMigrators; ++i) connections.push_back(connectOrFail(dsn_));
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back(
        [&, i] { reports[i] = storage::migrate(*connections[i], migrations, false); });
  }
  for (auto& t : threads) t.join();
  int appliers = 0;
  for (const auto& r : reports) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version_after, static_cast<int>(migrations.size()));
    if (!r->applied.empty()) ++appliers;
  }
  EXPECT_EQ(appliers, 1);
  EXPECT_EQ(queryCount(*db_, "SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(migrations.size()));
}

TEST_F(StorageMigrationTest, ChangedAppliedMigrationIsRefused) {
  auto migrations = embedded();
  ASSERT_TRUE(storage::migrate(*db_, migrations, false).ok());
  migrations[0].sql += "\n-- edited after release\n";
  auto report = storage::migrate(*db_, migrations, false);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("0001_initial was changed"));
  // The refusal must not leave the advisory lock held: a correct binary migrates at once.
  EXPECT_TRUE(storage::migrate(*db_, embedded(), false).ok());
}

TEST_F(StorageMigrationTest, MigrationFromANewerBinaryIsRefused) {
  ASSERT_TRUE(storage::migrate(*db_, embedded(), false).ok());
  ASSERT_TRUE(
      db_->exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'x', 'y')")
          .ok());
  auto report = storage::migrate(*db_, embedded(), false);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("newer version"));
}

TEST_F(StorageMigrationTest, FailingMigrationLeavesNothingOfItself) {
  auto migrations = embedded();
  storage::Migration bad;
  bad.version = static_cast<int>(migrations.size()) + 1;
  bad.name = "broken";
  bad.sql = "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;";
  migrations.push_back(bad);
  auto report = storage::migrate(*db_, migrations, false);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("_broken"));
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("no_such_table"));
  EXPECT_EQ(queryValue(*db_, "SELECT to_regclass('half_done') IS NULL"), "t");
  EXPECT_EQ(queryValue(*db_, "SELECT max(version) FROM schema_migrations"),
            std::to_string(bad.version - 1));
}

TEST_F(StorageMigrationTest, CommandAppliesThenReportsNothingToDo) {
  auto dry = runTlsaudit({"migrate", "--dry-run", "--database", dsn_}, milliseconds(30000));
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would apply 0001_initial"));
  auto run = runTlsaudit({"migrate", "--database", dsn_}, milliseconds(30000));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("applied 0001_initial"));
  auto again = runTlsaudit({"migrate", "--database", dsn_}, milliseconds(30000));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, ::testing::Not(HasSubstr("applied")));
  auto shipped = storage::parseMigrations(storage::embeddedMigrationFiles());
  ASSERT_TRUE(shipped.ok()) << shipped.status();
  EXPECT_THAT(again.out,
              HasSubstr("schema is at version " + std::to_string(shipped->back().version)));
}

TEST(StorageMigrateCommand, UnreachableServerIsOneClearLineQuickly) {
  ClosedPort closed;
  auto run =
      runTlsaudit({"migrate", "--database",
                   "host=127.0.0.1 port=" + std::to_string(closed.port()) + " dbname=x user=x"},
                  milliseconds(15000));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_LT(run.elapsed, milliseconds(3000));
  EXPECT_THAT(run.err, HasSubstr("tlsaudit migrate: cannot connect to PostgreSQL"));
  EXPECT_THAT(run.err, HasSubstr("refused"));
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
}

TEST(StorageMigrateCommand, MalformedDsnAndMissingDsnAreUsageErrors) {
  auto bad = runTlsaudit({"migrate", "--database", "host=x port"}, milliseconds(15000));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("invalid database DSN"));
  auto none = runTlsaudit({"migrate"}, milliseconds(15000));
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("--database"));
}

}  // namespace
}  // namespace tlsaudit::itest
