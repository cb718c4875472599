#include "collectors/snmp/inventory.h"

#include <algorithm>
#include <array>
#include <map>

#include "collectors/net/asio.h"

namespace tlsaudit::collectors::snmp {
namespace {

constexpr size_t kMaxNeighbours = 4096;

// Splits a table column's varbinds: column number and index suffix after `entry`.
struct Cell {
  uint32_t column;
  Oid index;
  const VarBind* vb;
};
std::vector<Cell> cells(const std::vector<VarBind>& rows, const Oid& entry) {
  std::vector<Cell> out;
  for (const auto& vb : rows) {
    if (!oidUnder(vb.oid, entry) || vb.oid.size() < entry.size() + 2) continue;
    Oid index(vb.oid.begin() + static_cast<long>(entry.size()) + 1, vb.oid.end());
    out.push_back(Cell{vb.oid[entry.size()], std::move(index), &vb});
  }
  return out;
}

std::string text(const VarBind& vb) {
  if (vb.type == ValueType::kOctetString) return displayString(vb.bytes);
  if (vb.type == ValueType::kObjectId) return oidToString(vb.object_id);
  if (vb.type == ValueType::kInteger || vb.type == ValueType::kGauge32 ||
      vb.type == ValueType::kCounter32 || vb.type == ValueType::kTimeTicks) {
    return std::to_string(vb.integer);
  }
  return "";
}

std::string hexBytes(const std::string& b) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size() && i < 64; ++i) {
    if (i) out += ':';
    out += kHex[static_cast<uint8_t>(b[i]) >> 4];
    out += kHex[static_cast<uint8_t>(b[i]) & 15];
  }
  return out;
}

// IANA address family numbers (RFC 3232 "Address Family Numbers"): 1 IPv4, 2 IPv6.
std::string addressFromFamily(int64_t family, const std::string& bytes) {
  if (family == 1 && bytes.size() == 4) {
    return std::to_string(static_cast<uint8_t>(bytes[0])) + "." +
           std::to_string(static_cast<uint8_t>(bytes[1])) + "." +
           std::to_string(static_cast<uint8_t>(bytes[2])) + "." +
           std::to_string(static_cast<uint8_t>(bytes[3]));
  }
  if (family == 2 && bytes.size() == 16) {
    std::array<unsigned char, 16> a{};
    for (size_t i = 0; i < 16; ++i) a[i] = static_cast<unsigned char>(bytes[i]);
    return net::asio::ip::address_v6(a).to_string();
  }
  return "";
}

// Reads an OID-encoded octet string from an index: length-prefixed unless `implied_len`.
bool takeString(const Oid& index, size_t& pos, std::string& out, size_t fixed_len = 0) {
  size_t len = fixed_len;
  if (!fixed_len) {
    if (pos >= index.size()) return false;
    len = index[pos++];
  }
  if (len > 64 || pos + len > index.size()) return false;
  out.clear();
  for (size_t i = 0; i < len; ++i) {
    if (index[pos + i] > 255) return false;
    out += static_cast<char>(index[pos + i]);
  }
  pos += len;
  return true;
}

void addUnique(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end() && v.size() < 16) v.push_back(s);
}

}  // namespace

