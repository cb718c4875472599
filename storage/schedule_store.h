// Scheduled target groups, shared by every daemon on one database: each due schedule starts
// exactly one scan, whichever daemon gets to it first.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tlsaudit::storage {

struct ScheduleEntry {
  std::string group;        // target group name
  std::string spec;         // the schedule as configured ("every 6h", "cron 0 2 * * *")
  int64_t first_run_micros;  // when a new (or changed) schedule first runs, Unix microseconds
};

struct ScheduleRow {
  std::string group;
  std::string spec;
  int64_t next_run_micros = 0;
  std::string last_scan_id;
};

// Bound to one database session, used by one thread at a time (see finding_store.h).
class ScheduleStore {
 public:
  virtual ~ScheduleStore() = default;

  // Makes the stored schedules match the configuration: new groups are added with their first
  // run, a changed spec restarts from its first run, groups no longer scheduled are removed.
  virtual absl::Status sync(const std::vector<ScheduleEntry>& entries) = 0;

  // For each schedule due at `now_micros` that no other session holds: calls `start(group)` in
  // the same transaction, on this session (it creates the scan and returns its id and the next
  // run), then moves next_run. A failing start rolls that schedule back and is retried on the
  // next call; the other due schedules still start. Returns the scans started.
  using StartFn = std::function<absl::StatusOr<std::pair<std::string, int64_t>>(
      const std::string& group, int64_t due_micros)>;
  virtual absl::StatusOr<std::vector<std::string>> runDue(int64_t now_micros,
                                                          const StartFn& start) = 0;

  virtual absl::StatusOr<std::vector<ScheduleRow>> list() = 0;
};

}  // namespace tlsaudit::storage
