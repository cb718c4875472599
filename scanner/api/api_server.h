// The gRPC listener: the tlsaudit.v1 services, grpc.health.v1 and server reflection, over TLS
// when a certificate is configured. Health and reflection answer without a token (they reveal
// the schema, never data); every tlsaudit.v1 method checks the caller's token.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "scanner/api/api_context.h"

namespace grpc {
class Server;
}

namespace tlsaudit::scanner {

class ApiServer {
 public:
  // Binds `listen` (host:port; port 0 picks one, see port()). TLS when both files are set.
  static absl::StatusOr<std::unique_ptr<ApiServer>> start(const ApiContext& ctx,
                                                          const std::string& listen,
                                                          const std::string& tls_certificate,
                                                          const std::string& tls_key);
  ~ApiServer();
  // Ends streams and refuses new calls; waits up to `deadline` for calls in flight.
  void shutdown(std::chrono::milliseconds deadline);
  int port() const { return port_; }
  // Marks the health service SERVING or NOT_SERVING (database reachable or not).
  void setServing(bool serving);

 private:
  ApiServer() = default;
  struct Services;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace tlsaudit::scanner
