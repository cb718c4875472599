// SnmpClient over Net-SNMP's single-session API. Net-SNMP encodes, decodes, authenticates,
// encrypts and retransmits; Asio owns the waiting: each session's UDP socket is watched through
// a dup()ed descriptor, and Net-SNMP's own retransmission clock (snmp_sess_select_info2) decides
// when the next snmp_sess_timeout() is due. No thread per agent, no select() loop.
//
// Net-SNMP's blocking parts are avoided: v3 engine ID discovery (RFC 3414 §4), which
// snmp_sess_open() would do synchronously, runs first as an ordinary asynchronous request on a
// noAuthNoPriv probe session; the real session is then opened with the engine ID known.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "collectors/snmp/snmp_client.h"

// Net-SNMP's headers define many macros; keep them after everything else.
extern "C" {
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
}

namespace tlsaudit::collectors::snmp {
namespace {

namespace asio = net::asio;
using net::awaitable;
using net::use_awaitable;

// Net-SNMP must never touch /var/lib/snmp or read /etc/snmp: a scanner is not an agent, may run
// unprivileged, and must behave the same on every host. Everything it could persist goes to a
// private directory (removed at exit; persistence is disabled anyway), no configuration file is
// read and no MIB is loaded (we never translate names).
void initNetSnmpOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    static std::string dir;
    char tmpl[] = "/tmp/tlsaudit-snmp-XXXXXX";
    if (const char* d = ::mkdtemp(tmpl)) dir = d;
    if (!dir.empty()) {
      ::setenv("SNMP_PERSISTENT_DIR", dir.c_str(), 1);
      ::setenv("SNMPCONFPATH", dir.c_str(), 1);
      ::setenv("MIBDIRS", dir.c_str(), 1);
      netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, dir.c_str());
      netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_CONFIGURATION_DIR, dir.c_str());
      std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      });
    }
    ::setenv("MIBS", "", 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
    // Library log lines could carry peer data; results and errors travel as values instead.
    // A handler that drops everything: with no handler at all Net-SNMP falls back to stderr.
    snmp_disable_log();
    netsnmp_register_loghandler(NETSNMP_LOGHANDLER_NONE, LOG_DEBUG);
    init_snmp("tlsaudit");
  });
}

// One outstanding request and what came back.
struct Pending {
  bool done = false;
  int operation = 0;  // NETSNMP_CALLBACK_OP_*
  int command = 0;    // PDU type of the answer
  long errstat = 0;
  long errindex = 0;
  int report = 0;  // snmpv3_get_report_type() of a REPORT
  std::string engine_id;
  std::vector<VarBind> varbinds;
};

constexpr size_t kMaxValueBytes = 4096;

VarBind convert(const netsnmp_variable_list* vp) {
  VarBind vb;
  vb.oid.assign(vp->name, vp->name + std::min<size_t>(vp->name_length, 128));
  switch (vp->type) {
    case ASN_INTEGER:
      vb.type = ValueType::kInteger;
      vb.integer = vp->val.integer ? *vp->val.integer : 0;
      break;
    case ASN_COUNTER:
    case ASN_GAUGE:
    case ASN_TIMETICKS:
      vb.type = vp->type == ASN_COUNTER ? ValueType::kCounter32
                : vp->type == ASN_GAUGE ? ValueType::kGauge32
                                        : ValueType::kTimeTicks;
      vb.integer =
          vp->val.integer ? static_cast<int64_t>(static_cast<uint32_t>(*vp->val.integer)) : 0;
      break;
    case ASN_COUNTER64:
      vb.type = ValueType::kCounter64;
      if (vp->val.counter64) {
        vb.integer = static_cast<int64_t>((uint64_t{vp->val.counter64->high} << 32) |
                                          (vp->val.counter64->low & 0xFFFFFFFFu));
      }
      break;
    case ASN_OCTET_STR:
    case ASN_IPADDRESS:
    case ASN_OPAQUE:
      vb.type = vp->type == ASN_OCTET_STR   ? ValueType::kOctetString
                : vp->type == ASN_IPADDRESS ? ValueType::kIpAddress
                                            : ValueType::kOpaque;
      if (vp->val.string) {
        vb.bytes.assign(reinterpret_cast<const char*>(vp->val.string),
                        std::min<size_t>(vp->val_len, kMaxValueBytes));
      }
      break;
    case ASN_OBJECT_ID:
      vb.type = ValueType::kObjectId;
      if (vp->val.objid) {
        size_t n = std::min<size_t>(vp->val_len / sizeof(oid), 128);
        vb.object_id.assign(vp->val.objid, vp->val.objid + n);
      }
      break;
    case ASN_NULL:
      vb.type = ValueType::kNull;
      break;
    case SNMP_NOSUCHOBJECT:
      vb.type = ValueType::kNoSuchObject;
      break;
    case SNMP_NOSUCHINSTANCE:
      vb.type = ValueType::kNoSuchInstance;
      break;
    case SNMP_ENDOFMIBVIEW:
      vb.type = ValueType::kEndOfMibView;
      break;
    default:
      vb.type = ValueType::kOther;
  }
  return vb;
}

