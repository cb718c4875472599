// The shipped signatures (collectors/fingerprint/signatures.json) and how evidence combines.
#include <gtest/gtest.h>

#include "collectors/fingerprint/signatures.h"

namespace tlsaudit::collectors::fingerprint {
namespace {

namespace v1 = tlsaudit::v1;

TEST(SignaturesTest, ShippedFileParses) {
  const auto& db = SignatureDb::builtin();
  EXPECT_GT(db.size(), 60u);
}

struct SipCase {
  const char* agent;
  const char* vendor;
  const char* model;
  const char* firmware;
  v1::DeviceClass cls;
};

TEST(SignaturesTest, SipAgentsOfCommonDevices) {
  const SipCase cases[] = {
      {"Cisco/SPA504G-7.6.2c", "Cisco", "SPA504G", "7.6.2c", v1::PHONE},
      {"Cisco/SPA112-1.4.1(SR5)", "Cisco", "SPA112", "1.4.1(SR5)", v1::GATEWAY},
      {"Cisco-CP8845/14.1.1", "Cisco", "CP8845", "14.1.1", v1::PHONE},
      {"Cisco-CP-8851-3PCC/11-3-7MPP", "Cisco", "CP-8851", "11-3-7MPP", v1::PHONE},
      {"Cisco-CP7960G/8.0", "Cisco", "CP-7960G", "8.0", v1::PHONE},
      {"Cisco-SIPIPPhone7940/8.1", "Cisco", "CP-7940", "8.1", v1::PHONE},
      {"PolycomVVX-VVX_450-UA/6.3.1.8427", "Polycom", "VVX_450", "6.3.1.8427", v1::PHONE},
      {"PolycomSoundPointIP-SPIP_650-UA/4.0.15.1009", "Polycom", "SPIP_650", "4.0.15.1009",
       v1::PHONE},
      {"Yealink SIP-T46S 66.86.0.15", "Yealink", "T46S", "66.86.0.15", v1::PHONE},
      {"Yealink SIP-T54W 96.85.0.5", "Yealink", "T54W", "96.85.0.5", v1::PHONE},
      {"snom760/10.1.33.33", "Snom", "760", "10.1.33.33", v1::PHONE},
      {"snomD785/10.1.73.16", "Snom", "D785", "10.1.73.16", v1::PHONE},
      {"Grandstream GXP2170 1.0.9.135", "Grandstream", "GXP2170", "1.0.9.135", v1::PHONE},
      {"Grandstream HT801 1.0.23.5", "Grandstream", "HT801", "1.0.23.5", v1::GATEWAY},
      {"Avaya J179 SIP 4.0.5.0.6", "Avaya", "J179", "4.0.5.0.6", v1::PHONE},
      {"Aastra 6731i/3.3.1.4322", "Aastra", "6731i", "3.3.1.4322", v1::PHONE},
      {"Mitel 6869i/5.1.0.2058", "Mitel", "6869i", "5.1.0.2058", v1::PHONE},
      {"Asterisk PBX 18.9.0", "Sangoma", "Asterisk", "18.9.0", v1::PBX},
      {"FPBX-16.0.33(18.13.0)", "Sangoma", "FreePBX", "16.0.33", v1::PBX},
      {"3CXPhoneSystem 18.0.3.450 (450)", "3CX", "3CX Phone System", "18.0.3.450", v1::PBX},
      {"Cisco-CUCM12.5", "Cisco", "Unified Communications Manager", "12.5", v1::PBX},
      {"Avaya CM/R018x.01.0.890.0", "Avaya", "Communication Manager", "R018x.01.0.890.0", v1::PBX},
      {"Audiocodes-Sip-Gateway-Mediant 800/v.7.20A.258.459", "AudioCodes", "Mediant 800",
       "7.20A.258.459", v1::GATEWAY},
      {"Cisco-SIPGateway/IOS-15.7.3.M4b", "Cisco", "IOS voice gateway", "15.7.3.M4b", v1::GATEWAY},
      {"FreeSWITCH-mod_sofia/1.10.7-release~64bit", "SignalWire", "FreeSWITCH",
       "1.10.7-release~64bit", v1::PBX},
  };
  const auto& db = SignatureDb::builtin();
  for (const auto& c : cases) {
    auto id = db.matchOne(EvidenceSource::kSip, c.agent);
    ASSERT_TRUE(id) << c.agent;
    EXPECT_EQ(id->vendor, c.vendor) << c.agent;
    EXPECT_EQ(id->model, c.model) << c.agent;
    EXPECT_EQ(id->firmware, c.firmware) << c.agent;
    EXPECT_EQ(id->device_class, c.cls) << c.agent;
  }
  EXPECT_FALSE(db.matchOne(EvidenceSource::kSip, "MyHomebrewPhone/1.0"));
}

TEST(SignaturesTest, SnmpHttpAndCertificateEvidence) {
  const auto& db = SignatureDb::builtin();
  auto id = db.matchOne(EvidenceSource::kSysDescr,
                        "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version "
                        "15.2(7)E3, RELEASE SOFTWARE (fc3)");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->model, "C2960X");
  EXPECT_EQ(id->firmware, "15.2(7)E3");
  EXPECT_EQ(id->device_class, v1::SWITCH);
  id = db.matchOne(EvidenceSource::kSysDescr,
                   "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M4b, "
                   "RELEASE SOFTWARE (fc1)");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->device_class, v1::ROUTER);
  id = db.matchOne(EvidenceSource::kSysObjectId, "1.3.6.1.4.1.9.1.1208");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->vendor, "Cisco");
  EXPECT_FALSE(db.matchOne(EvidenceSource::kSysObjectId, "1.3.6.1.4.1.99.1"));  // not 1.3.6.1.4.1.9
  id = db.matchOne(EvidenceSource::kSysDescr, "HP ETHERNET MULTI-ENVIRONMENT,ROM none");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->device_class, v1::PRINTER);
  id = db.matchOne(EvidenceSource::kHttpServer, "nginx/1.22.1");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->firmware, "1.22.1");
  EXPECT_EQ(id->device_class, v1::SERVER);
  id = db.matchOne(EvidenceSource::kHttpServer, "Microsoft-IIS/10.0");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->model, "IIS");
  id = db.matchOne(EvidenceSource::kHttpTitle, "Cisco Unified Communications Manager");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->device_class, v1::PBX);
  id =
      db.matchOne(EvidenceSource::kCertSubject, "CN=SEP001122AABBCC,OU=EVVBU,O=Cisco Systems Inc.");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->vendor, "Cisco");
  EXPECT_EQ(id->device_class, v1::PHONE);
}

