#include "collectors/tls/x509_analysis.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#ifndef TLSAUDIT_SOURCE_DIR
#define TLSAUDIT_SOURCE_DIR "/work/main"
#endif

namespace tlsaudit::collectors::tls {
namespace {

using Der = std::vector<uint8_t>;
using tlsaudit::v1::Certificate;

template <auto kFree>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

Der toDer(X509* cert) {
  unsigned char* out = nullptr;
  const int len = i2d_X509(cert, &out);
  if (len <= 0) return {};
  Der der(out, out + len);
  OPENSSL_free(out);
  return der;
}

// Every certificate of a PEM file, in file order, as DER (OpenSSL reads the PEM).
std::vector<Der> readPem(const std::string& path) {
  std::vector<Der> ders;
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) return ders;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    ders.push_back(toDer(cert.get()));
  }
  ERR_clear_error();  // the read past the last certificate reports "no start line"
  return ders;
}

int64_t utcSeconds(int year, int month, int day, int hour, int minute, int second) {
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm));
}

bool hasSan(const Certificate& cert, const std::string& san) {
  const auto& sans = cert.subject_alt_names();
  return std::find(sans.begin(), sans.end(), san) != sans.end();
}

bool isValidUtf8(const std::string& s) {
  // Decode with the same rules protobuf applies; a local check keeps the test self-contained.
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

class X509AnalysisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CTest generates the PKI once (fixture "unit_pki") and names it here; a direct run of
    // the binary makes its own.
    if (const char* shared = std::getenv("TLSAUDIT_TEST_PKI");
        shared && std::filesystem::exists(std::string(shared) + "/all-roots.pem")) {
      *dir_ = shared;
      shared_ = true;
      return;
    }
    char tmpl[] = "/tmp/x509_analysis_test.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *pki_error_ = "mkdtemp failed";
      return;
    }
    *dir_ = tmpl;
    const std::string script = std::string(TLSAUDIT_SOURCE_DIR) + "/tests/fixtures/make_pki.sh";
    const CommandResult made = run("bash '" + script + "' '" + *dir_ + "'");
    if (made.exit_code != 0) *pki_error_ = "make_pki.sh failed: " + made.output;
  }

  static void TearDownTestSuite() {
    if (!dir_->empty() && !shared_) {
      std::error_code ignored;
      std::filesystem::remove_all(*dir_, ignored);
    }
  }

  void SetUp() override {
    if (!pki_error_->empty()) GTEST_FAIL() << *pki_error_;
  }

  static std::string path(const std::string& name) { return *dir_ + "/" + name; }

  static Der cert(const std::string& name) {
    auto ders = readPem(path(name));
    return ders.empty() ? Der{} : ders.front();
  }

  static Certificate analyze(const std::string& name) {
    auto result = analyzeCertificate(cert(name));
    EXPECT_TRUE(result.ok()) << name << ": " << result.status();
    return result.ok() ? *result : Certificate{};
  }

  // Only the given roots, never the system store, so results do not depend on the host.
  static std::shared_ptr<const TrustStore> storeOf(const std::vector<std::string>& names) {
    std::vector<std::string> files;
    for (const auto& name : names) files.push_back(path(name));
    auto store = TrustStore::load(files, /*use_system=*/false);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *store : nullptr;
  }

  static ChainAnalysis chainOf(const std::string& chain_file, const std::vector<std::string>& roots,
                               std::string_view host = "localhost") {
    auto store = storeOf(roots);
    if (store == nullptr) return {};
    return analyzeChain(readPem(path(chain_file)), *store, host, std::chrono::system_clock::now());
  }

  // Heap-allocated so that no non-trivial static is destroyed after main (and -Wexit-time).
  static inline std::string* dir_ = new std::string();
  static inline bool shared_ = false;
  static inline std::string* pki_error_ = new std::string();
};

