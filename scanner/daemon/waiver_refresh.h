// Waivers take effect when they change, not at the next scan of each asset: a waiver created
// over the API or read from the configured file marks its findings WAIVED at once, a deleted
// or expired one makes them OPEN again (each change with its event and alert).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/pg_connection.h"
#include "storage/pg_finding_store.h"

namespace tlsaudit::scanner {

// Decides the findings in `scope` against the stored waivers at `now` (Unix seconds; it
// replaces scope.now) with the same matching as the scan (rules::applyWaivers). Only findings
// a waiver could change are read and locked (WAIVED ones, and OPEN ones an unexpired waiver's
// selector could cover). Returns how many findings changed state.
absl::StatusOr<int> refreshWaivers(storage::PgConnection& connection,
                                   const storage::WaiverRefreshScope& scope, int64_t now);

}  // namespace tlsaudit::scanner
