#include "scanner/daemon/waiver_refresh.h"

#include "rules/waivers.h"

namespace tlsaudit::scanner {

absl::StatusOr<int> refreshWaivers(storage::PgConnection& connection,
                                   const storage::WaiverRefreshScope& scope, int64_t now) {
  storage::PgFindingStore store(connection);
  auto waivers = store.listWaivers();
  if (!waivers.ok()) return waivers.status();
  rules::WaiverSet set;
  set.waivers = *std::move(waivers);
  return store.refreshWaiverStates(
      scope, [&](const v1::Finding& stored, const v1::Asset& asset, uint32_t port) -> std::string {
        v1::Finding f = stored;
        f.set_state(v1::OPEN);
        f.clear_waiver_id();
        return rules::applyWaivers(set, now, asset, port, f) ? f.waiver_id() : std::string();
      });
}

}  // namespace tlsaudit::scanner
