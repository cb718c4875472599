// libFuzzer target: target parsing (hosts, ports, CIDR blocks, ranges) from user files, and the
// address space built from what parses: membership and enumeration must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "collectors/net/targets.h"

namespace net = tlsaudit::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<net::TargetSpec> include;
  size_t start = 0;
  while (start <= text.size() && include.size() < 8) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    auto t = net::parseTarget(text.substr(start, nl - start));
    if (t.ok() && (t->isNetwork() || !t->port)) {
      boost::system::error_code ec;
      if (t->isNetwork() || (net::asio::ip::make_address(t->host, ec), !ec)) {
        include.push_back(*t);
      }
    }
    start = nl + 1;
  }
  auto space = net::AddressSpace::build(include, {});
  if (!space.ok()) return 0;
  net::PermutedIndex order(space->size(), size);
  for (int i = 0; i < 64; ++i) {
    auto index = order.next();
    if (!index) break;
    if (*index >= space->size()) abort();
    if (!space->contains(space->at(*index))) abort();
  }
  return 0;
}
