#include "scanner/daemon/schedule.h"

#include <ctime>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tlsaudit::scanner {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
// A cron expression that matches nothing within this many days is refused (30 February).
constexpr int kSearchDays = 366 * 8;

struct Field {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names for min, min+1... (nullptr: numbers only)
  int names_base;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", nullptr};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr};

std::vector<std::string> splitOn(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

absl::StatusOr<int> fieldValue(const Field& f, const std::string& text) {
  int v = 0;
  if (absl::SimpleAtoi(text, &v)) {
    if (v < f.min || v > f.max) {
      return absl::InvalidArgumentError(absl::StrCat(f.name, " ", v, " is out of range ", f.min,
                                                     "..", f.max));
    }
    return v;
  }
  if (f.names != nullptr) {
    std::string upper = absl::AsciiStrToUpper(text);
    for (int i = 0; f.names[i] != nullptr; ++i) {
      if (upper == f.names[i]) return f.names_base + i;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(f.name, " '", text, "' is not a number", f.names ? " or a name" : ""));
}

// Parses one field into the set of values it allows; `any` tells whether it was `*`.
template <size_t N>
absl::Status parseField(const Field& f, const std::string& text, std::bitset<N>& out, bool& any) {
  any = text == "*";
  for (const std::string& part : splitOn(text, ',')) {
    if (part.empty()) return absl::InvalidArgumentError(absl::StrCat(f.name, " has an empty list item"));
    int step = 1;
    std::string range = part;
    if (auto slash = part.find('/'); slash != std::string::npos) {
      range = part.substr(0, slash);
      if (!absl::SimpleAtoi(part.substr(slash + 1), &step) || step < 1 || step > f.max) {
        return absl::InvalidArgumentError(
            absl::StrCat(f.name, " step '", part.substr(slash + 1), "' must be 1..", f.max));
      }
    }
    int lo = f.min, hi = f.max;
    if (range != "*") {
      if (auto dash = range.find('-'); dash != std::string::npos) {
        auto a = fieldValue(f, range.substr(0, dash));
        if (!a.ok()) return a.status();
        auto b = fieldValue(f, range.substr(dash + 1));
        if (!b.ok()) return b.status();
        lo = *a;
        hi = *b;
        if (lo > hi) {
          return absl::InvalidArgumentError(
              absl::StrCat(f.name, " range ", range, " runs backwards"));
        }
      } else {
        auto a = fieldValue(f, range);
        if (!a.ok()) return a.status();
        lo = *a;
        hi = part.find('/') != std::string::npos ? f.max : *a;
      }
    }
    for (int v = lo; v <= hi; v += step) out.set(static_cast<size_t>(v));
  }
  return absl::OkStatus();
}

int64_t floorMinute(int64_t micros) {
  int64_t s = micros / kMicrosPerSecond;
  return s - (s % 60);
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> parseDuration(std::string_view text) {
  std::string t(absl::StripAsciiWhitespace(std::string(text)));
  struct Unit {
    std::string suffix;
    double ms;
  };
  const Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  double factor = 1000;  // a plain number is seconds
  for (const auto& u : kUnits) {
    if (t.size() > u.suffix.size() && t.substr(t.size() - u.suffix.size()) == u.suffix) {
      // "ms" before "s"/"m": the first suffix that fits wins.
      factor = u.ms;
      t = t.substr(0, t.size() - u.suffix.size());
      break;
    }
  }
  double v = 0;
  if (t.empty() || !absl::SimpleAtod(t, &v) || !(v >= 0) || v * factor > 1e13) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(text), "' is not a duration (e.g. 500ms, 30s, 5m, 6h, 1d)"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(v * factor + 0.5));
}

std::string formatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 86400000 == 0) return absl::StrCat(ms / 86400000, "d");
  if (ms % 3600000 == 0) return absl::StrCat(ms / 3600000, "h");
  if (ms % 60000 == 0) return absl::StrCat(ms / 60000, "m");
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrCat(ms, "ms");
}

absl::StatusOr<Schedule> Schedule::every(std::chrono::seconds interval) {
  if (interval < std::chrono::minutes(1)) {
    return absl::InvalidArgumentError("an interval must be at least 1m");
  }
  Schedule s;
  s.interval_ = interval;
  s.spec_ = "every " + formatDuration(interval);
  return s;
}

absl::StatusOr<Schedule> Schedule::cron(std::string_view expression) {
  std::string e(absl::StripAsciiWhitespace(std::string(expression)));
  if (e == "@hourly") e = "0 * * * *";
  if (e == "@daily" || e == "@midnight") e = "0 0 * * *";
  if (e == "@weekly") e = "0 0 * * 0";
  if (e == "@monthly") e = "0 0 1 * *";
  if (e == "@yearly" || e == "@annually") e = "0 0 1 1 *";
  std::vector<std::string> parts;
  for (auto& p : splitOn(e, ' ')) {
    if (!p.empty()) parts.push_back(p);
  }
  if (parts.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found ",
        parts.size()));
  }
  static const Field kMinute{"minute", 0, 59, nullptr, 0};
  static const Field kHour{"hour", 0, 23, nullptr, 0};
  static const Field kMday{"day-of-month", 1, 31, nullptr, 0};
  static const Field kMonth{"month", 1, 12, kMonthNames, 1};
  static const Field kWday{"day-of-week", 0, 7, kDayNames, 0};
  Schedule s;
  bool any = false;
  if (auto st = parseField(kMinute, parts[0], s.minutes_, any); !st.ok()) return st;
  if (auto st = parseField(kHour, parts[1], s.hours_, any); !st.ok()) return st;
  if (auto st = parseField(kMday, parts[2], s.mdays_, s.mday_any_); !st.ok()) return st;
  if (auto st = parseField(kMonth, parts[3], s.months_, any); !st.ok()) return st;
  std::bitset<8> wdays;
  if (auto st = parseField(kWday, parts[4], wdays, s.wday_any_); !st.ok()) return st;
  for (size_t d = 0; d < 7; ++d) s.wdays_[d] = wdays[d];
  if (wdays[7]) s.wdays_[0] = true;  // 7 is Sunday too
  s.spec_ = "cron " + absl::StrJoin(parts, " ");
  // An expression that never matches (30 February) would leave the group unscanned silently.
  int64_t probe = s.nextAfter(0);
  if (probe == 0) {
    return absl::InvalidArgumentError("the cron expression never matches a real date");
  }
  return s;
}

