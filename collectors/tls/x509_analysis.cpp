#include "collectors/tls/x509_analysis.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace tlsaudit::collectors::tls {

namespace {

// RAII for OpenSSL objects: the free function is part of the type.
template <auto kFree>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using BasicConstraintsPtr =
    std::unique_ptr<BASIC_CONSTRAINTS, OpenSslDeleter<BASIC_CONSTRAINTS_free>>;
using RsaPssParamsPtr = std::unique_ptr<RSA_PSS_PARAMS, OpenSslDeleter<RSA_PSS_PARAMS_free>>;
void opensslFree(void* p) { OPENSSL_free(p); }
using OpenSslBuffer = std::unique_ptr<unsigned char, OpenSslDeleter<opensslFree>>;

struct X509InfoStackDeleter {
  void operator()(STACK_OF(X509_INFO) * s) const { sk_X509_INFO_pop_free(s, X509_INFO_free); }
};
using X509InfoStackPtr = std::unique_ptr<STACK_OF(X509_INFO), X509InfoStackDeleter>;

// Does not own the certificates: they belong to the X509Ptr vector of the caller.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// Everything we call may push onto the thread's OpenSSL error queue; leftovers would be
// misread by the next SSL_get_error() on this thread, so each entry point removes what it added.
class OpenSslErrorScope {
 public:
  OpenSslErrorScope() { ERR_set_mark(); }
  ~OpenSslErrorScope() { ERR_pop_to_mark(); }
  OpenSslErrorScope(const OpenSslErrorScope&) = delete;
  OpenSslErrorScope& operator=(const OpenSslErrorScope&) = delete;

  // OpenSSL's reason for the most recent failure, or `fallback` when it gave none.
  static std::string lastError(std::string_view fallback) {
    unsigned long code = ERR_peek_last_error();
    if (code == 0) return std::string(fallback);
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    return buf;
  }
};

// protobuf `string` fields must hold valid UTF-8 and PostgreSQL text rejects NUL, but certificate
// strings are attacker-chosen bytes. Valid UTF-8 passes through; control characters, invalid
// sequences (overlong forms, surrogates, beyond U+10FFFF) and, when asked, the backslash itself
// become RFC 4514 style "\XX" escapes, so the result is printable and unambiguous.
std::string escapeText(std::string_view in, bool escape_backslash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  auto escape = [&out](unsigned char c) {
    out.push_back('\\');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  };
  size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || (escape_backslash && c == '\\')) {
        escape(c);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Length of the sequence and the allowed range of its second byte (Unicode 15, table 3-7).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    bool valid = len != 0 && i + len <= in.size();
    for (size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      valid = k == 1 ? (cc >= lo && cc <= hi) : (cc >= 0x80 && cc <= 0xbf);
    }
    if (valid) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      escape(c);
      ++i;
    }
  }
  return out;
}

std::string asn1Text(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  const int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return escapeText(std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(len)),
                    true);
}