TEST_F(X509AnalysisTest, Md5LeafFacts) {
  const Der der = cert("md5-leaf.crt");
  const Certificate leaf = analyze("md5-leaf.crt");
  EXPECT_EQ(leaf.signature_algorithm(), "md5WithRSAEncryption");
  EXPECT_EQ(leaf.signature_hash(), "MD5");
  EXPECT_EQ(leaf.key_type(), "RSA");
  EXPECT_EQ(leaf.key_bits(), 1024u);
  EXPECT_TRUE(leaf.curve().empty());
  EXPECT_TRUE(hasSan(leaf, "DNS:localhost"));
  EXPECT_TRUE(hasSan(leaf, "IP:127.0.0.1"));
  EXPECT_TRUE(hasSan(leaf, "IP:::1"));
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_FALSE(leaf.self_signed());
  EXPECT_EQ(leaf.version(), 3u);
  EXPECT_EQ(leaf.common_name(), "phone-lobby");
  EXPECT_EQ(leaf.subject(), "CN=phone-lobby");
  EXPECT_EQ(leaf.issuer(), "CN=Legacy Vendor Root CA,O=Legacy Phones Inc");
  EXPECT_EQ(leaf.der(), std::string(der.begin(), der.end()));
  EXPECT_EQ(leaf.source(), tlsaudit::v1::CERTIFICATE_SOURCE_UNSPECIFIED);
  EXPECT_EQ(leaf.sha256().size(), 64u);
  EXPECT_EQ(leaf.sha1().size(), 40u);
}

TEST_F(X509AnalysisTest, Md5RootLivesUntil2035) {
  const Certificate root = analyze("md5-root.crt");
  EXPECT_EQ(root.signature_hash(), "MD5");
  EXPECT_EQ(root.key_bits(), 1024u);
  EXPECT_TRUE(root.is_ca());
  EXPECT_TRUE(root.self_signed());
  EXPECT_EQ(root.subject(), root.issuer());
  EXPECT_EQ(root.common_name(), "Legacy Vendor Root CA");
  ASSERT_TRUE(root.has_not_after());
  const time_t not_after = static_cast<time_t>(root.not_after().seconds());
  struct tm tm {};
  ASSERT_NE(gmtime_r(&not_after, &tm), nullptr);
  EXPECT_EQ(tm.tm_year + 1900, 2035);
  EXPECT_EQ(tm.tm_mon + 1, 12);
  EXPECT_EQ(tm.tm_mday, 31);
  EXPECT_EQ(root.not_after().seconds(), utcSeconds(2035, 12, 31, 23, 59, 59));
  EXPECT_EQ(root.not_before().seconds(), utcSeconds(2015, 1, 1, 0, 0, 0));
}

TEST_F(X509AnalysisTest, Md5ChainValidatesAtAuthLevelZero) {
  const ChainAnalysis result = chainOf("md5-chain.pem", {"md5-root.crt"});
  EXPECT_TRUE(result.errors.empty());
  const auto& chain = result.chain;
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  EXPECT_TRUE(chain.validation_error().empty());
  // The phone sends its root, so no anchor is appended from the store.
  ASSERT_EQ(chain.certificates_size(), 2);
  for (const auto& cert : chain.certificates()) {
    EXPECT_EQ(cert.source(), tlsaudit::v1::CERTIFICATE_SOURCE_PRESENTED);
    EXPECT_TRUE(cert.trusted());
  }
  EXPECT_EQ(chain.certificates(0).common_name(), "phone-lobby");
  EXPECT_EQ(chain.certificates(1).common_name(), "Legacy Vendor Root CA");
  EXPECT_EQ(chain.key_type(), "RSA");
  EXPECT_TRUE(chain.presented_in_order());
  EXPECT_EQ(chain.name_matches(), tlsaudit::v1::SUPPORT_YES);
}

