// Waivers: an accepted risk for named assets and one rule, with a reason, an owner and an
// expiry. A matching finding is WAIVED until the expiry, then OPEN again. Expired or malformed
// waivers are reported, never silently applied.
//
//   waivers:
//     - asset: {cidr: 10.20.0.0/16, vendor: Polycom}
//       rule: cert-sig-md5
//       reason: vendor firmware 7.2 replaces the device certificate; rollout in Q1
//       owner: voice-team@example.com
//       expires: 2027-03-31          # valid through that day (UTC)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/asset.pb.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::rules {

struct WaiverProblem {
  std::string where;  // file:line:column
  std::string message;
};

struct WaiverSet {
  std::vector<v1::Waiver> waivers;       // well-formed entries
  std::vector<WaiverProblem> malformed;  // entries that were not accepted, with the reason
};

// Loads a waivers file. A file that is not YAML, or not a waivers file, is an error; an entry
// that breaks the schema (or has a bad address, CIDR or date) is listed in `malformed` and not
// applied.
absl::StatusOr<WaiverSet> loadWaivers(const std::string& path);
absl::StatusOr<WaiverSet> parseWaivers(std::string_view text, const std::string& name);

// The waivers that have expired at `now` (unix seconds): "file:line: waiver for RULE on
// SELECTOR expired on DATE".
std::vector<WaiverProblem> expiredWaivers(const WaiverSet& set, int64_t now);

// Whether `w` covers a finding on `address`/`port` of `asset` (asset may be empty).
bool waiverMatches(const v1::Waiver& w, const std::string& rule_id, const std::string& address,
                   uint32_t port, const v1::Asset& asset);

// Marks `finding` WAIVED (with the waiver's id, reason and expiry) when an unexpired waiver
// matches; leaves it OPEN otherwise. Returns whether it was waived.
bool applyWaivers(const WaiverSet& set, int64_t now, const v1::Asset& asset, uint32_t port,
                  v1::Finding& finding);

}  // namespace tlsaudit::rules
