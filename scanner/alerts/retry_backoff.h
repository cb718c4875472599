// How long a sink waits after failed deliveries before it tries again. Pure: the randomness is
// passed in, so the schedule is tested without sleeping.
#pragma once

#include <chrono>

namespace tlsaudit::scanner::alerts {

// The delay after `failures` consecutive failed attempts (1 = the first failure):
// initial * 2^(failures - 1), at most `max`, scaled by a factor in [0.5, 1) taken from `unit`
// in [0, 1) ("equal jitter"), so daemons and sinks that failed together do not retry in step.
// Never less than 1 ms.
std::chrono::milliseconds retryDelay(int failures, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double unit);

}  // namespace tlsaudit::scanner::alerts