bool Schedule::matchesDay(int mday, int month, int wday) const {
  if (!months_[static_cast<size_t>(month)]) return false;
  bool m = mdays_[static_cast<size_t>(mday)];
  bool w = wdays_[static_cast<size_t>(wday)];
  if (mday_any_ && wday_any_) return true;
  if (mday_any_) return w;
  if (wday_any_) return m;
  return m || w;  // cron: either restricted day field may match
}

int64_t Schedule::firstRun(int64_t now_micros) const {
  if (interval_.count() > 0) return now_micros;
  return nextAfter(now_micros);
}

int64_t Schedule::nextAfter(int64_t now_micros) const {
  if (interval_.count() > 0) {
    return now_micros + static_cast<int64_t>(interval_.count()) * kMicrosPerSecond;
  }
  // From the next whole minute, day by day; within a matching day, the first matching
  // hour:minute. Bounded: an impossible expression returns 0.
  time_t t = static_cast<time_t>(floorMinute(now_micros) + 60);
  std::tm tm{};
  gmtime_r(&t, &tm);
  for (int day = 0; day < kSearchDays; ++day) {
    if (matchesDay(tm.tm_mday, tm.tm_mon + 1, tm.tm_wday)) {
      for (int h = tm.tm_hour; h < 24; ++h) {
        if (!hours_[static_cast<size_t>(h)]) continue;
        for (int m = (h == tm.tm_hour ? tm.tm_min : 0); m < 60; ++m) {
          if (!minutes_[static_cast<size_t>(m)]) continue;
          std::tm hit = tm;
          hit.tm_hour = h;
          hit.tm_min = m;
          hit.tm_sec = 0;
          return static_cast<int64_t>(timegm(&hit)) * kMicrosPerSecond;
        }
      }
    }
    // The next day at 00:00.
    tm.tm_mday += 1;
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    time_t next = timegm(&tm);
    gmtime_r(&next, &tm);
  }
  return 0;
}

}  // namespace tlsaudit::scanner