std::string hexString(std::span<const unsigned char> bytes, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

// Dotted or named form of an OID, sized to fit (hostile OIDs can be long).
std::string objectText(const ASN1_OBJECT* obj, bool numeric) {
  if (obj == nullptr) return {};
  const int needed = OBJ_obj2txt(nullptr, 0, obj, numeric ? 1 : 0);
  if (needed <= 0) return {};
  std::string out(static_cast<size_t>(needed) + 1, '\0');
  const int written = OBJ_obj2txt(out.data(), static_cast<int>(out.size()), obj, numeric ? 1 : 0);
  if (written <= 0) return {};
  out.resize(std::min(static_cast<size_t>(written), out.size() - 1));
  return escapeText(out, true);
}

// RFC 2253 with UTF-8 output: OpenSSL's XN_FLAG_RFC2253 minus ESC_MSB, which would turn every
// non-ASCII character into \XX. UTF8_CONVERT still converts BMP/Universal/T61 strings to UTF-8;
// what it copies raw (a UTF8String with invalid bytes) is escaped by escapeText afterwards.
absl::StatusOr<std::string> rfc2253(const X509_NAME* name) {
  if (name == nullptr) return absl::InvalidArgumentError("missing name");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return absl::ResourceExhaustedError("BIO_new failed");
  constexpr unsigned long kFlags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (X509_NAME_print_ex(bio.get(), name, 0, kFlags) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("name does not print: ", OpenSslErrorScope::lastError("unknown error")));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return std::string();
  return escapeText(std::string_view(data, static_cast<size_t>(len)), false);
}

absl::StatusOr<X509Ptr> parseCertificate(std::span<const uint8_t> der) {
  if (der.empty()) return absl::InvalidArgumentError("empty certificate");
  if (der.size() > static_cast<size_t>(LONG_MAX)) {
    return absl::InvalidArgumentError("certificate too large");
  }
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("certificate does not parse: ",
                                                   OpenSslErrorScope::lastError("malformed DER")));
  }
  const auto consumed = static_cast<size_t>(p - der.data());
  // Same rule as OpenSSL's TLS client (SSL_R_CERT_LENGTH_MISMATCH): the certificate must fill
  // exactly the bytes it was given, or the fingerprints would describe something else.
  if (consumed != der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate has ", der.size() - consumed, " trailing bytes"));
  }
  return cert;
}

absl::StatusOr<std::string> digestHex(std::span<const uint8_t> der, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  if (md == nullptr || EVP_Digest(der.data(), der.size(), out, &out_len, md, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("digest failed: ", OpenSslErrorScope::lastError("unknown error")));
  }
  return hexString(std::span<const unsigned char>(out, out_len), false);
}

// Protobuf Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Seconds since the epoch, or nothing for a time OpenSSL cannot read. Never passes NULL to
// ASN1_TIME_to_tm, which would mean "now". time_t is 64-bit, so GeneralizedTime past 2038 and
// 2050 is exact.
std::optional<int64_t> unixSeconds(const ASN1_TIME* t) {
  if (t == nullptr) return std::nullopt;
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  const struct tm requested = tm;
  const time_t seconds = timegm(&tm);
  // -1 is both the error value and 1969-12-31T23:59:59Z.
  if (seconds == static_cast<time_t>(-1) &&
      !(requested.tm_year == 69 && requested.tm_mon == 11 && requested.tm_mday == 31 &&
        requested.tm_hour == 23 && requested.tm_min == 59 && requested.tm_sec == 59)) {
    return std::nullopt;
  }
  const auto value = static_cast<int64_t>(seconds);
  if (value < kMinTimestampSeconds || value > kMaxTimestampSeconds) return std::nullopt;
  return value;
}

std::string hashName(int md_nid) {
  switch (md_nid) {
    case NID_md2:
      return "MD2";
    case NID_md4:
      return "MD4";
    case NID_md5:
      return "MD5";
    case NID_sha1:
      return "SHA1";
    case NID_sha224:
      return "SHA224";
    case NID_sha256:
      return "SHA256";
    case NID_sha384:
      return "SHA384";
    case NID_sha512:
      return "SHA512";
    case NID_undef:
      return "UNKNOWN";
    default: {
      // Hashes outside the usual set (SHA3-256, SM3, RIPEMD160...) keep their OpenSSL name, so a
      // rule can still single them out.
      const char* sn = OBJ_nid2sn(md_nid);
      return sn != nullptr ? absl::AsciiStrToUpper(sn) : "UNKNOWN";
    }
  }
}

// RFC 4055 §3.1: RSASSA-PSS carries its hash in the parameters; absent means SHA-1.
std::string pssHash(const X509_ALGOR* sig_alg) {
  int param_type = V_ASN1_UNDEF;
  const void* param = nullptr;
  X509_ALGOR_get0(nullptr, &param_type, &param, sig_alg);
  if (param_type != V_ASN1_SEQUENCE || param == nullptr) return "UNKNOWN";
  ASN1_TYPE wrapper{};
  wrapper.type = V_ASN1_SEQUENCE;
  wrapper.value.sequence = const_cast<ASN1_STRING*>(static_cast<const ASN1_STRING*>(param));
  RsaPssParamsPtr pss(static_cast<RSA_PSS_PARAMS*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), &wrapper)));
  if (pss == nullptr) return "UNKNOWN";
  if (pss->hashAlgorithm == nullptr) return "SHA1";
  const ASN1_OBJECT* hash_obj = nullptr;
  X509_ALGOR_get0(&hash_obj, nullptr, nullptr, pss->hashAlgorithm);
  return hashName(OBJ_obj2nid(hash_obj));
}

