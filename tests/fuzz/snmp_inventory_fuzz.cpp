// libFuzzer target: the SNMP inventory decoders (system group, ENTITY-MIB, IF-MIB MACs, LLDP,
// LLDP-MED, CDP, ARP) on hostile varbinds. The input is a little varbind stream:
//   [table u8][type u8][oid_len u8][oid_len × u16 sub-ids, each added to the table's root]
//   [value_len u8][value bytes]
// so the fuzzer controls index suffixes, value types and octet strings freely.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "collectors/snmp/inventory.h"

namespace {

namespace snmp = tlsaudit::collectors::snmp;

const snmp::Oid* const kRoots[] = {
    &snmp::oids::kSysDescr,
    &snmp::oids::kEntPhysicalEntry,
    &snmp::oids::kIfPhysAddress,
    &snmp::oids::kIfName,
    &snmp::oids::kIfDescr,
    &snmp::oids::kLldpLocPortEntry,
    &snmp::oids::kLldpRemEntry,
    &snmp::oids::kLldpRemManAddrEntry,
    &snmp::oids::kLldpXMedRemInventoryEntry,
    &snmp::oids::kCdpCacheEntry,
    &snmp::oids::kIpNetToPhysicalPhysAddress,
    &snmp::oids::kIpNetToMediaPhysAddress,
};
constexpr size_t kRootCount = sizeof(kRoots) / sizeof(kRoots[0]);

void checkText(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) abort();  // decoders must hand out printable text only
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<snmp::VarBind> tables[kRootCount];
  size_t pos = 0;
  auto byte = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
  while (pos < size) {
    size_t table = byte() % kRootCount;
    snmp::VarBind vb;
    vb.type = static_cast<snmp::ValueType>(byte() % 14);
    vb.oid = *kRoots[table];
    if (table == 0) vb.oid.pop_back();  // system objects sit beside sysDescr
    size_t n = byte() % 40;
    for (size_t i = 0; i < n; ++i) {
      uint32_t hi = byte(), lo = byte();
      vb.oid.push_back(hi << 8 | lo);
    }
    size_t len = byte();
    for (size_t i = 0; i < len && pos < size; ++i) vb.bytes.push_back(static_cast<char>(byte()));
    vb.integer = static_cast<int8_t>(vb.bytes.empty() ? 0 : vb.bytes[0]);
    for (size_t i = 0; i + 1 < vb.bytes.size() && i < 16; ++i) {
      vb.object_id.push_back(static_cast<uint8_t>(vb.bytes[i]));
    }
    tables[table].push_back(std::move(vb));
  }
  auto sys = snmp::decodeSystem(tables[0]);
  checkText(sys.descr);
  checkText(sys.name);
  auto ent = snmp::decodeEntity(tables[1]);
  checkText(ent.model);
  checkText(snmp::firstInterfaceMac(tables[2]));
  std::vector<snmp::VarBind> names = tables[3];
  names.insert(names.end(), tables[4].begin(), tables[4].end());
  auto all = snmp::decodeLldp(tables[6], tables[7], tables[8], tables[5]);
  auto cdp = snmp::decodeCdp(tables[9], names);
  auto arp = snmp::decodeArp(tables[10], tables[11]);
  all.insert(all.end(), cdp.begin(), cdp.end());
  all.insert(all.end(), arp.begin(), arp.end());
  for (const auto& n : all) {
    checkText(n.local_port);
    checkText(n.sys_name);
    checkText(n.mac);
    if (n.addresses.size() > 16) abort();
    for (const auto& a : n.addresses) checkText(a);
  }
  return 0;
}
