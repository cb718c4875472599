#include "collectors/tls/tls_prober.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string_view>

#include "collectors/net/probe_socket.h"
#include "collectors/tls/cipher_registry.h"
#include "collectors/tls/client_hello.h"
#include "collectors/tls/openssl_handshake.h"
#include "collectors/tls/server_flight.h"

namespace tlsaudit::collectors::tls {

namespace v1 = tlsaudit::v1;
using net::IoResult;
using net::ProbeSocket;

v1::TlsVersion versionFromWire(uint16_t wire) {
  switch (wire) {
    case kSsl2Wire:
      return v1::SSL2;
    case kSsl3Wire:
      return v1::SSL3;
    case kTls10Wire:
      return v1::TLS1_0;
    case kTls11Wire:
      return v1::TLS1_1;
    case kTls12Wire:
      return v1::TLS1_2;
    case kTls13Wire:
      return v1::TLS1_3;
    default:
      return v1::TLS_VERSION_UNSPECIFIED;
  }
}

uint16_t wireFromVersion(v1::TlsVersion version) {
  switch (version) {
    case v1::SSL2:
      return kSsl2Wire;
    case v1::SSL3:
      return kSsl3Wire;
    case v1::TLS1_0:
      return kTls10Wire;
    case v1::TLS1_1:
      return kTls11Wire;
    case v1::TLS1_2:
      return kTls12Wire;
    case v1::TLS1_3:
      return kTls13Wire;
    default:
      return 0;
  }
}

namespace {

// Rank of a suite in the offering order: widely deployed families first.
// Suites the local OpenSSL implements: the stack most servers and many devices run, so the
// likeliest to be enabled among the long tail of the registry.
const std::set<uint16_t>& opensslSuites() {
  static const std::set<uint16_t> codes = [] {
    std::set<uint16_t> out;
    SSL_CTX* ctx = SSL_CTX_new(TLS_method());
    if (!ctx) return out;
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; ciphers && i < sk_SSL_CIPHER_num(ciphers); ++i) {
      out.insert(
          static_cast<uint16_t>(SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(ciphers, i))));
    }
    SSL_CTX_free(ctx);
    return out;
  }();
  return codes;
}

// Rank of a suite in the offering order: widely deployed families first.
int suitePriority(const CipherSuiteInfo& s) {
  auto in = [](std::string_view v, std::initializer_list<std::string_view> set) {
    return std::find(set.begin(), set.end(), v) != set.end();
  };
  bool common_kx = in(s.kx, {"ECDHE", "DHE", "RSA"}) && in(s.auth, {"RSA", "ECDSA", "DSS"});
  bool common_cipher = s.cipher.starts_with("AES_128") || s.cipher.starts_with("AES_256") ||
                       s.cipher.starts_with("CHACHA20") ||
                       in(s.cipher, {"3DES_EDE_CBC", "RC4_128"});
  if (common_kx && common_cipher && s.cipher.find("CCM") == std::string_view::npos &&
      !s.export_grade) {
    return 0;
  }
  // PSK and SRP suites need out-of-band secrets, so servers rarely enable them.
  bool needs_secret = s.kx.find("PSK") != std::string_view::npos || s.kx == "SRP";
  if (opensslSuites().count(s.code) && s.cipher != "NULL" && !needs_secret) return 1;
  if (s.export_grade) return 2;
  if (common_kx || in(s.kx, {"DH", "ECDH"}) || s.auth == "anon") return 2;
  if (s.cipher == "NULL") return 4;
  return 3;
}

std::vector<uint16_t> buildLegacyPriority() {
  std::vector<const CipherSuiteInfo*> suites;
  for (const auto& s : allCipherSuites()) {
    if (!s.tls13) suites.push_back(&s);
  }
  auto kx_rank = [](std::string_view kx) {
    if (kx == "ECDHE") return 0;
    if (kx == "DHE") return 1;
    if (kx == "RSA") return 2;
    return 3;
  };
  std::stable_sort(suites.begin(), suites.end(), [&](auto* a, auto* b) {
    int pa = suitePriority(*a), pb = suitePriority(*b);
    if (pa != pb) return pa < pb;
    if (a->mac == "AEAD" && b->mac != "AEAD") return true;
    if (b->mac == "AEAD" && a->mac != "AEAD") return false;
    return kx_rank(a->kx) < kx_rank(b->kx);
  });
  std::vector<uint16_t> out;
  for (auto* s : suites) out.push_back(s->code);
  return out;
}

std::vector<uint16_t> groupsFor(bool tls13) {
  std::vector<uint16_t> out;
  for (const auto& g : allNamedGroups()) {
    if (g.code == 0xFF01 || g.code == 0xFF02) continue;  // explicit-curve markers, not groups
    bool classic = g.kind == "ECDHE" || g.kind == "FFDHE";
    if (!tls13 && !classic) continue;  // hybrid and PQ groups exist only in TLS 1.3
    out.push_back(g.code);
  }
  // x25519 and the NIST curves first, the way real clients order them.
  auto rank = [](uint16_t c) {
    switch (c) {
      case 29:
        return 0;
      case 23:
        return 1;
      case 24:
        return 2;
      case 25:
        return 3;
      case 30:
        return 4;
      default:
        return 10;
    }
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](uint16_t a, uint16_t b) { return rank(a) < rank(b); });
  return out;
}

std::vector<uint16_t> signatureAlgorithmsByStrength() {
  std::vector<const SignatureSchemeInfo*> all;
  for (const auto& s : allSignatureSchemes()) all.push_back(&s);
  auto rank = [](std::string_view h) {
    static const std::string_view order[] = {"SHA256", "SHA384", "SHA512", "INTRINSIC",
                                             "SHA224", "SHA1",   "MD5"};
    for (size_t i = 0; i < std::size(order); ++i) {
      if (order[i] == h) return static_cast<int>(i);
    }
    return 10;
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](auto* a, auto* b) { return rank(a->hash) < rank(b->hash); });
  std::vector<uint16_t> out;
  for (auto* s : all) out.push_back(s->code);
  return out;
}

std::vector<uint8_t> x25519PublicKey() {
  std::vector<uint8_t> out(32);
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  size_t len = out.size();
  if (!key || EVP_PKEY_get_raw_public_key(key, out.data(), &len) != 1 || len != 32) {
    RAND_bytes(out.data(), static_cast<int>(out.size()));  // any 32 bytes are an X25519 key
  }
  EVP_PKEY_free(key);
  return out;
}

std::string hexCode(uint32_t v, int digits = 4) {
  static const char* hex = "0123456789ABCDEF";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = hex[v & 0xF];
  return "0x" + s;
}

// What one connection produced.
struct Exchange {
  enum class Outcome {
    kFlight,          // a complete, well-formed answer (ServerHello..., alert, SSLv2 hello)
    kProtocolError,   // malformed or oversized answer
    kClosed,          // closed or reset before a complete answer
    kNoAnswer,        // deadline passed with nothing received
    kConnectFailed,   // TCP connect failed
    kStarttlsFailed,  // the plaintext dialogue did not reach the TLS upgrade
    kBudget,          // the endpoint's connection budget is spent
  };
  Outcome outcome = Outcome::kClosed;
  uint32_t number = 0;  // connection number, for the trace
  IoResult io = IoResult::kOk;
  ParsedFlight flight;
  std::string error;
  size_t bytes = 0;

  const ServerHelloInfo* serverHello() const {
    return outcome == Outcome::kFlight && flight.server_hello ? &*flight.server_hello : nullptr;
  }
  const AlertInfo* alert() const {
    return outcome == Outcome::kFlight && flight.alert && !flight.server_hello ? &*flight.alert
                                                                               : nullptr;
  }
};

