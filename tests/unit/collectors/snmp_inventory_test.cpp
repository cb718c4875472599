// SNMP inventory decoders (collectors/snmp/inventory.h) and credential sources
// (collectors/snmp/credentials.h): pure code, hostile input included.
#include <gtest/gtest.h>

#include <map>

#include "collectors/snmp/credentials.h"
#include "collectors/snmp/inventory.h"

namespace tlsaudit::collectors::snmp {
namespace {

Oid oid(const std::string& s) { return *parseOid(s); }

VarBind str(const std::string& o, const std::string& v) {
  VarBind vb;
  vb.oid = oid(o);
  vb.type = ValueType::kOctetString;
  vb.bytes = v;
  return vb;
}

VarBind num(const std::string& o, int64_t v) {
  VarBind vb;
  vb.oid = oid(o);
  vb.type = ValueType::kInteger;
  vb.integer = v;
  return vb;
}

TEST(OidTest, ParseFormatAndSubtree) {
  EXPECT_EQ(oidToString(oid(".1.3.6.1.2.1.1.1.0")), "1.3.6.1.2.1.1.1.0");
  EXPECT_FALSE(parseOid("1..3"));
  EXPECT_FALSE(parseOid("1.3."));
  EXPECT_FALSE(parseOid("1.x"));
  EXPECT_FALSE(parseOid("1.99999999999"));
  EXPECT_TRUE(oidUnder(oid("1.3.6.1.2"), oid("1.3.6.1")));
  EXPECT_FALSE(oidUnder(oid("1.3.6.1"), oid("1.3.6.1")));
  EXPECT_FALSE(oidUnder(oid("1.3.6.2"), oid("1.3.6.1")));
}

TEST(InventoryTest, SystemAndChassisEntity) {
  VarBind obj;
  obj.oid = oids::kSysObjectId;
  obj.type = ValueType::kObjectId;
  obj.object_id = oid("1.3.6.1.4.1.9.1.1208");
  auto sys = decodeSystem({str("1.3.6.1.2.1.1.1.0", "Cisco IOS\r\nSoftware\x01"), obj,
                           str("1.3.6.1.2.1.1.5.0", "sw1")});
  EXPECT_EQ(sys.descr, "Cisco IOS  Software");
  EXPECT_EQ(sys.object_id, "1.3.6.1.4.1.9.1.1208");
  EXPECT_EQ(sys.name, "sw1");
  const std::string e = "1.3.6.1.2.1.47.1.1.1.1.";
  auto ent = decodeEntity({str(e + "13.1001", "PSU-1"), num(e + "5.1001", 6), num(e + "5.1", 3),
                           str(e + "13.1", "WS-C2960X"), str(e + "11.1", "FOC1"),
                           str(e + "12.1", "Cisco"), str(e + "10.1", "15.2")});
  EXPECT_EQ(ent.model, "WS-C2960X");  // the chassis, not the power supply listed first
  EXPECT_EQ(ent.serial, "FOC1");
  EXPECT_EQ(ent.software_rev, "15.2");
}

TEST(InventoryTest, MacFormatting) {
  EXPECT_EQ(formatMac(std::string("\x00\x1a\x2b\x3c\x4d\x5e", 6)), "00:1a:2b:3c:4d:5e");
  EXPECT_EQ(formatMac(std::string(6, '\0')), "");
  EXPECT_EQ(formatMac("abc"), "");
  EXPECT_EQ(firstInterfaceMac({str("1.3.6.1.2.1.2.2.1.6.1", ""),
                               str("1.3.6.1.2.1.2.2.1.6.2", std::string("\x02\0\0\0\0\x05", 6))}),
            "02:00:00:00:00:05");
}

TEST(InventoryTest, LldpRowsManagementAddressesAndMed) {
  const std::string rem = "1.0.8802.1.1.2.1.4.1.1.";
  const std::string man = "1.0.8802.1.1.2.1.4.2.1.";
  const std::string med = "1.0.8802.1.1.2.1.5.4795.1.3.3.1.";
  auto out = decodeLldp(
      {num(rem + "4.0.3.1", 4), str(rem + "5.0.3.1", std::string("\x80\x5e\xc0\x11\x22\x33", 6)),
       str(rem + "9.0.3.1", "phone-lobby"), str(rem + "9.0.4.2", "other")},
      {num(man + "3.0.3.1.1.4.10.1.2.3", 2),
       num(man + "3.0.3.1.2.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1", 2),
       num(man + "3.0.4.2.1.4.10.1", 2)},  // truncated address: ignored
      {str(med + "6.0.3.1", "SIP-T46S"), str(med + "4.0.3.1", "SN1")},
      {str("1.0.8802.1.1.2.1.3.7.1.4.3", "GigabitEthernet1/0/3")});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].protocol, "lldp");
  EXPECT_EQ(out[0].local_port, "GigabitEthernet1/0/3");
  EXPECT_EQ(out[0].mac, "80:5e:c0:11:22:33");
  EXPECT_EQ(out[0].sys_name, "phone-lobby");
  ASSERT_EQ(out[0].addresses.size(), 2u);
  EXPECT_EQ(out[0].addresses[0], "10.1.2.3");
  EXPECT_EQ(out[0].addresses[1], "2001:db8::1");
  EXPECT_EQ(out[0].model, "SIP-T46S");
  EXPECT_EQ(out[0].serial, "SN1");
  EXPECT_EQ(out[1].local_port, "4");
  EXPECT_TRUE(out[1].addresses.empty());
}

