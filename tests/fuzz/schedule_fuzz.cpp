// The daemon's schedule and duration parsers (configuration and -o values users write):
// any text must give a schedule or an error, never a crash, a hang, or a next run in the past.
#include <cstdint>
#include <cstring>
#include <string>

#include "scanner/daemon/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  int64_t now = 0;
  std::memcpy(&now, data, sizeof(now));
  // Any instant between 1970 and 2200.
  now = static_cast<int64_t>(static_cast<uint64_t>(now) % 7258118400ULL) * 1000000;
  std::string text(reinterpret_cast<const char*>(data + 8), size - 8);
  if (auto s = tlsaudit::scanner::Schedule::cron(text); s.ok()) {
    int64_t next = s->nextAfter(now);
    if (next != 0 && next <= now) __builtin_trap();
    (void)s->firstRun(now);
  }
  if (auto d = tlsaudit::scanner::parseDuration(text); d.ok()) {
    (void)tlsaudit::scanner::formatDuration(*d);
    if (*d >= std::chrono::minutes(1)) {
      auto s = tlsaudit::scanner::Schedule::every(std::chrono::duration_cast<std::chrono::seconds>(*d));
      if (!s.ok() || s->nextAfter(now) <= now) __builtin_trap();
    }
  }
  return 0;
}
