#include "scanner/api/api_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <fstream>
#include <sstream>

#include "scanner/api/services.h"

namespace tlsaudit::scanner {

struct ApiServer::Services {
  explicit Services(const ApiContext& ctx)
      : scans(ctx), inventory(ctx), findings(ctx), summary(ctx) {}
  ScanServiceImpl scans;
  InventoryServiceImpl inventory;
  FindingServiceImpl findings;
  SummaryServiceImpl summary;
};

namespace {

absl::StatusOr<std::string> readPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(std::string("cannot read the gRPC TLS ") + what +
                                                " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::start(const ApiContext& ctx,
                                                            const std::string& listen,
                                                            const std::string& tls_certificate,
                                                            const std::string& tls_key) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->services_ = std::make_unique<Services>(ctx);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!tls_certificate.empty()) {
    auto cert = readPem(tls_certificate, "certificate");
    if (!cert.ok()) return cert.status();
    auto key = readPem(tls_key, "key");
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort(listen, creds, &s->port_);
  builder.RegisterService(&s->services_->scans);
  builder.RegisterService(&s->services_->inventory);
  builder.RegisterService(&s->services_->findings);
  builder.RegisterService(&s->services_->summary);
  // Bounded request size: the largest legitimate request is a StartScan with 10,000 targets.
  builder.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::FailedPreconditionError("cannot listen for gRPC on " + listen +
                                         " (address in use, or not an address of this machine)");
  }
  s->setServing(true);
  return s;
}

void ApiServer::setServing(bool serving) {
  if (server_ && server_->GetHealthCheckService()) {
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
}

void ApiServer::shutdown(std::chrono::milliseconds deadline) {
  if (!server_) return;
  setServing(false);
  server_->Shutdown(std::chrono::system_clock::now() + deadline);
  server_->Wait();
  server_.reset();
}

ApiServer::~ApiServer() { shutdown(std::chrono::milliseconds(1000)); }

}  // namespace tlsaudit::scanner