TEST(InventoryTest, CdpAndArp) {
  const std::string c = "1.3.6.1.4.1.9.9.23.1.2.1.1.";
  auto cdp = decodeCdp({num(c + "3.9.1", 1), str(c + "4.9.1", std::string("\x7f\x00\x05\x08", 4)),
                        str(c + "6.9.1", "SEP001122"), str(c + "8.9.1", "Cisco IP Phone 8845"),
                        str(c + "4.9.2", "\x01\x02")},  // bad length: no address
                       {str("1.3.6.1.2.1.2.2.1.2.9", "GigabitEthernet0/9"),
                        str("1.3.6.1.2.1.31.1.1.1.1.9", "Gi0/9")});
  ASSERT_EQ(cdp.size(), 2u);
  EXPECT_EQ(cdp[0].local_port, "Gi0/9");
  ASSERT_EQ(cdp[0].addresses.size(), 1u);
  EXPECT_EQ(cdp[0].addresses[0], "127.0.5.8");
  EXPECT_EQ(cdp[0].platform, "Cisco IP Phone 8845");
  EXPECT_TRUE(cdp[1].addresses.empty());
  auto arp = decodeArp(
      {str("1.3.6.1.2.1.4.35.1.4.3.1.4.10.0.0.9", std::string("\0\x11\x22\x33\x44\x55", 6)),
       str("1.3.6.1.2.1.4.35.1.4.3.1.4.10.0.0", "x")},
      {str("1.3.6.1.2.1.4.22.1.2.3.10.0.0.9", "dup"),
       str("1.3.6.1.2.1.4.22.1.2.3.10.0.0.7", std::string("\0\x11\x22\x33\x44\x77", 6)),
       str("1.3.6.1.2.1.4.22.1.2.3.10.0.0.300", "bad")});
  ASSERT_EQ(arp.size(), 2u);
  EXPECT_EQ(arp[0].addresses[0], "10.0.0.9");
  EXPECT_EQ(arp[0].mac, "00:11:22:33:44:55");
  EXPECT_EQ(arp[1].addresses[0], "10.0.0.7");
}

TEST(CredentialsTest, OrderNamesAndEnvironment) {
  CredentialInputs in;
  in.communities = {"public", "private"};
  in.v3_user = "ops";
  in.v3_auth = "SHA-256:authpassphrase";
  in.v3_priv = "AES:privpassphrase";
  std::map<std::string, std::string> env = {{kEnvCommunities, "a1,b2"}};
  auto lookup = [&](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto creds = buildCredentials(in, lookup);
  ASSERT_TRUE(creds.ok()) << creds.status();
  ASSERT_EQ(creds->size(), 5u);
  EXPECT_EQ((*creds)[0].name, "v3:ops");
  EXPECT_EQ((*creds)[0].auth, AuthProtocol::kSha256);
  EXPECT_EQ((*creds)[0].priv, PrivProtocol::kAes128);
  EXPECT_EQ((*creds)[1].name, "v2c#1");
  EXPECT_EQ((*creds)[1].community, "public");
  EXPECT_EQ((*creds)[4].community, "b2");
  // v3 from the environment alone.
  env = {{kEnvV3User, "envuser"}, {kEnvV3Auth, "MD5:envpassphrase"}};
  creds = buildCredentials(CredentialInputs{}, lookup);
  ASSERT_TRUE(creds.ok());
  ASSERT_EQ(creds->size(), 1u);
  EXPECT_EQ((*creds)[0].auth, AuthProtocol::kMd5);
}

TEST(CredentialsTest, ErrorsNeverContainSecrets) {
  CredentialInputs in;
  in.v3_user = "ops";
  in.v3_auth = "SHA:short";
  auto creds = buildCredentials(in, nullptr);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(std::string(creds.status().message()).find("short"), std::string::npos);
  in.v3_auth = "BLAKE:longenoughsecret";
  creds = buildCredentials(in, nullptr);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(std::string(creds.status().message()).find("longenoughsecret"), std::string::npos);
  in = CredentialInputs{};
  in.v3_priv = "AES:longenoughsecret";
  EXPECT_FALSE(buildCredentials(in, nullptr).ok());  // priv without user
}

TEST(CredentialsTest, FileFormat) {
  auto creds = parseCredentialFile(
      "# lab\ncommunity s3cret\ncommunity old version=1 name=legacy\n\n"
      "v3 user=ops auth=SHA:authpassphrase priv=AES-256:privpassphrase\n",
      "creds.txt");
  ASSERT_TRUE(creds.ok()) << creds.status();
  ASSERT_EQ(creds->size(), 3u);
  EXPECT_EQ((*creds)[0].version, SnmpVersion::kV2c);
  EXPECT_EQ((*creds)[1].version, SnmpVersion::kV1);
  EXPECT_EQ((*creds)[1].name, "legacy");
  EXPECT_EQ((*creds)[2].priv, PrivProtocol::kAes256);
  auto bad = parseCredentialFile("community s3cret\nv3 auth=SHA:authpassphrase\n", "creds.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("creds.txt:2"), std::string::npos);
  bad = parseCredentialFile("community s3cret bogus=1\n", "c");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()).find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace tlsaudit::collectors::snmp
