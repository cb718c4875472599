// Read side of what scans observed: assets, services, certificates, the fleet summary, and
// retention of old observations.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/report.pb.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::storage {

// Bound to one database session, used by one thread at a time (see finding_store.h).
class InventoryStore {
 public:
  virtual ~InventoryStore() = default;

  // Keyset-paginated lists (page_size 1..1000; page_token "" or a previous next_page_token).
  virtual absl::StatusOr<tlsaudit::v1::AssetPage> listAssets(const tlsaudit::v1::AssetFilter& f,
                                                             int page_size,
                                                             const std::string& page_token) = 0;
  virtual absl::StatusOr<tlsaudit::v1::ServicePage> listServices(
      const tlsaudit::v1::ServiceFilter& f, int page_size, const std::string& page_token) = 0;
  // `with_der`: include each certificate's DER (large).
  virtual absl::StatusOr<tlsaudit::v1::CertificatePage> listCertificates(
      const tlsaudit::v1::CertificateFilter& f, int page_size, const std::string& page_token,
      bool with_der) = 0;

  // One asset by its primary address, with its services as stored (kNotFound when unknown).
  virtual absl::StatusOr<tlsaudit::v1::Asset> getAsset(const std::string& address) = 0;

  // The newest stored report of a service ("ip:port"), certificate DER put back in.
  virtual absl::StatusOr<tlsaudit::v1::TlsReport> latestReport(const std::string& service) = 0;

  // Counts over the latest observation of every service and the open findings.
  virtual absl::StatusOr<tlsaudit::v1::FleetSummary> fleetSummary() = 0;

  // Deletes observations (and their normalised rows and chain positions) older than
  // `max_age_days`, except each service's latest; findings and their history are kept, and so
  // are certificates. Returns the number of observations deleted.
  virtual absl::StatusOr<int64_t> dropObservationsOlderThan(int max_age_days) = 0;
};

}  // namespace tlsaudit::storage