TEST_F(X509AnalysisTest, Sha1ChainValidatesWithItsRootAndAppendsTheAnchor) {
  const ChainAnalysis result = chainOf("sha1-chain.pem", {"sha1-root.crt"});
  EXPECT_TRUE(result.errors.empty());
  const auto& chain = result.chain;
  EXPECT_TRUE(chain.trusted()) << chain.validation_error();
  ASSERT_EQ(chain.certificates_size(), 3);
  EXPECT_EQ(chain.certificates(0).subject(), "CN=sha1-server");
  EXPECT_EQ(chain.certificates(1).subject(), "CN=SHA1 Test Intermediate CA");
  EXPECT_EQ(chain.certificates(2).subject(), "CN=SHA1 Test Root CA");
  EXPECT_EQ(chain.certificates(0).source(), tlsaudit::v1::CERTIFICATE_SOURCE_PRESENTED);
  EXPECT_EQ(chain.certificates(1).source(), tlsaudit::v1::CERTIFICATE_SOURCE_PRESENTED);
  EXPECT_EQ(chain.certificates(2).source(), tlsaudit::v1::CERTIFICATE_SOURCE_TRUST_STORE);
  for (const auto& cert : chain.certificates()) {
    EXPECT_EQ(cert.signature_algorithm(), "sha1WithRSAEncryption");
    EXPECT_EQ(cert.signature_hash(), "SHA1");
    EXPECT_EQ(cert.key_bits(), 2048u);
    EXPECT_TRUE(cert.trusted());
  }
  EXPECT_TRUE(chain.certificates(1).is_ca());
  EXPECT_TRUE(chain.certificates(2).self_signed());
  // The anchor is the file's certificate, byte for byte.
  const Der root = cert("sha1-root.crt");
  EXPECT_EQ(chain.certificates(2).der(), std::string(root.begin(), root.end()));
  EXPECT_TRUE(chain.presented_in_order());
}

TEST_F(X509AnalysisTest, Sha1ChainFailsWithoutItsRoot) {
  const ChainAnalysis result = chainOf("sha1-chain.pem", {"rsa-root.crt"});
  const auto& chain = result.chain;
  EXPECT_FALSE(chain.trusted());
  EXPECT_EQ(chain.validation_error(), "unable to get local issuer certificate");
  // The intermediate (depth 1) is the certificate whose issuer is missing.
  EXPECT_EQ(chain.validation_error_depth(), 1u);
  ASSERT_EQ(chain.certificates_size(), 2);
  for (const auto& cert : chain.certificates()) {
    EXPECT_EQ(cert.source(), tlsaudit::v1::CERTIFICATE_SOURCE_PRESENTED);
    EXPECT_FALSE(cert.trusted());
  }
  EXPECT_TRUE(chain.presented_in_order());
}

TEST_F(X509AnalysisTest, EcdsaFacts) {
  const Certificate leaf = analyze("ecdsa-leaf.crt");
  EXPECT_EQ(leaf.key_type(), "EC");
  EXPECT_EQ(leaf.curve(), "prime256v1");
  EXPECT_EQ(leaf.key_bits(), 256u);
  EXPECT_EQ(leaf.signature_algorithm(), "ecdsa-with-SHA256");
  EXPECT_EQ(leaf.signature_hash(), "SHA256");
  EXPECT_EQ(leaf.issuer(), "CN=Test ECDSA Root CA");

  const ChainAnalysis result = chainOf("ecdsa-chain.pem", {"ecdsa-root.crt"});
  EXPECT_TRUE(result.chain.trusted()) << result.chain.validation_error();
  EXPECT_EQ(result.chain.key_type(), "EC");
  ASSERT_EQ(result.chain.certificates_size(), 2);
  EXPECT_EQ(result.chain.certificates(1).source(), tlsaudit::v1::CERTIFICATE_SOURCE_TRUST_STORE);
  EXPECT_EQ(result.chain.certificates(1).curve(), "prime256v1");
}

