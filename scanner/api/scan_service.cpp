#include <google/protobuf/util/message_differencer.h>

#include <thread>

#include "scanner/api/request_checks.h"
#include "scanner/api/services.h"
#include "scanner/daemon/scan_starter.h"
#include "storage/pg_scan_queue.h"

namespace tlsaudit::scanner {

namespace v1 = tlsaudit::v1;

grpc::Status ScanServiceImpl::StartScan(grpc::ServerContext* c, const v1::StartScanRequest* req,
                                        v1::Scan* out) {
  return handleCall(ctx_, c, "StartScan", Role::kOperator,
                    [&](const Caller& caller, const DaemonConfig& config) {
                      auto planned = planScan(config, *req, caller.name);
                      if (!planned.ok()) return toGrpc(planned.status());
                      auto scan = withDatabase<v1::Scan>(ctx_, [&](storage::PgConnection& db) {
                        return createPlannedScan(db, *planned, /*own_transaction=*/true);
                      });
                      if (!scan.ok()) return toGrpc(scan.status());
                      *out = *std::move(scan);
                      if (ctx_.scans_changed) ctx_.scans_changed();
                      return grpc::Status::OK;
                    });
}

grpc::Status ScanServiceImpl::GetScan(grpc::ServerContext* c, const v1::GetScanRequest* req,
                                      v1::Scan* out) {
  return handleCall(ctx_, c, "GetScan", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkId(req->id(), "id"); !st.ok()) return toGrpc(st);
    auto scan = withDatabase<v1::Scan>(
        ctx_, [&](storage::PgConnection& db) { return storage::PgScanQueue(db).getScan(req->id()); });
    if (!scan.ok()) return toGrpc(scan.status());
    *out = *std::move(scan);
    return grpc::Status::OK;
  });
}

grpc::Status ScanServiceImpl::ListScans(grpc::ServerContext* c, const v1::ListScansRequest* req,
                                        v1::ListScansResponse* out) {
  return handleCall(ctx_, c, "ListScans", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    int size = 0;
    if (auto st = checkPageSize(req->page_size(), 50, size); !st.ok()) return toGrpc(st);
    std::vector<v1::ScanState> states;
    for (int i = 0; i < req->states_size(); ++i) {
      if (!v1::ScanState_IsValid(req->states(i)) || req->states(i) == 0) {
        return toGrpc(absl::InvalidArgumentError("states[" + std::to_string(i) + "]: " +
                                                 std::to_string(req->states(i)) +
                                                 " is not a scan state"));
      }
      states.push_back(static_cast<v1::ScanState>(req->states(i)));
    }
    auto page = withDatabase<v1::ListScansResponse>(ctx_, [&](storage::PgConnection& db)
                                                              -> absl::StatusOr<v1::ListScansResponse> {
      std::string next;
      auto scans = storage::PgScanQueue(db).listScans(states, req->group(), size,
                                                      req->page_token(), next);
      if (!scans.ok()) return scans.status();
      v1::ListScansResponse r;
      for (auto& s : *scans) *r.add_scans() = std::move(s);
      r.set_next_page_token(next);
      return r;
    });
    if (!page.ok()) return toGrpc(namePageToken(page.status()));
    *out = *std::move(page);
    return grpc::Status::OK;
  });
}

grpc::Status ScanServiceImpl::CancelScan(grpc::ServerContext* c, const v1::CancelScanRequest* req,
                                         v1::Scan* out) {
  return handleCall(ctx_, c, "CancelScan", Role::kOperator, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkId(req->id(), "id"); !st.ok()) return toGrpc(st);
    auto scan = withDatabase<v1::Scan>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgScanQueue(db).cancelScan(req->id());
    });
    if (!scan.ok()) return toGrpc(scan.status());
    *out = *std::move(scan);
    return grpc::Status::OK;
  });
}

grpc::Status ScanServiceImpl::WatchScan(grpc::ServerContext* c, const v1::WatchScanRequest* req,
                                        grpc::ServerWriter<v1::Scan>* out) {
  return handleCall(ctx_, c, "WatchScan", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkId(req->id(), "id"); !st.ok()) return toGrpc(st);
    std::string last;
    while (streamAlive(ctx_, c)) {
      auto scan = withDatabase<v1::Scan>(ctx_, [&](storage::PgConnection& db) {
        return storage::PgScanQueue(db).getScan(req->id());
      });
      if (!scan.ok()) {
        // A database hiccup does not end the watch; an unknown scan does.
        if (scan.status().code() != absl::StatusCode::kUnavailable) return toGrpc(scan.status());
      } else {
        std::string now = scan->SerializeAsString();
        if (now != last) {
          if (!out->Write(*scan)) return grpc::Status::OK;  // the client went away
          last = std::move(now);
        }
        auto st = scan->state();
        if (st == v1::SCAN_DONE || st == v1::SCAN_CANCELLED || st == v1::SCAN_FAILED) {
          return grpc::Status::OK;
        }
      }
      std::this_thread::sleep_for(ctx_.watch_poll);
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
  });
}

}  // namespace tlsaudit::scanner
