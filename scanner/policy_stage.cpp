#include "scanner/policy_stage.h"

namespace tlsaudit::scanner {

void addPolicyOptions(CLI::App* cmd, PolicyArgs& args) {
  cmd->add_option("--profile", args.profile,
                  "compliance profile: baseline, nist-sp800-52r2, pci-dss-4.0, mozilla-modern, "
                  "mozilla-intermediate, mozilla-old, bsi-tr-02102-2, rfc7568, rfc8996, rfc9155, "
                  "or one from a --policy file")
      ->capture_default_str();
  cmd->add_option("--policy", args.policy_files,
                  "rule or profile file (YAML) that adds or overrides rules; repeatable");
  cmd->add_option("--waivers", args.waivers_file, "waivers file (YAML)");
  cmd->add_option("--fail-on", args.fail_on,
                  "exit 1 when an open finding at or above this severity remains")
      ->check(CLI::IsMember({"none", "info", "low", "medium", "high", "critical"}))
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<PolicyStage>> PolicyStage::create(const PolicyArgs& args,
                                                                 int64_t now) {
  auto lib = rules::PolicyLibrary::shipped();
  if (!lib.ok()) return lib.status();
  for (const auto& file : args.policy_files) {
    auto st = lib->addFile(file, /*user=*/true);
    if (!st.ok()) return st;
  }
  auto compiled = lib->compile({args.profile});
  if (!compiled.ok()) {
    return absl::InvalidArgumentError("--profile: " + std::string(compiled.status().message()));
  }
  std::unique_ptr<PolicyStage> stage(new PolicyStage(*std::move(lib), *std::move(compiled)));
  stage->profile_ = args.profile;
  stage->now_ = now;
  stage->fail_on_ =
      args.fail_on == "none" ? v1::SEVERITY_UNSPECIFIED : rules::severityFromText(args.fail_on);
  if (!args.waivers_file.empty()) {
    auto set = rules::loadWaivers(args.waivers_file);
    if (!set.ok()) return set.status();
    if (!set->malformed.empty()) {
      // A waiver that cannot be read must not silently leave findings open (or closed).
      std::string msg = std::to_string(set->malformed.size()) + " malformed waiver" +
                        (set->malformed.size() == 1 ? "" : "s") + " in " + args.waivers_file +
                        " (fix or remove them):";
      for (const auto& p : set->malformed) msg += "\n  " + p.where + ": " + p.message;
      return absl::InvalidArgumentError(msg);
    }
    for (const auto& w : set->waivers) {
      if (!stage->library_.rule(w.rule_id())) {
        return absl::InvalidArgumentError(w.origin() + ": waiver names unknown rule '" +
                                          w.rule_id() + "'");
      }
    }
    for (const auto& p : rules::expiredWaivers(*set, now)) {
      stage->warnings_.push_back(p.where + ": " + p.message);
    }
    stage->waivers_ = *std::move(set);
  }
  return stage;
}

std::vector<v1::Finding> PolicyStage::evaluate(const v1::TlsReport& report,
                                               const v1::Asset& asset) {
  // A copy costs microseconds; probing the endpoint took milliseconds.
  v1::RuleInput input;
  *input.mutable_tls() = report;
  *input.mutable_asset() = asset;
  std::vector<v1::Finding> out;
  policy_.evaluate(input, now_, scratch_, out);
  for (auto& f : out) {
    rules::applyWaivers(waivers_, now_, asset, report.target().port(), f);
    if (f.state() == v1::OPEN && fail_on_ != v1::SEVERITY_UNSPECIFIED && f.severity() >= fail_on_) {
      failed_ = true;
    }
  }
  return out;
}

}  // namespace tlsaudit::scanner
