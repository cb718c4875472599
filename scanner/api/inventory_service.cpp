#include "scanner/api/request_checks.h"
#include "scanner/api/services.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_inventory_store.h"

namespace tlsaudit::scanner {

namespace v1 = tlsaudit::v1;

grpc::Status InventoryServiceImpl::ListAssets(grpc::ServerContext* c,
                                              const v1::ListAssetsRequest* req,
                                              v1::AssetPage* out) {
  return handleCall(ctx_, c, "ListAssets", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    int size = 0;
    if (auto st = checkPageSize(req->page_size(), 100, size); !st.ok()) return toGrpc(st);
    if (auto st = checkAssetFilter(req->filter(), "filter"); !st.ok()) return toGrpc(st);
    auto page = withDatabase<v1::AssetPage>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgInventoryStore(db).listAssets(req->filter(), size, req->page_token());
    });
    if (!page.ok()) return toGrpc(namePageToken(page.status()));
    *out = *std::move(page);
    return grpc::Status::OK;
  });
}

grpc::Status InventoryServiceImpl::GetAsset(grpc::ServerContext* c, const v1::GetAssetRequest* req,
                                            v1::Asset* out) {
  return handleCall(ctx_, c, "GetAsset", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (req->address().empty()) return toGrpc(absl::InvalidArgumentError("address: missing"));
    if (req->address().find('/') != std::string::npos) {
      return toGrpc(absl::InvalidArgumentError("address: one address, not a block"));
    }
    if (auto st = checkAddressOrCidr(req->address(), "address"); !st.ok()) return toGrpc(st);
    auto asset = withDatabase<v1::Asset>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgInventoryStore(db).getAsset(req->address());
    });
    if (!asset.ok()) return toGrpc(asset.status());
    *out = *std::move(asset);
    return grpc::Status::OK;
  });
}

grpc::Status InventoryServiceImpl::ListServices(grpc::ServerContext* c,
                                                const v1::ListServicesRequest* req,
                                                v1::ServicePage* out) {
  return handleCall(ctx_, c, "ListServices", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    int size = 0;
    if (auto st = checkPageSize(req->page_size(), 100, size); !st.ok()) return toGrpc(st);
    if (auto st = checkServiceFilter(req->filter(), "filter"); !st.ok()) return toGrpc(st);
    auto page = withDatabase<v1::ServicePage>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgInventoryStore(db).listServices(req->filter(), size, req->page_token());
    });
    if (!page.ok()) return toGrpc(namePageToken(page.status()));
    *out = *std::move(page);
    return grpc::Status::OK;
  });
}

grpc::Status InventoryServiceImpl::ListCertificates(grpc::ServerContext* c,
                                                    const v1::ListCertificatesRequest* req,
                                                    v1::CertificatePage* out) {
  return handleCall(ctx_, c, "ListCertificates", Role::kViewer,
                    [&](const Caller&, const DaemonConfig&) {
                      int size = 0;
                      if (auto st = checkPageSize(req->page_size(), 100, size); !st.ok()) {
                        return toGrpc(st);
                      }
                      if (auto st = checkCertificateFilter(req->filter(), "filter"); !st.ok()) {
                        return toGrpc(st);
                      }
                      auto page = withDatabase<v1::CertificatePage>(
                          ctx_, [&](storage::PgConnection& db) {
                            return storage::PgInventoryStore(db).listCertificates(
                                req->filter(), size, req->page_token(), req->with_der());
                          });
                      if (!page.ok()) return toGrpc(namePageToken(page.status()));
                      *out = *std::move(page);
                      return grpc::Status::OK;
                    });
}

grpc::Status SummaryServiceImpl::GetSummary(grpc::ServerContext* c, const v1::GetSummaryRequest*,
                                            v1::FleetSummary* out) {
  return handleCall(ctx_, c, "GetSummary", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    auto summary = withDatabase<v1::FleetSummary>(
        ctx_, [&](storage::PgConnection& db) { return storage::PgInventoryStore(db).fleetSummary(); });
    if (!summary.ok()) return toGrpc(summary.status());
    *out = *std::move(summary);
    return grpc::Status::OK;
  });
}

grpc::Status SummaryServiceImpl::DiffScans(grpc::ServerContext* c, const v1::DiffScansRequest* req,
                                           v1::ScanDiff* out) {
  return handleCall(ctx_, c, "DiffScans", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkId(req->from_scan_id(), "from_scan_id"); !st.ok()) return toGrpc(st);
    if (auto st = checkId(req->to_scan_id(), "to_scan_id"); !st.ok()) return toGrpc(st);
    auto diff = withDatabase<v1::ScanDiff>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgFindingStore(db).diffScans(req->from_scan_id(), req->to_scan_id());
    });
    if (!diff.ok()) return toGrpc(diff.status());
    *out = *std::move(diff);
    return grpc::Status::OK;
  });
}

}  // namespace tlsaudit::scanner
