#include "rules/policy.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <sstream>

#include "rules/embedded.h"

namespace tlsaudit::rules {
namespace {

// Evidence names at most this many matching items, then "(and N more)".
constexpr size_t kMaxEvidenceItems = 8;

const YamlSchema& schema(std::string_view name) {
  // Loaded once; the embedded schemas are part of the build and tested.
  static const auto* rules =
      new YamlSchema(*YamlSchema::load(embeddedSchema("rules.schema.json"), "rules.schema.json"));
  static const auto* profile = new YamlSchema(
      *YamlSchema::load(embeddedSchema("profile.schema.json"), "profile.schema.json"));
  return name == "rules" ? *rules : *profile;
}

std::vector<std::string> strings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n || !n.IsSequence()) return out;
  for (const auto& item : n) out.push_back(item.Scalar());
  return out;
}

std::string text(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : std::string(); }

ParamValue paramFromNode(const YAML::Node& n) {
  if (n.IsSequence()) {
    ParamValue p;
    p.kind = ParamValue::Kind::kList;
    for (const auto& item : n) p.list.push_back(paramFromText(item.Scalar()));
    return p;
  }
  return paramFromText(n.Scalar());
}

Params params(const YAML::Node& n) {
  Params out;
  if (!n || !n.IsMap()) return out;
  for (auto it = n.begin(); it != n.end(); ++it) {
    out[it->first.Scalar()] = paramFromNode(it->second);
  }
  return out;
}

std::string paramsKey(const Params& p) {
  std::string key;
  for (const auto& [k, v] : p) key += k + "=" + v.text() + ";";
  return key;
}

void appendUnique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& s : from) {
    if (std::find(to.begin(), to.end(), s) == to.end()) to.push_back(s);
  }
}

}  // namespace

v1::Severity severityFromText(std::string_view t) {
  if (t == "info") return v1::INFO;
  if (t == "low") return v1::LOW;
  if (t == "medium") return v1::MEDIUM;
  if (t == "high") return v1::HIGH;
  if (t == "critical") return v1::CRITICAL;
  return v1::SEVERITY_UNSPECIFIED;
}

std::string severityText(v1::Severity s) {
  switch (s) {
    case v1::INFO:
      return "info";
    case v1::LOW:
      return "low";
    case v1::MEDIUM:
      return "medium";
    case v1::HIGH:
      return "high";
    case v1::CRITICAL:
      return "critical";
    default:
      return "unspecified";
  }
}

FindingContext findingContext(const v1::RuleInput& input) {
  FindingContext c;
  const auto& t = input.tls().target();
  c.asset = !t.ip().empty() ? t.ip() : t.host();
  if (c.asset.empty() && input.asset().addresses_size() > 0) c.asset = input.asset().addresses(0);
  bool v6 = c.asset.find(':') != std::string::npos;
  c.service = (v6 ? "[" + c.asset + "]" : c.asset) + ":" + std::to_string(t.port());
  c.host = t.host();
  return c;
}

