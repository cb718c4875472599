// The condition language on its own: paths through nested and repeated fields, enums, times and
// durations, quantifiers, operators, parameters, and compile errors with their offsets.
#include "rules/expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/rules/realistic_reports.h"
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

// ---- cached reads (InputLayout) --------------------------------------------------------------

// One expression compiled twice over the same `each:` bindings: against a layout (lists and
// columns read once per input) and without (reflection at every read).
struct TwoWays {
  InputLayout layout;
  std::vector<std::string> vars;
  std::vector<MessagePath> cached_paths, plain_paths;
  CompileScope cached_scope{v1::RuleInput::descriptor(), nullptr, {}, &layout};
  CompileScope plain_scope{v1::RuleInput::descriptor(), nullptr, {}};

  explicit TwoWays(const std::vector<std::pair<std::string, std::string>>& each,
                   const Params* params = nullptr) {
    cached_scope.params = params;
    plain_scope.params = params;
    for (const auto& [var, path] : each) {
      auto cached = MessagePath::compile(path, cached_scope);
      auto plain = MessagePath::compile(path, plain_scope);
      EXPECT_TRUE(cached.ok() && plain.ok()) << path;
      EXPECT_GE(cached->set(), 0) << path;
      EXPECT_EQ(plain->set(), -1) << path;
      cached_scope.bound.emplace_back(var, cached->elementType());
      cached_scope.bound_sets.push_back(cached->set());
      plain_scope.bound.emplace_back(var, plain->elementType());
      cached_paths.push_back(*std::move(cached));
      plain_paths.push_back(*std::move(plain));
    }
  }

  // Every result of `text` (a condition, or a template when it contains '{') over every
  // combination of the bindings, one line each.
  std::vector<std::string> run(const std::string& text, const v1::RuleInput& in, bool cached,
                               Evaluation& ev) {
    bool tmpl = text.find('{') != std::string::npos;
    const CompileScope& scope = cached ? cached_scope : plain_scope;
    auto e = tmpl ? Expression::compileTemplate(text, scope) : Expression::compile(text, scope);
    EXPECT_TRUE(e.ok()) << text << ": " << e.status();
    std::vector<std::string> out;
    if (!e.ok()) return out;
    const auto& paths = cached ? cached_paths : plain_paths;
    auto one = [&] {
      std::string line;
      for (size_t k = 0; k < paths.size(); ++k) {
        line += std::to_string(ev.slot(k).index) + ":";
      }
      out.push_back(line + (tmpl ? e->render(ev) : (e->test(ev) ? "true" : "false")));
    };
    auto level = [&](auto& self, size_t k) -> void {
      if (k == paths.size()) {
        one();
        return;
      }
      paths[k].bindEach(ev, k, [&] {
        self(self, k + 1);
        return true;
      });
    };
    level(level, 0);
    return out;
  }
};

std::vector<v1::RuleInput> sampleReports(size_t n) {
  std::mt19937 rng(kRealisticSeed);
  std::vector<v1::RuleInput> out;
  for (size_t i = 0; i < n; ++i) out.push_back(realisticReport(rng, static_cast<int>(i)));
  // Facts the generator leaves out: client-auth with no algorithms, an empty chain, an expired
  // and a not-yet-valid leaf, a name mismatch, compression.
  v1::RuleInput odd = cleanInput();
  version(odd, v1::TLS1_2)->mutable_client_auth()->set_requested(true);
  odd.mutable_tls()->add_chains();
  *leaf(odd)->mutable_not_after() = at("2026-05-01T00:00:00Z");
  odd.mutable_tls()->mutable_chains(0)->set_name_matches(v1::SUPPORT_NO);
  odd.mutable_tls()->mutable_extensions()->set_compression(true);
  out.push_back(odd);
  v1::RuleInput future = cleanInput();
  *leaf(future)->mutable_not_before() = at("2027-01-01T00:00:00Z");
  future.mutable_tls()->clear_versions();
  out.push_back(future);
  return out;
}

