// When a target group is scanned: a fixed interval ("every: 6h") or a cron expression in UTC
// ("cron: 0 2 * * 1-5"). Pure: times are passed in, so schedules are tested without sleeping.
#pragma once

#include <array>
#include <bitset>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tlsaudit::scanner {

class Schedule {
 public:
  // A fixed interval of at least one minute.
  static absl::StatusOr<Schedule> every(std::chrono::seconds interval);
  // Five fields, minute hour day-of-month month day-of-week, each `*`, a number or name
  // (JAN-DEC, SUN-SAT; 0 and 7 are Sunday), a range `a-b`, a step `*/n` or `a-b/n`, or a list of
  // those; or @hourly, @daily, @weekly, @monthly, @yearly. As in cron, when both day fields are
  // restricted a day matching either runs. The error names the field and what is wrong.
  static absl::StatusOr<Schedule> cron(std::string_view expression);

  // When a schedule first seen at `now` runs first: at once for an interval, at the next match
  // for cron. Unix microseconds.
  int64_t firstRun(int64_t now_micros) const;
  // The next run strictly after `now` (intervals count from now: runs missed while no daemon
  // was up are not made up).
  int64_t nextAfter(int64_t now_micros) const;
  // Canonical text stored with the schedule ("every 6h", "cron 0 2 * * 1-5"); a changed text
  // restarts the schedule.
  const std::string& spec() const { return spec_; }

 private:
  Schedule() = default;
  bool matchesDay(int mday, int month, int wday) const;

  std::string spec_;
  std::chrono::seconds interval_{0};  // > 0 for intervals
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> mdays_;   // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<7> wdays_;    // 0..6, Sunday 0
  bool mday_any_ = true;
  bool wday_any_ = true;
};

// "30s", "5m", "6h", "1d", "500ms", or a plain number of seconds.
absl::StatusOr<std::chrono::milliseconds> parseDuration(std::string_view text);
// The shortest text parseDuration reads back to `d` ("6h", "90s", "1500ms").
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace tlsaudit::scanner