namespace {

struct Instance {
  const RuleDefinition* rule = nullptr;
  std::string key;
  std::vector<MessagePath> each;
  std::optional<Expression> condition;
  std::optional<Expression> evidence;
  std::vector<std::string> profiles;  // every profile in the library that selects the rule
  // The evidence template's slot in Scratch's per-combination memo when another instance of the
  // same group renders the same text from the same bindings; -1: rendered directly.
  int shared_evidence = -1;
};

// Compiles one rule with `params`; errors name file:line:column of the text at fault. With a
// layout, the rule's lists and field reads are registered there, shared with the other rules of
// the policy.
absl::StatusOr<Instance> compileInstance(const RuleDefinition& r, const Params& params,
                                         InputLayout* layout = nullptr) {
  Instance inst;
  inst.rule = &r;
  CompileScope scope;
  scope.root = v1::RuleInput::descriptor();
  scope.params = &params;
  scope.layout = layout;
  auto at = [&](const YAML::Node& node, const ExpressionError& e, std::string_view what) {
    SourceLocation loc = r.doc ? r.doc->at(node, e.offset) : r.where;
    return absl::InvalidArgumentError(loc.text() + ": rule '" + r.id + "' " + std::string(what) +
                                      ": " + e.message);
  };
  for (size_t i = 0; i < r.each.size(); ++i) {
    const auto& [var, path] = r.each[i];
    for (const auto& [prev, desc] : scope.bound) {
      if (prev == var) {
        ExpressionError e{0, "variable '" + var + "' is bound twice"};
        return at(r.each_nodes[i], e, "each");
      }
    }
    ExpressionError err;
    auto mp = MessagePath::compile(path, scope, &err);
    if (!mp.ok()) {
      err.offset += var.size() + 4;  // "VAR in " precedes the path in the file
      return at(r.each_nodes[i], err, "each");
    }
    scope.bound.emplace_back(var, mp->elementType());
    scope.bound_sets.push_back(mp->set());
    inst.each.push_back(*std::move(mp));
  }
  ExpressionError err;
  auto cond = Expression::compile(r.condition, scope, &err);
  if (!cond.ok()) return at(r.condition_node, err, "condition");
  if (!cond->isBool()) {
    ExpressionError e{0, "the condition must be true or false, not a value"};
    return at(r.condition_node, e, "condition");
  }
  inst.condition = *std::move(cond);
  if (!r.evidence.empty()) {
    auto ev = Expression::compileTemplate(r.evidence, scope, &err);
    if (!ev.ok()) return at(r.evidence_node, err, "evidence");
    inst.evidence = *std::move(ev);
  }
  inst.key = r.id + "|" + paramsKey(params);
  return inst;
}

}  // namespace

// ---- library ---------------------------------------------------------------------------------

PolicyLibrary::PolicyLibrary() = default;

absl::StatusOr<PolicyLibrary> PolicyLibrary::shipped() {
  PolicyLibrary lib;
  for (const auto& [name, body] : embeddedPolicyFiles()) {
    auto st = lib.addText(body, "rules/policies/" + std::string(name), /*user=*/false);
    if (!st.ok()) return st;
  }
  return lib;
}

absl::Status PolicyLibrary::addFile(const std::string& path, bool user) {
  auto data = readUserFile(path, "policy file");
  if (!data.ok()) return data.status();
  return addText(*data, path, user);
}

absl::Status PolicyLibrary::addText(std::string_view body, const std::string& name, bool user) {
  if (body.size() > kMaxUserFileBytes) {
    return absl::InvalidArgumentError(name + ": larger than 4 MiB; not a policy file");
  }
  auto parsed = YamlDocument::parse(body, name);
  if (!parsed.ok()) return parsed.status();
  auto doc = std::make_shared<const YamlDocument>(*std::move(parsed));
  const YAML::Node& root = doc->root();
  if (root.IsMap() && root["profile"]) return addProfile(doc);
  if (root.IsMap() && root["rules"]) return addRules(doc, user);
  if (root.IsMap() && root["waivers"]) {
    return doc->error(root, "", "this is a waivers file; pass it with --waivers");
  }
  return doc->error(root, "",
                    "expected a rule file (top-level key 'rules') or a profile (key 'profile')");
}

