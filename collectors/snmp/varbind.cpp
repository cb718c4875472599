#include "collectors/snmp/varbind.h"

#include <charconv>

namespace tlsaudit::collectors::snmp {

std::optional<Oid> parseOid(std::string_view text) {
  if (!text.empty() && text.front() == '.') text.remove_prefix(1);
  Oid out;
  // RFC 2578 §3.5: at most 128 sub-identifiers, each < 2^32.
  while (!text.empty() && out.size() < 128) {
    auto dot = text.find('.');
    auto part = text.substr(0, dot);
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size()) return std::nullopt;
    out.push_back(v);
    if (dot == std::string_view::npos) return out;
    text.remove_prefix(dot + 1);
    if (text.empty()) return std::nullopt;
  }
  if (!text.empty() || out.empty()) return std::nullopt;
  return out;
}

std::string oidToString(const Oid& oid) {
  std::string out;
  for (size_t i = 0; i < oid.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(oid[i]);
  }
  return out;
}

bool oidUnder(const Oid& oid, const Oid& root) {
  return oid.size() > root.size() && std::equal(root.begin(), root.end(), oid.begin());
}

}  // namespace tlsaudit::collectors::snmp