void fillSignature(X509* cert, tlsaudit::v1::Certificate& out) {
  const ASN1_BIT_STRING* signature = nullptr;
  const X509_ALGOR* sig_alg = nullptr;
  X509_get0_signature(&signature, &sig_alg, cert);
  const int sig_nid = X509_get_signature_nid(cert);
  if (sig_nid != NID_undef && OBJ_nid2ln(sig_nid) != nullptr) {
    out.set_signature_algorithm(OBJ_nid2ln(sig_nid));
  } else if (sig_alg != nullptr) {
    const ASN1_OBJECT* obj = nullptr;
    X509_ALGOR_get0(&obj, nullptr, nullptr, sig_alg);
    out.set_signature_algorithm(objectText(obj, true));
  }

  int md_nid = NID_undef;
  int pkey_nid = NID_undef;
  if (sig_nid == NID_undef || OBJ_find_sigid_algs(sig_nid, &md_nid, &pkey_nid) != 1) {
    out.set_signature_hash("UNKNOWN");
  } else if (md_nid != NID_undef) {
    out.set_signature_hash(hashName(md_nid));
  } else if (sig_nid == NID_rsassaPss && sig_alg != nullptr) {
    out.set_signature_hash(pssHash(sig_alg));
  } else if (pkey_nid == NID_ED25519 || pkey_nid == NID_ED448) {
    // EdDSA hashes inside the algorithm (RFC 8032); there is no separate digest to judge.
    out.set_signature_hash("INTRINSIC");
  } else {
    out.set_signature_hash("UNKNOWN");
  }
}

std::string keyTypeName(const EVP_PKEY* key) {
  // RSA-PSS before RSA: a PSS-only key is not "a" RSA key for EVP_PKEY_is_a, but be explicit.
  static constexpr std::pair<const char*, const char*> kTypes[] = {
      {"RSA-PSS", "RSA-PSS"}, {"RSA", "RSA"},         {"EC", "EC"},       {"SM2", "SM2"},
      {"DSA", "DSA"},         {"ED25519", "ED25519"}, {"ED448", "ED448"}, {"DH", "DH"},
      {"DHX", "DH"},          {"X25519", "X25519"},   {"X448", "X448"},
  };
  for (const auto& [openssl_name, model_name] : kTypes) {
    if (EVP_PKEY_is_a(key, openssl_name) == 1) return model_name;
  }
  return "UNKNOWN";
}

void fillKey(X509* cert, tlsaudit::v1::Certificate& out) {
  // NULL when the key is malformed or of an algorithm this OpenSSL does not know.
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    out.set_key_type("UNKNOWN");
    return;
  }
  const std::string type = keyTypeName(key);
  out.set_key_type(type);
  const int bits = EVP_PKEY_get_bits(key);
  if (bits > 0) out.set_key_bits(static_cast<uint32_t>(bits));
  if (type == "EC" || type == "SM2") {
    char group[80];
    size_t group_len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) == 1 &&
        group_len < sizeof(group)) {
      out.set_curve(escapeText(std::string_view(group, group_len), true));
    } else {
      // Explicit curve parameters that match no named curve (RFC 5480 forbids them).
      out.set_curve("explicit");
    }
  }
}

