#include "scanner/daemon/schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>

namespace tlsaudit::scanner {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kUs = 1000000;

// Unix microseconds of a UTC date and time.
int64_t utc(int y, int mo, int d, int h, int mi) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<int64_t>(timegm(&tm)) * kUs;
}

TEST(Schedule, IntervalRunsAtOnceThenEveryInterval) {
  auto s = Schedule::every(std::chrono::hours(6));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec(), "every 6h");
  int64_t now = utc(2026, 12, 7, 10, 0);
  EXPECT_EQ(s->firstRun(now), now);
  EXPECT_EQ(s->nextAfter(now), now + 6 * 3600 * kUs);
}

TEST(Schedule, IntervalShorterThanAMinuteIsRefused) {
  auto s = Schedule::every(std::chrono::seconds(30));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("at least 1m"));
}

TEST(Schedule, CronWeekdaysAtTwo) {
  auto s = Schedule::cron("0 2 * * 1-5");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec(), "cron 0 2 * * 1-5");
  // Saturday 2026-12-05 12:00 -> Monday 2026-12-07 02:00.
  EXPECT_EQ(s->nextAfter(utc(2026, 12, 5, 12, 0)), utc(2026, 12, 7, 2, 0));
  // Exactly at a run: the next one is strictly later (Tuesday).
  EXPECT_EQ(s->nextAfter(utc(2026, 12, 7, 2, 0)), utc(2026, 12, 8, 2, 0));
  EXPECT_EQ(s->firstRun(utc(2026, 12, 7, 1, 59)), utc(2026, 12, 7, 2, 0));
}

TEST(Schedule, CronStepsListsAndNames) {
  auto s = Schedule::cron("*/15 9-17/4 * JAN,jul SUN");
  ASSERT_TRUE(s.ok()) << s.status();
  // Sunday 2027-01-03: hours 9, 13, 17; minutes 0, 15, 30, 45.
  EXPECT_EQ(s->nextAfter(utc(2027, 1, 3, 9, 46)), utc(2027, 1, 3, 13, 0));
  EXPECT_EQ(s->nextAfter(utc(2027, 1, 3, 17, 45)), utc(2027, 1, 10, 9, 0));
  // No run in February: the next Sunday in July.
  EXPECT_EQ(s->nextAfter(utc(2027, 1, 31, 18, 0)), utc(2027, 7, 4, 9, 0));
}

TEST(Schedule, BothDayFieldsMatchEither) {
  // Cron semantics: the 1st of the month OR a Friday.
  auto s = Schedule::cron("30 6 1 * 5");
  ASSERT_TRUE(s.ok()) << s.status();
  // Tuesday 2026-12-01 is the 1st; Friday 2026-12-04 is a Friday.
  EXPECT_EQ(s->nextAfter(utc(2026, 11, 30, 7, 0)), utc(2026, 12, 1, 6, 30));
  EXPECT_EQ(s->nextAfter(utc(2026, 12, 1, 7, 0)), utc(2026, 12, 4, 6, 30));
}

TEST(Schedule, SevenIsSundayAndMacrosWork) {
  auto a = Schedule::cron("0 0 * * 7");
  auto b = Schedule::cron("@weekly");
  ASSERT_TRUE(a.ok() && b.ok());
  int64_t t = utc(2026, 12, 7, 0, 0);  // a Monday
  EXPECT_EQ(a->nextAfter(t), utc(2026, 12, 13, 0, 0));
  EXPECT_EQ(b->nextAfter(t), utc(2026, 12, 13, 0, 0));
  auto daily = Schedule::cron("@daily");
  ASSERT_TRUE(daily.ok());
  EXPECT_EQ(daily->nextAfter(t), utc(2026, 12, 8, 0, 0));
}

TEST(Schedule, LeapDayIsFoundYearsAhead) {
  auto s = Schedule::cron("0 12 29 2 *");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->nextAfter(utc(2026, 12, 7, 0, 0)), utc(2028, 2, 29, 12, 0));
}

TEST(Schedule, ErrorsNameTheField) {
  struct Case {
    const char* expr;
    const char* message;
  } cases[] = {
      {"61 * * * *", "minute 61 is out of range 0..59"},
      {"0 24 * * *", "hour 24 is out of range 0..23"},
      {"0 0 0 * *", "day-of-month 0 is out of range 1..31"},
      {"0 0 * 13 *", "month 13 is out of range 1..12"},
      {"0 0 * * MOON", "day-of-week 'MOON' is not a number or a name"},
      {"0 0 * *", "5 fields"},
      {"0 5-2 * * *", "hour range 5-2 runs backwards"},
      {"*/0 * * * *", "minute step '0' must be"},
      {"0 0 30 2 *", "never matches"},
      {"0,,5 * * * *", "empty list item"},
  };
  for (const auto& c : cases) {
    auto s = Schedule::cron(c.expr);
    ASSERT_FALSE(s.ok()) << c.expr;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.message)) << c.expr;
  }
}

TEST(Duration, ParsesUnitsAndRefusesGarbage) {
  EXPECT_EQ(*parseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*parseDuration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(*parseDuration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(*parseDuration("6h"), std::chrono::hours(6));
  EXPECT_EQ(*parseDuration("1d"), std::chrono::hours(24));
  EXPECT_EQ(*parseDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*parseDuration("90"), std::chrono::seconds(90));
  for (const char* bad : {"", "s", "5x", "-1s", "1e30d", "abc"}) {
    EXPECT_FALSE(parseDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(formatDuration(std::chrono::hours(6)), "6h");
  EXPECT_EQ(formatDuration(std::chrono::seconds(90)), "90s");
  EXPECT_EQ(formatDuration(std::chrono::milliseconds(1500)), "1500ms");
}

}  // namespace
}  // namespace tlsaudit::scanner