int onResponse(int operation, netsnmp_session* /*session*/, int /*reqid*/, netsnmp_pdu* pdu,
               void* magic) {
  auto* p = static_cast<Pending*>(magic);
  // RESEND only announces a retransmission; the request is still outstanding.
  if (!p || operation == NETSNMP_CALLBACK_OP_RESEND) return 1;
  p->done = true;
  p->operation = operation;
  if (operation == NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE && pdu) {
    p->command = pdu->command;
    p->errstat = pdu->errstat;
    p->errindex = pdu->errindex;
    if (pdu->securityEngineID && pdu->securityEngineIDLen) {
      p->engine_id.assign(reinterpret_cast<const char*>(pdu->securityEngineID),
                          pdu->securityEngineIDLen);
    }
    if (pdu->command == SNMP_MSG_REPORT) p->report = snmpv3_get_report_type(pdu);
    size_t count = 0;
    for (auto* vp = pdu->variables; vp && count < 1024; vp = vp->next_variable, ++count) {
      p->varbinds.push_back(convert(vp));
    }
  }
  return 1;
}

std::string peerName(const asio::ip::udp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6()) return "udp6:[" + a.to_string() + "]:" + std::to_string(ep.port());
  return "udp:" + a.to_string() + ":" + std::to_string(ep.port());
}