struct ChainRecord {
  std::vector<std::vector<uint8_t>> ders;
  std::set<v1::TlsVersion> versions;
};

struct SuiteObservation {
  std::string group;
  uint32_t bits = 0;
};

class EndpointProber {
  struct VersionState {
    bool tested = false;
    bool supported = false;
    std::vector<uint16_t> accepted;
    std::map<uint16_t, size_t> found_in;  // suite -> id of the chunk it was found in
    v1::CipherOrder order = v1::CIPHER_ORDER_UNSPECIFIED;
    std::map<uint16_t, SuiteObservation> observations;
    std::optional<CertificateRequestInfo> client_auth;
    std::vector<uint32_t> ssl2_kinds;
    std::string note;
  };

  struct Connection {
    uint32_t number = 0;  // 1-based, in the order connections were opened
    std::shared_ptr<ProbeSocket> socket;
    net::ConnectionGate::Permit permit;  // held while the connection is open
  };

 public:
  EndpointProber(Endpoint endpoint, ProbeOptions options, net::ConnectionGate& gate)
      : ep_(std::move(endpoint)),
        opt_(std::move(options)),
        gate_(gate),
        max_suites_(std::max<size_t>(1, opt_.max_suites_per_hello)),
        x25519_(x25519PublicKey()),
        sigalgs_(signatureAlgorithmsByStrength()) {
    if (opt_.min_suites_per_hello == 0) opt_.min_suites_per_hello = 1;
    if (opt_.min_suites_per_hello > max_suites_) opt_.min_suites_per_hello = max_suites_;
  }

