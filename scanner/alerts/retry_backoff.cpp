#include "scanner/alerts/retry_backoff.h"

#include <algorithm>
#include <cstdint>

namespace tlsaudit::scanner::alerts {

std::chrono::milliseconds retryDelay(int failures, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double unit) {
  int64_t cap = std::max<int64_t>(1, max.count());
  int64_t base = std::clamp<int64_t>(initial.count(), 1, cap);
  // Doubling stops at the cap, so no shift can overflow however long a sink stays down.
  for (int i = 1; i < failures && base < cap; ++i) base = std::min(cap, base * 2);
  double factor = 0.5 + 0.5 * std::clamp(unit, 0.0, 1.0);
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(base * factor)));
}

}  // namespace tlsaudit::scanner::alerts
