// InventoryStore on PostgreSQL (schema: storage/migrations).
#pragma once

#include "storage/inventory_store.h"
#include "storage/pg_connection.h"

namespace tlsaudit::storage {

// Uses `connection` (not owned) from one thread at a time; cheap to construct per task.
class PgInventoryStore : public InventoryStore {
 public:
  explicit PgInventoryStore(PgConnection& connection) : c_(connection) {}

  absl::StatusOr<tlsaudit::v1::AssetPage> listAssets(const tlsaudit::v1::AssetFilter& f,
                                                     int page_size,
                                                     const std::string& page_token) override;
  absl::StatusOr<tlsaudit::v1::ServicePage> listServices(const tlsaudit::v1::ServiceFilter& f,
                                                         int page_size,
                                                         const std::string& page_token) override;
  absl::StatusOr<tlsaudit::v1::CertificatePage> listCertificates(
      const tlsaudit::v1::CertificateFilter& f, int page_size, const std::string& page_token,
      bool with_der) override;
  absl::StatusOr<tlsaudit::v1::Asset> getAsset(const std::string& address) override;
  absl::StatusOr<tlsaudit::v1::TlsReport> latestReport(const std::string& service) override;
  absl::StatusOr<tlsaudit::v1::FleetSummary> fleetSummary() override;
  absl::StatusOr<int64_t> dropObservationsOlderThan(int max_age_days) override;

 private:
  PgConnection& c_;
};

}  // namespace tlsaudit::storage