  net::awaitable<v1::TlsReport> run() {
    started_ = std::chrono::steady_clock::now();
    auto started = started_;
    auto* t = report_.mutable_target();
    t->set_host(ep_.host);
    t->set_ip(ep_.ip.to_string());
    t->set_port(ep_.port);
    t->set_sni(ep_.sni);
    t->set_starttls(ep_.sip ? "sip" : std::string(starttlsName(ep_.starttls)));
    auto now = opt_.now();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    report_.mutable_scanned_at()->set_seconds(secs);

    co_await scanAll();

    finishReport();
    report_.set_connections(connections_);
    report_.set_duration_ms(
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count()));
    co_return std::move(report_);
  }

 private:
  // ---- the probing sequence -------------------------------------------------------------

  net::awaitable<void> scanAll() {
    // 1. One browser-like hello offering TLS 1.0-1.3: learns the highest version, and whether
    //    the endpoint answers at all (a silent endpoint costs this one deadline).
    uint16_t highest = 0;
    {
      std::vector<uint16_t> suites = tls13Suites();
      for (uint16_t c : legacySuitesByPriority()) {
        if (suites.size() >= max_suites_) break;
        suites.push_back(c);
      }
      auto spec = tls13Spec(suites, groupsFor(true));
      spec.supported_versions = {kTls13Wire, kTls12Wire, kTls11Wire, kTls10Wire};
      spec.renegotiation_info = true;
      auto ex = co_await exchange(buildClientHello(spec));
      if (stopped_) co_return;
      if (auto* sh = ex.serverHello()) {
        highest = sh->version;
        // Below TLS 1.3 the certificate is in the clear: its key type orders the suites.
        if (!ex.flight.certificates.empty())
          noteChain(ex.flight.certificates, versionFromWire(highest));
      }
      if (ex.outcome == Exchange::Outcome::kProtocolError && ex.flight.records == 0) {
        // Not TLS at all (HTTP, SSH, a plaintext greeting, noise): asking again in other
        // versions only hammers the device.
        stop("hello", "not-tls", ex.error);
        co_return;
      }
    }

    if (highest == kTls13Wire) co_await tls13FirstHandshake();
    if (stopped_) co_return;

    // 2. Each version by elimination, then its preference order, side by side. TLS 1.3 is
    //    skipped when the first hello showed a lower maximum: a TLS 1.3 server never answers
    //    that hello below 1.3; likewise for versions above a lower maximum.
    std::vector<Task> per_version;
    if (highest == 0 || highest == kTls13Wire) {
      per_version.push_back([this]() -> net::awaitable<void> {
        co_await enumerateTls13();
        if (versions_[kTls13Wire].supported) co_await checkPreference(kTls13Wire);
      });
    } else {
      versions_[kTls13Wire].tested = true;
    }
    for (uint16_t wire : {kTls12Wire, kTls11Wire, kTls10Wire, kSsl3Wire}) {
      if (highest != 0 && highest != kTls13Wire && wire > highest) {
        versions_[wire].tested = true;
        continue;
      }
      per_version.push_back([this, wire]() -> net::awaitable<void> {
        co_await enumerateLegacy(wire);
        if (versions_[wire].supported) co_await checkPreference(wire);
      });
    }
    co_await runAll(per_version);
    if (stopped_) co_return;

    // 3. Groups and behaviours, which need the accepted suites.
    std::vector<Task> checks = {
        [this]() -> net::awaitable<void> { co_await enumerateLegacyGroups(); },
        [this]() -> net::awaitable<void> { co_await checkFallbackScsv(); },
        [this]() -> net::awaitable<void> { co_await checkCompression(); },
        [this]() -> net::awaitable<void> { co_await tls13Finish(); },
    };
    if (ep_.sip) checks.push_back([this]() -> net::awaitable<void> { co_await sipOptions(); });
    co_await runAll(checks);
    if (stopped_) co_return;

    // 4. SSLv2 last and alone: some stacks misbehave after an SSLv2 hello.
    co_await probeSsl2();
  }

  using Task = std::function<net::awaitable<void>()>;

  // Runs tasks with at most opt_.parallel at once, all on this endpoint's strand, so they
  // interleave only at co_await points and share the prober's state safely.
  net::awaitable<void> runAll(std::vector<Task>& tasks) {
    size_t width = std::min(std::max<size_t>(1, opt_.parallel), tasks.size());
    if (width <= 1) {
      for (auto& t : tasks) {
        if (stopped_) break;
        co_await t();
      }
      co_return;
    }
    auto ex = co_await net::asio::this_coro::executor;
    struct Join {
      explicit Join(const net::asio::any_io_executor& e) : done(e) {}
      size_t next = 0;
      size_t running = 0;
      std::exception_ptr error;
      net::asio::steady_timer done;
    };
    auto join = std::make_shared<Join>(ex);
    join->done.expires_at(net::asio::steady_timer::time_point::max());
    join->running = width;
    for (size_t i = 0; i < width; ++i) {
      net::asio::co_spawn(
          ex,
          [this, &tasks, join]() -> net::awaitable<void> {
            while (join->next < tasks.size() && !stopped_) co_await tasks[join->next++]();
          },
          [join](std::exception_ptr e) {
            if (e && !join->error) join->error = e;
            if (--join->running == 0) join->done.cancel();
          });
    }
    while (join->running > 0) {
      boost::system::error_code ec;
      co_await join->done.async_wait(net::asio::redirect_error(net::use_awaitable, ec));
    }
    if (join->error) std::rethrow_exception(join->error);
  }

  // ---- TLS 1.3 ------------------------------------------------------------------------------

  HelloSpec tls13Spec(const std::vector<uint16_t>& suites, const std::vector<uint16_t>& groups) {
    HelloSpec spec = baseSpec(kTls12Wire, suites);
    spec.renegotiation_info = false;
    spec.session_id.resize(32);
    RAND_bytes(spec.session_id.data(), 32);
    spec.supported_versions = {kTls13Wire};
    spec.supported_groups = groups;
    if (std::find(groups.begin(), groups.end(), uint16_t{29}) != groups.end()) {
      spec.key_shares.push_back({29, x25519_});  // x25519, RFC 8446 §4.2.8.2
    }
    spec.key_share = true;
    spec.psk_key_exchange_modes = true;
    return spec;
  }

  net::awaitable<void> enumerateTls13() {
    auto& vs = versions_[kTls13Wire];
    vs.tested = true;
    const auto groups = groupsFor(true);
    auto chunks = chunk(tls13Suites());
    while (!chunks.empty() && !stopped_) {
      auto& current = chunks.front();
      auto ex = co_await exchange(buildClientHello(tls13Spec(current.suites, groups)));
      auto* sh = ex.serverHello();
      if (!sh || sh->version != kTls13Wire) {
        chunks.pop_front();
        continue;
      }
      noteGroup13(*sh);
      if (!takeSuite(current.suites, sh->cipher_suite, vs, current.id) || current.suites.empty()) {
        chunks.pop_front();
      }
    }
    if (!vs.supported) co_return;
    // Groups: offer what is left; the ServerHello key share or the HelloRetryRequest names the
    // group chosen.
    std::vector<uint16_t> left = groups;
    for (uint16_t g : groups_found_13_) std::erase(left, g);
    std::vector<uint16_t> suites(
        vs.accepted.begin(), vs.accepted.begin() + static_cast<std::ptrdiff_t>(
                                                       std::min(vs.accepted.size(), max_suites_)));
    for (size_t i = 0; i < groups.size() && !left.empty() && !stopped_; ++i) {
      auto ex = co_await exchange(buildClientHello(tls13Spec(suites, left)));
      auto* sh = ex.serverHello();
      if (!sh || sh->version != kTls13Wire || !sh->key_share_group) break;
      uint16_t g = *sh->key_share_group;
      if (std::find(left.begin(), left.end(), g) == left.end()) {
        addError("groups", "protocol", "server chose group " + hexCode(g) + " that was not offered",
                 v1::TLS1_3);
        break;
      }
      noteGroup13(*sh);
      std::erase(left, g);
    }
  }

  void noteGroup13(const ServerHelloInfo& sh) {
    if (!sh.key_share_group) return;
    uint16_t g = *sh.key_share_group;
    if (std::find(groups_found_13_.begin(), groups_found_13_.end(), g) == groups_found_13_.end()) {
      groups_found_13_.push_back(g);
      groups_[g].insert(v1::TLS1_3);
    }
  }

  // ---- SSLv3 .. TLS 1.2 ---------------------------------------------------------------------

  HelloSpec baseSpec(uint16_t wire, const std::vector<uint16_t>& suites) {
    HelloSpec spec;
    RAND_bytes(spec.random.data(), static_cast<int>(spec.random.size()));
    spec.cipher_suites = suites;
    if (wire == kSsl3Wire) {
      // RFC 6101 hellos carry no extensions; old SSLv3 stacks reject them.
      spec.record_version = kSsl3Wire;
      spec.client_version = kSsl3Wire;
      spec.extensions = false;
      spec.renegotiation_scsv = true;
      return spec;
    }
    spec.record_version = kTls10Wire;
    spec.client_version = wire;
    spec.server_name = ep_.sni;
    spec.supported_groups = groupsFor(false);
    spec.ec_point_formats = true;
    if (wire >= kTls12Wire) spec.signature_algorithms = sigalgs_;
    spec.renegotiation_info = true;
    spec.status_request = true;
    spec.session_ticket = true;
    spec.heartbeat = true;
    spec.extended_master_secret = true;
    spec.encrypt_then_mac = true;
    spec.alpn = alpn_candidates_;
    if (level_ >= 1) {
      // Only what a handshake needs; optional extensions are what fragile parsers trip on.
      spec.status_request = spec.session_ticket = spec.heartbeat = false;
      spec.encrypt_then_mac = false;
      spec.alpn.clear();
    }
    if (level_ >= 2) {
      spec.pad_fragile_sizes = false;
      spec.extended_master_secret = false;
      spec.supported_groups = {29, 23, 24, 25, 256};  // x25519, P-256/384/521, ffdhe2048
      if (wire >= kTls12Wire) {
        // RFC 5246 §7.4.1.4.1 pairs most stacks know, SHA-256 first, MD5/SHA-1 last.
        spec.signature_algorithms = {0x0401, 0x0403, 0x0501, 0x0601, 0x0201, 0x0203, 0x0101};
      }
    }
    if (level_ >= 3) {
      spec.supported_groups = {23, 24};
      spec.ec_point_formats = false;
      spec.renegotiation_info = false;
      spec.renegotiation_scsv = true;
    }
    return spec;
  }

  void setLevel(int level) {
    level_ = level;
    size_t n = opt_.max_suites_per_hello;
    for (int i = 0; i < level && n > opt_.min_suites_per_hello; ++i) n /= 2;
    if (level >= kMaxLevel || n < opt_.min_suites_per_hello) n = opt_.min_suites_per_hello;
    max_suites_ = std::max<size_t>(1, n);
  }

  // Whether a suite can work with the certificates seen so far (or needs none).
  bool authFits(const CipherSuiteInfo& s) const {
    auto has = [&](const char* k) { return key_types_.count(k) > 0; };
    if (s.auth == "anon" || s.auth == "NULL" || s.auth == "PSK" || s.auth == "SRP") return true;
    if (s.auth == "RSA" || s.auth == "SRP_RSA") return has("RSA") || has("RSA-PSS");
    if (s.auth == "ECDSA") return has("EC");
    if (s.auth == "DSS" || s.auth == "SRP_DSS") return has("DSA");
    return false;
  }

  std::vector<uint16_t> poolFor(uint16_t wire) {
    std::vector<uint16_t> pool;
    for (uint16_t c : legacySuitesByPriority()) {
      const auto* s = findCipherSuite(c);
      if (wire < kTls12Wire && s && s->tls12_only) continue;
      pool.push_back(c);
    }
    if (!key_types_.empty()) {
      // Suites that need a key type the server has not shown go last: a server with only an
      // RSA certificate never picks ECDSA suites, so its accepted suites fit in fewer hellos
      // (and its preference order needs no second pass).
      std::stable_partition(pool.begin(), pool.end(), [&](uint16_t c) {
        const auto* s = findCipherSuite(c);
        return s && authFits(*s);
      });
    }
    return pool;
  }

  // Suites offered together in one hello, until each accepted one is taken out. Suites found
  // in the same chunk were compared with each other by the server; across chunks they were not.
  struct Chunk {
    size_t id;
    std::vector<uint16_t> suites;
  };

  std::deque<Chunk> chunk(const std::vector<uint16_t>& pool) {
    std::deque<Chunk> out;
    for (size_t i = 0; i < pool.size(); i += max_suites_) {
      out.push_back({next_chunk_id_++,
                     std::vector<uint16_t>(pool.begin() + static_cast<std::ptrdiff_t>(i),
                                           pool.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                              pool.size(), i + max_suites_)))});
    }
    return out;
  }

  net::awaitable<void> enumerateLegacy(uint16_t wire) {
    auto& vs = versions_[wire];
    vs.tested = true;
    auto chunks = chunk(poolFor(wire));
    while (!chunks.empty() && !stopped_) {
      auto& current = chunks.front();
      auto ex = co_await exchange(buildClientHello(baseSpec(wire, current.suites)));
      if (stopped_) co_return;
      if (auto* sh = ex.serverHello()) {
        if (sh->hello_retry_request || sh->version != wire) {
          if (vs.accepted.empty()) {
            vs.note = "server answered with " + versionLabel(sh->version);
            co_return;
          }
          addError("hello", "protocol",
                   "server switched to " + versionLabel(sh->version) + " mid-enumeration",
                   versionFromWire(wire));
          chunks.pop_front();
          continue;
        }
        observeLegacyFlight(wire, ex.flight);
        if (!takeSuite(current.suites, sh->cipher_suite, vs, current.id) ||
            current.suites.empty()) {
          chunks.pop_front();
        }
        continue;
      }
      if (auto* alert = ex.alert()) {
        // RFC 5246 §7.2.2: protocol_version means this version is refused outright.
        if (alert->description == 70 && vs.accepted.empty()) co_return;
        chunks.pop_front();
        continue;
      }
      if (ex.outcome == Exchange::Outcome::kClosed && !level_proven_ && level_ < kMaxLevel) {
        // Closed without a word: maybe the hello was too big for this stack. Go one level
        // smaller (fewer suites, then fewer extensions and no padding) and ask again; once the
        // device answers at a level, every later hello stays at that level.
        setLevel(level_ + 1);
        std::vector<uint16_t> rest = current.suites;
        chunks.pop_front();
        auto smaller = chunk(rest);
        chunks.insert(chunks.begin(), smaller.begin(), smaller.end());
        continue;
      }
      chunks.pop_front();
    }
  }

  // Records `code` as accepted if it was offered; false when the server chose something else.
  bool takeSuite(std::vector<uint16_t>& offered, uint16_t code, VersionState& vs, size_t chunk_id);

  void observeLegacyFlight(uint16_t wire, const ParsedFlight& flight) {
    const auto& sh = *flight.server_hello;
    auto version = versionFromWire(wire);
    if (!flight.certificates.empty()) noteChain(flight.certificates, version);
    auto& vs = versions_[wire];
    if (flight.server_key_exchange) {
      const auto& ske = *flight.server_key_exchange;
      SuiteObservation obs;
      if (ske.kind == "ECDH") {
        if (const auto* g = findNamedGroup(ske.named_group)) {
          obs.group = std::string(g->name);
          obs.bits = g->bits;
        } else {
          obs.group = ske.named_group ? hexCode(ske.named_group) : "explicit";
        }
        if (ske.named_group) groups_[ske.named_group].insert(version);
      } else if (ske.kind == "DH") {
        obs.group = "DH";
        obs.bits = ske.bits;
      } else if (ske.kind == "RSA") {
        obs.group = "RSA";
        obs.bits = ske.bits;
      }
      vs.observations[sh.cipher_suite] = obs;
      if (ske.signature_scheme) signature_schemes_.insert(*ske.signature_scheme);
    }
    if (flight.certificate_request && !vs.client_auth) vs.client_auth = *flight.certificate_request;
    if (!sh.alpn.empty()) {
      if (std::find(alpn_found_.begin(), alpn_found_.end(), sh.alpn) == alpn_found_.end()) {
        alpn_found_.push_back(sh.alpn);
      }
      std::erase(alpn_candidates_, sh.alpn);
    }
    // Behaviours come from the answers at the highest version below TLS 1.3, OR-ed over all of
    // them: servers echo some extensions only for some suites (OpenSSL sends encrypt_then_mac
    // only when it picked a CBC suite).
    if (wire < extensions_wire_) return;
    auto* e = report_.mutable_extensions();
    if (wire > extensions_wire_) {
      extensions_wire_ = wire;
      e->set_secure_renegotiation(false);
      e->set_ocsp_stapling(false);
      e->set_heartbeat(false);
      e->set_session_ticket(false);
      e->set_extended_master_secret(false);
      e->set_encrypt_then_mac(false);
    }
    if (sh.renegotiation_info) e->set_secure_renegotiation(true);
    if (sh.status_request || flight.certificate_status) e->set_ocsp_stapling(true);
    if (sh.heartbeat) e->set_heartbeat(true);
    if (sh.session_ticket) e->set_session_ticket(true);
    if (sh.extended_master_secret) e->set_extended_master_secret(true);
    if (sh.encrypt_then_mac) e->set_encrypt_then_mac(true);
  }

  void noteChain(const std::vector<std::vector<uint8_t>>& ders, v1::TlsVersion version) {
    std::string key(ders.front().begin(), ders.front().end());
    auto it = chains_.find(key);
    if (it == chains_.end()) {
      if (chains_.size() >= 8) return;  // a server rotating certificates per connection
      it = chains_.emplace(key, ChainRecord{ders, {}}).first;
      chain_order_.push_back(key);
      if (auto leaf = analyzeCertificate(ders.front()); leaf.ok())
        key_types_.insert(leaf->key_type());
    }
    it->second.versions.insert(version);
  }

  // ---- preference, groups, behaviours -------------------------------------------------------

  net::awaitable<void> checkPreference(uint16_t wire) {
    auto& vs = versions_[wire];
    if (vs.accepted.size() < 2) {
      vs.order = vs.accepted.size() == 1 ? v1::CIPHER_ORDER_SINGLE : v1::CIPHER_ORDER_UNSPECIFIED;
      co_return;
    }
    // Offer two accepted suites in both orders: a server that imposes its order picks the same
    // one both times, one that follows the client picks the first offered. When both were found
    // in the same hello, the discovery already showed the server's pick and one hello suffices.
    uint16_t a0 = vs.accepted[0], a1 = vs.accepted[1];
    auto reversed = co_await preferred(wire, a1, a0);
    if (!reversed) co_return;
    std::optional<uint16_t> forward;
    if (vs.found_in[a0] == vs.found_in[a1]) {
      forward = a0;
    } else {
      forward = co_await preferred(wire, a0, a1);
      if (!forward) co_return;
    }
    if (*reversed == *forward) {
      vs.order = v1::CIPHER_ORDER_SERVER;
    } else {
      vs.order = v1::CIPHER_ORDER_CLIENT;
      co_return;
    }
    // Suites found in different hellos were never compared with each other: have the server
    // rank them. Each run of suites found in one hello is already in the server's order.
    std::vector<std::vector<uint16_t>> runs;
    for (uint16_t c : vs.accepted) {
      if (runs.empty() || vs.found_in[c] != vs.found_in[runs.back().back()]) runs.emplace_back();
      runs.back().push_back(c);
    }
    if (runs.size() < 2) co_return;
    std::vector<uint16_t> ordered;
    if (vs.accepted.size() <= max_suites_) {
      // All fit in one hello: eliminate over the whole set.
      std::vector<uint16_t> left = vs.accepted;
      while (left.size() > 1 && !stopped_) {
        auto ex = co_await exchange(buildClientHello(helloFor(wire, left)));
        auto* sh = ex.serverHello();
        if (!sh || std::find(left.begin(), left.end(), sh->cipher_suite) == left.end()) co_return;
        ordered.push_back(sh->cipher_suite);
        std::erase(left, sh->cipher_suite);
      }
      ordered.insert(ordered.end(), left.begin(), left.end());
    } else {
      // Small hellos: merge the runs by asking the server to choose between two suites.
      while (runs.size() > 1 && !stopped_) {
        std::vector<std::vector<uint16_t>> merged;
        for (size_t i = 0; i + 1 < runs.size(); i += 2) {
          const auto& a = runs[i];
          const auto& b = runs[i + 1];
          std::vector<uint16_t> out;
          size_t x = 0, y = 0;
          while (x < a.size() && y < b.size()) {
            auto w = co_await preferred(wire, a[x], b[y]);
            if (!w) co_return;
            out.push_back(*w == a[x] ? a[x++] : b[y++]);
          }
          out.insert(out.end(), a.begin() + static_cast<std::ptrdiff_t>(x), a.end());
          out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(y), b.end());
          merged.push_back(std::move(out));
        }
        if (runs.size() % 2) merged.push_back(runs.back());
        runs = std::move(merged);
      }
      if (stopped_) co_return;
      ordered = runs.front();
    }
    vs.accepted = ordered;
  }

  // Which of two accepted suites the server picks when offered [first, second].
  net::awaitable<std::optional<uint16_t>> preferred(uint16_t wire, uint16_t first,
                                                    uint16_t second) {
    std::vector<uint16_t> pair = {first, second};  // named: GCC 12 rejects a braced list here
    auto ex = co_await exchange(buildClientHello(helloFor(wire, pair)));
    auto* sh = ex.serverHello();
    if (!sh || (sh->cipher_suite != first && sh->cipher_suite != second)) {
      addError("preference", "protocol", "no usable ServerHello to the preference check",
               versionFromWire(wire));
      co_return std::nullopt;
    }
    co_return sh->cipher_suite;
  }

  HelloSpec helloFor(uint16_t wire, const std::vector<uint16_t>& suites) {
    if (wire == kTls13Wire) return tls13Spec(suites, groupsFor(true));
    return baseSpec(wire, suites);
  }

  net::awaitable<void> enumerateLegacyGroups() {
    // The highest version below 1.3 with ECDHE suites.
    for (uint16_t wire : {kTls12Wire, kTls11Wire, kTls10Wire, kSsl3Wire}) {
      auto& vs = versions_[wire];
      if (!vs.supported) continue;
      std::vector<uint16_t> ecdhe;
      for (uint16_t c : vs.accepted) {
        const auto* s = findCipherSuite(c);
        if (s && s->kx.starts_with("ECDHE") && ecdhe.size() < max_suites_) ecdhe.push_back(c);
      }
      if (ecdhe.empty()) continue;
      auto version = versionFromWire(wire);
      std::vector<uint16_t> left = groupsFor(false);
      for (const auto& [g, versions] : groups_) {
        if (versions.count(version)) std::erase(left, g);
      }
      for (size_t i = 0; i < 64 && !left.empty() && !stopped_; ++i) {
        auto spec = baseSpec(wire, ecdhe);
        spec.supported_groups = left;
        auto ex = co_await exchange(buildClientHello(spec));
        auto* sh = ex.serverHello();
        if (!sh || !ex.flight.server_key_exchange || ex.flight.server_key_exchange->kind != "ECDH")
          break;
        uint16_t g = ex.flight.server_key_exchange->named_group;
        if (std::find(left.begin(), left.end(), g) == left.end()) {
          addError("groups", "protocol",
                   "server chose group " + hexCode(g) + " that was not offered", version);
          break;
        }
        groups_[g].insert(version);
        std::erase(left, g);
      }
      co_return;
    }
  }

  std::vector<uint16_t> supportedWires() {
    std::vector<uint16_t> out;
    for (auto& [wire, vs] : versions_) {
      if (vs.supported && wire != kSsl2Wire) out.push_back(wire);
    }
    std::sort(out.rbegin(), out.rend());
    return out;
  }

  net::awaitable<void> checkFallbackScsv() {
    auto wires = supportedWires();
    auto* e = report_.mutable_extensions();
    if (wires.size() < 2) {
      e->set_fallback_scsv(v1::SUPPORT_NOT_APPLICABLE);
      co_return;
    }
    // RFC 7507 §3: a hello below the server's highest version carrying TLS_FALLBACK_SCSV must
    // be refused with inappropriate_fallback.
    uint16_t lower = wires[1];
    auto& vs = versions_[lower];
    std::vector<uint16_t> suites(
        vs.accepted.begin(), vs.accepted.begin() + static_cast<std::ptrdiff_t>(
                                                       std::min(vs.accepted.size(), max_suites_)));
    auto spec = baseSpec(lower, suites);
    spec.fallback_scsv = true;
    auto ex = co_await exchange(buildClientHello(spec));
    if (auto* alert = ex.alert(); alert && alert->description == 86) {
      e->set_fallback_scsv(v1::SUPPORT_YES);
    } else if (ex.serverHello()) {
      e->set_fallback_scsv(v1::SUPPORT_NO);
    } else {
      e->set_fallback_scsv(v1::SUPPORT_UNSPECIFIED);
    }
  }

  net::awaitable<void> checkCompression() {
    for (uint16_t wire : {kTls12Wire, kTls11Wire, kTls10Wire, kSsl3Wire}) {
      auto& vs = versions_[wire];
      if (!vs.supported) continue;
      std::vector<uint16_t> suites(vs.accepted.begin(),
                                   vs.accepted.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                             vs.accepted.size(), max_suites_)));
      auto spec = baseSpec(wire, suites);
      spec.compression_methods = {1, 0};  // DEFLATE (RFC 3749), then null
      auto ex = co_await exchange(buildClientHello(spec));
      if (auto* sh = ex.serverHello()) {
        report_.mutable_extensions()->set_compression(sh->compression_method == 1);
      }
      co_return;
    }
  }

  // TLS 1.3 encrypts certificates and the CertificateRequest: complete a real handshake. Run
  // before the other versions, so their suites can be offered in the order the key type makes
  // likely.
  net::awaitable<void> tls13FirstHandshake() {
    auto first = co_await handshake(tls13Request());
    if (!first) co_return;
    if (first->client_cert_requested) {
      CertificateRequestInfo cr;
      cr.signature_algorithms = first->client_sigalgs;
      cr.ca_names = first->client_ca_names;
      tls13_client_auth_ = cr;
    }
    if (!first->alpn.empty() &&
        std::find(alpn_found_.begin(), alpn_found_.end(), first->alpn) == alpn_found_.end()) {
      alpn_found_.push_back(first->alpn);
    }
    tls13_ocsp_ = first->ocsp_stapled;
    if (!first->chain.empty()) {
      auto leaf = analyzeCertificate(first->chain.front());
      if (leaf.ok()) tls13_key_type_ = leaf->key_type();
    }
  }

  HandshakeRequest tls13Request() const {
    HandshakeRequest req;
    req.min_version = TLS1_3_VERSION;
    req.max_version = TLS1_3_VERSION;
    req.server_name = ep_.sni;
    return req;
  }

  // After enumeration: facts of the TLS 1.3 handshake, and on a TLS 1.3-only server, which may
  // hold an RSA and an ECDSA certificate, a second handshake asking for the other kind.
  net::awaitable<void> tls13Finish() {
    if (!versions_[kTls13Wire].supported) co_return;
    if (tls13_client_auth_) versions_[kTls13Wire].client_auth = tls13_client_auth_;
    if (tls13_ocsp_) report_.mutable_extensions()->set_ocsp_stapling(true);
    if (supportedWires().size() != 1) co_return;
    // TLS 1.3 has no renegotiation and always binds the session hash (RFC 8446 §4.2, §7.1),
    // so neither insecure renegotiation nor a missing extended master secret can occur.
    report_.mutable_extensions()->set_secure_renegotiation(true);
    report_.mutable_extensions()->set_extended_master_secret(true);
    if (tls13_key_type_.empty()) co_return;
    auto req = tls13Request();
    req.sigalgs = tls13_key_type_ == "EC"
                      ? "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
                        "rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512"
                      : "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ed25519:ed448";
    co_await handshake(req);
  }

  net::awaitable<std::optional<HandshakeResult>> handshake(const HandshakeRequest& req) {
    auto conn = co_await openConnection();
    if (!conn) co_return std::nullopt;
    auto result = co_await runOpensslHandshake(*conn->socket, req, opt_.timeout);
    conn->socket->close();
    if (opt_.trace) {
      std::string line = traceTag(conn->number) + " OpenSSL handshake" +
                         (req.sigalgs.empty() ? "" : " (signatures " + req.sigalgs + ")") + " -> ";
      line += result.completed ? "completed, suite " + hexCode(result.cipher_suite)
                               : "not completed (" + result.error + ")";
      line += ", " + std::to_string(result.chain.size()) + " certificates";
      if (result.client_cert_requested) line += ", client certificate requested";
      opt_.trace(line);
    }
    if (!result.chain.empty()) {
      auto version =
          result.version == TLS1_3_VERSION ? v1::TLS1_3
          : result.version
              ? versionFromWire(static_cast<uint16_t>(result.version))
              : (req.min_version == TLS1_3_VERSION ? v1::TLS1_3 : v1::TLS_VERSION_UNSPECIFIED);
      noteChain(result.chain, version);
    }
    if (!result.completed && !result.client_cert_requested && !result.error.empty() &&
        req.sigalgs.empty()) {
      addError("handshake", "tls", result.error,
               req.min_version == TLS1_3_VERSION ? v1::TLS1_3 : v1::TLS_VERSION_UNSPECIFIED);
    }
    co_return result;
  }

  net::awaitable<void> sipOptions() {
    if (supportedWires().empty()) co_return;
    auto conn = co_await openConnection();
    if (!conn) co_return;
    auto& sock = conn->socket;
    HandshakeRequest req;
    req.server_name = ep_.sni;
    fingerprint::SipOptionsRequest sip;
    sip.transport = "TLS";
    sip.target_host = ep_.sni.empty() ? ep_.ip.to_string() : ep_.sni;
    sip.target_port = ep_.port;
    boost::system::error_code ec;
    auto local = sock->socket().local_endpoint(ec);
    sip.local_host = ec ? "127.0.0.1" : local.address().to_string();
    sip.local_port = ec ? 5061 : local.port();
    std::array<uint8_t, 12> rnd{};
    RAND_bytes(rnd.data(), static_cast<int>(rnd.size()));
    std::string token;
    for (uint8_t b : rnd) token += hexCode(b, 2).substr(2);
    sip.call_id = token + "@tlsaudit";
    sip.branch = token.substr(0, 12);
    sip.tag = token.substr(12);
    req.sip_options = sip;
    auto result = co_await runOpensslHandshake(*sock, req, opt_.timeout);
    sock->close();
    if (opt_.trace) {
      opt_.trace(traceTag(conn->number) + " SIP OPTIONS over TLS -> " +
                 (result.sip ? result.sip->status_line
                             : (result.completed ? result.sip_error
                                                 : "handshake failed: " + result.error)));
    }
    auto* app = report_.mutable_application();
    if (result.sip) {
      app->set_sip_status(result.sip->status_line);
      app->set_sip_user_agent(result.sip->user_agent);
      app->set_sip_server(result.sip->server);
    } else {
      addError("sip", "protocol",
               !result.completed ? "TLS handshake for SIP OPTIONS failed: " + result.error
                                 : result.sip_error,
               v1::TLS_VERSION_UNSPECIFIED);
    }
  }

  net::awaitable<void> probeSsl2() {
    auto& vs = versions_[kSsl2Wire];
    vs.tested = true;
    std::vector<uint32_t> kinds;
    for (const auto& k : allSsl2CipherKinds()) kinds.push_back(k.code);
    std::array<uint8_t, 16> challenge{};
    RAND_bytes(challenge.data(), static_cast<int>(challenge.size()));
    auto ex = co_await exchange(buildSsl2ClientHello(kSsl2Wire, kinds, challenge), true);
    if (ex.outcome != Exchange::Outcome::kFlight || !ex.flight.ssl2_hello) co_return;
    const auto& hello = *ex.flight.ssl2_hello;
    vs.supported = true;
    for (uint32_t spec : hello.cipher_specs) {
      if (findSsl2CipherKind(spec)) vs.ssl2_kinds.push_back(spec);
    }
    if (vs.ssl2_kinds.empty()) vs.note = "SSLv2 enabled but no common cipher kinds";
    if (!ex.flight.certificates.empty()) noteChain(ex.flight.certificates, v1::SSL2);
  }

  // ---- connections ----------------------------------------------------------------------------

  net::awaitable<std::optional<Connection>> openConnection() {
    if (std::chrono::steady_clock::now() - started_ > opt_.endpoint_budget) {
      stop("budget", "time budget of " + ms(opt_.endpoint_budget) + " for this endpoint spent");
      co_return std::nullopt;
    }
    if (connections_ >= opt_.max_connections) {
      stop("budget", "connection budget of " + std::to_string(opt_.max_connections) + " spent");
      co_return std::nullopt;
    }
    auto permit = co_await gate_.acquire(ep_.ip.to_string());
    uint32_t number = ++connections_;
    auto sock = ProbeSocket::create(co_await net::asio::this_coro::executor);
    auto r = co_await sock->connect(net::tcp::endpoint(ep_.ip, ep_.port), opt_.timeout);
    // A reset during connect means something answered on the port (then dropped us).
    if (r == IoResult::kReset) report_.set_reachable(true);
    if (r != IoResult::kOk) {
      stop("connect", std::string(net::ioResultName(r)),
           r == IoResult::kTimeout ? "TCP connect timed out after " + ms(opt_.timeout)
                                   : "TCP connect failed: " + sock->lastError());
      co_return std::nullopt;
    }
    report_.set_reachable(true);
    if (ep_.starttls != StarttlsProtocol::kNone) {
      if (auto err = co_await starttls(*sock); !err.empty()) {
        stop("starttls", "protocol", err);
        co_return std::nullopt;
      }
    }
    co_return Connection{number, sock, std::move(permit)};
  }

  net::awaitable<std::string> starttls(ProbeSocket& sock) {
    StarttlsDialogue dialogue(ep_.starttls, ep_.sni.empty() ? ep_.host : ep_.sni);
    auto step = dialogue.start();
    for (int rounds = 0; rounds < 64; ++rounds) {
      using Kind = StarttlsDialogue::Step::Kind;
      if (step.kind == Kind::kReady) {
        if (report_.application().banner().empty() && !dialogue.banner().empty()) {
          report_.mutable_application()->set_banner(dialogue.banner());
        }
        co_return "";
      }
      if (step.kind == Kind::kFailed) {
        if (report_.application().banner().empty() && !dialogue.banner().empty()) {
          report_.mutable_application()->set_banner(dialogue.banner());
        }
        co_return std::string(starttlsName(ep_.starttls)) + ": " + step.error;
      }
      if (step.kind == Kind::kSend) {
        auto r = co_await sock.writeAll(step.to_send, opt_.timeout);
        if (r != IoResult::kOk) co_return "STARTTLS write: " + std::string(net::ioResultName(r));
        step = dialogue.onData({});
        continue;
      }
      std::vector<uint8_t> buf;
      auto r = co_await sock.readSome(buf, 4096, opt_.timeout);
      if (r != IoResult::kOk) {
        co_return std::string(starttlsName(ep_.starttls)) + " dialogue: " +
            (r == IoResult::kTimeout ? "no answer within " + ms(opt_.timeout)
                                     : std::string(net::ioResultName(r)));
      }
      step = dialogue.onData(buf);
    }
    co_return "STARTTLS dialogue did not finish";
  }

  net::awaitable<Exchange> exchange(std::vector<uint8_t> hello, bool ssl2 = false) {
    Exchange ex;
    if (stopped_) {
      ex.outcome = Exchange::Outcome::kBudget;
      co_return ex;
    }
    auto conn = co_await openConnection();
    if (!conn) {
      ex.outcome = Exchange::Outcome::kConnectFailed;
      co_return ex;
    }
    auto& sock = conn->socket;
    ex.number = conn->number;
    ex.io = co_await sock->writeAll(hello, opt_.timeout);
    std::vector<uint8_t> buf;
    auto deadline = std::chrono::steady_clock::now() + opt_.timeout;
    while (ex.io == IoResult::kOk) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        ex.io = IoResult::kTimeout;
        break;
      }
      ex.io = co_await sock->readSome(buf, 16384, left);
      if (ex.io != IoResult::kOk) break;
      ex.flight = parseServerFlight(buf, ssl2);
      if (ex.flight.state != ParsedFlight::State::kIncomplete) break;
    }
    sock->close();
    ex.bytes = buf.size();
    ex.flight = parseServerFlight(buf, ssl2);
    using S = ParsedFlight::State;
    if (ex.flight.state == S::kComplete) {
      ex.outcome = Exchange::Outcome::kFlight;
      answered_ = true;
    } else if (ex.flight.state == S::kError) {
      ex.outcome = Exchange::Outcome::kProtocolError;
      ex.error = ex.flight.error;
      answered_ = true;
      addError("hello", "protocol", ex.error, v1::TLS_VERSION_UNSPECIFIED);
    } else if (buf.empty() && ex.io == IoResult::kTimeout) {
      ex.outcome = Exchange::Outcome::kNoAnswer;
      if (!answered_) {
        stop("hello", "timeout", "no answer to the ClientHello within " + ms(opt_.timeout));
      } else if (++timeouts_ >= 2) {
        stop(
            "hello", "timeout",
            "endpoint stopped answering (" + std::to_string(timeouts_) + " hellos without answer)");
      }
    } else {
      ex.outcome = Exchange::Outcome::kClosed;
      if (!buf.empty()) {
        bool stalled = ex.io == IoResult::kTimeout;
        ex.error = "connection " + std::string(stalled ? "stalled" : "closed") + " after " +
                   std::to_string(buf.size()) + " bytes, mid-message";
        addError("hello", stalled ? "timeout" : "truncated", ex.error, v1::TLS_VERSION_UNSPECIFIED);
        answered_ = true;
        // A peer that trickles bytes costs a full deadline per hello: give it two.
        if (stalled && ++timeouts_ >= 2) {
          stop("hello", "timeout", "endpoint keeps stalling mid-answer");
        }
      }
    }
    if (ex.serverHello() || ex.alert() || ex.flight.ssl2_hello || ex.flight.ssl2_error) {
      valid_answer_seen_ = true;
    } else if (ex.outcome == Exchange::Outcome::kClosed && ex.bytes == 0 && !valid_answer_seen_ &&
               level_ >= kMaxLevel && ++closes_at_max_level_ >= 3) {
      // Even minimal hellos are dropped without a word.
      stop("hello", net::ioResultName(ex.io),
           "endpoint closes every connection without a TLS answer, even for minimal hellos");
    } else if (ex.outcome == Exchange::Outcome::kProtocolError ||
               (ex.outcome == Exchange::Outcome::kClosed && ex.bytes > 0)) {
      // Garbage, or answers cut short, from a peer that never answered properly: stop asking.
      if (!valid_answer_seen_ && ++invalid_answers_ >= 3) {
        stop("hello", "protocol",
             "no valid TLS answer in " + std::to_string(invalid_answers_) +
                 " attempts (last: " + ex.error + ")");
      }
    }
    if (opt_.trace) opt_.trace(describe(hello, ssl2, ex));
    if (!level_proven_ && (ex.serverHello() || ex.alert())) {
      level_proven_ = true;
      if (level_ > 0) {
        addError("hello", "fragile",
                 "endpoint closes the connection on large ClientHellos; probed with hellos of at "
                 "most " +
                     std::to_string(max_suites_) + " suites" +
                     (level_ >= 2 ? " and only essential extensions (OCSP stapling, ALPN, "
                                    "heartbeat, session tickets and encrypt-then-MAC untested)"
                                  : ""),
                 v1::TLS_VERSION_UNSPECIFIED);
      }
    }
    co_return ex;
  }

  std::string traceTag(uint32_t number) const {
    std::string ip = ep_.ip.is_v6() ? "[" + ep_.ip.to_string() + "]" : ep_.ip.to_string();
    return ip + ":" + std::to_string(ep_.port) + " #" + std::to_string(number);
  }

  std::string describe(const std::vector<uint8_t>& hello, bool ssl2, const Exchange& ex) {
    std::string line = traceTag(ex.number) + " sent " + std::to_string(hello.size()) +
                       (ssl2 ? " bytes (SSLv2 hello)" : " bytes") + " -> ";
    if (auto* sh = ex.serverHello()) {
      line += std::string(sh->hello_retry_request ? "HelloRetryRequest " : "ServerHello ") +
              versionLabel(sh->version) + " suite " + hexCode(sh->cipher_suite);
      if (sh->key_share_group) line += " group " + hexCode(*sh->key_share_group);
    } else if (auto* a = ex.alert()) {
      line += "alert " + alertName(a->description);
    } else if (ex.flight.ssl2_hello) {
      line += "SSLv2 SERVER-HELLO";
    } else {
      line += std::string(net::ioResultName(ex.io)) + " after " + std::to_string(ex.bytes) +
              " bytes" + (ex.error.empty() ? "" : " (" + ex.error + ")");
    }
    return line;
  }

  // ---- results ------------------------------------------------------------------------------

  static std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

  static std::string versionLabel(uint16_t wire) {
    switch (wire) {
      case kSsl3Wire:
        return "SSLv3";
      case kTls10Wire:
        return "TLS 1.0";
      case kTls11Wire:
        return "TLS 1.1";
      case kTls12Wire:
        return "TLS 1.2";
      case kTls13Wire:
        return "TLS 1.3";
      default:
        return "version " + hexCode(wire);
    }
  }

  void addError(const std::string& stage, const std::string& kind, const std::string& message,
                v1::TlsVersion version) {
    if (report_.errors_size() >= 50) return;
    for (const auto& e : report_.errors()) {
      if (e.stage() == stage && e.message() == message) return;
    }
    auto* e = report_.add_errors();
    e->set_stage(stage);
    e->set_kind(kind);
    e->set_message(message);
    e->set_version(version);
  }

  void stop(const std::string& stage, const std::string& kind, const std::string& message = "") {
    if (stopped_) return;
    stopped_ = true;
    addError(stage, kind, message.empty() ? kind : message, v1::TLS_VERSION_UNSPECIFIED);
  }

  void finishReport();

 private:
  Endpoint ep_;
  ProbeOptions opt_;
  net::ConnectionGate& gate_;
  size_t max_suites_;
  std::vector<uint8_t> x25519_;
  std::vector<uint16_t> sigalgs_;
  v1::TlsReport report_;
  uint32_t connections_ = 0;
  std::chrono::steady_clock::time_point started_;
  bool stopped_ = false;
  bool answered_ = false;
  bool valid_answer_seen_ = false;
  int closes_at_max_level_ = 0;
  int invalid_answers_ = 0;
  int timeouts_ = 0;
  // Hello size level: 0 full; 1 half the suites; 2 a quarter, essential extensions, no
  // padding; 3 the minimum suites and short group/signature lists.
  static constexpr int kMaxLevel = 3;
  int level_ = 0;
  bool level_proven_ = false;
  size_t next_chunk_id_ = 0;
  std::map<uint16_t, VersionState> versions_;
  std::map<uint16_t, std::set<v1::TlsVersion>> groups_;
  std::vector<uint16_t> groups_found_13_;
  std::map<std::string, ChainRecord> chains_;
  std::set<std::string> key_types_;  // leaf key types seen: RSA, EC, DSA...
  std::vector<std::string> chain_order_;
  std::set<uint16_t> signature_schemes_;
  std::vector<std::string> alpn_candidates_ = {"h2", "http/1.1"};
  std::vector<std::string> alpn_found_;
  std::optional<CertificateRequestInfo> tls13_client_auth_;
  bool tls13_ocsp_ = false;
  std::string tls13_key_type_;
  uint16_t extensions_wire_ = 0;
};

