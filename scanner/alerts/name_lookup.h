// Host name lookup with a deadline. getaddrinfo cannot be cancelled and Asio's resolver waits
// for it, so a slow DNS server would hold a delivery past its timeout; here the lookup runs on a
// thread of its own that is abandoned (and ends when getaddrinfo returns) once the deadline has
// passed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/net/asio.h"

namespace tlsaudit::scanner::alerts {

// The addresses of `host` (an address literal is returned as it is, without a lookup).
// kDeadlineExceeded when the lookup is not done by `deadline`, kUnavailable when it fails.
absl::StatusOr<std::vector<boost::asio::ip::address>> lookupAddresses(
    const std::string& host, std::chrono::steady_clock::time_point deadline);

}  // namespace tlsaudit::scanner::alerts
