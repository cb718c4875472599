// How a scan becomes work items: each address block or range is cut into slices of at most
// `addresses_per_item` addresses (a daemon claims one slice at a time; a killed daemon loses at
// most its slices, which another daemon reclaims); a single host is one item, and the endpoints
// (host:port) of one host are one item together, listed with spaces between them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tlsaudit::scanner {

// Most work items one scan may have (a /8 cut into /24 slices is 65,536).
inline constexpr size_t kMaxWorkItems = 1 << 20;
// Most endpoints of one host in one work item.
inline constexpr size_t kMaxEndpointsPerItem = 64;

// The work item targets for `targets` (as users write them, @FILE expanded). Slices are CIDR
// blocks when the block and slice sizes allow, ranges otherwise. Errors name the bad target.
absl::StatusOr<std::vector<std::string>> splitIntoWorkItems(const std::vector<std::string>& targets,
                                                            size_t addresses_per_item);

}  // namespace tlsaudit::scanner