TEST_F(X509AnalysisTest, ExpiredChainIsNotTrusted) {
  const ChainAnalysis result = chainOf("expired-chain.pem", {"rsa-root.crt"});
  const auto& chain = result.chain;
  EXPECT_FALSE(chain.trusted());
  EXPECT_NE(chain.validation_error().find("expired"), std::string::npos)
      << chain.validation_error();
  EXPECT_EQ(chain.validation_error_depth(), 0u);
  ASSERT_GE(chain.certificates_size(), 1);
  EXPECT_EQ(chain.certificates(0).not_before().seconds(), utcSeconds(2020, 1, 1, 0, 0, 0));
  EXPECT_EQ(chain.certificates(0).not_after().seconds(), utcSeconds(2021, 1, 1, 0, 0, 0));
  EXPECT_EQ(chain.certificates(0).common_name(), "expired.localhost");
}

TEST_F(X509AnalysisTest, ExpiryFollowsTheInjectedTime) {
  auto store = storeOf({"rsa-root.crt"});
  ASSERT_NE(store, nullptr);
  const auto chain = readPem(path("rsa-chain.pem"));
  const auto now = std::chrono::system_clock::now();
  EXPECT_TRUE(analyzeChain(chain, *store, "localhost", now).chain.trusted());
  // The leaf is issued for 825 days; ten years on it has expired.
  const auto later = analyzeChain(chain, *store, "localhost", now + std::chrono::hours(24 * 3650));
  EXPECT_FALSE(later.chain.trusted());
  EXPECT_NE(later.chain.validation_error().find("expired"), std::string::npos);
}

TEST_F(X509AnalysisTest, SelfSignedLeafIsUntrusted) {
  const Certificate leaf = analyze("selfsigned-leaf.crt");
  EXPECT_TRUE(leaf.self_signed());
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_EQ(leaf.subject(), "CN=selfsigned.localhost");

  const ChainAnalysis result = chainOf("selfsigned-chain.pem", {"all-roots.pem"});
  EXPECT_FALSE(result.chain.trusted());
  EXPECT_NE(result.chain.validation_error().find("self"), std::string::npos)
      << result.chain.validation_error();
  ASSERT_EQ(result.chain.certificates_size(), 1);
  EXPECT_FALSE(result.chain.certificates(0).trusted());
  EXPECT_TRUE(result.chain.presented_in_order());
}

TEST_F(X509AnalysisTest, NameMatches) {
  auto store = storeOf({"rsa-root.crt"});
  ASSERT_NE(store, nullptr);
  const auto chain = readPem(path("rsa-chain.pem"));
  const auto now = std::chrono::system_clock::now();
  auto match = [&](std::string_view host) {
    return analyzeChain(chain, *store, host, now).chain.name_matches();
  };
  EXPECT_EQ(match("localhost"), tlsaudit::v1::SUPPORT_YES);
  EXPECT_EQ(match("127.0.0.1"), tlsaudit::v1::SUPPORT_YES);
  EXPECT_EQ(match("::1"), tlsaudit::v1::SUPPORT_YES);
  EXPECT_EQ(match("[::1]"), tlsaudit::v1::SUPPORT_YES);
  EXPECT_EQ(match("example.invalid"), tlsaudit::v1::SUPPORT_NO);
  EXPECT_EQ(match("127.0.0.2"), tlsaudit::v1::SUPPORT_NO);
  EXPECT_EQ(match(std::string_view("local\0host", 10)), tlsaudit::v1::SUPPORT_NO);
  EXPECT_EQ(match(""), tlsaudit::v1::SUPPORT_NOT_APPLICABLE);
}

TEST_F(X509AnalysisTest, AllRootsValidateEveryGoodChain) {
  for (const char* file : {"md5-chain.pem", "sha1-chain.pem", "rsa-chain.pem", "ecdsa-chain.pem"}) {
    const ChainAnalysis result = chainOf(file, {"all-roots.pem"});
    EXPECT_TRUE(result.chain.trusted()) << file << ": " << result.chain.validation_error();
  }
}

