// Checks of API requests before anything reaches the database. Every error is
// INVALID_ARGUMENT-worthy and names the field as the request spells it ("filter.address",
// "page_size").
#pragma once

#include <string>

#include "absl/status/status.h"
#include "tlsaudit/v1/api.pb.h"

namespace tlsaudit::scanner {

// 0 means `fallback`; otherwise 1..1000.
absl::Status checkPageSize(int32_t page_size, int fallback, int& out);
// A storage id: decimal digits.
absl::Status checkId(const std::string& value, const std::string& field);
// At most `max` bytes.
absl::Status checkText(const std::string& value, const std::string& field, size_t max = 200);
// At most 100 rule ids, none empty or longer than 200 bytes.
absl::Status checkRuleIds(const google::protobuf::RepeatedPtrField<std::string>& ids,
                          const std::string& field);
// WatchFindings: kinds (at most 16, each a change kind), rule_ids, min_severity, after.
absl::Status checkWatchRequest(const tlsaudit::v1::WatchFindingsRequest& req);
// An address or a CIDR block (no port, no name).
absl::Status checkAddressOrCidr(const std::string& value, const std::string& field);

absl::Status checkFindingFilter(const tlsaudit::v1::FindingFilter& f, const std::string& field);
absl::Status checkAssetFilter(const tlsaudit::v1::AssetFilter& f, const std::string& field);
absl::Status checkServiceFilter(const tlsaudit::v1::ServiceFilter& f, const std::string& field);
absl::Status checkCertificateFilter(const tlsaudit::v1::CertificateFilter& f,
                                    const std::string& field);
absl::Status checkWaiver(const tlsaudit::v1::Waiver& w, const std::string& field);

// A storage error about a page token, reworded to name the field.
absl::Status namePageToken(const absl::Status& status);

}  // namespace tlsaudit::scanner