std::string ipText(const ASN1_OCTET_STRING* ip) {
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  const int len = ASN1_STRING_length(ip);
  char buf[INET6_ADDRSTRLEN] = {};
  if (data != nullptr && len == 4 && inet_ntop(AF_INET, data, buf, sizeof(buf)) != nullptr) {
    return buf;
  }
  if (data != nullptr && len == 16 && inet_ntop(AF_INET6, data, buf, sizeof(buf)) != nullptr) {
    return buf;
  }
  // Not an address (RFC 5280 §4.2.1.6 allows only 4 or 16 octets here); show the bytes.
  if (data == nullptr || len <= 0) return "#";
  return absl::StrCat("#", hexString(std::span<const unsigned char>(data, len), true));
}

void fillSubjectAltNames(X509* cert, tlsaudit::v1::Certificate& out) {
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (names == nullptr) return;
  const int count = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name == nullptr) continue;
    switch (name->type) {
      case GEN_DNS:
        out.add_subject_alt_names(absl::StrCat("DNS:", asn1Text(name->d.dNSName)));
        break;
      case GEN_IPADD:
        out.add_subject_alt_names(absl::StrCat("IP:", ipText(name->d.iPAddress)));
        break;
      case GEN_EMAIL:
        out.add_subject_alt_names(absl::StrCat("email:", asn1Text(name->d.rfc822Name)));
        break;
      case GEN_URI:
        out.add_subject_alt_names(
            absl::StrCat("URI:", asn1Text(name->d.uniformResourceIdentifier)));
        break;
      case GEN_DIRNAME: {
        auto dn = rfc2253(name->d.directoryName);
        out.add_subject_alt_names(absl::StrCat("DirName:", dn.ok() ? *dn : "?"));
        break;
      }
      case GEN_RID:
        out.add_subject_alt_names(absl::StrCat("RID:", objectText(name->d.registeredID, true)));
        break;
      case GEN_OTHERNAME:
        out.add_subject_alt_names(
            absl::StrCat("othername:", name->d.otherName != nullptr
                                           ? objectText(name->d.otherName->type_id, true)
                                           : std::string("?")));
        break;
      case GEN_X400:
        out.add_subject_alt_names("X400Name:<unsupported>");
        break;
      case GEN_EDIPARTY:
        out.add_subject_alt_names("EdiPartyName:<unsupported>");
        break;
      default:
        break;
    }
  }
}

std::string commonName(const X509_NAME* name) {
  if (name == nullptr) return {};
  // The most specific CN is the last one (RFC 6125 §6.4.4 leaves the choice to us).
  int index = -1;
  for (int next = X509_NAME_get_index_by_NID(name, NID_commonName, -1); next >= 0;
       next = X509_NAME_get_index_by_NID(name, NID_commonName, next)) {
    index = next;
  }
  if (index < 0) return {};
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  if (data == nullptr) return {};
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0 || utf8 == nullptr) return asn1Text(data);
  OpenSslBuffer owner(utf8);
  return escapeText(std::string_view(reinterpret_cast<const char*>(utf8), len), true);
}

void fillCaFlags(X509* cert, tlsaudit::v1::Certificate& out) {
  // X509_self_signed: issuer == subject, AKID consistent, and the signature verifies with the
  // certificate's own key. -1 (error, e.g. undecodable key) counts as not self-signed.
  out.set_self_signed(X509_self_signed(cert, 1) == 1);

  if (X509_get_ext_by_NID(cert, NID_basic_constraints, -1) >= 0) {
    int critical = 0;
    BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert, NID_basic_constraints, &critical, nullptr)));
    // A malformed or duplicated extension (critical == -2) asserts nothing.
    out.set_is_ca(bc != nullptr && bc->ca != 0);
  } else if (X509_get_version(cert) < X509_VERSION_3) {
    // v1/v2 certificates cannot carry basicConstraints. Old vendor roots are v1 and verifiers
    // (OpenSSL's X509_check_ca among them) accept a self-signed v1 certificate as a CA, so we
    // report what a relying party would do. Unlike OpenSSL's test we require the signature to
    // verify, not merely matching names.
    out.set_is_ca(out.self_signed());
  } else {
    out.set_is_ca(false);
  }
}

