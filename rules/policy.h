// Policy as data: rules (YAML, a condition over the model), compliance profiles that select and
// parameterise rules, and the compiled form that turns a RuleInput into Findings.
//
//   PolicyLibrary lib = PolicyLibrary::shipped();     // rules/policies/*.yaml, embedded
//   lib.addFile("site-rules.yaml");                   // --policy: adds or overrides rules
//   auto policy = lib.compile({"baseline"});          // compiled once
//   policy->evaluate(input, now, findings);           // many times, any thread (own Scratch)
#pragma once

#include <google/protobuf/arena.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rules/expression.h"
#include "rules/yaml_document.h"
#include "tlsaudit/v1/finding.pb.h"

namespace tlsaudit::rules {

// "info" ... "critical" <-> Severity; unknown text gives SEVERITY_UNSPECIFIED.
v1::Severity severityFromText(std::string_view text);
std::string severityText(v1::Severity severity);

struct RuleDefinition {
  std::string id;
  std::string title;
  v1::Severity severity = v1::SEVERITY_UNSPECIFIED;
  std::string rationale;
  std::string remediation;
  std::vector<std::string> references;
  std::vector<std::string> tags;
  std::vector<std::string> profiles;                      // profiles the rule joins by itself
  Params params;                                          // defaults
  std::vector<std::pair<std::string, std::string>> each;  // variable, path
  std::string condition;
  std::string evidence;  // template; empty: the title
  SourceLocation where;  // the rule's mapping
  bool user = false;     // from a --policy file, not shipped
  // Positions of the texts, so compile errors name line and column.
  std::shared_ptr<const YamlDocument> doc;
  YAML::Node condition_node, evidence_node;
  std::vector<YAML::Node> each_nodes;
};

struct ProfileSelection {
  std::string rule_id;
  std::optional<v1::Severity> severity;
  std::vector<std::string> references;  // clauses of the profile's standard
  Params params;
  SourceLocation where;
};

struct ProfileDefinition {
  std::string id;
  std::string title;
  std::string description;
  std::vector<std::string> references;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::vector<ProfileSelection> rules;
  SourceLocation where;
};

// One rule as a profile uses it: its definition with the profile's severity, params and
// references, resolved through include/exclude.
struct EffectiveRule {
  const RuleDefinition* rule = nullptr;
  v1::Severity severity = v1::SEVERITY_UNSPECIFIED;
  Params params;
  std::vector<std::string> references;
};

class CompiledPolicy;

class PolicyLibrary {
 public:
  // The rules and profiles shipped in rules/policies (embedded in the binary).
  static absl::StatusOr<PolicyLibrary> shipped();
  // An empty library (tests, fuzzing).
  PolicyLibrary();

  // Adds a rule file or a profile file (told apart by the top-level key). Rules with an id that
  // exists replace it. Errors name file:line:column. `user`: rules from --policy files, which
  // join the selected profile unless they name their own `profiles`.
  absl::Status addFile(const std::string& path, bool user = true);
  absl::Status addText(std::string_view text, const std::string& name, bool user);
  // Compiles every rule once with its defaults (what `rules check` does after loading), so a
  // broken condition is reported even when no profile selects it.
  absl::Status checkAll() const;

  const RuleDefinition* rule(std::string_view id) const;
  const ProfileDefinition* profile(std::string_view id) const;
  std::vector<const RuleDefinition*> rules() const;
  std::vector<const ProfileDefinition*> profiles() const;
  // The rules profile `id` selects, resolved.
  absl::StatusOr<std::vector<EffectiveRule>> resolve(std::string_view profile_id) const;
  // Ids of the profiles that select `rule_id` (for Finding.profiles).
  std::vector<std::string> profilesSelecting(std::string_view rule_id) const;

  // Compiles the rules of the given profiles (first one is the primary). With `share_reads` the
  // rules walk each list of an input and read each field they use once, shared between them
  // (InputLayout); without, every use reads the report through reflection: the reference the
  // shared reads are tested against.
  absl::StatusOr<CompiledPolicy> compile(const std::vector<std::string>& profile_ids,
                                         bool share_reads = true) const;

 private:
  absl::Status addRules(std::shared_ptr<const YamlDocument> doc, bool user);
  absl::Status addProfile(std::shared_ptr<const YamlDocument> doc);
  absl::Status resolveInto(std::string_view id, std::vector<EffectiveRule>& out,
                           std::vector<std::string>& stack) const;

  std::map<std::string, std::shared_ptr<RuleDefinition>, std::less<>> rules_;
  std::vector<std::string> rule_order_;
  std::map<std::string, std::shared_ptr<ProfileDefinition>, std::less<>> profiles_;
  std::vector<std::string> profile_order_;
};

// Facts of a finding before a waiver or storage touches it.
struct FindingContext {
  std::string asset;    // primary address
  std::string service;  // ip:port
  std::string host;
};

// Compiled rules of one or more profiles; identical rule instances (same rule, same params) are
// evaluated once per input and shared. Immutable after compile; evaluate() from any thread with
// its own Scratch.
class CompiledPolicy {
 public:
  CompiledPolicy(CompiledPolicy&&) noexcept;
  CompiledPolicy& operator=(CompiledPolicy&&) noexcept;
  ~CompiledPolicy();

  // Per-thread evaluation state, reused across inputs.
  class Scratch {
   public:
    Scratch();
    ~Scratch();
    struct Impl;
    std::unique_ptr<Impl> impl;
  };

  const std::vector<std::string>& profileIds() const;
  size_t ruleInstances() const;

  // Appends the findings of profile `profile_index` (0: the primary) for `input` at `now`
  // (unix seconds). State OPEN; first/last seen = the report's scanned_at (or now).
  void evaluate(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                std::vector<v1::Finding>& out, size_t profile_index = 0) const;
  // Evaluates the rules of every compiled profile once and appends one finding per rule
  // instance that fires (a rule used with different parameters is one instance per parameter
  // set), with the highest severity and all references those profiles give it. Finding.profiles
  // names every profile of the library that selects the rule.
  void evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                   std::vector<v1::Finding>& out) const;
  // The same, creating the findings on `arena`.
  void evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                   google::protobuf::Arena* arena, std::vector<v1::Finding*>& out) const;
  // The same, replacing the contents of `out`. The findings it already holds are overwritten in
  // full and keep the memory of their strings and timestamps, so bulk evaluation that hands each
  // input's findings on (to output or storage) before the next allocates almost nothing.
  void evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                   google::protobuf::RepeatedPtrField<v1::Finding>* out) const;

  // The SARIF/explain view of the rules of the primary profile.
  const std::vector<EffectiveRule>& rules(size_t profile_index = 0) const;

 private:
  friend class PolicyLibrary;
  CompiledPolicy();
  void prepare(const v1::RuleInput& input, int64_t now, Scratch& scratch) const;
  void emit(const v1::RuleInput& input, int64_t now, Scratch& scratch,
            std::vector<v1::Finding>& out, size_t profile_index) const;
  template <typename Sink>
  void evaluateAllInto(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                       Sink&& sink) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The address and service text a finding names for a report ("ip:port", IPv6 in brackets).
FindingContext findingContext(const v1::RuleInput& input);

}  // namespace tlsaudit::rules
