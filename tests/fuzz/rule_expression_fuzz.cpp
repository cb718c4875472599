// libFuzzer target: the rule condition language. Compiles the input as a condition and as an
// evidence template (with parameters and one bound variable), and evaluates whatever compiles
// against a report with chains, suites and client-auth: once reading through reflection and once
// with the lists and fields cached (InputLayout), which must give the same results.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rules/expression.h"
#include "tests/unit/rules/rule_fixtures.h"

namespace {

using namespace tlsaudit::rules;

const tlsaudit::v1::RuleInput& input() {
  static const auto* in = [] {
    auto* r = new tlsaudit::v1::RuleInput(fixtures::cleanInput());
    auto* ca = fixtures::version(*r, tlsaudit::v1::TLS1_2)->mutable_client_auth();
    ca->set_requested(true);
    ca->add_signature_algorithms("rsa_pkcs1_sha1");
    r->mutable_tls()->mutable_extensions()->add_alpn("h2");
    return r;
  }();
  return *in;
}

const Params& params() {
  static const auto* p = [] {
    auto* out = new Params;
    (*out)["min_bits"] = paramFromText("2048");
    (*out)["window"] = paramFromText("30d");
    ParamValue list;
    list.kind = ParamValue::Kind::kList;
    list.list = {paramFromText("TLS_AES_128_GCM_SHA256"), paramFromText("x")};
    (*out)["allowed"] = list;
    return out;
  }();
  return *p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr int64_t kNow = 1780272000;
  CompileScope scope{tlsaudit::v1::RuleInput::descriptor(), &params(), {}};
  auto path = MessagePath::compile("tls.chains.certificates", scope);
  if (!path.ok()) __builtin_trap();
  scope.bound.emplace_back("c", path->elementType());
  Evaluation ev(input(), kNow);
  ev.bind(0, &input().tls().chains(0).certificates(0), 0);
  // The same scope with a layout; c is bound to the same certificate, from the cached list.
  InputLayout layout;
  CompileScope cached_scope{tlsaudit::v1::RuleInput::descriptor(), &params(), {}, &layout};
  auto cached_path = MessagePath::compile("tls.chains.certificates", cached_scope);
  if (!cached_path.ok() || cached_path->set() < 0) __builtin_trap();
  cached_scope.bound.emplace_back("c", cached_path->elementType());
  cached_scope.bound_sets.push_back(cached_path->set());
  Evaluation cached_ev(input(), kNow, &layout);
  cached_path->bindEach(cached_ev, 0, [] { return false; });  // binds the first and stops
  if (cached_ev.slot(0).message != &input().tls().chains(0).certificates(0)) __builtin_trap();

  if (auto e = Expression::compile(text, scope); e.ok()) {
    auto cached = Expression::compile(text, cached_scope);
    if (!cached.ok() || cached->isBool() != e->isBool()) __builtin_trap();
    if (e->isBool() && e->test(ev) != cached->test(cached_ev)) __builtin_trap();
    if (e->render(ev) != cached->render(cached_ev)) __builtin_trap();
  } else if (Expression::compile(text, cached_scope).ok()) {
    __builtin_trap();  // the layout changes nothing about what compiles
  }
  if (auto t = Expression::compileTemplate(text, scope); t.ok()) {
    auto cached = Expression::compileTemplate(text, cached_scope);
    if (!cached.ok() || t->render(ev) != cached->render(cached_ev)) __builtin_trap();
  }
  (void)MessagePath::compile(text, scope);
  (void)MessagePath::compile(text, cached_scope);
  return 0;
}
