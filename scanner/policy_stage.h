// The rules stage of a scan: loads the shipped policy plus the user's files, compiles the chosen
// profile once, applies waivers, and decides the exit code for --fail-on.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rules/policy.h"
#include "rules/waivers.h"
#include "tlsaudit/v1/asset.pb.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::scanner {

struct PolicyArgs {
  std::string profile = "baseline";
  std::vector<std::string> policy_files;
  std::string waivers_file;
  std::string fail_on = "none";
};

// --profile, --policy, --waivers, --fail-on on `cmd`.
void addPolicyOptions(CLI::App* cmd, PolicyArgs& args);

class PolicyStage {
 public:
  // Loads and compiles everything up front, so a bad rule, profile or waiver stops the scan
  // before any packet is sent. `now` is unix seconds (the clock of waivers and rules).
  static absl::StatusOr<std::unique_ptr<PolicyStage>> create(const PolicyArgs& args, int64_t now);

  // Findings for one report (waivers applied). Not thread-safe: call from the sink.
  std::vector<v1::Finding> evaluate(const v1::TlsReport& report,
                                    const v1::Asset& asset = v1::Asset::default_instance());

  // Expired waivers, as "file:line: message" lines (reported once, at start).
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::string& profile() const { return profile_; }
  const rules::CompiledPolicy& policy() const { return policy_; }
  const rules::PolicyLibrary& library() const { return library_; }
  // 1 when an OPEN finding at or above --fail-on was seen, else 0.
  int exitCode() const { return failed_ ? 1 : 0; }

 private:
  PolicyStage(rules::PolicyLibrary library, rules::CompiledPolicy policy)
      : library_(std::move(library)), policy_(std::move(policy)) {}
  rules::PolicyLibrary library_;
  rules::CompiledPolicy policy_;
  rules::CompiledPolicy::Scratch scratch_;
  rules::WaiverSet waivers_;
  std::vector<std::string> warnings_;
  std::string profile_;
  v1::Severity fail_on_ = v1::SEVERITY_UNSPECIFIED;  // unspecified: never fail
  int64_t now_ = 0;
  bool failed_ = false;
};

}  // namespace tlsaudit::scanner