absl::Status PolicyLibrary::addRules(std::shared_ptr<const YamlDocument> doc, bool user) {
  auto st = schema("rules").validate(*doc);
  if (!st.ok()) return st;
  const YAML::Node& list = doc->root()["rules"];
  std::map<std::string, SourceLocation> seen;
  std::vector<std::shared_ptr<RuleDefinition>> parsed;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& n = list[i];
    auto r = std::make_shared<RuleDefinition>();
    r->id = n["id"].Scalar();
    if (auto it = seen.find(r->id); it != seen.end()) {
      return doc->error(n["id"], "rules[" + std::to_string(i) + "].id",
                        "duplicate rule id '" + r->id + "' (first at " + it->second.text() + ")");
    }
    r->where = doc->at(n);
    seen[r->id] = r->where;
    r->title = n["title"].Scalar();
    r->severity = severityFromText(n["severity"].Scalar());
    r->rationale = text(n["rationale"]);
    r->remediation = text(n["remediation"]);
    r->references = strings(n["references"]);
    r->tags = strings(n["tags"]);
    r->profiles = strings(n["profiles"]);
    r->params = params(n["params"]);
    r->condition = n["condition"].Scalar();
    r->condition_node = n["condition"];
    if (n["evidence"]) {
      r->evidence = n["evidence"].Scalar();
      r->evidence_node = n["evidence"];
    }
    if (const YAML::Node& each = n["each"]) {
      std::vector<YAML::Node> items;
      if (each.IsSequence()) {
        for (const auto& b : each) items.push_back(b);
      } else {
        items.push_back(each);
      }
      for (const auto& b : items) {
        const std::string& s = b.Scalar();
        size_t in = s.find(" in ");
        r->each.emplace_back(s.substr(0, in), s.substr(in + 4));
        r->each_nodes.push_back(b);
      }
    }
    r->user = user;
    r->doc = doc;
    parsed.push_back(std::move(r));
  }
  // Compile every rule with its defaults now, so a broken file fails as a whole and nothing
  // of it is half-added.
  for (const auto& r : parsed) {
    auto inst = compileInstance(*r, r->params);
    if (!inst.ok()) return inst.status();
  }
  for (const auto& r : parsed) {
    if (!rules_.count(r->id)) rule_order_.push_back(r->id);
    rules_[r->id] = r;
  }
  return absl::OkStatus();
}

absl::Status PolicyLibrary::addProfile(std::shared_ptr<const YamlDocument> doc) {
  auto st = schema("profile").validate(*doc);
  if (!st.ok()) return st;
  const YAML::Node& n = doc->root()["profile"];
  auto p = std::make_shared<ProfileDefinition>();
  p->id = n["id"].Scalar();
  p->title = n["title"].Scalar();
  p->description = text(n["description"]);
  p->references = strings(n["references"]);
  p->include = strings(n["include"]);
  p->exclude = strings(n["exclude"]);
  p->where = doc->at(n);
  const YAML::Node& sel = n["rules"];
  std::set<std::string> seen;
  for (size_t i = 0; i < sel.size(); ++i) {
    const YAML::Node& s = sel[i];
    ProfileSelection ps;
    ps.where = doc->at(s);
    if (s.IsScalar()) {
      ps.rule_id = s.Scalar();
    } else {
      ps.rule_id = s["id"].Scalar();
      if (s["severity"]) ps.severity = severityFromText(s["severity"].Scalar());
      ps.references = strings(s["references"]);
      ps.params = params(s["params"]);
    }
    if (!seen.insert(ps.rule_id).second) {
      return doc->error(s, "profile.rules[" + std::to_string(i) + "]",
                        "rule '" + ps.rule_id + "' is selected twice");
    }
    p->rules.push_back(std::move(ps));
  }
  if (!profiles_.count(p->id)) profile_order_.push_back(p->id);
  profiles_[p->id] = p;
  return absl::OkStatus();
}

const RuleDefinition* PolicyLibrary::rule(std::string_view id) const {
  auto it = rules_.find(id);
  return it == rules_.end() ? nullptr : it->second.get();
}

const ProfileDefinition* PolicyLibrary::profile(std::string_view id) const {
  auto it = profiles_.find(id);
  return it == profiles_.end() ? nullptr : it->second.get();
}

std::vector<const RuleDefinition*> PolicyLibrary::rules() const {
  std::vector<const RuleDefinition*> out;
  for (const auto& id : rule_order_) out.push_back(rules_.at(id).get());
  return out;
}

std::vector<const ProfileDefinition*> PolicyLibrary::profiles() const {
  std::vector<const ProfileDefinition*> out;
  for (const auto& id : profile_order_) out.push_back(profiles_.at(id).get());
  return out;
}

