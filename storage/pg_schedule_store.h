// ScheduleStore on PostgreSQL (table schedules).
#pragma once

#include "storage/pg_connection.h"
#include "storage/schedule_store.h"

namespace tlsaudit::storage {

// Uses `connection` (not owned) from one thread at a time; cheap to construct per task.
class PgScheduleStore : public ScheduleStore {
 public:
  explicit PgScheduleStore(PgConnection& connection) : c_(connection) {}

  absl::Status sync(const std::vector<ScheduleEntry>& entries) override;
  absl::StatusOr<std::vector<std::string>> runDue(int64_t now_micros,
                                                  const StartFn& start) override;
  absl::StatusOr<std::vector<ScheduleRow>> list() override;

 private:
  PgConnection& c_;
};

}  // namespace tlsaudit::storage