std::string describe(const asio::ip::udp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

struct ProtoOid {
  const oid* id;
  size_t len;
};

ProtoOid authOid(AuthProtocol p) {
  switch (p) {
    case AuthProtocol::kMd5:
      return {usmHMACMD5AuthProtocol, OID_LENGTH(usmHMACMD5AuthProtocol)};
    case AuthProtocol::kSha1:
      return {usmHMACSHA1AuthProtocol, OID_LENGTH(usmHMACSHA1AuthProtocol)};
    case AuthProtocol::kSha224:
      return {usmHMAC128SHA224AuthProtocol, OID_LENGTH(usmHMAC128SHA224AuthProtocol)};
    case AuthProtocol::kSha256:
      return {usmHMAC192SHA256AuthProtocol, OID_LENGTH(usmHMAC192SHA256AuthProtocol)};
    case AuthProtocol::kSha384:
      return {usmHMAC256SHA384AuthProtocol, OID_LENGTH(usmHMAC256SHA384AuthProtocol)};
    case AuthProtocol::kSha512:
      return {usmHMAC384SHA512AuthProtocol, OID_LENGTH(usmHMAC384SHA512AuthProtocol)};
    case AuthProtocol::kNone:
      break;
  }
  return {usmNoAuthProtocol, OID_LENGTH(usmNoAuthProtocol)};
}

ProtoOid privOid(PrivProtocol p) {
  switch (p) {
    case PrivProtocol::kDes:
      return {usmDESPrivProtocol, OID_LENGTH(usmDESPrivProtocol)};
    case PrivProtocol::kAes128:
      return {usmAESPrivProtocol, OID_LENGTH(usmAESPrivProtocol)};
    case PrivProtocol::kAes192:
      return {usmAES192PrivProtocol, OID_LENGTH(usmAES192PrivProtocol)};
    case PrivProtocol::kAes256:
      return {usmAES256PrivProtocol, OID_LENGTH(usmAES256PrivProtocol)};
    case PrivProtocol::kNone:
      break;
  }
  return {usmNoPrivProtocol, OID_LENGTH(usmNoPrivProtocol)};
}

// RFC 3414 §11.2 / snmpUsmMIB report counters, as Net-SNMP classifies them.
absl::Status reportStatus(int report, const std::string& where, const Credential& c) {
  switch (report) {
    case SNMPERR_AUTHENTICATION_FAILURE:
      return absl::PermissionDeniedError(
          "SNMPv3 authentication failed at " + where + " for user '" + c.user +
          "' (usmStatsWrongDigests): wrong auth passphrase or protocol");
    case SNMPERR_UNKNOWN_USER_NAME:
      return absl::PermissionDeniedError("SNMPv3 user '" + c.user + "' unknown at " + where +
                                         " (usmStatsUnknownUserNames)");
    case SNMPERR_UNSUPPORTED_SEC_LEVEL:
      return absl::PermissionDeniedError(
          "SNMPv3 security level not allowed for user '" + c.user + "' at " + where +
          " (usmStatsUnsupportedSecLevels): check --snmp-v3-auth/--snmp-v3-priv");
    case SNMPERR_DECRYPTION_ERR:
      return absl::PermissionDeniedError("SNMPv3 decryption failed at " + where + " for user '" +
                                         c.user +
                                         "' (usmStatsDecryptionErrors): wrong priv passphrase "
                                         "or protocol");
    case SNMPERR_NOT_IN_TIME_WINDOW:
      return absl::UnavailableError("SNMPv3 agent at " + where + " kept answering notInTimeWindow");
    default:
      return absl::UnavailableError("SNMP report " + std::to_string(report) + " from " + where);
  }
}

class NetSnmpSession : public SnmpSession {
 public:
  NetSnmpSession(asio::any_io_executor ex, AgentAddress agent, Credential credential)
      : executor_(ex),
        io_(std::make_shared<WaitState>(ex)),
        agent_(std::move(agent)),
        credential_(std::move(credential)),
        where_(describe(agent_.endpoint)) {}

  ~NetSnmpSession() override { close(); }

  void close() {
    boost::system::error_code ignored;
    ++io_->generation;
    io_->timer.cancel();
    io_->descriptor.close(ignored);
    if (handle_) {
      snmp_sess_close(handle_);
      handle_ = nullptr;
    }
  }

  // Opens the Net-SNMP session; `engine_id` empty unless v3. `probe` opens the noAuthNoPriv
  // session used for engine ID discovery.
  absl::Status openHandle(const std::string& engine_id, bool probe) {
    netsnmp_session s;
    snmp_sess_init(&s);
    std::string peer = peerName(agent_.endpoint);
    s.peername = peer.data();
    s.timeout = static_cast<long>(agent_.timeout.count()) * 1000;
    s.retries = agent_.retries;
    std::string community = credential_.community;
    std::string user = credential_.user;
    std::string engine = engine_id;
    switch (credential_.version) {
      case SnmpVersion::kV1:
        s.version = SNMP_VERSION_1;
        break;
      case SnmpVersion::kV2c:
        s.version = SNMP_VERSION_2c;
        break;
      case SnmpVersion::kV3:
        s.version = SNMP_VERSION_3;
        break;
    }
    if (credential_.version != SnmpVersion::kV3) {
      s.community = reinterpret_cast<u_char*>(community.data());
      s.community_len = community.size();
    } else if (probe) {
      // RFC 3414 §4: discovery uses noAuthNoPriv, an empty user and an empty engine ID.
      s.securityLevel = SNMP_SEC_LEVEL_NOAUTH;
      s.securityName = user.data();
      s.securityNameLen = 0;
      s.flags |= SNMP_FLAGS_DONT_PROBE;
    } else {
      s.securityName = user.data();
      s.securityNameLen = user.size();
      s.securityEngineID = reinterpret_cast<u_char*>(engine.data());
      s.securityEngineIDLen = engine.size();
      s.contextEngineID = reinterpret_cast<u_char*>(engine.data());
      s.contextEngineIDLen = engine.size();
      s.securityLevel = SNMP_SEC_LEVEL_NOAUTH;
      if (credential_.auth != AuthProtocol::kNone) {
        auto a = authOid(credential_.auth);
        s.securityAuthProto = const_cast<oid*>(a.id);
        s.securityAuthProtoLen = a.len;
        s.securityAuthKeyLen = USM_AUTH_KU_LEN;
        const auto& pass = credential_.auth_passphrase;
        if (generate_Ku(a.id, static_cast<u_int>(a.len),
                        reinterpret_cast<const u_char*>(pass.data()), pass.size(),
                        s.securityAuthKey, &s.securityAuthKeyLen) != SNMPERR_SUCCESS) {
          return absl::InvalidArgumentError("cannot derive the SNMPv3 auth key for user '" +
                                            credential_.user + "'");
        }
        s.securityLevel = SNMP_SEC_LEVEL_AUTHNOPRIV;
        if (credential_.priv != PrivProtocol::kNone) {
          auto p = privOid(credential_.priv);
          s.securityPrivProto = const_cast<oid*>(p.id);
          s.securityPrivProtoLen = p.len;
          s.securityPrivKeyLen = USM_PRIV_KU_LEN;
          const auto& ppass = credential_.priv_passphrase;
          // RFC 3414 §2.6: the privacy key is derived with the authentication hash.
          if (generate_Ku(a.id, static_cast<u_int>(a.len),
                          reinterpret_cast<const u_char*>(ppass.data()), ppass.size(),
                          s.securityPrivKey, &s.securityPrivKeyLen) != SNMPERR_SUCCESS) {
            return absl::InvalidArgumentError("cannot derive the SNMPv3 priv key for user '" +
                                              credential_.user + "'");
          }
          s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
        }
      }
    }
    s.callback = onResponse;
    s.callback_magic = nullptr;
    handle_ = snmp_sess_open(&s);
    // Key material was copied by Net-SNMP; wipe our stack copies.
    ::explicit_bzero(s.securityAuthKey, sizeof(s.securityAuthKey));
    ::explicit_bzero(s.securityPrivKey, sizeof(s.securityPrivKey));
    if (!handle_) {
      return absl::UnavailableError("cannot open an SNMP session to " + where_ + ": " +
                                    snmp_api_errstring(s.s_snmp_errno));
    }
    auto* transport = snmp_sess_transport(handle_);
    if (!transport || transport->sock < 0) {
      return absl::InternalError("SNMP session to " + where_ + " has no socket");
    }
    int fd = ::fcntl(transport->sock, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return absl::UnavailableError("dup() failed: " + std::string(strerror(errno)));
    boost::system::error_code ec;
    io_->descriptor.assign(fd, ec);
    if (ec) {
      ::close(fd);
      return absl::InternalError("cannot watch the SNMP socket: " + ec.message());
    }
    return absl::OkStatus();
  }

  // Sends `pdu` (ownership passes) and waits for its answer or Net-SNMP's final timeout.
  awaitable<absl::StatusOr<Pending>> exchange(netsnmp_pdu* pdu) {
    pending_ = std::make_unique<Pending>();
    if (!snmp_sess_async_send(handle_, pdu, onResponse, pending_.get())) {
      snmp_free_pdu(pdu);
      co_return absl::UnavailableError("cannot send to SNMP agent " + where_);
    }
    // Our own bound on top of Net-SNMP's: every attempt plus a grace period.
    auto hard_deadline = std::chrono::steady_clock::now() + agent_.timeout * (agent_.retries + 1) +
                         std::chrono::milliseconds(500);
    int fd = io_->descriptor.native_handle();
    while (!pending_->done) {
      auto now = std::chrono::steady_clock::now();
      if (now >= hard_deadline) break;
      std::chrono::microseconds wait =
          std::chrono::duration_cast<std::chrono::microseconds>(hard_deadline - now);
      {
        int numfds = 0, block = 0;
        struct timeval tv = {0, 0};
        netsnmp_large_fd_set fds;
        netsnmp_large_fd_set_init(&fds, fd + 1);
        snmp_sess_select_info2(handle_, &numfds, &fds, &tv, &block);
        netsnmp_large_fd_set_cleanup(&fds);
        if (!block) {
          auto next = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
          if (next < wait) wait = next;
        }
      }
      boost::system::error_code ec;
      // The expiry handler owns the wait state and checks the generation: an expiry queued
      // just as the socket became readable must not cancel a later wait, nor touch a closed
      // session.
      uint64_t gen = ++io_->generation;
      io_->timer.expires_after(wait);
      io_->timer.async_wait([io = io_, gen](const boost::system::error_code& e) {
        if (e || gen != io->generation) return;
        boost::system::error_code ignored;
        io->descriptor.cancel(ignored);
      });
      co_await io_->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                                          asio::redirect_error(use_awaitable, ec));
      ++io_->generation;
      io_->timer.cancel();
      if (!ec) {
        // The transport socket (not our dup) is what Net-SNMP reads.
        int sock = snmp_sess_transport(handle_)->sock;
        netsnmp_large_fd_set fds;
        netsnmp_large_fd_set_init(&fds, sock + 1);
        NETSNMP_LARGE_FD_SET(sock, &fds);
        snmp_sess_read2(handle_, &fds);
        netsnmp_large_fd_set_cleanup(&fds);
      } else if (ec == asio::error::operation_aborted) {
        // Due time: Net-SNMP resends or gives up (calling back with TIMED_OUT).
        snmp_sess_timeout(handle_);
      } else {
        co_return absl::UnavailableError("SNMP socket error for " + where_ + ": " + ec.message());
      }
    }
    auto result = std::move(*pending_);
    // A request still outstanding must not call back into a freed Pending later.
    if (!result.done) {
      close();
      result.operation = NETSNMP_CALLBACK_OP_TIMED_OUT;
    }
    pending_.reset();
    if (result.operation == NETSNMP_CALLBACK_OP_TIMED_OUT && engine_discovered_) {
      // The agent answered discovery but not the authenticated request: USM drops messages it
      // cannot decrypt (RFC 3414 §3.2 step 8 only counts them), so this is the telltale of a
      // wrong privacy passphrase or protocol.
      co_return absl::PermissionDeniedError(
          "SNMPv3 agent " + where_ + " answered engine discovery but not the request of user '" +
          credential_.user + "': wrong priv passphrase or protocol?");
    }
    if (result.operation == NETSNMP_CALLBACK_OP_TIMED_OUT) {
      co_return absl::DeadlineExceededError("no SNMP answer from " + where_ + " within " +
                                            std::to_string(agent_.timeout.count()) + " ms x " +
                                            std::to_string(agent_.retries + 1) + " attempts" +
                                            (credential_.version == SnmpVersion::kV3
                                                 ? std::string()
                                                 : std::string(" (wrong community or no agent)")));
    }
    if (result.operation != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE) {
      co_return absl::UnavailableError("SNMP exchange with " + where_ + " failed (" +
                                       (result.operation == NETSNMP_CALLBACK_OP_SEC_ERROR
                                            ? std::string("security processing error: wrong "
                                                          "passphrase or protocol?")
                                            : "operation " + std::to_string(result.operation)) +
                                       ")");
    }
    co_return result;
  }

  awaitable<absl::Status> discoverEngineId(std::string& engine_id) {
    auto st = openHandle("", true);
    if (!st.ok()) co_return st;
    netsnmp_pdu* pdu = snmp_pdu_create(SNMP_MSG_GET);
    pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
    auto r = co_await exchange(pdu);
    if (r.ok() && !r->engine_id.empty()) {
      engine_id = r->engine_id;
    } else if (handle_) {
      if (auto* s = snmp_sess_session(handle_); s && s->securityEngineIDLen) {
        engine_id.assign(reinterpret_cast<const char*>(s->securityEngineID),
                         s->securityEngineIDLen);
      }
    }
    close();
    if (engine_id.empty()) {
      if (!r.ok()) {
        co_return absl::Status(r.status().code(),
                               std::string(r.status().message()) + " (SNMPv3 engine ID discovery)");
      }
      co_return absl::UnavailableError("SNMPv3 agent " + where_ + " did not reveal its engine ID");
    }
    co_return absl::OkStatus();
  }

  awaitable<absl::Status> open() {
    std::string engine_id;
    if (credential_.version == SnmpVersion::kV3) {
      auto st = co_await discoverEngineId(engine_id);
      if (!st.ok()) co_return st;
      engine_discovered_ = true;
    }
    co_return openHandle(engine_id, false);
  }

  absl::StatusOr<std::vector<VarBind>> checkAnswer(absl::StatusOr<Pending>& r) {
    if (!r.ok()) return r.status();
    if (r->command == SNMP_MSG_REPORT) return reportStatus(r->report, where_, credential_);
    if (r->errstat == SNMP_ERR_NOSUCHNAME) {
      // SNMPv1 (RFC 1157 §4.1.2.4): the whole request failed; report as "no such object".
      return std::vector<VarBind>{};
    }
    if (r->errstat != SNMP_ERR_NOERROR) {
      return absl::FailedPreconditionError("SNMP agent " + where_ + " answered error-status " +
                                           std::to_string(r->errstat));
    }
    return std::move(r->varbinds);
  }

  awaitable<absl::StatusOr<std::vector<VarBind>>> get(std::vector<Oid> oids) override {
    if (!handle_) co_return absl::FailedPreconditionError("SNMP session closed");
    netsnmp_pdu* pdu = snmp_pdu_create(SNMP_MSG_GET);
    for (const auto& o : oids) {
      std::vector<oid> name(o.begin(), o.end());
      snmp_add_null_var(pdu, name.data(), name.size());
    }
    auto r = co_await exchange(pdu);
    co_return checkAnswer(r);
  }

  awaitable<absl::StatusOr<std::vector<VarBind>>> walk(
      Oid root, size_t max_rows, std::chrono::steady_clock::time_point deadline) override {
    std::vector<VarBind> out;
    Oid cursor = root;
    bool first = true;
    while (handle_ && out.size() < max_rows && std::chrono::steady_clock::now() < deadline) {
      bool v1 = credential_.version == SnmpVersion::kV1;
      netsnmp_pdu* pdu = snmp_pdu_create(v1 ? SNMP_MSG_GETNEXT : SNMP_MSG_GETBULK);
      if (!v1) {
        // RFC 3416 §4.2.3: non-repeaters 0, max-repetitions bounded by what we still want.
        pdu->non_repeaters = 0;
        pdu->max_repetitions = static_cast<long>(std::min<size_t>(25, max_rows - out.size()));
      }
      std::vector<oid> name(cursor.begin(), cursor.end());
      snmp_add_null_var(pdu, name.data(), name.size());
      auto r = co_await exchange(pdu);
      auto vbs = checkAnswer(r);
      if (!vbs.ok()) {
        if (first) co_return vbs.status();
        break;
      }
      first = false;
      if (vbs->empty()) break;
      bool end = false;
      for (auto& vb : *vbs) {
        // Stop at the subtree's end, at endOfMibView, or when an agent fails to advance
        // (RFC 3416 §4.2.2 requires lexicographic progress; broken agents loop).
        if (vb.type == ValueType::kEndOfMibView || !oidUnder(vb.oid, root) ||
            !std::lexicographical_compare(cursor.begin(), cursor.end(), vb.oid.begin(),
                                          vb.oid.end())) {
          end = true;
          break;
        }
        cursor = vb.oid;
        out.push_back(std::move(vb));
        if (out.size() >= max_rows) break;
      }
      if (end) break;
    }
    co_return out;
  }

 private:
  // What the deadline handler may touch after the session is gone.
  struct WaitState {
    explicit WaitState(const asio::any_io_executor& ex) : descriptor(ex), timer(ex) {}
    asio::posix::stream_descriptor descriptor;
    asio::steady_timer timer;
    uint64_t generation = 0;
  };
  asio::any_io_executor executor_;
  std::shared_ptr<WaitState> io_;
  AgentAddress agent_;
  Credential credential_;
  std::string where_;
  void* handle_ = nullptr;
  std::unique_ptr<Pending> pending_;
  bool engine_discovered_ = false;
};

class NetSnmpClient : public SnmpClient {
 public:
  NetSnmpClient() { initNetSnmpOnce(); }

  awaitable<absl::StatusOr<std::unique_ptr<SnmpSession>>> open(AgentAddress agent,
                                                               Credential credential) override {
    if (credential.version == SnmpVersion::kV3) {
      if (credential.user.empty()) co_return absl::InvalidArgumentError("SNMPv3 user is empty");
      if (credential.auth == AuthProtocol::kNone && credential.priv != PrivProtocol::kNone) {
        co_return absl::InvalidArgumentError("SNMPv3 privacy needs authentication too");
      }
      // RFC 3414 §11.2: passphrases shorter than 8 characters are not allowed.
      if ((credential.auth != AuthProtocol::kNone &&
           credential.auth_passphrase.size() < USM_LENGTH_P_MIN) ||
          (credential.priv != PrivProtocol::kNone &&
           credential.priv_passphrase.size() < USM_LENGTH_P_MIN)) {
        co_return absl::InvalidArgumentError(
            "SNMPv3 passphrases must have at least 8 characters (RFC 3414 §11.2)");
      }
    }
    auto ex = co_await asio::this_coro::executor;
    auto session = std::make_unique<NetSnmpSession>(ex, std::move(agent), std::move(credential));
    auto st = co_await session->open();
    if (!st.ok()) co_return st;
    co_return std::unique_ptr<SnmpSession>(std::move(session));
  }
};

}  // namespace

std::unique_ptr<SnmpClient> makeNetSnmpClient() { return std::make_unique<NetSnmpClient>(); }

}  // namespace tlsaudit::collectors::snmp
