// Pure parts of ingest: what a host result becomes as rows (shared by the one-host and batch
// paths), and COPY's text format, which is what keeps batch values values.
#include "storage/ingest_rows.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "storage/pg_connection.h"
#include "storage/proto_json.h"

namespace tlsaudit::storage {
namespace {

namespace v1 = tlsaudit::v1;

// Sets every field of `m` (two elements of repeated ones, nested messages to `depth`), with
// values that exercise the JSON mapping: negative and 64-bit numbers, an enum value this build
// does not know, escapes, non-ASCII text, binary bytes, Timestamps with and without nanos.
void fillEverything(google::protobuf::Message* m, int depth) {
  namespace pb = google::protobuf;
  const pb::Descriptor* d = m->GetDescriptor();
  const pb::Reflection* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    bool rep = f->is_repeated();
    for (int k = 0; k < (rep ? 2 : 1); ++k) {
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          rep ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT32:
          rep ? r->AddInt32(m, f, -7 - k) : r->SetInt32(m, f, -7);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          rep ? r->AddUInt32(m, f, 4000000000u - k) : r->SetUInt32(m, f, 4000000000u);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT64:
          rep ? r->AddInt64(m, f, -9000000000000 - k) : r->SetInt64(m, f, -9000000000000);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          rep ? r->AddUInt64(m, f, 18000000000000000000ull - k)
              : r->SetUInt64(m, f, 18000000000000000000ull);
          break;
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          int last = f->enum_type()->value(f->enum_type()->value_count() - 1)->number();
          int v = k == 0 ? last : 99;
          rep ? r->AddEnumValue(m, f, v) : r->SetEnumValue(m, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_STRING: {
          std::string v = f->type() == pb::FieldDescriptor::TYPE_BYTES
                              ? std::string(
                                    "\x00\xff\x10"
                                    "binary",
                                    9)
                              : "\xc3\xa9 \"q\" \\ \n\t<>&\x01 \xe2\x82\xac " + f->name();
          rep ? r->AddString(m, f, v) : r->SetString(m, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
          if (depth == 0) break;
          pb::Message* sub = rep ? r->AddMessage(m, f) : r->MutableMessage(m, f);
          if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
            auto* t = static_cast<pb::Timestamp*>(sub);
            t->set_seconds(1700000000 + k);
            t->set_nanos(k == 0 ? 0 : 123000000);
          } else {
            fillEverything(sub, depth - 1);
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

TEST(ProtoJson, MeansWhatTheProtobufPrinterWrites) {
  v1::TlsReport report;
  fillEverything(&report, 4);
  v1::TlsReport without_der = report;
  for (auto& chain : *without_der.mutable_chains()) {
    for (auto& cert : *chain.mutable_certificates()) cert.clear_der();
  }
  std::string expected;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(without_der, &expected).ok());
  std::string fast;
  ASSERT_TRUE(appendProtoJson(report, v1::Certificate::descriptor()->FindFieldByName("der"), fast));
  // Equal as JSON values (what JSONB keeps), key order and escapes aside.
  EXPECT_EQ(nlohmann::json::parse(fast), nlohmann::json::parse(expected)) << fast;
  EXPECT_EQ(reportJson(report), fast);
  EXPECT_EQ(fast.find("\"der\""), std::string::npos);

  v1::Asset asset;
  fillEverything(&asset, 3);
  v1::Asset without_services = asset;
  without_services.clear_services();
  expected.clear();
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(without_services, &expected).ok());
  EXPECT_EQ(nlohmann::json::parse(assetJson(asset)), nlohmann::json::parse(expected));
  EXPECT_EQ(assetJson(v1::Asset()), "{}");
}

TEST(ProtoJson, TimestampsAreWrittenAsThePrinterWritesThem) {
  const int64_t seconds[] = {-62135596800,                          // 0001-01-01T00:00:00Z
                             -2208988801,                           // 1899-12-31T23:59:59Z
                             -1,           0,          951782400,   // 2000-02-29
                             951868799,    1700000000, 4107542399,  // 2100-02-28T23:59:59Z
                             253402300799};                         // 9999-12-31T23:59:59Z
  const int32_t nanos[] = {0, 1, 999999999, 120000000, 123000, 123456000, 100, 5000000};
  for (int64_t s : seconds) {
    for (int32_t n : nanos) {
      v1::TlsReport report;
      report.mutable_scanned_at()->set_seconds(s);
      report.mutable_scanned_at()->set_nanos(n);
      std::string expected, fast;
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(report, &expected).ok());
      ASSERT_TRUE(appendProtoJson(report, nullptr, fast));
      EXPECT_EQ(fast, expected) << s << "." << n;
    }
  }
}

TEST(ProtoJson, DeclinesWhatItDoesNotWrite) {
  v1::TlsReport report;
  report.mutable_target()->set_host("bad \xc3\x28 utf-8");
  std::string out;
  EXPECT_FALSE(appendProtoJson(report, nullptr, out));
  report.mutable_target()->set_host("overlong \xc0\xaf");
  EXPECT_FALSE(appendProtoJson(report, nullptr, out));
  report.mutable_target()->set_host("cut \xe2\x82");
  EXPECT_FALSE(appendProtoJson(report, nullptr, out));
  v1::TlsReport late;
  late.mutable_scanned_at()->set_seconds(300000000000);  // year 11476
  EXPECT_FALSE(appendProtoJson(late, nullptr, out));
}

TEST(JsonString, EscapesAndReplacesWhatIsNotUtf8) {
  std::string out;
  appendJsonString("plain \"q\" back\\slash \n\r\t\x01 \xc3\xa9\xe2\x82\xac", out);
  EXPECT_EQ(out, "\"plain \\\"q\\\" back\\\\slash \\n\\r\\t\\u0001 \xc3\xa9\xe2\x82\xac\"");
  out.clear();
  appendJsonString(
      "a\xc3\x28"
      "b\xff\xe2\x82",
      out);  // bad continuation, bad byte, cut short
  EXPECT_EQ(out, "\"a\\ufffd(b\\ufffd\\ufffd\\ufffd\"");
  EXPECT_TRUE(nlohmann::json::accept(out));
}

TEST(PgCopyRows, EscapesWhatCopyTextFormatGivesMeaningTo) {
  PgCopyRows rows;
  rows.text("a\tb\nc\rd\\e").number(-42).boolean(true).null().text("").endRow();
  rows.text("\\N").endRow();  // the text backslash-N, not NULL
  EXPECT_EQ(rows.data(), "a\\tb\\nc\\rd\\\\e\t-42\tt\t\\N\t\n\\\\N\n");
  EXPECT_EQ(rows.rows(), 2u);
  EXPECT_FALSE(rows.empty());
  EXPECT_TRUE(PgCopyRows().empty());
}

v1::Certificate* addCert(v1::CertificateChain* chain, const std::string& sha256,
                         const std::string& der) {
  auto* c = chain->add_certificates();
  c->set_sha256(sha256);
  c->set_der(der);
  return c;
}

TEST(ObservationRows, NormalisesVersionsSuitesClientAuthAndCertificatesOnce) {
  v1::TlsReport r;
  auto* v = r.add_versions();
  v->set_version(v1::TLS1_2);
  v->set_supported(true);
  v->add_cipher_suites()->set_code(1);
  v->add_cipher_suites()->set_code(2);
  v->mutable_client_auth()->set_requested(true);
  auto* v13 = r.add_versions();
  v13->set_version(v1::TLS1_3);
  v13->add_cipher_suites()->set_code(3);
  const std::string leaf(64, 'A'), root(64, 'b');
  auto* chain = r.add_chains();
  chain->set_trusted(true);
  addCert(chain, leaf, "der1")->set_sha1(std::string(40, 'C'));
  addCert(chain, root, "der2")->set_sha1("not-hex");
  addCert(chain, "short", "der3");           // no usable fingerprint: left out
  addCert(chain, std::string(64, 'd'), "");  // no DER: left out
  auto* second = r.add_chains();
  addCert(second, leaf, "der1");  // the same certificate again: a chain row, not a second cert

  ObservationRows rows = observationRows(r);
  ASSERT_EQ(rows.versions.size(), 2u);
  EXPECT_EQ(rows.versions[0].version, v1::TLS1_2);
  EXPECT_TRUE(rows.versions[0].supported);
  // One list per version that accepted suites, in the report's order.
  ASSERT_EQ(rows.suites.size(), 2u);
  EXPECT_EQ(rows.suites[0].version, v1::TLS1_2);
  ASSERT_EQ(rows.suites[0].suites->size(), 2);
  EXPECT_EQ(rows.suites[0].suites->Get(1).code(), 2u);
  EXPECT_EQ(rows.suites[1].version, v1::TLS1_3);
  EXPECT_EQ(rows.suites[1].suites->size(), 1);
  ASSERT_EQ(rows.client_auth.size(), 1u);
  EXPECT_EQ(rows.client_auth[0].version, v1::TLS1_2);
  ASSERT_EQ(rows.chain.size(), 3u);
  EXPECT_EQ(rows.chain[0].sha256, std::string(64, 'a'));  // lower-case hex
  EXPECT_TRUE(rows.chain[0].trusted);
  EXPECT_EQ(rows.chain[2].chain_index, 1);
  EXPECT_FALSE(rows.chain[2].trusted);
  ASSERT_EQ(rows.certificates.size(), 2u);
  EXPECT_EQ(rows.certificates[0].sha1, std::string(40, 'c'));
  EXPECT_EQ(rows.certificates[1].sha1, "");
}

TEST(SuiteArrays, OneArrayLiteralPerColumnElementIByPosition) {
  v1::VersionResult v;
  auto* a = v.add_cipher_suites();
  a->set_code(0xc02f);
  a->set_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
  a->set_kx("ECDHE");
  a->set_auth("RSA");
  a->set_cipher("AES_128_GCM");
  a->set_mac("AEAD");
  a->set_bits(128);
  a->set_forward_secret(true);
  auto* b = v.add_cipher_suites();
  b->set_code(10);
  b->set_name("quote\" back\\slash {brace,comma}");
  b->set_bits(112);
  SuiteArrays arrays = suiteArrays({4, &v.cipher_suites()});
  EXPECT_EQ(arrays.codes, "{49199,10}");
  EXPECT_EQ(
      arrays.names,
      "{\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"quote\\\" back\\\\slash {brace,comma}\"}");
  EXPECT_EQ(arrays.kx, "{\"ECDHE\",\"\"}");
  EXPECT_EQ(arrays.auth, "{\"RSA\",\"\"}");
  EXPECT_EQ(arrays.ciphers, "{\"AES_128_GCM\",\"\"}");
  EXPECT_EQ(arrays.macs, "{\"AEAD\",\"\"}");
  EXPECT_EQ(arrays.bits, "{128,112}");
  EXPECT_EQ(arrays.forward_secret, "{t,f}");
  // What PostgreSQL prints back parses to the same texts.
  EXPECT_THAT(parsePgTextArray(arrays.names),
              ::testing::ElementsAre("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                     "quote\" back\\slash {brace,comma}"));
}

TEST(ServiceIdentity, FallsBackToTheReportAndTheAssetAddress) {
  v1::HostResult h;
  h.mutable_asset()->add_addresses("10.0.0.1");
  auto* s = h.add_services();
  s->mutable_report()->mutable_target()->set_port(8443);
  s->mutable_report()->mutable_scanned_at()->set_seconds(1700000000);
  EXPECT_EQ(hostAddress(h), "10.0.0.1");
  auto id = serviceIdentity(h, *s, hostAddress(h));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ip, "10.0.0.1");
  EXPECT_EQ(id->port, 8443u);
  EXPECT_EQ(id->transport, "tcp");
  EXPECT_EQ(id->observed.seconds(), 1700000000);
  h.mutable_observed_at()->set_seconds(1800000000);  // the host's time wins
  EXPECT_EQ(serviceIdentity(h, *s, "10.0.0.1")->observed.seconds(), 1800000000);
  s->mutable_report()->mutable_target()->set_port(0);
  EXPECT_EQ(serviceIdentity(h, *s, "10.0.0.1").status().code(), absl::StatusCode::kInvalidArgument);
  v1::HostResult bare;
  bare.add_services()->mutable_report()->mutable_target()->set_ip("10.0.0.9");
  EXPECT_EQ(hostAddress(bare), "10.0.0.9");
  EXPECT_EQ(hostAddress(v1::HostResult()), "");
  EXPECT_TRUE(isDecimalId("42"));
  EXPECT_FALSE(isDecimalId("4 2"));
  EXPECT_FALSE(isDecimalId(""));
}

}  // namespace
}  // namespace tlsaudit::storage
