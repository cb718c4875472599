#include "scanner/cli/rules_command.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "rules/policy.h"
#include "rules/waivers.h"
#include "rules/yaml_document.h"
#include "scanner/cli/wall_clock.h"

namespace tlsaudit::scanner {
namespace {

struct RulesArgs {
  std::vector<std::string> files;
  std::vector<std::string> policy_files;
  std::string profile;
  std::string id;
};

int fail(const std::string& what, const std::string& msg) {
  std::cerr << "tlsaudit rules " << what << ": " << msg << "\n";
  return 2;
}

absl::StatusOr<rules::PolicyLibrary> library(const RulesArgs& a) {
  auto lib = rules::PolicyLibrary::shipped();
  if (!lib.ok()) return lib.status();
  for (const auto& f : a.policy_files) {
    auto st = lib->addFile(f, true);
    if (!st.ok()) return st;
  }
  return lib;
}

// The top-level key of a YAML file ("rules", "profile", "waivers"), or "" when unreadable.
std::string fileKind(const std::string& path) {
  auto text = rules::readUserFile(path, "policy file");
  if (!text.ok()) return "";
  auto doc = rules::YamlDocument::parse(*text, path);
  if (!doc.ok() || !doc->root().IsMap()) return "";
  for (const char* k : {"waivers", "profile", "rules"}) {
    if (doc->root()[k]) return k;
  }
  return "";
}

int runCheck(const RulesArgs& a) {
  auto lib = library(a);
  if (!lib.ok()) return fail("check", std::string(lib.status().message()));
  int status = 0;
  for (const auto& file : a.files) {
    if (fileKind(file) == "waivers") {
      auto set = rules::loadWaivers(file);
      if (!set.ok()) {
        std::cerr << std::string(set.status().message()) << "\n";
        status = 2;
        continue;
      }
      for (const auto& p : set->malformed) std::cerr << p.where << ": " << p.message << "\n";
      for (const auto& w : set->waivers) {
        if (!lib->rule(w.rule_id())) {
          std::cerr << w.origin() << ": waiver names unknown rule '" << w.rule_id() << "'\n";
          status = 2;
        }
      }
      for (const auto& p : rules::expiredWaivers(*set, nowUnixSeconds())) {
        std::cerr << p.where << ": warning: " << p.message << "\n";
      }
      if (!set->malformed.empty()) {
        status = 2;
        continue;
      }
      std::cout << file << ": ok (" << set->waivers.size() << " waivers)\n";
      continue;
    }
    size_t before_rules = lib->rules().size();
    size_t before_profiles = lib->profiles().size();
    auto st = lib->addFile(file, true);
    if (st.ok()) st = lib->checkAll();
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      status = 2;
      continue;
    }
    size_t added_profiles = lib->profiles().size() - before_profiles;
    if (fileKind(file) == "profile") {
      std::cout << file << ": ok (profile" << (added_profiles ? "" : ", replaces a shipped one")
                << ")\n";
    } else {
      std::cout << file << ": ok (" << lib->rules().size() - before_rules << " new rules)\n";
    }
  }
  return status;
}

int runList(const RulesArgs& a) {
  auto lib = library(a);
  if (!lib.ok()) return fail("list", std::string(lib.status().message()));
  std::vector<rules::EffectiveRule> list;
  if (!a.profile.empty()) {
    auto rs = lib->resolve(a.profile);
    if (!rs.ok()) return fail("list", std::string(rs.status().message()));
    list = *rs;
  } else {
    for (const auto* r : lib->rules()) list.push_back({r, r->severity, r->params, r->references});
  }
  size_t width = 4;
  for (const auto& e : list) width = std::max(width, e.rule->id.size());
  std::cout << std::string("ID") + std::string(width - 2 + 2, ' ') << "SEVERITY  TITLE\n";
  for (const auto& e : list) {
    std::string sev = rules::severityText(e.severity);
    std::cout << e.rule->id << std::string(width - e.rule->id.size() + 2, ' ') << sev
              << std::string(10 - std::min<size_t>(sev.size(), 9), ' ') << e.rule->title << "\n";
  }
  if (a.profile.empty()) {
    std::cout << "\nprofiles:";
    for (const auto* p : lib->profiles()) std::cout << " " << p->id;
    std::cout << "\n";
  }
  return 0;
}

int runExplain(const RulesArgs& a) {
  auto lib = library(a);
  if (!lib.ok()) return fail("explain", std::string(lib.status().message()));
  const auto* r = lib->rule(a.id);
  if (r == nullptr) {
    std::string known;
    for (const auto* x : lib->rules()) {
      if (x->id.find(a.id) != std::string::npos || a.id.find(x->id) != std::string::npos) {
        known += (known.empty() ? "" : ", ") + x->id;
      }
    }
    return fail("explain", "unknown rule '" + a.id + "'" +
                               (known.empty() ? " (tlsaudit rules list shows them all)"
                                              : " (similar: " + known + ")"));
  }
  auto& o = std::cout;
  o << r->id << ": " << r->title << "\n";
  o << "severity:    " << rules::severityText(r->severity) << "\n";
  o << "defined at:  " << r->where.text() << "\n";
  if (!r->tags.empty()) {
    o << "tags:       ";
    for (const auto& t : r->tags) o << " " << t;
    o << "\n";
  }
  o << "\nwhy:\n  " << r->rationale << "\n\nfix:\n  " << r->remediation << "\n";
  if (!r->references.empty()) {
    o << "\nreferences:\n";
    for (const auto& ref : r->references) o << "  " << ref << "\n";
  }
  o << "\ncondition:\n";
  for (const auto& [var, path] : r->each) o << "  for each " << var << " in " << path << "\n";
  o << "  " << r->condition << "\n";
  if (!r->evidence.empty()) o << "evidence:\n  " << r->evidence << "\n";
  if (!r->params.empty()) {
    o << "parameters (defaults):\n";
    for (const auto& [k, v] : r->params) o << "  " << k << " = " << v.text() << "\n";
  }
  o << "\nprofiles:\n";
  bool any = false;
  for (const auto* p : lib->profiles()) {
    auto rs = lib->resolve(p->id);
    if (!rs.ok()) continue;
    for (const auto& e : *rs) {
      if (e.rule != r) continue;
      any = true;
      o << "  " << p->id << " (" << p->title << "): " << rules::severityText(e.severity);
      for (const auto& [k, v] : e.params) {
        auto d = r->params.find(k);
        if (d != r->params.end() && !(d->second == v)) o << ", " << k << " = " << v.text();
      }
      std::string refs;
      for (const auto& ref : e.references) {
        if (std::find(r->references.begin(), r->references.end(), ref) == r->references.end()) {
          refs += (refs.empty() ? "" : "; ") + ref;
        }
      }
      if (!refs.empty()) o << " [" << refs << "]";
      o << "\n";
    }
  }
  if (!any) o << "  (none; evaluated only when a profile or --policy file selects it)\n";
  return 0;
}

}  // namespace

void addRulesCommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RulesArgs>();
  auto* cmd = app.add_subcommand("rules", "Validate, list and explain compliance rules");
  cmd->require_subcommand(1);
  auto* check = cmd->add_subcommand("check", "Validate rule, profile and waiver files");
  check->add_option("files", args->files, "YAML files")->required();
  check->add_option("--policy", args->policy_files, "load these rule files first (repeatable)");
  check->callback([args, &exit_code] { exit_code = runCheck(*args); });
  auto* list = cmd->add_subcommand("list", "List rules (of a profile)");
  list->add_option("--profile", args->profile, "only the rules this profile selects");
  list->add_option("--policy", args->policy_files, "also load these rule/profile files");
  list->callback([args, &exit_code] { exit_code = runList(*args); });
  auto* explain = cmd->add_subcommand("explain", "Explain one rule and where profiles use it");
  explain->add_option("id", args->id, "rule id")->required();
  explain->add_option("--policy", args->policy_files, "also load these rule/profile files");
  explain->callback([args, &exit_code] { exit_code = runExplain(*args); });
}

}  // namespace tlsaudit::scanner