// Everything about `cert` except source and trusted; `der` is exactly its encoding.
absl::StatusOr<tlsaudit::v1::Certificate> describe(X509* cert, std::span<const uint8_t> der) {
  tlsaudit::v1::Certificate out;
  auto sha256 = digestHex(der, EVP_sha256());
  if (!sha256.ok()) return sha256.status();
  auto sha1 = digestHex(der, EVP_sha1());
  if (!sha1.ok()) return sha1.status();
  out.set_sha256(*std::move(sha256));
  out.set_sha1(*std::move(sha1));

  const long version = X509_get_version(cert);
  if (version >= X509_VERSION_1 && version <= X509_VERSION_3) {
    out.set_version(static_cast<uint32_t>(version + 1));
  }

  const X509_NAME* subject = X509_get_subject_name(cert);
  const X509_NAME* issuer = X509_get_issuer_name(cert);
  if (auto text = rfc2253(subject); text.ok()) out.set_subject(*std::move(text));
  if (auto text = rfc2253(issuer); text.ok()) out.set_issuer(*std::move(text));
  out.set_common_name(commonName(subject));

  // Same form as `openssl x509 -serial`: the content octets in uppercase hex.
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(cert); serial != nullptr) {
    const unsigned char* data = ASN1_STRING_get0_data(serial);
    const int len = ASN1_STRING_length(serial);
    std::string hex = data != nullptr && len > 0
                          ? hexString(std::span<const unsigned char>(data, len), true)
                          : std::string("00");
    out.set_serial(ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? absl::StrCat("-", hex) : hex);
  }

  if (auto seconds = unixSeconds(X509_get0_notBefore(cert))) {
    out.mutable_not_before()->set_seconds(*seconds);
  }
  if (auto seconds = unixSeconds(X509_get0_notAfter(cert))) {
    out.mutable_not_after()->set_seconds(*seconds);
  }

  fillSignature(cert, out);
  fillKey(cert, out);
  fillSubjectAltNames(cert, out);
  fillCaFlags(cert, out);
  out.set_der(der.data(), der.size());
  return out;
}

// `host` as an address literal ("[::1]" accepted) in the form X509_check_ip_asc expects, or
// nothing when it is a DNS name.
std::optional<std::string> ipLiteral(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string text(host);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return text;
  }
  return std::nullopt;
}

tlsaudit::v1::Support nameMatches(X509* leaf, std::string_view host_name) {
  if (host_name.empty() || leaf == nullptr) return tlsaudit::v1::SUPPORT_NOT_APPLICABLE;
  int result = 0;
  if (auto ip = ipLiteral(host_name)) {
    result = X509_check_ip_asc(leaf, ip->c_str(), 0);
  } else {
    // An explicit length: a name with an embedded NUL is refused (-2), never truncated.
    result = X509_check_host(leaf, host_name.data(), host_name.size(), 0, nullptr);
  }
  return result == 1 ? tlsaudit::v1::SUPPORT_YES : tlsaudit::v1::SUPPORT_NO;
}

}  // namespace

struct TrustStore::Impl {
  X509StorePtr store;
};

TrustStore::TrustStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrustStore::~TrustStore() = default;