TEST_F(X509AnalysisTest, ClientCertificates) {
  const Certificate md5 = analyze("client-md5.crt");
  EXPECT_EQ(md5.signature_hash(), "MD5");
  EXPECT_EQ(md5.common_name(), "device-0001");
  EXPECT_EQ(md5.issuer(), "CN=Test Client CA");
  const Certificate sha256 = analyze("client-sha256.crt");
  EXPECT_EQ(sha256.signature_algorithm(), "sha256WithRSAEncryption");
  EXPECT_EQ(sha256.signature_hash(), "SHA256");
  for (const char* file : {"client-md5.crt", "client-sha256.crt"}) {
    const ChainAnalysis result = chainOf(file, {"clientca-root.crt"}, "");
    EXPECT_TRUE(result.chain.trusted()) << file << ": " << result.chain.validation_error();
    EXPECT_EQ(result.chain.name_matches(), tlsaudit::v1::SUPPORT_NOT_APPLICABLE);
  }
}

TEST_F(X509AnalysisTest, FingerprintsAndSerialMatchOpensslCli) {
  const Certificate leaf = analyze("rsa-leaf.crt");
  auto cliValue = [](const std::string& output) {
    std::string value = output.substr(output.find('=') + 1);
    std::string hex;
    for (char c : value) {
      if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
    }
    return hex;
  };
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string file = "'" + path("rsa-leaf.crt") + "'";
  const CommandResult sha256 = run("openssl x509 -in " + file + " -noout -fingerprint -sha256");
  ASSERT_EQ(sha256.exit_code, 0) << sha256.output;
  EXPECT_EQ(leaf.sha256(), lower(cliValue(sha256.output)));
  const CommandResult sha1 = run("openssl x509 -in " + file + " -noout -fingerprint -sha1");
  ASSERT_EQ(sha1.exit_code, 0) << sha1.output;
  EXPECT_EQ(leaf.sha1(), lower(cliValue(sha1.output)));
  const CommandResult serial = run("openssl x509 -in " + file + " -noout -serial");
  ASSERT_EQ(serial.exit_code, 0) << serial.output;
  EXPECT_EQ(leaf.serial(), cliValue(serial.output));
}

TEST_F(X509AnalysisTest, GarbageIsAnErrorNotACrash) {
  EXPECT_FALSE(analyzeCertificate({}).ok());

  std::mt19937 rng(20240229);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    Der random(static_cast<size_t>(1 + round * 7));
    for (auto& b : random) b = static_cast<uint8_t>(byte(rng));
    EXPECT_FALSE(analyzeCertificate(random).ok());
  }

  const Der good = cert("rsa-leaf.crt");
  ASSERT_FALSE(good.empty());
  for (size_t len = 1; len < good.size(); len += 13) {
    EXPECT_FALSE(analyzeCertificate(std::span(good.data(), len)).ok()) << "prefix " << len;
  }
  Der trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(analyzeCertificate(trailing).ok());

  // Single-byte mutations of a real certificate: any result is fine, crashing or leaking is not
  // (this test runs under ASan/UBSan in CI).
  auto store = storeOf({"rsa-root.crt"});
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 1500; ++round) {
    Der mutated = good;
    const size_t at = std::uniform_int_distribution<size_t>(0, mutated.size() - 1)(rng);
    mutated[at] = static_cast<uint8_t>(byte(rng));
    auto facts = analyzeCertificate(mutated);
    if (facts.ok()) {
      EXPECT_TRUE(isValidUtf8(facts->subject()));
      EXPECT_TRUE(isValidUtf8(facts->issuer()));
    }
    if (round % 10 == 0) {
      std::vector<Der> chain = {mutated, cert("rsa-root.crt")};
      (void)analyzeChain(chain, *store, "localhost", std::chrono::system_clock::now());
    }
  }
  // Failures are returned, not left on the thread's OpenSSL error queue for the next caller.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(X509AnalysisTest, UnparsableCertificatesInAChainAreReported) {
  auto store = storeOf({"sha1-root.crt"});
  ASSERT_NE(store, nullptr);
  const auto now = std::chrono::system_clock::now();
  std::vector<Der> chain = readPem(path("sha1-chain.pem"));
  ASSERT_EQ(chain.size(), 2u);
  chain.insert(chain.begin() + 1, Der{0x30, 0x03, 0x02, 0x01});

  const ChainAnalysis result = analyzeChain(chain, *store, "localhost", now);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].find("certificate 1"), std::string::npos) << result.errors[0];
  EXPECT_TRUE(result.chain.trusted()) << result.chain.validation_error();
  EXPECT_FALSE(result.chain.presented_in_order());

  const ChainAnalysis bad_leaf = analyzeChain(std::vector<Der>{Der{0x01}}, *store, "x", now);
  EXPECT_FALSE(bad_leaf.chain.trusted());
  EXPECT_FALSE(bad_leaf.chain.validation_error().empty());
  EXPECT_EQ(bad_leaf.errors.size(), 1u);
  EXPECT_EQ(bad_leaf.chain.certificates_size(), 0);

  const ChainAnalysis empty = analyzeChain({}, *store, "", now);
  EXPECT_FALSE(empty.chain.trusted());
  EXPECT_EQ(empty.chain.certificates_size(), 0);
}

