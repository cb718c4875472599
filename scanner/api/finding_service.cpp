#include <openssl/rand.h>

#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "scanner/api/request_checks.h"
#include "scanner/api/services.h"
#include "scanner/daemon/waiver_refresh.h"
#include "storage/pg_finding_store.h"
#include "storage/timestamps.h"

namespace tlsaudit::scanner {

namespace v1 = tlsaudit::v1;

namespace {

// Events commit out of id order when ingests overlap: a watcher re-reads this many ids below
// the newest it sent and skips those it has already sent.
constexpr int64_t kLookback = 1000;
constexpr int kBatch = 500;

bool wanted(const v1::WatchFindingsRequest& req, const std::set<std::string>& rules,
            const v1::FindingChange& c) {
  if (req.kinds_size() > 0 &&
      std::find(req.kinds().begin(), req.kinds().end(), c.kind()) == req.kinds().end()) {
    return false;
  }
  if (req.min_severity() != v1::SEVERITY_UNSPECIFIED &&
      c.finding().severity() < req.min_severity()) {
    return false;
  }
  if (!rules.empty() && !rules.count(c.finding().rule_id())) return false;
  return true;
}

// The rules whose findings a change of waiver `id` can move: the rule it had, and `rule_id`.
std::vector<std::string> rulesOf(const std::vector<v1::Waiver>& before, const std::string& id,
                                 const std::string& rule_id) {
  std::vector<std::string> out;
  if (!rule_id.empty()) out.push_back(rule_id);
  for (const auto& w : before) {
    if (w.id() == id && w.rule_id() != rule_id) out.push_back(w.rule_id());
  }
  return out;
}

}  // namespace

grpc::Status FindingServiceImpl::ListFindings(grpc::ServerContext* c,
                                              const v1::ListFindingsRequest* req,
                                              v1::FindingPage* out) {
  return handleCall(ctx_, c, "ListFindings", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    int size = 0;
    if (auto st = checkPageSize(req->page_size(), 100, size); !st.ok()) return toGrpc(st);
    if (auto st = checkFindingFilter(req->filter(), "filter"); !st.ok()) return toGrpc(st);
    auto page = withDatabase<v1::FindingPage>(ctx_, [&](storage::PgConnection& db) {
      return storage::PgFindingStore(db).listFindings(req->filter(), size, req->page_token());
    });
    if (!page.ok()) return toGrpc(namePageToken(page.status()));
    *out = *std::move(page);
    return grpc::Status::OK;
  });
}

grpc::Status FindingServiceImpl::GetFinding(grpc::ServerContext* c,
                                            const v1::GetFindingRequest* req,
                                            v1::GetFindingResponse* out) {
  return handleCall(ctx_, c, "GetFinding", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkId(req->id(), "id"); !st.ok()) return toGrpc(st);
    auto f = withDatabase<v1::GetFindingResponse>(
        ctx_, [&](storage::PgConnection& db) { return storage::PgFindingStore(db).getFinding(req->id()); });
    if (!f.ok()) return toGrpc(f.status());
    *out = *std::move(f);
    return grpc::Status::OK;
  });
}

grpc::Status FindingServiceImpl::WatchFindings(grpc::ServerContext* c,
                                               const v1::WatchFindingsRequest* req,
                                               grpc::ServerWriter<v1::FindingChange>* out) {
  return handleCall(ctx_, c, "WatchFindings", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    if (auto st = checkWatchRequest(*req); !st.ok()) return toGrpc(st);
    const std::set<std::string> rules(req->rule_ids().begin(), req->rule_ids().end());
    int64_t cursor = 0;
    if (!req->after().empty()) {
      cursor = std::stoll(req->after());
    } else {
      auto last = withDatabase<int64_t>(ctx_, [&](storage::PgConnection& db) {
        return storage::PgFindingStore(db).lastFindingEventId();
      });
      if (!last.ok()) return toGrpc(last.status());
      cursor = *last;
    }
    // Ids at or below `cursor - kLookback` are done; above it, `sent` says what was written.
    std::set<int64_t> sent;
    int64_t floor = cursor;
    while (streamAlive(ctx_, c)) {
      bool more = true;
      int64_t from = std::max(floor, cursor - kLookback);
      while (more && streamAlive(ctx_, c)) {
        auto changes = withDatabase<std::vector<v1::FindingChange>>(
            ctx_, [&](storage::PgConnection& db) {
              return storage::PgFindingStore(db).findingChanges(from, kBatch);
            });
        if (!changes.ok()) {
          if (changes.status().code() == absl::StatusCode::kUnavailable) break;
          return toGrpc(changes.status());
        }
        more = static_cast<int>(changes->size()) == kBatch;
        for (auto& ch : *changes) {
          int64_t id = std::stoll(ch.id());
          from = std::max(from, id);
          if (id <= floor || sent.count(id)) continue;
          sent.insert(id);
          cursor = std::max(cursor, id);
          if (!wanted(*req, rules, ch)) continue;
          if (!out->Write(ch)) return grpc::Status::OK;
        }
        // Forget what can no longer arrive late, batch by batch: replaying a long history
        // keeps at most kLookback ids in memory.
        while (!sent.empty() && *sent.begin() <= cursor - kLookback) {
          floor = std::max(floor, *sent.begin());
          sent.erase(sent.begin());
        }
      }
      std::this_thread::sleep_for(ctx_.watch_poll);
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
  });
}

