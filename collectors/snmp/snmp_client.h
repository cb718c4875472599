// The SNMP extension point: what discovery needs from an SNMP library (open a session to one
// agent with one credential, GET a few objects, walk a subtree with GetBulk) as coroutines on
// the caller's Asio executor. netsnmp_client.cpp implements it over Net-SNMP.
//
// Threading: every coroutine of one SnmpClient (and of the sessions it opens) must run on one
// strand or a single-threaded io_context: the SNMP library keeps process-wide state (USM users,
// engine time cache) that is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/net/asio.h"
#include "collectors/snmp/credential.h"
#include "collectors/snmp/varbind.h"

namespace tlsaudit::collectors::snmp {

struct AgentAddress {
  net::asio::ip::udp::endpoint endpoint;
  std::chrono::milliseconds timeout{1000};  // per attempt
  int retries = 1;
};

// A session with one agent under one credential. Destroying it closes it.
class SnmpSession {
 public:
  virtual ~SnmpSession() = default;
  // GET of `oids`. Errors: DeadlineExceeded (no answer in timeout × (retries+1)),
  // PermissionDenied/Unauthenticated (USM reports), Unavailable (transport), Internal.
  // Missing objects come back as VarBind with type kNoSuchObject/kNoSuchInstance.
  virtual net::awaitable<absl::StatusOr<std::vector<VarBind>>> get(std::vector<Oid> oids) = 0;
  // Walks the subtree under `root` (GetBulk for v2c/v3, GetNext for v1), stopping at the end
  // of the subtree, after `max_rows` objects, or at `deadline`, whichever comes first (the
  // objects read so far are returned). Errors as get() when the first request fails.
  virtual net::awaitable<absl::StatusOr<std::vector<VarBind>>> walk(
      Oid root, size_t max_rows, std::chrono::steady_clock::time_point deadline) = 0;
};

class SnmpClient {
 public:
  virtual ~SnmpClient() = default;
  // Opens a session. For v3 this discovers the agent's engine ID first (RFC 3414 §4), which is
  // one round trip and may fail with DeadlineExceeded. Bad credential syntax: InvalidArgument.
  virtual net::awaitable<absl::StatusOr<std::unique_ptr<SnmpSession>>> open(
      AgentAddress agent, Credential credential) = 0;
};

// The Net-SNMP implementation. Initialises the library once per process with a private
// persistent directory and no system configuration or MIB files.
std::unique_ptr<SnmpClient> makeNetSnmpClient();

}  // namespace tlsaudit::collectors::snmp