TEST(SignaturesTest, IdentifyCombinesSourcesInTrustOrder) {
  const auto& db = SignatureDb::builtin();
  Evidence ev;
  ev.sys_object_id = "1.3.6.1.4.1.8072.3.2.10";  // vendor-less "Linux agent"
  ev.sys_descr = "Yealink SIP-T46S test agent";
  ev.sip_agent = "Yealink SIP-T46S 66.86.0.15";
  auto id = db.identify(ev);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->vendor, "Yealink");
  EXPECT_EQ(id->model, "SIP-T46S");       // from the vendor's own sysDescr hit
  EXPECT_EQ(id->firmware, "66.86.0.15");  // filled from the SIP hit of the same vendor
  EXPECT_EQ(id->device_class, v1::PHONE);
  // A generic vendor prefix is refined by a specific hit of the same vendor.
  Evidence cisco;
  cisco.sys_object_id = "1.3.6.1.4.1.9.1.1745";
  cisco.sip_agent = "Cisco-CP8845/14.1.1";
  id = db.identify(cisco);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->model, "CP8845");
  EXPECT_EQ(id->signature_id, "cisco-cp");
  EXPECT_FALSE(db.identify(Evidence{}));
}

TEST(SignaturesTest, BadFilesNameEntryAndField) {
  auto r = SignatureDb::parse(R"({"signatures":[{"id":"x","source":"sip","pattern":"("}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("signatures[0] (x): \"pattern\""), std::string::npos);
  r = SignatureDb::parse(R"({"signatures":[{"id":"y","source":"banner","pattern":"a"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("\"source\""), std::string::npos);
  r = SignatureDb::parse(
      R"({"signatures":[{"id":"z","source":"sip","pattern":"a","class":"toaster"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("toaster"), std::string::npos);
  EXPECT_FALSE(SignatureDb::parse("not json").ok());
}

TEST(SignaturesTest, HostileEvidenceIsCutAndSanitised) {
  const auto& db = SignatureDb::builtin();
  std::string agent = "Yealink SIP-T46S 66.86.0.15" + std::string(100000, 'A');
  auto id = db.matchOne(EvidenceSource::kSip, agent);
  ASSERT_TRUE(id);
  EXPECT_LE(id->firmware.size(), 128u);
  id = db.matchOne(EvidenceSource::kSip, "Aastra 6731i/3.3\x1b[31m");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->firmware.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace tlsaudit::collectors::fingerprint
