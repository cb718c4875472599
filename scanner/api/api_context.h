// What the gRPC services share: the database pool, the current configuration (tokens, groups),
// the workers to wake, metrics. Handlers run on gRPC's own threads and block on the pool's
// futures; none runs on an io_context.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "rules/policy.h"
#include "scanner/daemon/daemon_config.h"
#include "storage/pg_pool.h"

namespace tlsaudit::scanner {

class DaemonMetrics;

struct ApiContext {
  storage::PgPool* pool = nullptr;
  std::function<std::shared_ptr<const DaemonConfig>()> config;
  // The rules in force (shipped plus policy.files): waivers must name one of them.
  std::function<std::shared_ptr<const rules::PolicyLibrary>()> library;
  std::function<void()> scans_changed;  // wakes the workers after StartScan
  DaemonMetrics* metrics = nullptr;
  const std::atomic<bool>* stopping = nullptr;  // streams end when it turns true
  std::chrono::milliseconds watch_poll{500};    // how often streams look for changes
};

// Who is calling, from their bearer token.
struct Caller {
  std::string name;  // the token's name ("local" without tokens)
  Role role = Role::kViewer;
};

// Maps a status to gRPC (the codes are the same numbers).
grpc::Status toGrpc(const absl::Status& status);

// Runs `fn` on a pooled database session and waits for it.
template <typename T>
absl::StatusOr<T> withDatabase(const ApiContext& ctx,
                               std::function<absl::StatusOr<T>(storage::PgConnection&)> fn) {
  return ctx.pool->run<T>(std::move(fn)).get();
}

// Whether a gRPC peer string names a local caller (127.0.0.0/8, ::1, a unix socket).
bool isLoopbackPeer(const std::string& peer);

// Checks the caller's bearer token (metadata `authorization: Bearer TOKEN`) and role: missing
// or unknown tokens are UNAUTHENTICATED, a viewer calling an operator method PERMISSION_DENIED.
// Without configured tokens (loopback only) every local caller is the operator "local".
grpc::Status authorize(grpc::ServerContext* context, const DaemonConfig& config, Role needed,
                       const char* method, Caller& caller);

// Authorises, runs `body`, counts the call in the metrics.
grpc::Status handleCall(const ApiContext& ctx, grpc::ServerContext* context, const char* method,
                        Role needed,
                        const std::function<grpc::Status(const Caller&, const DaemonConfig&)>& body);

// True while a stream should go on (client still there, daemon not stopping).
bool streamAlive(const ApiContext& ctx, grpc::ServerContext* context);

}  // namespace tlsaudit::scanner
