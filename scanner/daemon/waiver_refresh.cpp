#include "scanner/daemon/waiver_refresh.h"

#include <chrono>
#include <thread>

#include "rules/waivers.h"

namespace tlsaudit::scanner {

absl::StatusOr<int> refreshWaivers(storage::PgConnection& connection,
                                   const storage::WaiverRefreshScope& scope, int64_t now) {
  storage::PgFindingStore store(connection);
  auto waivers = store.listWaivers();
  if (!waivers.ok()) return waivers.status();
  rules::WaiverSet set;
  set.waivers = *std::move(waivers);
  auto decide = [&](const v1::Finding& stored, const v1::Asset& asset,
                    uint32_t port) -> std::string {
    v1::Finding f = stored;
    f.set_state(v1::OPEN);
    f.clear_waiver_id();
    return rules::applyWaivers(set, now, asset, port, f) ? f.waiver_id() : std::string();
  };
  // Ingests of other workers or daemons lock the same findings: a deadlock PostgreSQL broke
  // (kAborted) is tried again, a few times.
  absl::StatusOr<int> changed = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    storage::WaiverRefreshScope at = scope;
    at.now = now;
    changed = store.refreshWaiverStates(at, decide);
    if (changed.ok() || changed.status().code() != absl::StatusCode::kAborted) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
  }
  return changed;
}

}  // namespace tlsaudit::scanner