TEST_F(X509AnalysisTest, ChainOutOfOrder) {
  auto store = storeOf({"sha1-root.crt"});
  ASSERT_NE(store, nullptr);
  std::vector<Der> chain = readPem(path("sha1-chain.pem"));
  ASSERT_EQ(chain.size(), 2u);
  std::swap(chain[0], chain[1]);
  const ChainAnalysis result =
      analyzeChain(chain, *store, "localhost", std::chrono::system_clock::now());
  EXPECT_FALSE(result.chain.presented_in_order());
  EXPECT_EQ(result.chain.certificates(0).common_name(), "SHA1 Test Intermediate CA");
}

TEST_F(X509AnalysisTest, FormatDistinguishedName) {
  BioPtr bio(BIO_new_file(path("md5-root.crt").c_str(), "r"));
  ASSERT_NE(bio, nullptr);
  X509Ptr root(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(root, nullptr);
  unsigned char* out = nullptr;
  const int len = i2d_X509_NAME(X509_get_subject_name(root.get()), &out);
  ASSERT_GT(len, 0);
  const Der name(out, out + len);
  OPENSSL_free(out);

  auto text = formatDistinguishedName(name);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "CN=Legacy Vendor Root CA,O=Legacy Phones Inc");

  EXPECT_FALSE(formatDistinguishedName({}).ok());
  EXPECT_FALSE(formatDistinguishedName(std::span(name.data(), name.size() - 1)).ok());
  EXPECT_FALSE(formatDistinguishedName(Der{0xde, 0xad, 0xbe, 0xef}).ok());
  Der trailing = name;
  trailing.push_back(0);
  EXPECT_FALSE(formatDistinguishedName(trailing).ok());
  // An empty SEQUENCE is a valid, empty name.
  auto empty = formatDistinguishedName(Der{0x30, 0x00});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");
}

TEST_F(X509AnalysisTest, TrustStoreLoadErrorsNameTheFile) {
  const std::string missing = path("no-such-file.pem");
  auto result = TrustStore::load({missing}, false);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(missing), std::string_view::npos);

  const std::string key_only = path("rsa-leaf.key");
  result = TrustStore::load({path("rsa-root.crt"), key_only}, false);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(key_only), std::string_view::npos);

  const std::string empty = path("empty.pem");
  std::ofstream(empty).close();
  result = TrustStore::load({empty}, false);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find(empty), std::string_view::npos);

  // Loading the same roots twice is harmless.
  EXPECT_TRUE(TrustStore::load({path("all-roots.pem"), path("rsa-root.crt")}, false).ok());
  EXPECT_TRUE(TrustStore::load({}, /*use_system=*/true).ok());
}

// Certificates the script cannot make with the 3.0 CLI, built in-process with OpenSSL.
class GeneratedCertificateTest : public ::testing::Test {
 protected:
  static X509Ptr newCert(EVP_PKEY* key, long version, const std::string& cn_utf8) {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), version);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 0x1234);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn_utf8.data()),
                               static_cast<int>(cn_utf8.size()), -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key);
    return cert;
  }
};

