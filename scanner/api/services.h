// The tlsaudit.v1 gRPC services (proto/tlsaudit/v1/api.proto) over the storage layer.
#pragma once

#include "scanner/api/api_context.h"
#include "tlsaudit/v1/api.grpc.pb.h"

namespace tlsaudit::scanner {

class ScanServiceImpl final : public tlsaudit::v1::ScanService::Service {
 public:
  explicit ScanServiceImpl(const ApiContext& ctx) : ctx_(ctx) {}
  grpc::Status StartScan(grpc::ServerContext* c, const tlsaudit::v1::StartScanRequest* req,
                         tlsaudit::v1::Scan* out) override;
  grpc::Status GetScan(grpc::ServerContext* c, const tlsaudit::v1::GetScanRequest* req,
                       tlsaudit::v1::Scan* out) override;
  grpc::Status ListScans(grpc::ServerContext* c, const tlsaudit::v1::ListScansRequest* req,
                         tlsaudit::v1::ListScansResponse* out) override;
  grpc::Status CancelScan(grpc::ServerContext* c, const tlsaudit::v1::CancelScanRequest* req,
                          tlsaudit::v1::Scan* out) override;
  grpc::Status WatchScan(grpc::ServerContext* c, const tlsaudit::v1::WatchScanRequest* req,
                         grpc::ServerWriter<tlsaudit::v1::Scan>* out) override;

 private:
  const ApiContext& ctx_;
};

class InventoryServiceImpl final : public tlsaudit::v1::InventoryService::Service {
 public:
  explicit InventoryServiceImpl(const ApiContext& ctx) : ctx_(ctx) {}
  grpc::Status ListAssets(grpc::ServerContext* c, const tlsaudit::v1::ListAssetsRequest* req,
                          tlsaudit::v1::AssetPage* out) override;
  grpc::Status GetAsset(grpc::ServerContext* c, const tlsaudit::v1::GetAssetRequest* req,
                        tlsaudit::v1::Asset* out) override;
  grpc::Status ListServices(grpc::ServerContext* c, const tlsaudit::v1::ListServicesRequest* req,
                            tlsaudit::v1::ServicePage* out) override;
  grpc::Status ListCertificates(grpc::ServerContext* c,
                                const tlsaudit::v1::ListCertificatesRequest* req,
                                tlsaudit::v1::CertificatePage* out) override;

 private:
  const ApiContext& ctx_;
};

class FindingServiceImpl final : public tlsaudit::v1::FindingService::Service {
 public:
  explicit FindingServiceImpl(const ApiContext& ctx) : ctx_(ctx) {}
  grpc::Status ListFindings(grpc::ServerContext* c, const tlsaudit::v1::ListFindingsRequest* req,
                            tlsaudit::v1::FindingPage* out) override;
  grpc::Status GetFinding(grpc::ServerContext* c, const tlsaudit::v1::GetFindingRequest* req,
                          tlsaudit::v1::GetFindingResponse* out) override;
  grpc::Status WatchFindings(grpc::ServerContext* c,
                             const tlsaudit::v1::WatchFindingsRequest* req,
                             grpc::ServerWriter<tlsaudit::v1::FindingChange>* out) override;
  grpc::Status CreateWaiver(grpc::ServerContext* c, const tlsaudit::v1::CreateWaiverRequest* req,
                            tlsaudit::v1::Waiver* out) override;
  grpc::Status ListWaivers(grpc::ServerContext* c, const tlsaudit::v1::ListWaiversRequest* req,
                           tlsaudit::v1::ListWaiversResponse* out) override;
  grpc::Status DeleteWaiver(grpc::ServerContext* c, const tlsaudit::v1::DeleteWaiverRequest* req,
                            tlsaudit::v1::DeleteWaiverResponse* out) override;

 private:
  const ApiContext& ctx_;
};

class SummaryServiceImpl final : public tlsaudit::v1::SummaryService::Service {
 public:
  explicit SummaryServiceImpl(const ApiContext& ctx) : ctx_(ctx) {}
  grpc::Status GetSummary(grpc::ServerContext* c, const tlsaudit::v1::GetSummaryRequest* req,
                          tlsaudit::v1::FleetSummary* out) override;
  grpc::Status DiffScans(grpc::ServerContext* c, const tlsaudit::v1::DiffScansRequest* req,
                         tlsaudit::v1::ScanDiff* out) override;

 private:
  const ApiContext& ctx_;
};

}  // namespace tlsaudit::scanner