absl::StatusOr<std::shared_ptr<const TrustStore>> TrustStore::load(
    const std::vector<std::string>& extra_ca_files, bool use_system) {
  OpenSslErrorScope errors;
  auto impl = std::make_unique<Impl>();
  impl->store.reset(X509_STORE_new());
  if (impl->store == nullptr) return absl::ResourceExhaustedError("X509_STORE_new failed");
  if (use_system) {
    // The hashed certificate directory is read lazily, one root per issuer looked up; the
    // bundle file would parse every system root (~40 ms) before the first validation. A
    // bundle named by SSL_CERT_FILE is added too, unless it is the distribution's bundle in
    // that same directory (same roots). Without a directory, OpenSSL's defaults apply. A
    // missing system store is not an error: validation then finds no public roots.
    const char* dir = std::getenv(X509_get_default_cert_dir_env());
    if (dir == nullptr) dir = X509_get_default_cert_dir();
    std::error_code ec;
    bool have_dir = dir != nullptr && std::filesystem::is_directory(dir, ec);
    int ok = 1;
    if (have_dir) {
      ok = X509_STORE_load_path(impl->store.get(), dir);
      const char* file = std::getenv(X509_get_default_cert_file_env());
      if (ok == 1 && file != nullptr) {
        auto parent = std::filesystem::weakly_canonical(file, ec).parent_path();
        if (ec || parent != std::filesystem::weakly_canonical(dir, ec)) {
          ok = X509_STORE_load_file(impl->store.get(), file);
        }
      }
    } else {
      ok = X509_STORE_set_default_paths(impl->store.get());
    }
    if (ok != 1) {
      return absl::InternalError(absl::StrCat("cannot load the system trust store: ",
                                              OpenSslErrorScope::lastError("unknown error")));
    }
  }
  for (const std::string& file : extra_ca_files) {
    // What X509_STORE_load_file does (read every PEM object, add the certificates), done by
    // hand so that "cannot open", "not PEM" and "holds no certificate" are told apart.
    BioPtr bio(BIO_new_file(file.c_str(), "r"));
    if (bio == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CA file ", file, ": cannot open: ", OpenSslErrorScope::lastError("unknown error")));
    }
    X509InfoStackPtr infos(PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr));
    if (infos == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CA file ", file, ": not a PEM file: ", OpenSslErrorScope::lastError("unreadable")));
    }
    int added = 0;
    for (int i = 0; i < sk_X509_INFO_num(infos.get()); ++i) {
      X509_INFO* info = sk_X509_INFO_value(infos.get(), i);
      if (info == nullptr || info->x509 == nullptr) continue;
      // Takes its own reference; an identical certificate already present is not an error.
      if (X509_STORE_add_cert(impl->store.get(), info->x509) != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("CA file ", file, ": cannot add certificate ", added + 1, ": ",
                         OpenSslErrorScope::lastError("unknown error")));
      }
      ++added;
    }
    if (added == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("CA file ", file, ": contains no PEM certificate"));
    }
  }
  return std::shared_ptr<const TrustStore>(new TrustStore(std::move(impl)));
}

absl::StatusOr<tlsaudit::v1::Certificate> analyzeCertificate(std::span<const uint8_t> der) {
  OpenSslErrorScope errors;
  auto cert = parseCertificate(der);
  if (!cert.ok()) return cert.status();
  return describe(cert->get(), der);
}

absl::StatusOr<std::string> formatDistinguishedName(std::span<const uint8_t> der_name) {
  OpenSslErrorScope errors;
  if (der_name.empty()) return absl::InvalidArgumentError("empty distinguished name");
  if (der_name.size() > static_cast<size_t>(LONG_MAX)) {
    return absl::InvalidArgumentError("distinguished name too large");
  }
  const unsigned char* p = der_name.data();
  X509NamePtr name(d2i_X509_NAME(nullptr, &p, static_cast<long>(der_name.size())));
  if (name == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("distinguished name does not parse: ",
                                                   OpenSslErrorScope::lastError("malformed DER")));
  }
  if (static_cast<size_t>(p - der_name.data()) != der_name.size()) {
    return absl::InvalidArgumentError("distinguished name has trailing bytes");
  }
  return rfc2253(name.get());
}

