// Work-item leases against a real PostgreSQL: claim, concurrent claimers, heartbeat, complete,
// fail, and reclaiming the leases of a daemon that died.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "storage/pg_scan_queue.h"
#include "storage/pg_schedule_store.h"
#include "tests/integration/storage_fixture.h"

namespace tlsaudit::itest {
namespace {

using std::chrono::seconds;
using storage::PgScanQueue;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class StorageQueueTest : public StorageTest {
 protected:
  std::string scanWithItems(int n) {
    std::string scan = createScan(*db_);
    std::vector<std::string> targets;
    for (int i = 0; i < n; ++i) targets.push_back("10.5.0." + std::to_string(i + 1));
    auto added = PgScanQueue(*db_).addWorkItems(scan, targets);
    EXPECT_TRUE(added.ok() && *added == n) << added.status();
    return scan;
  }
  void expireLeasesOf(const std::string& owner) {
    ASSERT_TRUE(db_->exec("UPDATE scan_work_items SET lease_expires = now() - interval '1 s'"
                          " WHERE lease_owner = $1",
                          {owner})
                    .ok());
  }
};

TEST_F(StorageQueueTest, ScanStateStampsTimes) {
  PgScanQueue q(*db_);
  v1::Scan s;
  s.set_name("nightly");
  s.add_targets("10.0.0.0/24");
  auto created = q.createScan(s);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->state(), v1::SCAN_PENDING);
  EXPECT_THAT(created->targets(), ElementsAre("10.0.0.0/24"));
  ASSERT_TRUE(q.setScanState(created->id(), v1::SCAN_RUNNING).ok());
  ASSERT_TRUE(q.setScanState(created->id(), v1::SCAN_DONE).ok());
  auto got = q.getScan(created->id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), v1::SCAN_DONE);
  EXPECT_TRUE(got->has_started());
  EXPECT_TRUE(got->has_finished());
  EXPECT_EQ(q.getScan("999999").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StorageQueueTest, ClaimHeartbeatCompleteAndFail) {
  std::string scan = scanWithItems(5);
  PgScanQueue q(*db_);
  auto mine = q.claim("daemon-a", 3, seconds(30));
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 3u);
  EXPECT_EQ((*mine)[0].target(), "10.5.0.1");
  EXPECT_EQ((*mine)[0].state(), v1::WORK_LEASED);
  EXPECT_EQ((*mine)[0].attempts(), 1u);
  auto theirs = q.claim("daemon-b", 10, seconds(30));
  ASSERT_TRUE(theirs.ok());
  EXPECT_EQ(theirs->size(), 2u);  // only what is left
  auto held = q.heartbeat("daemon-a", {(*mine)[0].id(), (*theirs)[0].id()}, seconds(60));
  ASSERT_TRUE(held.ok());
  EXPECT_THAT(*held, ElementsAre((*mine)[0].id()));        // not b's item
  EXPECT_FALSE(*q.complete("daemon-b", (*mine)[0].id()));  // not its lease
  EXPECT_TRUE(*q.complete("daemon-a", (*mine)[0].id()));
  EXPECT_FALSE(*q.complete("daemon-a", (*mine)[0].id()));  // already done
  // Failing twice with max_attempts 2: pending again, then given up.
  EXPECT_TRUE(*q.fail("daemon-a", (*mine)[1].id(), "connect timeout", 2));
  auto again = q.claim("daemon-a", 1, seconds(30));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id(), (*mine)[1].id());
  EXPECT_EQ((*again)[0].attempts(), 2u);
  EXPECT_TRUE(*q.fail("daemon-a", (*mine)[1].id(), "connect timeout", 2));
  auto items = q.workItems(scan);
  ASSERT_TRUE(items.ok());
  std::map<std::string, v1::WorkItemState> state;
  for (const auto& w : *items) state[w.id()] = w.state();
  EXPECT_EQ(state[(*mine)[0].id()], v1::WORK_DONE);
  EXPECT_EQ(state[(*mine)[1].id()], v1::WORK_FAILED);
  EXPECT_EQ(state[(*mine)[2].id()], v1::WORK_LEASED);
}

TEST_F(StorageQueueTest, ExpiredLeasesAreReclaimedAndTheOldOwnerLosesThem) {
  scanWithItems(3);
  PgScanQueue q(*db_);
  auto dead = q.claim("dead-daemon", 3, seconds(30));
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 3u);
  EXPECT_THAT(*q.claim("live-daemon", 3, seconds(30)), IsEmpty());
  EXPECT_EQ(*q.reclaimExpired(5), 0);  // leases still valid
  expireLeasesOf("dead-daemon");
  EXPECT_EQ(*q.reclaimExpired(5), 3);
  auto taken = q.claim("live-daemon", 3, seconds(30));
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->size(), 3u);
  EXPECT_EQ((*taken)[0].attempts(), 2u);
  // The dead daemon, if it was only slow, learns that its work is gone.
  EXPECT_THAT(*q.heartbeat("dead-daemon", {(*dead)[0].id()}, seconds(30)), IsEmpty());
  EXPECT_FALSE(*q.complete("dead-daemon", (*dead)[0].id()));
}

TEST_F(StorageQueueTest, ConcurrentClaimersNeverShareAnItem) {
  scanWithItems(200);
  constexpr int kClaimers = 4;
  std::vector<std::vector<std::string>> got(kClaimers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClaimers; ++i) {
    threads.emplace_back([&, i] {
      auto c = connectOrFail(dsn_);
      if (c == nullptr) return;
      PgScanQueue q(*c);
      for (;;) {
        auto items = q.claim("claimer-" + std::to_string(i), 7, seconds(30));
        if (!items.ok()) {
          ADD_FAILURE() << items.status();
          return;
        }
        if (items->empty()) return;
        for (const auto& w : *items) got[i].push_back(w.id());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_EQ(total, 200u);
  EXPECT_EQ(all.size(), 200u);
}

TEST_F(StorageQueueTest, AScheduleThatFailsToStartDoesNotHoldBackTheOthers) {
  storage::PgScheduleStore schedules(*db_);
  ASSERT_TRUE(schedules.sync({{"broken", "every 1h", 1000}, {"phones", "every 1h", 2000}}).ok());
  std::string scan = createScan(*db_);
  std::vector<std::string> asked;
  auto started = schedules.runDue(
      5000, [&](const std::string& group,
                int64_t) -> absl::StatusOr<std::pair<std::string, int64_t>> {
        asked.push_back(group);
        if (group == "broken") return absl::InvalidArgumentError("no such group any more");
        return std::make_pair(scan, int64_t{9000});
      });
  ASSERT_TRUE(started.ok()) << started.status();
  // The oldest due schedule fails first; the next one still starts, in the same round.
  EXPECT_THAT(asked, ElementsAre("broken", "phones"));
  EXPECT_THAT(*started, ElementsAre(scan));
  auto rows = schedules.list();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].group, "broken");
  EXPECT_EQ((*rows)[0].next_run_micros, 1000);  // still due: tried again next round
  EXPECT_EQ((*rows)[1].next_run_micros, 9000);
}

}  // namespace
}  // namespace tlsaudit::itest
