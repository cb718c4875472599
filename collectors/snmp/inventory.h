// Turns walked SNMP objects into inventory facts: the system group, the chassis entity, the
// interface MACs, and the neighbours an agent knows (LLDP, LLDP-MED, CDP, ARP). Pure: varbinds
// in, structs out, every length and index checked, so fuzzers can drive it with any input.
#pragma once

#include <string>
#include <vector>

#include "collectors/snmp/varbind.h"

namespace tlsaudit::collectors::snmp {

// The subtrees discovery reads. Each constant cites its MIB.
namespace oids {
// SNMPv2-MIB (RFC 3418) system group: sysDescr.0 .. sysLocation.0.
inline const Oid kSysDescr = {1, 3, 6, 1, 2, 1, 1, 1, 0};
inline const Oid kSysObjectId = {1, 3, 6, 1, 2, 1, 1, 2, 0};
inline const Oid kSysContact = {1, 3, 6, 1, 2, 1, 1, 4, 0};
inline const Oid kSysName = {1, 3, 6, 1, 2, 1, 1, 5, 0};
inline const Oid kSysLocation = {1, 3, 6, 1, 2, 1, 1, 6, 0};
// ENTITY-MIB (RFC 6933) entPhysicalEntry.
inline const Oid kEntPhysicalEntry = {1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1};
// IF-MIB (RFC 2863) ifDescr and ifPhysAddress; ifName from ifXTable.
inline const Oid kIfDescr = {1, 3, 6, 1, 2, 1, 2, 2, 1, 2};
inline const Oid kIfPhysAddress = {1, 3, 6, 1, 2, 1, 2, 2, 1, 6};
inline const Oid kIfName = {1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1};
// LLDP-MIB (IEEE 802.1AB-2005): lldpLocPortEntry, lldpRemEntry, lldpRemManAddrEntry.
inline const Oid kLldpLocPortEntry = {1, 0, 8802, 1, 1, 2, 1, 3, 7, 1};
inline const Oid kLldpRemEntry = {1, 0, 8802, 1, 1, 2, 1, 4, 1, 1};
inline const Oid kLldpRemManAddrEntry = {1, 0, 8802, 1, 1, 2, 1, 4, 2, 1};
// LLDP-EXT-MED-MIB (ANSI/TIA-1057): lldpXMedRemInventoryEntry.
inline const Oid kLldpXMedRemInventoryEntry = {1, 0, 8802, 1, 1, 2, 1, 5, 4795, 1, 3, 3, 1};
// CISCO-CDP-MIB: cdpCacheEntry.
inline const Oid kCdpCacheEntry = {1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1};
// IP-MIB (RFC 4293): ipNetToPhysicalPhysAddress and the older ipNetToMediaPhysAddress.
inline const Oid kIpNetToPhysicalPhysAddress = {1, 3, 6, 1, 2, 1, 4, 35, 1, 4};
inline const Oid kIpNetToMediaPhysAddress = {1, 3, 6, 1, 2, 1, 4, 22, 1, 2};
}  // namespace oids

struct SystemInfo {
  std::string descr, object_id, contact, name, location;
};
// From a GET of the five system objects (any order; missing ones stay empty).
SystemInfo decodeSystem(const std::vector<VarBind>& varbinds);

struct EntityInfo {
  std::string descr, hardware_rev, firmware_rev, software_rev, serial, mfg, model;
};
// The chassis (entPhysicalClass 3) row of entPhysicalTable, else the first row with a model
// or serial number.
EntityInfo decodeEntity(const std::vector<VarBind>& entity_rows);

// "00:1a:2b:3c:4d:5e" for a 6-byte MAC; "" otherwise or when all zero.
std::string formatMac(const std::string& bytes);
// The first non-zero 6-byte ifPhysAddress.
std::string firstInterfaceMac(const std::vector<VarBind>& if_phys_address);

// One device a neighbour or ARP table names.
struct Neighbour {
  std::string protocol;                // "lldp", "cdp", "arp"
  std::string local_port;              // the reporting device's port (name or description)
  std::vector<std::string> addresses;  // management/ARP addresses, as literals
  std::string mac;
  std::string chassis_id, port_id, port_descr, sys_name, sys_descr;
  std::string platform, version;                                             // CDP
  std::string hardware_rev, firmware_rev, software_rev, serial, mfg, model;  // LLDP-MED
};

// LLDP: remote table rows, management address rows, LLDP-MED inventory rows, local port rows.
std::vector<Neighbour> decodeLldp(const std::vector<VarBind>& rem,
                                  const std::vector<VarBind>& man_addr,
                                  const std::vector<VarBind>& med_inventory,
                                  const std::vector<VarBind>& loc_ports);
// CDP cache rows; `if_names` (ifName or ifDescr rows) names the local ports.
std::vector<Neighbour> decodeCdp(const std::vector<VarBind>& cache,
                                 const std::vector<VarBind>& if_names);
// ARP/ND: ipNetToPhysicalPhysAddress rows and ipNetToMediaPhysAddress rows.
std::vector<Neighbour> decodeArp(const std::vector<VarBind>& net_to_physical,
                                 const std::vector<VarBind>& net_to_media);

// Printable text of an octet string (non-printable bytes dropped, at most 256 characters).
std::string displayString(const std::string& bytes);

}  // namespace tlsaudit::collectors::snmp
