// libFuzzer target: the rule condition language. Compiles the input as a condition and as an
// evidence template (with parameters and one bound variable), and evaluates whatever compiles
// against a report with chains, suites and client-auth.
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
  CompileScope scope{tlsaudit::v1::RuleInput::descriptor(), &params(), {}};
  auto path = MessagePath::compile("tls.chains.certificates", scope);
  if (!path.ok()) __builtin_trap();
  scope.bound.emplace_back("c", path->elementType());
  Evaluation ev(input(), 1780272000);
  ev.bind(0, &input().tls().chains(0).certificates(0), 0);
  if (auto e = Expression::compile(text, scope); e.ok()) {
    if (e->isBool()) (void)e->test(ev);
    (void)e->render(ev);
  }
  if (auto t = Expression::compileTemplate(text, scope); t.ok()) (void)t->render(ev);
  (void)MessagePath::compile(text, scope);
  return 0;
}