absl::Status PolicyLibrary::resolveInto(std::string_view id, std::vector<EffectiveRule>& out,
                                        std::vector<std::string>& stack) const {
  const ProfileDefinition* p = profile(id);
  if (p == nullptr) {
    std::string known;
    for (const auto& k : profile_order_) known += (known.empty() ? "" : ", ") + k;
    return absl::NotFoundError("unknown profile '" + std::string(id) + "' (known: " + known + ")");
  }
  if (std::find(stack.begin(), stack.end(), p->id) != stack.end()) {
    return absl::InvalidArgumentError(p->where.text() + ": profile '" + p->id +
                                      "' includes itself (through " + stack.back() + ")");
  }
  if (stack.size() > 16) {
    return absl::InvalidArgumentError(p->where.text() + ": profiles include each other too deep");
  }
  stack.push_back(p->id);
  for (const auto& inc : p->include) {
    auto st = resolveInto(inc, out, stack);
    if (!st.ok()) {
      stack.pop_back();
      if (absl::IsNotFound(st)) {
        return absl::InvalidArgumentError(p->where.text() + ": profile '" + p->id + "' includes " +
                                          std::string(st.message()));
      }
      return st;
    }
  }
  stack.pop_back();
  for (const auto& sel : p->rules) {
    const RuleDefinition* r = rule(sel.rule_id);
    if (r == nullptr) {
      return absl::InvalidArgumentError(sel.where.text() + ": profile '" + p->id +
                                        "' selects unknown rule '" + sel.rule_id + "'");
    }
    auto it =
        std::find_if(out.begin(), out.end(), [&](const EffectiveRule& e) { return e.rule == r; });
    if (it == out.end()) {
      out.push_back(EffectiveRule{r, r->severity, r->params, r->references});
      it = out.end() - 1;
    }
    if (sel.severity) it->severity = *sel.severity;
    for (const auto& [k, v] : sel.params) {
      if (!r->params.count(k)) {
        std::string known;
        for (const auto& [rk, rv] : r->params) known += (known.empty() ? "" : ", ") + rk;
        return absl::InvalidArgumentError(
            sel.where.text() + ": profile '" + p->id + "' sets parameter '" + k + "' that rule '" +
            r->id + "' does not declare" +
            (known.empty() ? std::string(" (it has none)") : " (it has: " + known + ")"));
      }
      it->params[k] = v;
    }
    appendUnique(it->references, sel.references);
  }
  for (const auto& ex : p->exclude) {
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const EffectiveRule& e) { return e.rule->id == ex; }),
              out.end());
  }
  for (const auto& rid : rule_order_) {
    const RuleDefinition* r = rules_.at(rid).get();
    bool joins = std::find(r->profiles.begin(), r->profiles.end(), p->id) != r->profiles.end() ||
                 (r->user && r->profiles.empty());
    if (!joins) continue;
    bool present =
        std::any_of(out.begin(), out.end(), [&](const EffectiveRule& e) { return e.rule == r; });
    if (!present) out.push_back(EffectiveRule{r, r->severity, r->params, r->references});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EffectiveRule>> PolicyLibrary::resolve(
    std::string_view profile_id) const {
  std::vector<EffectiveRule> out;
  std::vector<std::string> stack;
  auto st = resolveInto(profile_id, out, stack);
  if (!st.ok()) return st;
  return out;
}

std::vector<std::string> PolicyLibrary::profilesSelecting(std::string_view rule_id) const {
  std::vector<std::string> out;
  for (const auto& pid : profile_order_) {
    auto rs = resolve(pid);
    if (!rs.ok()) continue;
    for (const auto& e : *rs) {
      if (e.rule->id == rule_id) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

// ---- compiled policy -------------------------------------------------------------------------

absl::Status PolicyLibrary::checkAll() const {
  for (const auto& id : rule_order_) {
    const auto& r = *rules_.at(id);
    auto inst = compileInstance(r, r.params);
    if (!inst.ok()) return inst.status();
  }
  for (const auto& pid : profile_order_) {
    auto rs = resolve(pid);
    if (!rs.ok()) return rs.status();
    for (const auto& e : *rs) {
      auto inst = compileInstance(*e.rule, e.params);
      if (!inst.ok()) {
        return absl::InvalidArgumentError(std::string(inst.status().message()) +
                                          " (with the parameters of profile '" + pid + "')");
      }
    }
  }
  return absl::OkStatus();
}

struct CompiledPolicy::Impl {
  // What the instances iterate and read, shared across them (expression.h, InputLayout); null
  // when compiled without shared reads.
  std::unique_ptr<InputLayout> layout = std::make_unique<InputLayout>();
  // Tells Scratches apart from those prepared for another policy (their caches follow another
  // layout).
  uint64_t serial = 0;
  std::vector<Instance> instances;
  struct View {
    std::string id;
    std::vector<EffectiveRule> rules;
    std::vector<size_t> instance;         // per rule
    std::vector<v1::Finding> prototypes;  // per rule (see Merged::prototype)
  };
  std::vector<View> views;
  std::vector<std::string> ids;
  // Per instance, over the compiled profiles that use it: the highest severity and every
  // reference (evaluateAll reports one finding per instance).
  struct Merged {
    v1::Severity severity = v1::SEVERITY_UNSPECIFIED;
    std::vector<std::string> references;
    // What every finding of the instance says whatever the input (rule id, severity, title,
    // state, profiles, references, tags), built once and copied into each finding with one
    // generated MergeFrom.
    v1::Finding prototype;
  };
  std::vector<Merged> merged;
  // Instances that iterate the same `each:` bindings, which one walk over the elements serves:
  // each combination is bound once and every member's condition is tested on it. Members are in
  // instance order; an instance without `each:` (or whose lists are not cached) is alone.
  std::vector<std::vector<size_t>> groups;
  std::vector<size_t> group_of;  // per instance
  size_t memo_slots = 0;         // Instance::shared_evidence values in use
};

namespace {

// The distinct evidence texts of one rule instance for the current input, back to back in one
// buffer so that rendering them allocates nothing once the buffers have grown.
struct EvidenceItems {
  std::string text;
  std::vector<uint32_t> ends;  // where each item ends in `text`

  size_t size() const { return ends.size(); }
  std::string_view item(size_t i) const {
    size_t begin = i == 0 ? 0 : ends[i - 1];
    return std::string_view(text).substr(begin, ends[i] - begin);
  }
  void clear() {
    text.clear();
    ends.clear();
  }
};

// Shared evidence renderings (Instance::shared_evidence) of the current combination of bound
// elements: several rules firing on one cipher suite print the same "{v.version} {s.name}".
struct EvidenceMemo {
  uint64_t combination = 0;  // counts the combinations the groups visit
  std::vector<std::string> text;
  std::vector<uint64_t> rendered_for;  // the combination text[i] was rendered for
};

}  // namespace

struct CompiledPolicy::Scratch::Impl {
  std::optional<Evaluation> ev;
  uint64_t policy_serial = 0;  // the policy `ev` was made for
  // Per instance, for the current input: computed?, witnesses, evidence items.
  std::vector<uint8_t> done;
  std::vector<uint32_t> hits;
  std::vector<EvidenceItems> evidence;
  EvidenceMemo memo;
};

CompiledPolicy::Scratch::Scratch() : impl(std::make_unique<Impl>()) {}
CompiledPolicy::Scratch::~Scratch() = default;

CompiledPolicy::CompiledPolicy() : impl_(std::make_unique<Impl>()) {}
CompiledPolicy::CompiledPolicy(CompiledPolicy&&) noexcept = default;
CompiledPolicy& CompiledPolicy::operator=(CompiledPolicy&&) noexcept = default;
CompiledPolicy::~CompiledPolicy() = default;

namespace {

v1::Finding findingPrototype(const Instance& inst, v1::Severity severity,
                             const std::vector<std::string>& references) {
  v1::Finding f;
  f.set_rule_id(inst.rule->id);
  f.set_severity(severity);
  f.set_title(inst.rule->title);
  f.set_state(v1::OPEN);
  for (const auto& p : inst.profiles) f.add_profiles(p);
  for (const auto& r : references) f.add_references(r);
  for (const auto& t : inst.rule->tags) f.add_tags(t);
  return f;
}

}  // namespace

absl::StatusOr<CompiledPolicy> PolicyLibrary::compile(const std::vector<std::string>& profile_ids,
                                                      bool share_reads) const {
  CompiledPolicy out;
  auto& impl = *out.impl_;
  if (!share_reads) impl.layout.reset();
  static std::atomic<uint64_t> serials{0};
  impl.serial = ++serials;
  std::map<std::string, size_t> by_key;
  std::map<std::string, std::vector<std::string>> selecting;
  for (const auto& pid : profile_ids) {
    auto rs = resolve(pid);
    if (!rs.ok()) return rs.status();
    CompiledPolicy::Impl::View view;
    view.id = pid;
    for (const auto& e : *rs) {
      auto inst = compileInstance(*e.rule, e.params, impl.layout.get());
      if (!inst.ok()) {
        return absl::InvalidArgumentError(std::string(inst.status().message()) +
                                          " (with the parameters of profile '" + pid + "')");
      }
      auto [it, fresh] = by_key.emplace(inst->key, impl.instances.size());
      if (fresh) {
        if (!selecting.count(e.rule->id)) selecting[e.rule->id] = profilesSelecting(e.rule->id);
        inst->profiles = selecting[e.rule->id];
        impl.instances.push_back(*std::move(inst));
      }
      view.instance.push_back(it->second);
      view.rules.push_back(e);
    }
    impl.views.push_back(std::move(view));
    impl.ids.push_back(pid);
  }
  impl.merged.resize(impl.instances.size());
  for (auto& view : impl.views) {
    for (size_t i = 0; i < view.rules.size(); ++i) {
      const Instance& inst = impl.instances[view.instance[i]];
      auto& m = impl.merged[view.instance[i]];
      m.severity = std::max(m.severity, view.rules[i].severity);
      appendUnique(m.references, view.rules[i].references);
      view.prototypes.push_back(
          findingPrototype(inst, view.rules[i].severity, view.rules[i].references));
    }
  }
  for (size_t k = 0; k < impl.instances.size(); ++k) {
    auto& m = impl.merged[k];
    m.prototype = findingPrototype(impl.instances[k], m.severity, m.references);
  }
  impl.group_of.resize(impl.instances.size());
  for (size_t k = 0; k < impl.instances.size(); ++k) {
    const auto& each = impl.instances[k].each;
    bool cached = !each.empty() && std::all_of(each.begin(), each.end(),
                                               [](const MessagePath& p) { return p.set() >= 0; });
    size_t g = impl.groups.size();
    if (cached) {
      for (size_t i = 0; i < impl.groups.size(); ++i) {
        const auto& other = impl.instances[impl.groups[i][0]].each;
        bool same = other.size() == each.size();
        for (size_t level = 0; same && level < each.size(); ++level) {
          same = each[level].set() >= 0 && each[level].sameWalk(other[level]);
        }
        if (same) {
          g = i;
          break;
        }
      }
    }
    if (g == impl.groups.size()) impl.groups.emplace_back();
    impl.groups[g].push_back(k);
    impl.group_of[k] = g;
  }
  // Within a group, instances whose templates have the same text, with the same names for the
  // same bindings (and the same parameters, if the text uses them), render the same evidence for
  // one combination: render it once.
  for (const auto& members : impl.groups) {
    std::map<std::string, std::vector<size_t>> by_text;
    for (size_t k : members) {
      const Instance& inst = impl.instances[k];
      if (!inst.evidence) continue;
      std::string key = inst.rule->evidence;
      for (const auto& [var, path] : inst.rule->each) key += '\0' + var;
      if (inst.evidence->usesParams()) key += '\0' + inst.key;
      by_text[key].push_back(k);
    }
    for (const auto& [key, same] : by_text) {
      if (same.size() < 2) continue;
      for (size_t k : same) impl.instances[k].shared_evidence = static_cast<int>(impl.memo_slots);
      ++impl.memo_slots;
    }
  }
  return out;
}

const std::vector<std::string>& CompiledPolicy::profileIds() const { return impl_->ids; }
size_t CompiledPolicy::ruleInstances() const { return impl_->instances.size(); }
const std::vector<EffectiveRule>& CompiledPolicy::rules(size_t i) const {
  return impl_->views.at(i).rules;
}

namespace {

// Tests `inst` on the elements bound now; a match is a witness with its evidence.
void witness(const Instance& inst, Evaluation& ev, uint32_t& hits, EvidenceItems& evidence,
             EvidenceMemo& memo) {
  if (!inst.condition->test(ev)) return;
  ++hits;
  if (evidence.size() < kMaxEvidenceItems) {
    size_t begin = evidence.text.size();
    if (inst.evidence && inst.shared_evidence >= 0) {
      auto k = static_cast<size_t>(inst.shared_evidence);
      if (memo.rendered_for[k] != memo.combination) {
        memo.text[k].clear();
        inst.evidence->renderTo(ev, memo.text[k]);
        memo.rendered_for[k] = memo.combination;
      }
      evidence.text += memo.text[k];
    } else if (inst.evidence) {
      inst.evidence->renderTo(ev, evidence.text);
    }
    std::string_view text = std::string_view(evidence.text).substr(begin);
    for (size_t i = 0; i < evidence.size(); ++i) {
      if (evidence.item(i) == text) {
        evidence.text.resize(begin);
        --hits;  // the same evidence twice (e.g. one chain presented twice) is one witness
        return;
      }
    }
    evidence.ends.push_back(static_cast<uint32_t>(evidence.text.size()));
  }
}

// Computes the witnesses of every instance of a group (CompiledPolicy::Impl::groups).
void runGroup(const std::vector<Instance>& instances, const std::vector<size_t>& members,
              Evaluation& ev, std::vector<uint32_t>& hits, std::vector<EvidenceItems>& evidence,
              EvidenceMemo& memo) {
  for (size_t m : members) {
    hits[m] = 0;
    evidence[m].clear();
  }
  auto all = [&] {
    ++memo.combination;
    for (size_t m : members) witness(instances[m], ev, hits[m], evidence[m], memo);
  };
  const auto& each = instances[members[0]].each;
  if (each.empty()) {
    all();
    return;
  }
  // Nested iteration over the bindings (at most 4, checked by the schema), from the lists the
  // evaluation caches for this input. Conditions write only their own quantifiers' slots, above
  // the bound ones, so every member sees the same bindings.
  auto level = [&](auto& self, size_t k) -> void {
    each[k].bindEach(ev, k, [&] {
      if (k + 1 < each.size()) {
        self(self, k + 1);
      } else {
        all();
      }
      return true;
    });
  };
  level(level, 0);
}

}  // namespace

void CompiledPolicy::prepare(const v1::RuleInput& input, int64_t now, Scratch& scratch) const {
  auto& s = *scratch.impl;
  size_t n = impl_->instances.size();
  if (!s.ev || s.policy_serial != impl_->serial) {
    s.ev.emplace(input, now, impl_->layout.get());
    s.policy_serial = impl_->serial;
  } else {
    s.ev->reset(input, now);
  }
  s.done.assign(n, 0);
  s.hits.resize(n);
  s.evidence.resize(n);
  if (s.memo.text.size() != impl_->memo_slots) {
    s.memo.text.assign(impl_->memo_slots, std::string());
    s.memo.rendered_for.assign(impl_->memo_slots, 0);
  }
}

namespace {

// Fills `f` (empty) from the instance's prototype and what this input gave.
void fillFinding(v1::Finding& f, const v1::Finding& prototype, const Instance& inst, uint32_t hits,
                 const EvidenceItems& items, const FindingContext& ctx,
                 const google::protobuf::Timestamp& seen) {
  f.MergeFrom(prototype);
  // Written in place, so a reused finding keeps its string's memory.
  std::string& evidence = *f.mutable_evidence();
  evidence.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string_view item = items.item(i);
    if (item.empty()) continue;
    if (!evidence.empty()) evidence += "; ";
    evidence += item;
  }
  if (hits > items.size()) {
    evidence += " (and ";
    evidence += std::to_string(hits - items.size());
    evidence += " more)";
  }
  if (evidence.empty()) evidence = inst.rule->title;
  f.set_asset(ctx.asset);
  f.set_service(ctx.service);
  f.set_host(ctx.host);
  *f.mutable_first_seen() = seen;
  *f.mutable_last_seen() = seen;
}

google::protobuf::Timestamp seenAt(const v1::RuleInput& input, int64_t now) {
  return input.tls().has_scanned_at() ? input.tls().scanned_at()
                                      : google::protobuf::util::TimeUtil::SecondsToTimestamp(now);
}

}  // namespace

void CompiledPolicy::emit(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                          std::vector<v1::Finding>& out, size_t profile_index) const {
  auto& s = *scratch.impl;
  const auto& view = impl_->views.at(profile_index);
  FindingContext ctx;
  bool have_ctx = false;
  google::protobuf::Timestamp seen = seenAt(input, now);
  for (size_t i = 0; i < view.rules.size(); ++i) {
    size_t k = view.instance[i];
    const Instance& inst = impl_->instances[k];
    if (!s.done[k]) {
      const auto& members = impl_->groups[impl_->group_of[k]];
      runGroup(impl_->instances, members, *s.ev, s.hits, s.evidence, s.memo);
      for (size_t m : members) s.done[m] = 1;
    }
    if (s.hits[k] == 0) continue;
    if (!have_ctx) {
      ctx = findingContext(input);
      have_ctx = true;
    }
    fillFinding(out.emplace_back(), view.prototypes[i], inst, s.hits[k], s.evidence[k], ctx, seen);
  }
}

void CompiledPolicy::evaluate(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                              std::vector<v1::Finding>& out, size_t profile_index) const {
  prepare(input, now, scratch);
  emit(input, now, scratch, out, profile_index);
}

template <typename Sink>
void CompiledPolicy::evaluateAllInto(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                                     Sink&& sink) const {
  prepare(input, now, scratch);
  auto& s = *scratch.impl;
  FindingContext ctx;
  bool have_ctx = false;
  google::protobuf::Timestamp seen = seenAt(input, now);
  for (const auto& members : impl_->groups) {
    runGroup(impl_->instances, members, *s.ev, s.hits, s.evidence, s.memo);
  }
  for (size_t k = 0; k < impl_->instances.size(); ++k) {
    const Instance& inst = impl_->instances[k];
    if (s.hits[k] == 0) continue;
    if (!have_ctx) {
      ctx = findingContext(input);
      have_ctx = true;
    }
    fillFinding(sink(), impl_->merged[k].prototype, inst, s.hits[k], s.evidence[k], ctx, seen);
  }
}

void CompiledPolicy::evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                                 std::vector<v1::Finding>& out) const {
  evaluateAllInto(input, now, scratch, [&]() -> v1::Finding& { return out.emplace_back(); });
}

void CompiledPolicy::evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                                 google::protobuf::RepeatedPtrField<v1::Finding>* out) const {
  int used = 0;
  evaluateAllInto(input, now, scratch, [&]() -> v1::Finding& {
    if (used == out->size()) {
      ++used;
      return *out->Add();
    }
    v1::Finding& f = *out->Mutable(used++);
    if (f.GetArena() != nullptr) {
      f.Clear();
      return f;
    }
    // Finding::Clear() deletes the timestamps that fillFinding sets again: keep them.
    google::protobuf::Timestamp* first = f.release_first_seen();
    google::protobuf::Timestamp* last = f.release_last_seen();
    f.Clear();
    f.set_allocated_first_seen(first);
    f.set_allocated_last_seen(last);
    return f;
  });
  while (out->size() > used) out->RemoveLast();  // kept, cleared, for the next input
}

void CompiledPolicy::evaluateAll(const v1::RuleInput& input, int64_t now, Scratch& scratch,
                                 google::protobuf::Arena* arena,
                                 std::vector<v1::Finding*>& out) const {
  evaluateAllInto(input, now, scratch, [&]() -> v1::Finding& {
    out.push_back(google::protobuf::Arena::CreateMessage<v1::Finding>(arena));
    return *out.back();
  });
}

}  // namespace tlsaudit::rules