TEST_F(GeneratedCertificateTest, Version1SelfSignedIsCa) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  X509Ptr cert = newCert(key.get(), X509_VERSION_1, "v1 root");
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->version(), 1u);
  EXPECT_TRUE(facts->self_signed());
  EXPECT_TRUE(facts->is_ca());
  EXPECT_EQ(facts->serial(), "1234");
}

TEST_F(GeneratedCertificateTest, Ed25519HashIsIntrinsic) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(key, nullptr);
  X509Ptr cert = newCert(key.get(), X509_VERSION_3, "ed");
  ASSERT_GT(X509_sign(cert.get(), key.get(), nullptr), 0);
  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->key_type(), "ED25519");
  EXPECT_EQ(facts->signature_hash(), "INTRINSIC");
  EXPECT_EQ(facts->signature_algorithm(), "ED25519");
  EXPECT_FALSE(facts->is_ca());  // v3 without basicConstraints
}

TEST_F(GeneratedCertificateTest, RsaPssHashComesFromTheParameters) {
  PkeyPtr key(EVP_RSA_gen(1024));
  ASSERT_NE(key, nullptr);
  X509Ptr cert = newCert(key.get(), X509_VERSION_3, "pss");
  MdCtxPtr md_ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  ASSERT_EQ(EVP_DigestSignInit(md_ctx.get(), &pkey_ctx, EVP_sha384(), nullptr, key.get()), 1);
  ASSERT_GT(EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING), 0);
  ASSERT_GT(EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, RSA_PSS_SALTLEN_DIGEST), 0);
  ASSERT_GT(X509_sign_ctx(cert.get(), md_ctx.get()), 0);
  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->signature_algorithm(), "rsassaPss");
  EXPECT_EQ(facts->signature_hash(), "SHA384");
  EXPECT_EQ(facts->key_type(), "RSA");
  EXPECT_TRUE(facts->self_signed());
}

TEST_F(GeneratedCertificateTest, NamesAreUtf8) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  const std::string cn = "Z\xc3\xbcrich \xe6\x9d\xb1\xe4\xba\xac";  // Zürich 東京
  X509Ptr cert = newCert(key.get(), X509_VERSION_3, cn);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->subject(), "CN=" + cn);
  EXPECT_EQ(facts->common_name(), cn);
}

TEST_F(GeneratedCertificateTest, HostileStringsAreEscaped) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  X509Ptr cert = newCert(key.get(), X509_VERSION_3, "x");
  const unsigned char org[] = {'a', 0x01, 'b'};
  ASSERT_EQ(X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_organizationName,
                                       V_ASN1_UTF8STRING, org, sizeof(org), -1, 0),
            1);
  // IA5Strings are not checked by OpenSSL: a NUL (the classic "evil\0.example" trick), a byte
  // that is not UTF-8, a backslash, and an IP address of impossible length.
  std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>> sans(sk_GENERAL_NAME_new_null());
  auto add = [&](int type, const std::string& bytes) {
    ASN1_STRING* value = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size()));
    GENERAL_NAME* name = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(name, type, value);
    sk_GENERAL_NAME_push(sans.get(), name);
  };
  add(GEN_DNS, std::string("evil\0.\xff.example", 15));
  add(GEN_EMAIL, "a\\b@example.com");
  add(GEN_IPADD, std::string("\x0a\x00\x00\x01\x02", 5));
  add(GEN_URI, "https://example.com/");
  ASSERT_EQ(X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT),
            1);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);

  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->subject(), "O=a\\01b,CN=x");
  ASSERT_EQ(facts->subject_alt_names_size(), 4);
  EXPECT_EQ(facts->subject_alt_names(0), "DNS:evil\\00.\\FF.example");
  EXPECT_EQ(facts->subject_alt_names(1), "email:a\\5Cb@example.com");
  EXPECT_EQ(facts->subject_alt_names(2), "IP:#0A00000102");
  EXPECT_EQ(facts->subject_alt_names(3), "URI:https://example.com/");
  for (const auto& san : facts->subject_alt_names()) EXPECT_TRUE(isValidUtf8(san)) << san;
}