bool EndpointProber::takeSuite(std::vector<uint16_t>& offered, uint16_t code, VersionState& vs,
                               size_t chunk_id) {
  auto it = std::find(offered.begin(), offered.end(), code);
  if (it == offered.end()) {
    addError("hello", "protocol",
             "server chose cipher suite " + hexCode(code) + " that was not offered",
             v1::TLS_VERSION_UNSPECIFIED);
    return false;
  }
  offered.erase(it);
  vs.supported = true;
  if (std::find(vs.accepted.begin(), vs.accepted.end(), code) == vs.accepted.end()) {
    vs.accepted.push_back(code);
  }
  vs.found_in[code] = chunk_id;
  return true;
}

void EndpointProber::finishReport() {
  bool any = false;
  const v1::TlsVersion order[] = {v1::SSL2,   v1::SSL3,   v1::TLS1_0,
                                  v1::TLS1_1, v1::TLS1_2, v1::TLS1_3};
  int highest_client_auth = -1;
  for (auto version : order) {
    auto it = versions_.find(wireFromVersion(version));
    if (it == versions_.end() || !it->second.tested) continue;
    const auto& vs = it->second;
    auto* vr = report_.add_versions();
    vr->set_version(version);
    vr->set_supported(vs.supported);
    any |= vs.supported;
    vr->set_note(vs.note);
    if (!vs.supported) continue;
    vr->set_cipher_order(vs.order);
    vr->set_server_preference(vs.order == v1::CIPHER_ORDER_SERVER);
    for (uint32_t kind : vs.ssl2_kinds) {
      const auto* k = findSsl2CipherKind(kind);
      auto* cs = vr->add_cipher_suites();
      cs->set_code(kind);
      cs->set_name(std::string(k->name));
      cs->set_kx("RSA");
      cs->set_auth("RSA");
      cs->set_cipher(std::string(k->cipher));
      cs->set_mac("MD5");
      cs->set_bits(k->bits);
      cs->set_export_(k->export_grade);
    }
    for (uint16_t code : vs.accepted) {
      const auto* s = findCipherSuite(code);
      auto* cs = vr->add_cipher_suites();
      cs->set_code(code);
      if (s) {
        cs->set_name(std::string(s->name));
        cs->set_kx(std::string(s->kx));
        cs->set_auth(std::string(s->auth));
        cs->set_cipher(std::string(s->cipher));
        cs->set_mac(std::string(s->mac));
        cs->set_bits(s->bits);
        cs->set_forward_secret(isForwardSecret(*s));
        cs->set_export_(s->export_grade);
      } else {
        cs->set_name("UNKNOWN_" + hexCode(code));
      }
      if (auto o = vs.observations.find(code); o != vs.observations.end()) {
        cs->set_kx_group(o->second.group);
        cs->set_kx_bits(o->second.bits);
      }
    }
    if (vs.client_auth) {
      auto* ca = vr->mutable_client_auth();
      ca->set_version(version);
      ca->set_requested(true);
      for (uint16_t alg : vs.client_auth->signature_algorithms) {
        const auto* sch = findSignatureScheme(alg);
        ca->add_signature_algorithms(sch ? std::string(sch->name) : "unknown_" + hexCode(alg));
      }
      for (const auto& dn : vs.client_auth->ca_names) {
        auto name = formatDistinguishedName(dn);
        ca->add_ca_names(name.ok() ? *name : "<unparseable name>");
      }
      static const std::map<uint8_t, std::string> kTypes = {
          {1, "rsa_sign"},         {2, "dss_sign"},         {3, "rsa_fixed_dh"},
          {4, "dss_fixed_dh"},     {5, "rsa_ephemeral_dh"}, {6, "dss_ephemeral_dh"},
          {20, "fortezza_dms"},    {64, "ecdsa_sign"},      {65, "rsa_fixed_ecdh"},
          {66, "ecdsa_fixed_ecdh"}};
      for (uint8_t t : vs.client_auth->certificate_types) {
        auto k = kTypes.find(t);
        ca->add_certificate_types(k != kTypes.end() ? k->second : "type_" + std::to_string(t));
      }
      if (static_cast<int>(version) > highest_client_auth) {
        highest_client_auth = version;
        *report_.mutable_client_auth() = *ca;
      }
    }
  }
  report_.set_tls(any);
  if (report_.reachable() && !any && report_.errors_size() == 0) {
    addError("hello", "no-tls",
             "no TLS or SSL answer: every hello was closed without a reply (" +
                 std::to_string(connections_) + " connections)",
             v1::TLS_VERSION_UNSPECIFIED);
  }
  if (!report_.client_auth().requested() && any)
    report_.mutable_client_auth()->set_requested(false);

  for (const auto& [code, versions] : groups_) {
    auto* g = report_.add_groups();
    g->set_code(code);
    if (const auto* info = findNamedGroup(code)) {
      g->set_name(std::string(info->name));
      g->set_kind(std::string(info->kind));
      g->set_bits(info->bits);
    } else {
      g->set_name("unknown_" + hexCode(code));
    }
    for (auto v : versions) g->add_versions(v);
  }

  for (const auto& key : chain_order_) {
    const auto& rec = chains_.at(key);
    ChainAnalysis analysis;
    std::string name = ep_.sni.empty() ? ep_.host : ep_.sni;
    if (opt_.trust_store) {
      analysis = analyzeChain(rec.ders, *opt_.trust_store, name, opt_.now());
    } else {
      for (const auto& der : rec.ders) {
        auto c = analyzeCertificate(der);
        if (c.ok()) {
          c->set_source(v1::CERTIFICATE_SOURCE_PRESENTED);
          *analysis.chain.add_certificates() = *c;
        } else {
          analysis.errors.push_back(std::string(c.status().message()));
        }
      }
      analysis.chain.set_validation_error("not validated (no trust store)");
    }
    for (auto v : rec.versions) analysis.chain.add_versions(v);
    *report_.add_chains() = std::move(analysis.chain);
    for (const auto& err : analysis.errors)
      addError("certificate", "parse", err, v1::TLS_VERSION_UNSPECIFIED);
  }

  for (uint16_t s : signature_schemes_) {
    const auto* sch = findSignatureScheme(s);
    report_.add_signature_algorithms(sch ? std::string(sch->name) : "unknown_" + hexCode(s));
  }
  for (const auto& a : alpn_found_) report_.mutable_extensions()->add_alpn(a);
  if (!any) report_.clear_extensions();
}

}  // namespace

const std::vector<uint16_t>& legacySuitesByPriority() {
  static const std::vector<uint16_t> order = buildLegacyPriority();
  return order;
}

const std::vector<uint16_t>& tls13Suites() {
  static const std::vector<uint16_t> suites = [] {
    std::vector<uint16_t> out;
    for (const auto& s : allCipherSuites()) {
      if (s.tls13) out.push_back(s.code);
    }
    return out;
  }();
  return suites;
}

net::awaitable<v1::TlsReport> probeEndpoint(Endpoint endpoint, ProbeOptions options,
                                            net::ConnectionGate& gate) {
  EndpointProber prober(std::move(endpoint), std::move(options), gate);
  co_return co_await prober.run();
}

}  // namespace tlsaudit::collectors::tls