TEST(InputLayout, CachedReadsGiveWhatReflectionGives) {
  Params params;
  params["min_bits"] = paramFromText("2048");
  params["within"] = paramFromText("400d");
  ParamValue allowed;
  allowed.kind = ParamValue::Kind::kList;
  for (const char* name :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "X",
        "TLS_RSA_WITH_AES_128_CBC_SHA"}) {
    allowed.list.push_back(paramFromText(name));
  }
  params["allowed"] = allowed;
  struct Case {
    std::vector<std::pair<std::string, std::string>> each;
    std::vector<std::string> texts;
  };
  std::vector<Case> cases = {
      {{},
       {"tls.extensions.compression or not tls.extensions.secureRenegotiation",
        "tls.target.port == 443 and tls.tls",
        "count(s in tls.versions.cipherSuites: true) > 0 and "
        "count(s in tls.versions.cipherSuites: s.forwardSecret) == 0",
        "any(v in tls.versions: v.supported and any(s in v.cipherSuites: s.bits < 128))",
        "all(c in tls.chains.certificates: c.keyBits >= params.min_bits)",
        "count(c in tls.chains.certificates: index(c) == 0) == len(tls.chains)",
        "any(a in tls.signatureAlgorithms: a matches \"_(md5|sha1)$\")",
        "{count(s in tls.versions.cipherSuites: s.kx == \"RSA\")} RSA suites of "
        "{len(tls.versions.cipherSuites)}; {join(tls.versions.cipherSuites.name, \"|\")}",
        "{tls.target.host}:{tls.target.port} {tls.extensions.compression} {tls.scannedAt}"}},
      {{{"v", "tls.versions"}, {"s", "v.cipherSuites"}},
       {"v.supported and s.name not in params.allowed", "v.supported and s.name in params.allowed",
        "v.supported and s.kx in [\"DHE\", \"DH\"] and s.kxBits > 0 and s.kxBits < params.min_bits",
        "v.supported and (startsWith(s.cipher, \"3DES\") or endsWith(s.name, \"_MD5\"))",
        "v.version != \"SSL2\" and not s.forwardSecret and index(s) > 0",
        "{v.version} {s.name} ({s.bits}-bit, {s.kx}/{s.kxBits}) #{index(v)}.{index(s)}"}},
      {{{"v", "tls.versions"}},
       {"v.supported and v.clientAuth.requested and len(v.clientAuth.signatureAlgorithms) > 0",
        "v.version == \"TLS1_2\" and len(v.cipherSuites) > 0 and all(s in v.cipherSuites: "
        "s.mac != \"AEAD\")",
        "{v.version} {len(v.cipherSuites)} {join(v.clientAuth.signatureAlgorithms)} "
        "{join(v.cipherSuites.name)}"}},
      {{{"c", "tls.chains.certificates"}},
       {"c.signatureHash in [\"MD5\", \"SHA1\"] and not c.selfSigned and "
        "c.source == \"CERTIFICATE_SOURCE_PRESENTED\"",
        "c.notAfter >= now() and c.notAfter < now() + params.within",
        "c.notBefore > now() or c.notAfter - c.notBefore > 366d",
        "{if(index(c) == 0, \"leaf\", if(c.selfSigned, \"root\", \"intermediate\"))} "
        "{c.subject} {c.keyBits}-bit {c.keyType} {c.notAfter} ({days(c.notAfter - now())} days)"}},
      {{{"ch", "tls.chains"}, {"c", "ch.certificates"}},
       {"len(ch.certificates) > 0 and ch.certificates[0].selfSigned and not ch.trusted",
        "index(c) == len(ch.certificates) - 1 and c.isCa",
        "{ch.keyType} {ch.certificates[-1].subject} > {c.subject} {ch.validationError}"}},
  };
  std::vector<v1::RuleInput> reports = sampleReports(300);
  for (const auto& c : cases) {
    TwoWays two(c.each, &params);
    Evaluation cached_ev(reports[0], testNow(), &two.layout);
    Evaluation plain_ev(reports[0], testNow());
    for (const auto& text : c.texts) {
      size_t lines = 0;
      for (size_t i = 0; i < reports.size(); ++i) {
        int64_t now = testNow() + static_cast<int64_t>(i % 5) * 300 * 86400 - 900 * 86400;
        // One Evaluation for every report: what it cached for one must not leak into the next.
        cached_ev.reset(reports[i], now);
        plain_ev.reset(reports[i], now);
        auto cached = two.run(text, reports[i], true, cached_ev);
        auto plain = two.run(text, reports[i], false, plain_ev);
        ASSERT_EQ(cached, plain) << text << " on report " << i;
        lines += plain.size();
      }
      EXPECT_GT(lines, reports.size() / 2) << text;  // the bindings reached something
    }
    EXPECT_GT(two.layout.columns(), 0u);  // the cached side did read through columns
  }
}

TEST(InputLayout, ListsAreSharedAndCutAtRepeatedFields) {
  InputLayout layout;
  CompileScope scope{v1::RuleInput::descriptor(), nullptr, {}, &layout};
  auto versions = MessagePath::compile("tls.versions", scope);
  ASSERT_TRUE(versions.ok());
  scope.bound.emplace_back("v", versions->elementType());
  scope.bound_sets.push_back(versions->set());
  auto suites = MessagePath::compile("v.cipherSuites", scope);
  ASSERT_TRUE(suites.ok());
  EXPECT_EQ(layout.sets(), 2u);
  // The root path to the same suites is the same two lists; a second rule reading the same field
  // of the suites shares its column.
  ASSERT_TRUE(
      Expression::compile("count(s in tls.versions.cipherSuites: s.forwardSecret) > 0", scope)
          .ok());
  EXPECT_EQ(layout.sets(), 2u);
  EXPECT_EQ(layout.columns(), 1u);
  scope.bound.emplace_back("s", suites->elementType());
  scope.bound_sets.push_back(suites->set());
  ASSERT_TRUE(Expression::compile("not s.forwardSecret and v.supported", scope).ok());
  EXPECT_EQ(layout.columns(), 2u);
  auto chains = MessagePath::compile("tls.chains.certificates", scope);
  ASSERT_TRUE(chains.ok());
  EXPECT_EQ(layout.sets(), 4u);  // tls.chains, then their certificates
}