TEST_F(GeneratedCertificateTest, TimesBeyond2050AndMalformedTimes) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  X509Ptr cert = newCert(key.get(), X509_VERSION_3, "far future");
  ASSERT_EQ(ASN1_TIME_set_string(X509_getm_notAfter(cert.get()), "20600101000000Z"), 1);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  auto facts = analyzeCertificate(toDer(cert.get()));
  ASSERT_TRUE(facts.ok()) << facts.status();
  EXPECT_EQ(facts->not_after().seconds(), utcSeconds(2060, 1, 1, 0, 0, 0));

  X509Ptr broken = newCert(key.get(), X509_VERSION_3, "broken time");
  ASSERT_EQ(ASN1_STRING_set(X509_getm_notAfter(broken.get()), "99999999999Z", -1), 1);
  ASSERT_GT(X509_sign(broken.get(), key.get(), EVP_sha256()), 0);
  const Der der = toDer(broken.get());
  ASSERT_FALSE(der.empty());
  // OpenSSL 3.0 does not check time strings while parsing, so the certificate is read and only
  // the time is left out; a later OpenSSL that refuses it at parse time is just as fine.
  auto broken_facts = analyzeCertificate(der);
  if (broken_facts.ok()) {
    EXPECT_FALSE(broken_facts->has_not_after());
    EXPECT_TRUE(broken_facts->has_not_before());
  }
}

}  // namespace
}  // namespace tlsaudit::collectors::tls

namespace tlsaudit::collectors::tls {
namespace {

// The system store is read from the hashed certificate directory (lazily, per issuer), and a
// bundle named by SSL_CERT_FILE outside that directory is added to it.
TEST_F(X509AnalysisTest, SystemStoreComesFromTheHashedDirectoryAndSslCertFile) {
  char tmpl[] = "/tmp/x509_system_store.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::filesystem::copy_file(path("rsa-root.crt"), dir + "/rsa-root.pem");
  ASSERT_EQ(run("openssl rehash '" + dir + "'").exit_code, 0);
  const char* old_dir = std::getenv("SSL_CERT_DIR");
  const char* old_file = std::getenv("SSL_CERT_FILE");
  std::string saved_dir = old_dir ? old_dir : "", saved_file = old_file ? old_file : "";
  setenv("SSL_CERT_DIR", dir.c_str(), 1);
  unsetenv("SSL_CERT_FILE");
  auto store = TrustStore::load({}, true);
  ASSERT_TRUE(store.ok()) << store.status();
  auto now = std::chrono::system_clock::now();
  EXPECT_TRUE(
      analyzeChain(readPem(path("rsa-chain.pem")), **store, "localhost", now).chain.trusted());
  EXPECT_FALSE(
      analyzeChain(readPem(path("ecdsa-chain.pem")), **store, "localhost", now).chain.trusted());
  // A bundle elsewhere, named by SSL_CERT_FILE, is added to the directory's roots.
  setenv("SSL_CERT_FILE", path("ecdsa-root.crt").c_str(), 1);
  auto both = TrustStore::load({}, true);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_TRUE(
      analyzeChain(readPem(path("rsa-chain.pem")), **both, "localhost", now).chain.trusted());
  EXPECT_TRUE(
      analyzeChain(readPem(path("ecdsa-chain.pem")), **both, "localhost", now).chain.trusted());
  if (old_dir)
    setenv("SSL_CERT_DIR", saved_dir.c_str(), 1);
  else
    unsetenv("SSL_CERT_DIR");
  if (old_file)
    setenv("SSL_CERT_FILE", saved_file.c_str(), 1);
  else
    unsetenv("SSL_CERT_FILE");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tlsaudit::collectors::tls
