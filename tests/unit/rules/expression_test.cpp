// The condition language on its own: paths through nested and repeated fields, enums, times and
// durations, quantifiers, operators, parameters, and compile errors with their offsets.
#include "rules/expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/rules/rule_fixtures.h"

namespace tlsaudit::rules {
namespace {

using namespace fixtures;  // NOLINT
using ::testing::HasSubstr;

struct Eval {
  v1::RuleInput input = cleanInput();
  Params params;

  absl::StatusOr<bool> test(const std::string& text) {
    CompileScope scope{v1::RuleInput::descriptor(), &params, {}};
    auto e = Expression::compile(text, scope);
    if (!e.ok()) return e.status();
    if (!e->isBool()) return absl::InvalidArgumentError("not boolean");
    Evaluation ev(input, testNow());
    return e->test(ev);
  }
  std::string render(const std::string& tmpl) {
    CompileScope scope{v1::RuleInput::descriptor(), &params, {}};
    auto e = Expression::compileTemplate(tmpl, scope);
    if (!e.ok()) return "ERROR " + std::string(e.status().message());
    Evaluation ev(input, testNow());
    return e->render(ev);
  }
  ExpressionError error(const std::string& text) {
    CompileScope scope{v1::RuleInput::descriptor(), &params, {}};
    ExpressionError err;
    auto e = Expression::compile(text, scope, &err);
    EXPECT_FALSE(e.ok()) << text;
    return err;
  }
};

void expectTrue(Eval& e, const std::string& text) {
  auto r = e.test(text);
  ASSERT_TRUE(r.ok()) << text << ": " << r.status();
  EXPECT_TRUE(*r) << text;
}
void expectFalse(Eval& e, const std::string& text) {
  auto r = e.test(text);
  ASSERT_TRUE(r.ok()) << text << ": " << r.status();
  EXPECT_FALSE(*r) << text;
}

TEST(Expression, PathsAndComparisons) {
  Eval e;
  expectTrue(e, "tls.tls");
  expectTrue(e, "tls.target.port == 443");
  expectTrue(e, "tls.target.port >= 443 and tls.target.port < 444");
  expectTrue(e, "tls.target.host == \"server.example.test\"");
  expectTrue(e, "tls.target.host != 'other'");
  expectTrue(e, "tls.extensions.secure_renegotiation");  // proto name
  expectTrue(e, "tls.extensions.secureRenegotiation");   // JSON name
  expectFalse(e, "not tls.extensions.secureRenegotiation");
  expectTrue(e, "!tls.extensions.compression && (tls.tls || false)");
  expectTrue(e, "tls.chains[0].certificates[0].keyBits == 3072");
  expectTrue(e, "tls.chains[0].certificates[-1].subject == \"CN=Example Root CA\"");
  expectFalse(e, "tls.chains[5].certificates[0].keyBits == 3072");  // absent compares false
  expectTrue(e, "tls.target.port + 1 == 444 and -tls.target.port < 0");
  expectTrue(e, "2.5 < 3 and tls.target.port > 442.5");
}

TEST(Expression, EnumsCompareByName) {
  Eval e;
  expectTrue(e, "tls.chains[0].nameMatches == \"SUPPORT_YES\"");
  expectTrue(e, "any(v in tls.versions: v.version in [\"TLS1_2\", \"TLS1_3\"] and v.supported)");
  expectTrue(e, "all(v in tls.versions: v.supported or v.version not in [\"TLS1_2\"])");
  auto err = e.error("tls.chains[0].nameMatches == \"MAYBE\"");
  EXPECT_EQ(err.offset, 29u);
  EXPECT_THAT(err.message, HasSubstr("'MAYBE' is not a value of Support (SUPPORT_UNSPECIFIED"));
}

TEST(Expression, QuantifiersCountContainsMatches) {
  Eval e;
  expectTrue(e, "count(v in tls.versions: v.supported) == 2");
  expectTrue(e, "count(tls.versions) == 6");
  expectTrue(e, "len(tls.versions.cipherSuites) == 3");
  expectTrue(e, "tls.versions.cipherSuites.name contains \"TLS_AES_128_GCM_SHA256\"");
  expectFalse(e, "tls.versions.cipherSuites.name contains \"TLS_RSA_WITH_RC4_128_SHA\"");
  expectTrue(e, "\"TLS_AES_128_GCM_SHA256\" in tls.versions.cipherSuites.name");
  expectTrue(e, "tls.target.host contains \"example\"");
  expectTrue(e, "tls.target.host matches \"^server\\\\.example\"");
  expectTrue(e, "tls.versions.cipherSuites.name matches \"CHACHA|AES_256\"");
  expectTrue(e, "any(s in tls.versions.cipherSuites: s.kx == \"ECDHE\" and s.kxBits > 200)");
  expectTrue(e, "all(c in tls.chains.certificates: c.keyBits >= 3072)");
  expectTrue(e, "any(a in tls.signatureAlgorithms: startsWith(a, \"rsa_pss\"))");
  expectTrue(e, "any(v in tls.versions: any(s in v.cipherSuites: endsWith(s.name, \"SHA384\")))");
  expectTrue(e, "count(c in tls.chains.certificates: index(c) == 0) == 1");
}

TEST(Expression, TimesDurationsAndFunctions) {
  Eval e;
  expectTrue(e, "tls.chains[0].certificates[0].notAfter > now()");
  expectTrue(e, "tls.chains[0].certificates[0].notAfter <= now() + 61d");
  expectFalse(e, "tls.chains[0].certificates[0].notAfter < now() + 61d");
  expectTrue(e, "tls.chains[0].certificates[0].notAfter == date(\"2026-08-01\")");
  expectTrue(e, "days(tls.chains[0].certificates[0].notAfter - now()) == 61");
  expectTrue(e, "now() - 1y < date(\"2025-06-02\") and 2w == 14d and 36h > 1d and 90m == 5400s");
  expectTrue(e, "lower(tls.chains[0].keyType) == \"rsa\" and upper(\"a\") == \"A\"");
  expectTrue(e, "if(tls.tls, 1, 2) == 1");
  EXPECT_EQ(e.render("{tls.chains[0].certificates[0].notAfter} {9999 - 1}"), "2026-08-01 9998");
  EXPECT_EQ(e.render("{{literal}} {join(tls.versions.cipherSuites.name, \"|\")}"),
            "{literal} TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256|TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384|"
            "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(e.render("{tls.chains[0].nameMatches} {30d} {tls.versions.version}"),
            "SUPPORT_YES 30d SSL2, SSL3, TLS1_0, TLS1_1, TLS1_2, TLS1_3");
  // Far-future dates do not overflow.
  *e.input.mutable_tls()->mutable_chains(0)->mutable_certificates(0)->mutable_not_after() =
      at("9999-12-31T23:59:59Z");
  expectTrue(e, "tls.chains[0].certificates[0].notAfter + 1000000y > now()");
}

TEST(Expression, ParamsAreConstants) {
  Eval e;
  e.params["min_bits"] = paramFromText("4096");
  e.params["window"] = paramFromText("30d");
  ParamValue list;
  list.kind = ParamValue::Kind::kList;
  list.list = {paramFromText("TLS_AES_128_GCM_SHA256"), paramFromText("X")};
  e.params["allowed"] = list;
  expectTrue(e, "tls.chains[0].certificates[0].keyBits < params.min_bits");
  expectTrue(e, "tls.chains[0].certificates[0].notAfter > now() + params.window");
  expectTrue(e, "any(s in tls.versions.cipherSuites: s.name in params.allowed)");
  expectTrue(e, "any(s in tls.versions.cipherSuites: s.name not in params.allowed)");
  auto err = e.error("params.nope > 1");
  EXPECT_THAT(err.message, HasSubstr("unknown parameter 'nope' (declared: allowed, min_bits, "
                                     "window)"));
}

TEST(Expression, CompileErrorsNameTheOffsetAndWhatWasExpected) {
  Eval e;
  struct Case {
    std::string text;
    size_t offset;
    std::string message;
  };
  std::vector<Case> cases = {
      {"tls.tsl", 4, "unknown field 'tsl' in TlsReport"},
      {"tls.versions.version == \"TLS1_0\"", 0, "this path has many values"},
      {"tls.target.port == \"443\"", 16, "cannot compare integer with string"},
      {"tls.target.port and tls.tls", 0, "must be a condition"},
      {"tls.tls and", 11, "expected a value"},
      {"(tls.tls", 8, "expected ')' (opened at offset 0)"},
      {"tls.target.host matches \"(\"", 24, "invalid regular expression"},
      {"tls.target.host = \"x\"", 16, "use '==' to compare"},
      {"\"unterminated", 0, "unterminated string"},
      {"tls.tls @", 8, "unexpected character '@'"},
      {"frobnicate(1)", 0, "unknown function 'frobnicate'"},
      {"now(1)", 0, "now() takes 0 arguments, found 1"},
      {"date(\"2026-13-45\") < now()", 5, "is not a date"},
      {"any(v in tls.tls: v)", 9, "iterates a list"},
      {"tls.target.port > 10q", 20, "unknown unit 'q'"},
      {"tls.chains.trusted < true", 0, "many values"},
      {"tls.chains[0] == tls.chains[1]", 14, "messages cannot be compared"},
      {"any(tls in tls.versions: tls.supported)", 4, "already a name"},
      {std::string(200, '(') + "tls.tls" + std::string(200, ')'), 64, "nested too deeply"},
  };
  for (const auto& c : cases) {
    auto err = e.error(c.text);
    EXPECT_THAT(err.message, HasSubstr(c.message)) << c.text;
    EXPECT_EQ(err.offset, c.offset) << c.text << ": " << err.message;
  }
}

TEST(Expression, BoundVariablesFromEach) {
  v1::RuleInput in = cleanInput();
  CompileScope scope{v1::RuleInput::descriptor(), nullptr, {}};
  auto path = MessagePath::compile("tls.chains.certificates", scope);
  ASSERT_TRUE(path.ok()) << path.status();
  scope.bound.emplace_back("c", path->elementType());
  auto e = Expression::compile("c.isCa and index(c) > 0", scope);
  ASSERT_TRUE(e.ok()) << e.status();
  Evaluation ev(in, testNow());
  std::vector<int64_t> hits;
  path->forEach(ev, [&](const google::protobuf::Message* m, int64_t index) {
    ev.bind(0, m, index);
    if (e->test(ev)) hits.push_back(index);
    return true;
  });
  EXPECT_EQ(hits, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(MessagePath::compile("tls.target", scope).ok());            // not a list
  EXPECT_FALSE(MessagePath::compile("tls.versions.version", scope).ok());  // not messages
}

}  // namespace
}  // namespace tlsaudit::rules