grpc::Status FindingServiceImpl::CreateWaiver(grpc::ServerContext* c,
                                              const v1::CreateWaiverRequest* req, v1::Waiver* out) {
  return handleCall(ctx_, c, "CreateWaiver", Role::kOperator,
                    [&](const Caller& caller, const DaemonConfig&) {
                      if (!req->has_waiver()) {
                        return toGrpc(absl::InvalidArgumentError("waiver: missing"));
                      }
                      v1::Waiver w = req->waiver();
                      if (auto st = checkWaiver(w, "waiver"); !st.ok()) return toGrpc(st);
                      auto lib = ctx_.library();
                      if (lib->rule(w.rule_id()) == nullptr) {
                        return toGrpc(absl::InvalidArgumentError(
                            "waiver.rule_id: no rule '" + w.rule_id() +
                            "' (see tlsaudit rules list)"));
                      }
                      if (w.id().empty()) {
                        unsigned char bytes[8];
                        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
                          return toGrpc(absl::InternalError("no random bytes for a waiver id"));
                        }
                        w.set_id("api-" + absl::BytesToHexString(absl::string_view(
                                              reinterpret_cast<const char*>(bytes), sizeof(bytes))));
                      }
                      w.set_origin("api:" + caller.name);
                      *w.mutable_created() = storage::nowTimestamp();
                      auto st = withDatabase<bool>(ctx_, [&](storage::PgConnection& db)
                                                             -> absl::StatusOr<bool> {
                        auto existing = storage::PgFindingStore(db).listWaivers();
                        if (!existing.ok()) return existing.status();
                        for (const auto& e : *existing) {
                          if (e.id() == w.id() && e.origin().rfind("api:", 0) != 0) {
                            return absl::FailedPreconditionError(
                                "waiver.id: '" + w.id() + "' comes from " + e.origin() +
                                "; change it there");
                          }
                        }
                        auto put = storage::PgFindingStore(db).putWaiver(w);
                        if (!put.ok()) return put;
                        // Its findings are WAIVED now (and a changed selector releases others).
                        auto changed = refreshWaivers(
                            db, {storage::WaiverRefreshScope::kRules, rulesOf(*existing, w.id(), w.rule_id()), 0},
                            std::time(nullptr));
                        if (!changed.ok()) return changed.status();
                        return true;
                      });
                      if (!st.ok()) return toGrpc(st.status());
                      *out = w;
                      return grpc::Status::OK;
                    });
}

grpc::Status FindingServiceImpl::ListWaivers(grpc::ServerContext* c, const v1::ListWaiversRequest*,
                                             v1::ListWaiversResponse* out) {
  return handleCall(ctx_, c, "ListWaivers", Role::kViewer, [&](const Caller&, const DaemonConfig&) {
    auto list = withDatabase<std::vector<v1::Waiver>>(
        ctx_, [&](storage::PgConnection& db) { return storage::PgFindingStore(db).listWaivers(); });
    if (!list.ok()) return toGrpc(list.status());
    for (auto& w : *list) *out->add_waivers() = std::move(w);
    return grpc::Status::OK;
  });
}

grpc::Status FindingServiceImpl::DeleteWaiver(grpc::ServerContext* c,
                                              const v1::DeleteWaiverRequest* req,
                                              v1::DeleteWaiverResponse*) {
  return handleCall(ctx_, c, "DeleteWaiver", Role::kOperator, [&](const Caller&, const DaemonConfig&) {
    if (req->id().empty()) return toGrpc(absl::InvalidArgumentError("id: missing"));
    if (auto st = checkText(req->id(), "id", 100); !st.ok()) return toGrpc(st);
    auto st = withDatabase<bool>(ctx_, [&](storage::PgConnection& db) -> absl::StatusOr<bool> {
      auto existing = storage::PgFindingStore(db).listWaivers();
      if (!existing.ok()) return existing.status();
      for (const auto& e : *existing) {
        if (e.id() == req->id() && e.origin().rfind("api:", 0) != 0) {
          return absl::FailedPreconditionError("id: waiver '" + req->id() + "' comes from " +
                                               e.origin() + "; remove it there and reload");
        }
      }
      auto del = storage::PgFindingStore(db).deleteWaiver(req->id());
      if (!del.ok()) return del;
      // What it waived is OPEN again now, unless another waiver covers it.
      auto changed = refreshWaivers(
          db, {storage::WaiverRefreshScope::kRules, rulesOf(*existing, req->id(), ""), 0},
          std::time(nullptr));
      if (!changed.ok()) return changed.status();
      return true;
    });
    return toGrpc(st.status());
  });
}

}  // namespace tlsaudit::scanner
