#include "scanner/daemon/work_plan.h"

#include <algorithm>

#include "collectors/net/targets.h"

namespace tlsaudit::scanner {

absl::StatusOr<std::vector<std::string>> splitIntoWorkItems(const std::vector<std::string>& targets,
                                                            size_t addresses_per_item) {
  if (addresses_per_item == 0) addresses_per_item = 1;
  auto specs = net::parseTargets(targets);
  if (!specs.ok()) return specs.status();
  // Counted first: a /8 cut into single addresses is refused before 16M strings are built.
  uint64_t total = 0;
  for (const auto& t : *specs) {
    total += t.isNetwork() ? (t.network_size + addresses_per_item - 1) / addresses_per_item : 1;
  }
  if (total > kMaxWorkItems) {
    return absl::InvalidArgumentError("the targets make " + std::to_string(total) +
                                      " work items, more than " + std::to_string(kMaxWorkItems) +
                                      "; split the scan");
  }
  std::vector<std::string> out;
  out.reserve(total);
  auto add = [&](std::string item) -> absl::Status {
    if (out.size() >= kMaxWorkItems) {
      return absl::InvalidArgumentError("the targets make more than " +
                                        std::to_string(kMaxWorkItems) +
                                        " work items; split the scan");
    }
    out.push_back(std::move(item));
    return absl::OkStatus();
  };
  // Endpoints of one host (host:port, scheme://host) share an item, so the host's services are
  // stored together, in one transaction; the item lists them separated by spaces.
  std::vector<std::pair<std::string, std::string>> endpoint_items;  // host, item text
  for (const auto& t : *specs) {
    if (!t.isNetwork() && (t.port || !t.scheme.empty())) {
      auto it = std::find_if(endpoint_items.begin(), endpoint_items.end(),
                             [&](const auto& e) { return e.first == t.host; });
      if (it != endpoint_items.end() && std::count(it->second.begin(), it->second.end(), ' ') <
                                            static_cast<long>(kMaxEndpointsPerItem) - 1) {
        it->second += " " + t.original;
        continue;
      }
      endpoint_items.emplace_back(t.host, t.original);
      continue;
    }
    if (!t.isNetwork() || t.network_size <= addresses_per_item) {
      if (auto st = add(t.original); !st.ok()) return st;
      continue;
    }
    // A CIDR block with a power-of-two slice size splits into aligned smaller blocks.
    bool pow2 = (addresses_per_item & (addresses_per_item - 1)) == 0;
    unsigned bits = t.network_base->is_v4() ? 32 : 128;
    unsigned slice_bits = 0;
    while ((size_t{1} << slice_bits) < addresses_per_item) ++slice_bits;
    for (uint64_t first = 0; first < t.network_size; first += addresses_per_item) {
      uint64_t count = std::min<uint64_t>(addresses_per_item, t.network_size - first);
      auto a = t.addressAt(first);
      std::string item;
      if (!t.is_range && pow2 && count == addresses_per_item) {
        item = (a.is_v6() ? a.to_string() : a.to_string()) + "/" +
               std::to_string(bits - slice_bits);
      } else {
        auto b = t.addressAt(first + count - 1);
        item = a.to_string() + "-" + b.to_string();
      }
      if (auto st = add(std::move(item)); !st.ok()) return st;
    }
  }
  for (auto& [host, item] : endpoint_items) {
    if (auto st = add(std::move(item)); !st.ok()) return st;
  }
  return out;
}

}  // namespace tlsaudit::scanner