std::string displayString(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (out.size() >= 256) break;
    if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else if (c == '\t' || c == '\n' || c == '\r')
      out += ' ';
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

SystemInfo decodeSystem(const std::vector<VarBind>& varbinds) {
  SystemInfo s;
  for (const auto& vb : varbinds) {
    if (vb.oid == oids::kSysDescr) s.descr = text(vb);
    if (vb.oid == oids::kSysObjectId && vb.type == ValueType::kObjectId) {
      s.object_id = oidToString(vb.object_id);
    }
    if (vb.oid == oids::kSysContact) s.contact = text(vb);
    if (vb.oid == oids::kSysName) s.name = text(vb);
    if (vb.oid == oids::kSysLocation) s.location = text(vb);
  }
  return s;
}

EntityInfo decodeEntity(const std::vector<VarBind>& entity_rows) {
  // ENTITY-MIB columns: 2 descr, 5 class, 8 hardwareRev, 9 firmwareRev, 10 softwareRev,
  // 11 serialNum, 12 mfgName, 13 modelName.
  std::map<Oid, EntityInfo> rows;
  std::map<Oid, int64_t> classes;
  std::vector<Oid> order;
  for (const auto& c : cells(entity_rows, oids::kEntPhysicalEntry)) {
    if (!rows.count(c.index)) {
      if (rows.size() >= 1024) continue;
      order.push_back(c.index);
    }
    auto& e = rows[c.index];
    switch (c.column) {
      case 2:
        e.descr = text(*c.vb);
        break;
      case 5:
        classes[c.index] = c.vb->integer;
        break;
      case 8:
        e.hardware_rev = text(*c.vb);
        break;
      case 9:
        e.firmware_rev = text(*c.vb);
        break;
      case 10:
        e.software_rev = text(*c.vb);
        break;
      case 11:
        e.serial = text(*c.vb);
        break;
      case 12:
        e.mfg = text(*c.vb);
        break;
      case 13:
        e.model = text(*c.vb);
        break;
      default:
        break;
    }
  }
  // PhysicalClass chassis(3) (RFC 6933) is the box itself.
  for (const auto& idx : order) {
    if (classes.count(idx) && classes[idx] == 3) return rows[idx];
  }
  for (const auto& idx : order) {
    if (!rows[idx].model.empty() || !rows[idx].serial.empty()) return rows[idx];
  }
  return {};
}

std::string formatMac(const std::string& bytes) {
  if (bytes.size() != 6) return "";
  bool zero = true;
  for (char c : bytes) zero = zero && c == 0;
  return zero ? "" : hexBytes(bytes);
}

std::string firstInterfaceMac(const std::vector<VarBind>& if_phys_address) {
  for (const auto& vb : if_phys_address) {
    if (!oidUnder(vb.oid, oids::kIfPhysAddress) || vb.type != ValueType::kOctetString) continue;
    if (auto m = formatMac(vb.bytes); !m.empty()) return m;
  }
  return "";
}

std::vector<Neighbour> decodeLldp(const std::vector<VarBind>& rem,
                                  const std::vector<VarBind>& man_addr,
                                  const std::vector<VarBind>& med_inventory,
                                  const std::vector<VarBind>& loc_ports) {
  // lldpLocPortEntry (index lldpLocPortNum): 3 portId, 4 portDesc.
  std::map<uint32_t, std::string> port_id, port_desc;
  for (const auto& c : cells(loc_ports, oids::kLldpLocPortEntry)) {
    if (c.index.size() != 1 || port_id.size() > 4096) continue;
    if (c.column == 3) port_id[c.index[0]] = text(*c.vb);
    if (c.column == 4) port_desc[c.index[0]] = text(*c.vb);
  }
  // Rows of lldpRemTable share the index (timeMark, localPortNum, remIndex).
  std::map<Oid, Neighbour> rows;
  std::vector<Oid> order;
  auto row = [&](const Oid& key) -> Neighbour* {
    auto it = rows.find(key);
    if (it != rows.end()) return &it->second;
    if (rows.size() >= kMaxNeighbours) return nullptr;
    order.push_back(key);
    auto& n = rows[key];
    n.protocol = "lldp";
    uint32_t port = key[1];
    n.local_port = !port_desc[port].empty() ? port_desc[port]
                   : !port_id[port].empty() ? port_id[port]
                                            : std::to_string(port);
    return &n;
  };
  // lldpRemEntry columns: 4 chassisIdSubtype, 5 chassisId, 6 portIdSubtype, 7 portId,
  // 8 portDesc, 9 sysName, 10 sysDesc.
  std::map<Oid, int64_t> chassis_subtype;
  for (const auto& c : cells(rem, oids::kLldpRemEntry)) {
    if (c.index.size() != 3) continue;
    if (c.column == 4) chassis_subtype[c.index] = c.vb->integer;
  }
  for (const auto& c : cells(rem, oids::kLldpRemEntry)) {
    if (c.index.size() != 3) continue;
    auto* n = row(c.index);
    if (!n) continue;
    switch (c.column) {
      case 5: {
        // LldpChassisIdSubtype macAddress(4) carries 6 raw bytes; others are text.
        auto it = chassis_subtype.find(c.index);
        if (it != chassis_subtype.end() && it->second == 4 && c.vb->bytes.size() == 6) {
          n->chassis_id = formatMac(c.vb->bytes);
          n->mac = n->chassis_id;
        } else if (it != chassis_subtype.end() && it->second == 5 && c.vb->bytes.size() >= 5) {
          // networkAddress(5): an IANA family byte then the address.
          n->chassis_id =
              addressFromFamily(static_cast<uint8_t>(c.vb->bytes[0]), c.vb->bytes.substr(1));
          addUnique(n->addresses, n->chassis_id);
        } else {
          n->chassis_id = text(*c.vb);
        }
        break;
      }
      case 7:
        n->port_id = text(*c.vb);
        break;
      case 8:
        n->port_descr = text(*c.vb);
        break;
      case 9:
        n->sys_name = text(*c.vb);
        break;
      case 10:
        n->sys_descr = text(*c.vb);
        break;
      default:
        break;
    }
  }
  // lldpRemManAddrEntry index: timeMark, localPortNum, remIndex, addrSubtype, addr (length
  // prefixed octet string). All columns are about the same address; any column reveals it.
  for (const auto& vb : man_addr) {
    if (!oidUnder(vb.oid, oids::kLldpRemManAddrEntry)) continue;
    Oid index(vb.oid.begin() + static_cast<long>(oids::kLldpRemManAddrEntry.size()) + 1,
              vb.oid.end());
    if (vb.oid.size() <= oids::kLldpRemManAddrEntry.size() || index.size() < 5) continue;
    Oid key(index.begin(), index.begin() + 3);
    size_t pos = 4;
    std::string addr;
    if (!takeString(index, pos, addr) || pos != index.size()) continue;
    auto* n = row(key);
    if (!n) continue;
    addUnique(n->addresses, addressFromFamily(index[3], addr));
  }
  // lldpXMedRemInventoryEntry columns: 1 hardwareRev, 2 firmwareRev, 3 softwareRev,
  // 4 serialNum, 5 mfgName, 6 modelName.
  for (const auto& c : cells(med_inventory, oids::kLldpXMedRemInventoryEntry)) {
    if (c.index.size() != 3) continue;
    auto* n = row(c.index);
    if (!n) continue;
    switch (c.column) {
      case 1:
        n->hardware_rev = text(*c.vb);
        break;
      case 2:
        n->firmware_rev = text(*c.vb);
        break;
      case 3:
        n->software_rev = text(*c.vb);
        break;
      case 4:
        n->serial = text(*c.vb);
        break;
      case 5:
        n->mfg = text(*c.vb);
        break;
      case 6:
        n->model = text(*c.vb);
        break;
      default:
        break;
    }
  }
  std::vector<Neighbour> out;
  for (const auto& k : order) out.push_back(std::move(rows[k]));
  return out;
}

std::vector<Neighbour> decodeCdp(const std::vector<VarBind>& cache,
                                 const std::vector<VarBind>& if_names) {
  std::map<uint32_t, std::string> names;
  for (const auto& vb : if_names) {
    const Oid* col = oidUnder(vb.oid, oids::kIfName)    ? &oids::kIfName
                     : oidUnder(vb.oid, oids::kIfDescr) ? &oids::kIfDescr
                                                        : nullptr;
    if (!col || vb.oid.size() != col->size() + 1 || names.size() > 4096) continue;
    auto& slot = names[vb.oid.back()];
    // ifName (short, "Gi1/0/3") wins over ifDescr.
    if (slot.empty() || col == &oids::kIfName) slot = text(vb);
  }
  // cdpCacheEntry index: cdpCacheIfIndex, cdpCacheDeviceIndex. Columns: 3 addressType,
  // 4 address, 5 version, 6 deviceId, 7 devicePort, 8 platform.
  std::map<Oid, Neighbour> rows;
  std::map<Oid, int64_t> addr_type;
  std::vector<Oid> order;
  auto all = cells(cache, oids::kCdpCacheEntry);
  for (const auto& c : all) {
    if (c.index.size() == 2 && c.column == 3) addr_type[c.index] = c.vb->integer;
  }
  for (const auto& c : all) {
    if (c.index.size() != 2) continue;
    if (!rows.count(c.index)) {
      if (rows.size() >= kMaxNeighbours) continue;
      order.push_back(c.index);
      auto& n = rows[c.index];
      n.protocol = "cdp";
      n.local_port = names.count(c.index[0]) ? names[c.index[0]] : std::to_string(c.index[0]);
    }
    auto& n = rows[c.index];
    switch (c.column) {
      case 4: {
        // CiscoNetworkProtocol ip(1): 4 bytes; ipv6(20): 16 bytes.
        auto t = addr_type.count(c.index) ? addr_type[c.index] : 1;
        if (t == 1) addUnique(n.addresses, addressFromFamily(1, c.vb->bytes));
        if (t == 20) addUnique(n.addresses, addressFromFamily(2, c.vb->bytes));
        break;
      }
      case 5:
        n.version = text(*c.vb);
        break;
      case 6:
        n.sys_name = text(*c.vb);
        break;
      case 7:
        n.port_id = text(*c.vb);
        break;
      case 8:
        n.platform = text(*c.vb);
        break;
      default:
        break;
    }
  }
  std::vector<Neighbour> out;
  for (const auto& k : order) out.push_back(std::move(rows[k]));
  return out;
}

std::vector<Neighbour> decodeArp(const std::vector<VarBind>& net_to_physical,
                                 const std::vector<VarBind>& net_to_media) {
  std::vector<Neighbour> out;
  std::map<std::string, size_t> seen;
  auto add = [&](const std::string& addr, const std::string& mac) {
    if (addr.empty() || seen.count(addr) || out.size() >= kMaxNeighbours) return;
    seen[addr] = out.size();
    Neighbour n;
    n.protocol = "arp";
    n.addresses.push_back(addr);
    n.mac = formatMac(mac);
    out.push_back(std::move(n));
  };
  // ipNetToPhysicalEntry index: ifIndex, InetAddressType, InetAddress (length prefixed).
  // InetAddressType (RFC 4001): ipv4(1), ipv6(2).
  for (const auto& vb : net_to_physical) {
    if (!oidUnder(vb.oid, oids::kIpNetToPhysicalPhysAddress)) continue;
    Oid index(vb.oid.begin() + static_cast<long>(oids::kIpNetToPhysicalPhysAddress.size()),
              vb.oid.end());
    if (index.size() < 3) continue;
    size_t pos = 2;
    std::string addr;
    if (!takeString(index, pos, addr) || pos != index.size()) continue;
    add(addressFromFamily(index[1], addr), vb.bytes);
  }
  // ipNetToMediaEntry index: ifIndex, IpAddress (4 sub-identifiers, RFC 2578 §7.7).
  for (const auto& vb : net_to_media) {
    if (!oidUnder(vb.oid, oids::kIpNetToMediaPhysAddress)) continue;
    Oid index(vb.oid.begin() + static_cast<long>(oids::kIpNetToMediaPhysAddress.size()),
              vb.oid.end());
    if (index.size() != 5) continue;
    size_t pos = 1;
    std::string addr;
    if (!takeString(index, pos, addr, 4)) continue;
    add(addressFromFamily(1, addr), vb.bytes);
  }
  return out;
}

}  // namespace tlsaudit::collectors::snmp
