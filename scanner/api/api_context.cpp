#include "scanner/api/api_context.h"

#include <openssl/crypto.h>

#include "scanner/metrics/daemon_metrics.h"

namespace tlsaudit::scanner {
namespace {

const char* codeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    default:
      return "OTHER";
  }
}

}  // namespace

grpc::Status toGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

bool isLoopbackPeer(const std::string& peer) {
  // gRPC peers: "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555", "unix:/path".
  return peer.rfind("ipv4:127.", 0) == 0 || peer.rfind("ipv6:[::1]:", 0) == 0 ||
         peer.rfind("ipv6:[::ffff:127.", 0) == 0 || peer.rfind("unix:", 0) == 0;
}

grpc::Status authorize(grpc::ServerContext* context, const DaemonConfig& config, Role needed,
                       const char* method, Caller& caller) {
  if (config.grpc.tokens.empty()) {
    // Without tokens the daemon serves loopback only (daemon_config.cpp); the peer is checked
    // too, so a listener bound before a reload removed the tokens never serves a remote caller.
    if (!isLoopbackPeer(context->peer())) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "no bearer tokens are configured: only local callers are served");
    }
    caller = Caller{"local", Role::kOperator};
    return grpc::Status::OK;
  }
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing bearer token (metadata 'authorization: Bearer TOKEN')");
  }
  std::string value(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || value.compare(0, kBearer.size(), kBearer) != 0) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the authorization metadata must be 'Bearer TOKEN'");
  }
  std::string token = value.substr(kBearer.size());
  const TokenConfig* match = nullptr;
  // Every configured token is compared, in constant time, so timing tells nothing.
  for (const auto& t : config.grpc.tokens) {
    if (t.token.size() == token.size() &&
        CRYPTO_memcmp(t.token.data(), token.data(), token.size()) == 0) {
      match = &t;
    }
  }
  if (match == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown bearer token");
  }
  caller = Caller{match->name, match->role};
  if (needed == Role::kOperator && match->role != Role::kOperator) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "token '" + match->name + "' has the viewer role; " + method +
                            " needs an operator token");
  }
  return grpc::Status::OK;
}

grpc::Status handleCall(
    const ApiContext& ctx, grpc::ServerContext* context, const char* method, Role needed,
    const std::function<grpc::Status(const Caller&, const DaemonConfig&)>& body) {
  auto config = ctx.config();
  Caller caller;
  grpc::Status status = authorize(context, *config, needed, method, caller);
  if (status.ok()) status = body(caller, *config);
  if (ctx.metrics != nullptr) ctx.metrics->grpcRequest(method, codeName(status.error_code()));
  return status;
}

bool streamAlive(const ApiContext& ctx, grpc::ServerContext* context) {
  return !context->IsCancelled() && !(ctx.stopping != nullptr && ctx.stopping->load());
}

}  // namespace tlsaudit::scanner