ChainAnalysis analyzeChain(std::span<const std::vector<uint8_t>> ders, const TrustStore& store,
                           std::string_view host_name, std::chrono::system_clock::time_point now) {
  OpenSslErrorScope errors;
  ChainAnalysis result;
  tlsaudit::v1::CertificateChain& chain = result.chain;

  // The presented certificates that parse, in the order they were sent.
  std::vector<X509Ptr> presented;
  bool leaf_parsed = false;
  bool skipped_any = false;
  for (size_t i = 0; i < ders.size(); ++i) {
    auto cert = parseCertificate(ders[i]);
    if (!cert.ok()) {
      result.errors.push_back(absl::StrCat("certificate ", i, ": ", cert.status().message()));
      skipped_any = true;
      continue;
    }
    auto facts = describe(cert->get(), ders[i]);
    if (!facts.ok()) {
      result.errors.push_back(absl::StrCat("certificate ", i, ": ", facts.status().message()));
      skipped_any = true;
      continue;
    }
    if (i == 0) leaf_parsed = true;
    facts->set_source(tlsaudit::v1::CERTIFICATE_SOURCE_PRESENTED);
    *chain.add_certificates() = *std::move(facts);
    presented.push_back(*std::move(cert));
  }

  X509* leaf = leaf_parsed ? presented.front().get() : nullptr;
  chain.set_name_matches(nameMatches(leaf, host_name));

  bool in_order = !presented.empty() && !skipped_any;
  for (size_t i = 0; in_order && i + 1 < presented.size(); ++i) {
    in_order = X509_check_issued(presented[i + 1].get(), presented[i].get()) == X509_V_OK;
  }
  chain.set_presented_in_order(in_order);

  if (leaf == nullptr) {
    // Validating the second certificate as if it were the leaf would describe another chain.
    chain.set_trusted(false);
    chain.set_validation_error(ders.empty() ? "no certificate presented"
                                            : "the leaf certificate does not parse");
    return result;
  }
  chain.set_key_type(chain.certificates(0).key_type());

  X509StackPtr untrusted(sk_X509_new_null());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (untrusted == nullptr || ctx == nullptr) {
    chain.set_validation_error("out of memory");
    return result;
  }
  for (size_t i = 1; i < presented.size(); ++i) {
    if (sk_X509_push(untrusted.get(), presented[i].get()) <= 0) {
      chain.set_validation_error("out of memory");
      return result;
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.impl().store.get(), leaf, untrusted.get()) != 1) {
    chain.set_validation_error(
        absl::StrCat("cannot start validation: ", OpenSslErrorScope::lastError("unknown error")));
    return result;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(now));
  // Level 0: MD5, SHA-1 and 1024-bit keys must not hide the trust path; the rules report them.
  // X509_V_FLAG_PARTIAL_CHAIN stays off: only a self-signed anchor in the store makes trust.
  X509_VERIFY_PARAM_set_auth_level(param, 0);

  const int verified = X509_verify_cert(ctx.get());
  const bool trusted = verified == 1;
  chain.set_trusted(trusted);
  if (!trusted) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    chain.set_validation_error(
        error != X509_V_OK
            ? X509_verify_cert_error_string(error)
            : absl::StrCat("validation failed: ", OpenSslErrorScope::lastError("internal error")));
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    chain.set_validation_error_depth(depth > 0 ? static_cast<uint32_t>(depth) : 0);
  }

  // The path OpenSSL built (complete, or as far as it got): an anchor taken from the store
  // is part of what a client would trust, so it is recorded with its own source.
  STACK_OF(X509)* path = X509_STORE_CTX_get0_chain(ctx.get());
  const int path_len = path != nullptr ? sk_X509_num(path) : 0;
  if (path_len > 0) {
    X509* anchor = sk_X509_value(path, path_len - 1);
    bool was_presented = false;
    for (const X509Ptr& cert : presented) {
      if (X509_cmp(cert.get(), anchor) == 0) {
        was_presented = true;
        break;
      }
    }
    if (anchor != nullptr && !was_presented) {
      unsigned char* der = nullptr;
      const int der_len = i2d_X509(anchor, &der);
      OpenSslBuffer owner(der);
      if (der_len > 0 && der != nullptr) {
        auto facts = describe(anchor, std::span<const uint8_t>(der, der_len));
        if (facts.ok()) {
          facts->set_source(tlsaudit::v1::CERTIFICATE_SOURCE_TRUST_STORE);
          *chain.add_certificates() = *std::move(facts);
        } else {
          result.errors.push_back(absl::StrCat("trust anchor: ", facts.status().message()));
        }
      }
    }
  }
  for (tlsaudit::v1::Certificate& cert : *chain.mutable_certificates()) {
    cert.set_trusted(trusted);
  }
  return result;
}

}  // namespace tlsaudit::collectors::tls
