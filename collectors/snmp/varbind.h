// SNMP values as plain data, independent of the SNMP library, so the inventory decoders and
// their fuzzers need no agent. RFC 3416 §3 (PDU syntax), RFC 2578 §7.1 (base types).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsaudit::collectors::snmp {

using Oid = std::vector<uint32_t>;

enum class ValueType {
  kNull,
  kInteger,
  kOctetString,
  kObjectId,
  kIpAddress,
  kCounter32,
  kGauge32,
  kTimeTicks,
  kOpaque,
  kCounter64,
  kNoSuchObject,
  kNoSuchInstance,
  kEndOfMibView,
  kOther,
};

struct VarBind {
  Oid oid;
  ValueType type = ValueType::kNull;
  std::string bytes;    // octet strings, IpAddress (4 bytes), Opaque
  int64_t integer = 0;  // INTEGER, counters, gauges, TimeTicks
  Oid object_id;        // OBJECT IDENTIFIER values
};

// "1.3.6.1.2.1.1.1.0" → Oid; nullopt when malformed.
std::optional<Oid> parseOid(std::string_view text);
std::string oidToString(const Oid& oid);
// True when `oid` lies strictly under `root`.
bool oidUnder(const Oid& oid, const Oid& root);

}  // namespace tlsaudit::collectors::snmp