TEST(InputLayout, SlotsBoundWithoutTheCacheReadThroughReflection) {
  InputLayout layout;
  CompileScope scope{v1::RuleInput::descriptor(), nullptr, {}, &layout};
  auto path = MessagePath::compile("tls.chains.certificates", scope);
  ASSERT_TRUE(path.ok());
  scope.bound.emplace_back("c", path->elementType());
  scope.bound_sets.push_back(path->set());
  auto e = Expression::compileTemplate("{c.subject} {c.keyBits}", scope);
  ASSERT_TRUE(e.ok()) << e.status();
  v1::RuleInput in = cleanInput();
  Evaluation ev(in, testNow(), &layout);
  std::vector<std::string> cached, bound;
  path->bindEach(ev, 0, [&] {
    cached.push_back(e->render(ev));
    return true;
  });
  // bind() is not from the cached list: the same expression reads the message itself.
  path->forEach(ev, [&](const google::protobuf::Message* m, int64_t index) {
    ev.bind(0, m, index);
    bound.push_back(e->render(ev));
    return true;
  });
  EXPECT_EQ(cached, bound);
  EXPECT_EQ(cached,
            (std::vector<std::string>{"CN=server.example.test 3072", "CN=Example Issuing CA 3072",
                                      "CN=Example Root CA 4096"}));
  // A new input replaces what was cached.
  v1::RuleInput other = cleanInput();
  leaf(other)->set_subject("CN=other");
  ev.reset(other, testNow());
  cached.clear();
  path->bindEach(ev, 0, [&] {
    cached.push_back(e->render(ev));
    return false;  // stops after the first
  });
  EXPECT_EQ(cached, (std::vector<std::string>{"CN=other 3072"}));
}

TEST(InputLayout, AnEvaluationForAnotherLayoutReadsThroughReflection) {
  InputLayout mine, other;
  CompileScope scope{v1::RuleInput::descriptor(), nullptr, {}, &mine};
  auto path = MessagePath::compile("tls.chains.certificates", scope);
  ASSERT_TRUE(path.ok());
  scope.bound.emplace_back("c", path->elementType());
  scope.bound_sets.push_back(path->set());
  auto e = Expression::compileTemplate("{c.subject} {count(s in tls.versions.cipherSuites: true)}",
                                       scope);
  ASSERT_TRUE(e.ok()) << e.status();
  // The other layout numbers other lists and columns with the same ids.
  CompileScope other_scope{v1::RuleInput::descriptor(), nullptr, {}, &other};
  ASSERT_TRUE(MessagePath::compile("tls.versions", other_scope).ok());
  ASSERT_TRUE(Expression::compile("tls.tls and tls.extensions.compression", other_scope).ok());
  v1::RuleInput in = cleanInput();
  Evaluation ev(in, testNow(), &other);
  std::vector<std::string> out;
  path->bindEach(ev, 0, [&] {
    out.push_back(e->render(ev));
    return true;
  });
  EXPECT_EQ(out, (std::vector<std::string>{"CN=server.example.test 3", "CN=Example Issuing CA 3",
                                           "CN=Example Root CA 3"}));
}

TEST(Expression, LongConstantListsMatchExactly) {
  Eval e;
  ParamValue list;
  list.kind = ParamValue::Kind::kList;
  // More than the few compared in turn: a hash set, with short names, a duplicate and names that
  // differ only in the middle.
  for (const char* name : {"a", "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA",
                           "TLS_AES_128_GCM_SHA256", "x", "", "abcdefgh", "abcdefghi",
                           "TLS_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}) {
    list.list.push_back(paramFromText(name));
  }
  e.params["allowed"] = list;
  expectTrue(e, "\"TLS_RSA_WITH_AES_256_CBC_SHA\" in params.allowed");
  expectTrue(e, "\"abcdefgh\" in params.allowed and \"abcdefghi\" in params.allowed");
  expectTrue(e, "\"a\" in params.allowed and \"x\" in params.allowed and \"\" in params.allowed");
  expectFalse(e, "\"TLS_RSA_WITH_AES_192_CBC_SHA\" in params.allowed");
  expectFalse(e, "\"abcdefg\" in params.allowed or \"b\" in params.allowed");
  expectTrue(e, "\"TLS_RSA_WITH_AES_128_CBC_SHA1\" not in params.allowed");
  expectTrue(e, "any(s in tls.versions.cipherSuites: s.name in params.allowed)");
  expectTrue(e, "any(s in tls.versions.cipherSuites: s.name not in params.allowed)");
}

}  // namespace
}  // namespace tlsaudit::rules
