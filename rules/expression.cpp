#include "rules/expression.h"

#include <google/protobuf/util/time_util.h>
#include <re2/re2.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

#include "absl/status/status.h"

namespace tlsaudit::rules {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Bounds that keep a hostile or mistaken rule file from exhausting the stack or memory.
constexpr size_t kMaxExpressionBytes = 64 * 1024;
constexpr int kMaxDepth = 64;
constexpr int64_t kSecondsPerDay = 86400;

// ---- errors ----------------------------------------------------------------------------------

struct CompileError {
  size_t offset;
  std::string message;
};

[[noreturn]] void fail(size_t offset, std::string message) {
  throw CompileError{offset, std::move(message)};
}

// ---- lexer -----------------------------------------------------------------------------------

enum class Tok {
  kEnd,
  kIdent,
  kInt,
  kDouble,
  kDuration,
  kString,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
  kColon,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kPlus,
  kMinus,
  kAndAnd,
  kOrOr,
  kBang,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t offset = 0;
  std::string text;  // identifier, or the decoded string literal
  int64_t i = 0;     // integers, durations (seconds)
  double d = 0;
};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd:
      return "the end of the expression";
    case Tok::kIdent:
      return "'" + t.text + "'";
    case Tok::kString:
      return "a string";
    case Tok::kInt:
    case Tok::kDouble:
      return "a number";
    case Tok::kDuration:
      return "a duration";
    default:
      return "'" + t.text + "'";
  }
}

int64_t durationUnit(char c) {
  switch (c) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return kSecondsPerDay;
    case 'w':
      return 7 * kSecondsPerDay;
    case 'y':
      return 365 * kSecondsPerDay;
    default:
      return 0;
  }
}

std::vector<Token> lex(std::string_view src) {
  std::vector<Token> out;
  size_t i = 0;
  auto isIdentStart = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  };
  auto isIdent = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (true) {
    while (i < src.size() && std::isspace(static_cast<unsigned char>(src[i]))) ++i;
    Token t;
    t.offset = i;
    if (i >= src.size()) {
      out.push_back(t);
      return out;
    }
    char c = src[i];
    if (isIdentStart(c)) {
      size_t j = i;
      while (j < src.size() && isIdent(src[j])) ++j;
      t.kind = Tok::kIdent;
      t.text = std::string(src.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      bool is_double = false;
      if (j + 1 < src.size() && src[j] == '.' &&
          std::isdigit(static_cast<unsigned char>(src[j + 1]))) {
        is_double = true;
        ++j;
        while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      }
      std::string_view digits = src.substr(i, j - i);
      if (is_double) {
        t.kind = Tok::kDouble;
        t.d = std::strtod(std::string(digits).c_str(), nullptr);
      } else {
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t.i);
        if (ec != std::errc()) fail(i, "number out of range");
        t.kind = Tok::kInt;
        if (j < src.size() && durationUnit(src[j]) != 0 &&
            (j + 1 >= src.size() || !isIdent(src[j + 1]))) {
          int64_t unit = durationUnit(src[j]);
          if (t.i > INT64_MAX / unit) fail(i, "duration out of range");
          t.i *= unit;
          t.kind = Tok::kDuration;
          ++j;
        } else if (j < src.size() && isIdent(src[j])) {
          fail(j, "unknown unit '" + std::string(1, src[j]) +
                      "' after a number (durations take s, m, h, d, w or y)");
        }
      }
      t.text = std::string(src.substr(i, j - i));
      i = j;
    } else if (c == '"' || c == '\'') {
      size_t j = i + 1;
      std::string value;
      bool closed = false;
      while (j < src.size()) {
        char ch = src[j];
        if (ch == c) {
          closed = true;
          ++j;
          break;
        }
        if (ch == '\\') {
          if (j + 1 >= src.size()) break;
          char e = src[j + 1];
          switch (e) {
            case 'n':
              value += '\n';
              break;
            case 't':
              value += '\t';
              break;
            case '\\':
            case '"':
            case '\'':
              value += e;
              break;
            default:
              // Regular expressions keep their escapes: "\d" stays "\d".
              value += '\\';
              value += e;
          }
          j += 2;
          continue;
        }
        value += ch;
        ++j;
      }
      if (!closed) fail(i, "unterminated string (missing closing " + std::string(1, c) + ")");
      t.kind = Tok::kString;
      t.text = std::move(value);
      i = j;
    } else {
      auto two = src.substr(i, 2);
      struct Op {
        std::string_view text;
        Tok kind;
      };
      static constexpr Op kOps[] = {
          {"==", Tok::kEq},     {"!=", Tok::kNe},    {"<=", Tok::kLe},      {">=", Tok::kGe},
          {"&&", Tok::kAndAnd}, {"||", Tok::kOrOr},  {"<", Tok::kLt},       {">", Tok::kGt},
          {"(", Tok::kLParen},  {")", Tok::kRParen}, {"[", Tok::kLBracket}, {"]", Tok::kRBracket},
          {",", Tok::kComma},   {".", Tok::kDot},    {":", Tok::kColon},    {"+", Tok::kPlus},
          {"-", Tok::kMinus},   {"!", Tok::kBang},   {"=", Tok::kEq},
      };
      bool found = false;
      for (const auto& op : kOps) {
        if (two.substr(0, op.text.size()) == op.text) {
          t.kind = op.kind;
          t.text = std::string(op.text);
          i += op.text.size();
          found = true;
          break;
        }
      }
      if (!found) fail(i, std::string("unexpected character '") + c + "'");
      if (t.kind == Tok::kEq && t.text == "=") fail(t.offset, "use '==' to compare, not '='");
    }
    out.push_back(std::move(t));
  }
}

// ---- syntax tree -----------------------------------------------------------------------------

struct Ast {
  enum class Kind {
    kInt,
    kDouble,
    kDuration,
    kString,
    kBool,
    kList,
    kIdent,
    kMember,
    kIndex,
    kUnary,
    kBinary,
    kCall,
    kQuantifier
  };
  Kind kind;
  size_t offset = 0;
  std::string text;  // identifier, member name, operator, function name, string value
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::vector<std::unique_ptr<Ast>> kids;
};
using AstPtr = std::unique_ptr<Ast>;

AstPtr make(Ast::Kind kind, size_t offset, std::string text = {}) {
  auto a = std::make_unique<Ast>();
  a->kind = kind;
  a->offset = offset;
  a->text = std::move(text);
  return a;
}

bool isKeyword(const Token& t, std::string_view word) {
  return t.kind == Tok::kIdent && t.text == word;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  AstPtr parseAll() {
    AstPtr e = expr();
    if (peek().kind != Tok::kEnd) {
      fail(peek().offset,
           "expected an operator or the end of the expression, found " + describe(peek()));
    }
    return e;
  }

 private:
  const Token& peek(size_t ahead = 0) const {
    return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < toks_.size() - 1) ++pos_;
    return t;
  }
  void expect(Tok kind, std::string_view what, size_t opened_at = SIZE_MAX) {
    if (peek().kind != kind) {
      std::string msg = "expected " + std::string(what);
      if (opened_at != SIZE_MAX) msg += " (opened at offset " + std::to_string(opened_at) + ")";
      fail(peek().offset, msg + ", found " + describe(peek()));
    }
    next();
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxDepth) fail(p_.peek().offset, "expression nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  AstPtr expr() {
    DepthGuard guard(*this);
    return orExpr();
  }
  AstPtr binary(std::string op, size_t offset, AstPtr l, AstPtr r) {
    auto a = make(Ast::Kind::kBinary, offset, std::move(op));
    a->kids.push_back(std::move(l));
    a->kids.push_back(std::move(r));
    return a;
  }
  AstPtr orExpr() {
    AstPtr l = andExpr();
    while (isKeyword(peek(), "or") || peek().kind == Tok::kOrOr) {
      size_t at = next().offset;
      l = binary("or", at, std::move(l), andExpr());
    }
    return l;
  }
  AstPtr andExpr() {
    AstPtr l = notExpr();
    while (isKeyword(peek(), "and") || peek().kind == Tok::kAndAnd) {
      size_t at = next().offset;
      l = binary("and", at, std::move(l), notExpr());
    }
    return l;
  }
  AstPtr notExpr() {
    if ((isKeyword(peek(), "not") && !isKeyword(peek(1), "in")) || peek().kind == Tok::kBang) {
      DepthGuard guard(*this);
      size_t at = next().offset;
      auto a = make(Ast::Kind::kUnary, at, "not");
      a->kids.push_back(notExpr());
      return a;
    }
    return cmpExpr();
  }
  AstPtr cmpExpr() {
    AstPtr l = addExpr();
    const Token& t = peek();
    std::string op;
    switch (t.kind) {
      case Tok::kEq:
        op = "==";
        break;
      case Tok::kNe:
        op = "!=";
        break;
      case Tok::kLt:
        op = "<";
        break;
      case Tok::kLe:
        op = "<=";
        break;
      case Tok::kGt:
        op = ">";
        break;
      case Tok::kGe:
        op = ">=";
        break;
      case Tok::kIdent:
        if (t.text == "in" || t.text == "contains" || t.text == "matches") op = t.text;
        if (t.text == "not" && isKeyword(peek(1), "in")) {
          op = "not in";
          next();
        }
        break;
      default:
        break;
    }
    if (op.empty()) return l;
    size_t at = next().offset;
    AstPtr r = addExpr();
    return binary(op, at, std::move(l), std::move(r));
  }
  AstPtr addExpr() {
    AstPtr l = unary();
    while (peek().kind == Tok::kPlus || peek().kind == Tok::kMinus) {
      const Token& t = next();
      l = binary(t.text, t.offset, std::move(l), unary());
    }
    return l;
  }
  AstPtr unary() {
    if (peek().kind == Tok::kMinus) {
      DepthGuard guard(*this);
      size_t at = next().offset;
      auto a = make(Ast::Kind::kUnary, at, "-");
      a->kids.push_back(unary());
      return a;
    }
    return postfix();
  }
  AstPtr postfix() {
    AstPtr a = primary();
    while (true) {
      if (peek().kind == Tok::kDot) {
        next();
        if (peek().kind != Tok::kIdent) {
          fail(peek().offset, "expected a field name after '.', found " + describe(peek()));
        }
        const Token& name = next();
        auto m = make(Ast::Kind::kMember, name.offset, name.text);
        m->kids.push_back(std::move(a));
        a = std::move(m);
      } else if (peek().kind == Tok::kLBracket) {
        size_t at = next().offset;
        auto ix = make(Ast::Kind::kIndex, at);
        ix->kids.push_back(std::move(a));
        ix->kids.push_back(expr());
        expect(Tok::kRBracket, "']'", at);
        a = std::move(ix);
      } else {
        return a;
      }
    }
  }
  AstPtr primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::kInt: {
        next();
        auto a = make(Ast::Kind::kInt, t.offset);
        a->i = t.i;
        return a;
      }
      case Tok::kDouble: {
        next();
        auto a = make(Ast::Kind::kDouble, t.offset);
        a->d = t.d;
        return a;
      }
      case Tok::kDuration: {
        next();
        auto a = make(Ast::Kind::kDuration, t.offset);
        a->i = t.i;
        return a;
      }
      case Tok::kString: {
        next();
        return make(Ast::Kind::kString, t.offset, t.text);
      }
      case Tok::kLParen: {
        size_t at = next().offset;
        AstPtr e = expr();
        expect(Tok::kRParen, "')'", at);
        return e;
      }
      case Tok::kLBracket: {
        size_t at = next().offset;
        auto list = make(Ast::Kind::kList, at);
        if (peek().kind != Tok::kRBracket) {
          list->kids.push_back(expr());
          while (peek().kind == Tok::kComma) {
            next();
            list->kids.push_back(expr());
          }
        }
        expect(Tok::kRBracket, "',' or ']' in the list", at);
        return list;
      }
      case Tok::kIdent: {
        Token id = next();
        if (id.text == "true" || id.text == "false") {
          auto a = make(Ast::Kind::kBool, id.offset);
          a->b = id.text == "true";
          return a;
        }
        if (id.text == "and" || id.text == "or" || id.text == "in" || id.text == "contains" ||
            id.text == "matches" || id.text == "not") {
          fail(id.offset, "expected a value, found the operator '" + id.text + "'");
        }
        if (peek().kind != Tok::kLParen) return make(Ast::Kind::kIdent, id.offset, id.text);
        size_t open = next().offset;
        if ((id.text == "any" || id.text == "all" || id.text == "count") &&
            peek().kind == Tok::kIdent && isKeyword(peek(1), "in")) {
          // any(x in SOURCE: PREDICATE)
          auto q = make(Ast::Kind::kQuantifier, id.offset, id.text);
          const Token& var = next();
          auto v = make(Ast::Kind::kIdent, var.offset, var.text);
          next();  // in
          q->kids.push_back(std::move(v));
          q->kids.push_back(expr());
          expect(Tok::kColon, "':' before the condition of " + id.text + "()", open);
          q->kids.push_back(expr());
          expect(Tok::kRParen, "')'", open);
          return q;
        }
        auto call = make(Ast::Kind::kCall, id.offset, id.text);
        if (peek().kind != Tok::kRParen) {
          call->kids.push_back(expr());
          while (peek().kind == Tok::kComma) {
            next();
            call->kids.push_back(expr());
          }
        }
        expect(Tok::kRParen, "',' or ')' after the arguments of " + id.text + "()", open);
        return call;
      }
      default:
        fail(t.offset,
             "expected a value (field path, literal, list or function), found " + describe(t));
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ---- types and values ------------------------------------------------------------------------

enum class Base : uint8_t { kBool, kInt, kDouble, kString, kEnum, kTime, kDuration, kMessage };

struct Type {
  Base base = Base::kBool;
  bool many = false;
  const EnumDescriptor* en = nullptr;
  const Descriptor* msg = nullptr;
};

std::string typeName(const Type& t) {
  std::string s;
  switch (t.base) {
    case Base::kBool:
      s = "boolean";
      break;
    case Base::kInt:
      s = "integer";
      break;
    case Base::kDouble:
      s = "number";
      break;
    case Base::kString:
      s = "string";
      break;
    case Base::kEnum:
      s = "enum " + std::string(t.en->name());
      break;
    case Base::kTime:
      s = "time";
      break;
    case Base::kDuration:
      s = "duration";
      break;
    case Base::kMessage:
      s = "message " + std::string(t.msg->name());
      break;
  }
  return t.many ? "list of " + s : s;
}

struct Value {
  bool null = false;
  bool b = false;
  int64_t i = 0;  // integers, enums, times (unix seconds), durations (seconds)
  double d = 0;
  std::string_view s;
  const Message* m = nullptr;
};

// A callable reference without allocation, for iteration callbacks.
template <typename Sig>
class FnRef;
template <typename R, typename... A>
class FnRef<R(A...)> {
 public:
  template <typename F>
  FnRef(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Evaluation reads generated messages, whose Reflection is one object per type: looking it up
// once when compiling saves the per-read GetReflection() call (descriptor assignment check and
// a thread-local access in protobuf 3.21).
const Reflection* reflectionFor(const Descriptor* d) {
  const Message* proto = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
  return proto != nullptr ? proto->GetReflection() : nullptr;
}

bool isTimestamp(const Descriptor* d) { return d->full_name() == "google.protobuf.Timestamp"; }
bool isDuration(const Descriptor* d) { return d->full_name() == "google.protobuf.Duration"; }

std::string formatTime(int64_t secs) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(secs);
  char buf[32];
  if (tm.tm_hour == 0 && tm.tm_min == 0 && tm.tm_sec == 0) {
    std::strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
  } else {
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  return buf;
}

std::string formatDuration(int64_t secs) {
  if (secs % kSecondsPerDay == 0) return std::to_string(secs / kSecondsPerDay) + "d";
  if (secs % 3600 == 0) return std::to_string(secs / 3600) + "h";
  if (secs % 60 == 0) return std::to_string(secs / 60) + "m";
  return std::to_string(secs) + "s";
}

std::string formatDouble(double d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", d);
  return buf;
}

std::string render(const Type& t, const Value& v);

// Appends what render() returns, without building a temporary string for the common types.
void appendRendered(const Type& t, const Value& v, std::string& out) {
  if (v.null) return;
  switch (t.base) {
    case Base::kBool:
      out += v.b ? "true" : "false";
      return;
    case Base::kInt: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.i);
      out.append(buf, end);
      return;
    }
    case Base::kString:
      out += v.s;
      return;
    case Base::kEnum: {
      const auto* ev = t.en->FindValueByNumber(static_cast<int>(v.i));
      if (ev != nullptr) {
        out += ev->name();
      } else {
        appendRendered(Type{Base::kInt}, v, out);
      }
      return;
    }
    default:
      out += render(t, v);
  }
}

std::string render(const Type& t, const Value& v) {
  if (v.null) return "";
  switch (t.base) {
    case Base::kBool:
      return v.b ? "true" : "false";
    case Base::kInt:
      return std::to_string(v.i);
    case Base::kDouble:
      return formatDouble(v.d);
    case Base::kString:
      return std::string(v.s);
    case Base::kEnum: {
      const auto* ev = t.en->FindValueByNumber(static_cast<int>(v.i));
      return ev ? std::string(ev->name()) : std::to_string(v.i);
    }
    case Base::kTime:
      return formatTime(v.i);
    case Base::kDuration:
      return formatDuration(v.i);
    case Base::kMessage:
      return v.m ? v.m->ShortDebugString() : "";
  }
  return "";
}

// Parses YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ to unix seconds.
std::optional<int64_t> parseDate(std::string_view text) {
  google::protobuf::Timestamp ts;
  std::string s(text);
  if (s.size() == 10) s += "T00:00:00Z";
  if (!google::protobuf::util::TimeUtil::FromString(s, &ts)) return std::nullopt;
  return ts.seconds();
}

// ---- executable nodes ------------------------------------------------------------------------

class NodeBase {
 public:
  virtual ~NodeBase() = default;
  Type type;
  size_t offset = 0;
  // The value of a single-valued node.
  virtual Value eval(Evaluation& ev) const = 0;
  // A boolean node's value (null is false). Conditions are mostly and/or/not over comparisons:
  // the nodes that compute a boolean answer here directly, without building a Value.
  virtual bool test(Evaluation& ev) const {
    Value v = eval(ev);
    return !v.null && v.b;
  }
  // Each value of a many-valued node (single-valued: its one value); stop when fn is false.
  virtual void each(Evaluation& ev, FnRef<bool(const Value&)> fn) const { fn(eval(ev)); }
};
using NodePtr = std::unique_ptr<NodeBase>;

// A node whose value is never null and always a boolean: eval() wraps test().
class BoolNode : public NodeBase {
 public:
  Value eval(Evaluation& ev) const final {
    Value out;
    out.b = test(ev);
    return out;
  }
};

class Literal : public NodeBase {
 public:
  Literal(Type t, Value v, std::string owned = {}) : value_(v), owned_(std::move(owned)) {
    type = t;
    if (t.base == Base::kString) value_.s = owned_;
  }
  Value eval(Evaluation&) const override { return value_; }
  // The constant itself, for compile-time use (enum names, patterns, indexed lists).
  const Value& value() const { return value_; }

 private:
  Value value_;
  std::string owned_;
};

const Value* constantOf(const NodeBase& n) {
  const auto* literal = dynamic_cast<const Literal*>(&n);
  return literal != nullptr ? &literal->value() : nullptr;
}

class ListLiteral : public NodeBase {
 public:
  std::vector<NodePtr> items;
  Value eval(Evaluation&) const override { return Value{.null = true}; }
  void each(Evaluation& ev, FnRef<bool(const Value&)> fn) const override {
    for (const auto& item : items) {
      if (!fn(item->eval(ev))) return;
    }
  }
};

// Reads a scalar (or Timestamp/Duration) value of field f of m; `index` for repeated fields.
// `scratch()` gives the string reflection may copy a string field into (asked for only then).
template <typename ScratchFn>
Value readFieldWith(ScratchFn&& scratch_fn, const Message& m, const Reflection* r,
                    const FieldDescriptor* f, int index) {
  Value v;
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      v.b = rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      v.i = rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      v.i = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      v.i = rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
      break;
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t u = rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
      v.i = u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
      v.d = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      v.d = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      v.i = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string& scratch = scratch_fn();
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      v.s = s;
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      v.m = &sub;
      const Descriptor* d = f->message_type();
      if (isTimestamp(d) || isDuration(d)) {
        const Reflection* sr = sub.GetReflection();
        v.i = sr->GetInt64(sub, d->field(0));  // seconds
      }
      break;
    }
  }
  return v;
}

Value readField(Evaluation& ev, const Message& m, const Reflection* r, const FieldDescriptor* f,
                int index) {
  return readFieldWith([&]() -> std::string& { return ev.scratch(); }, m, r, f, index);
}

}  // namespace

// ---- what an InputLayout caches ---------------------------------------------------------------

struct InputLayout::Impl {
  // A list of messages: what `steps` reach from each element of list `parent` (-1: from the root
  // message). Lists are cut after each repeated field, so `tls.versions.cipherSuites` is the list
  // of cipherSuites under the list of tls.versions: the same list `s in v.cipherSuites` iterates
  // with v bound to tls.versions, and its columns serve both.
  struct List {
    int parent = -1;
    std::vector<const FieldDescriptor*> steps;  // only the last one may be repeated
    std::vector<const Reflection*> refls;       // of the message holding each step (null: ask)
  };
  // One singular field path read from every element of list `set` (-1: from the root message).
  struct Column {
    int set = -1;
    std::vector<const FieldDescriptor*> steps;
    std::vector<const Reflection*> refls;
    // Of the last step, looked up once instead of per read.
    FieldDescriptor::CppType cpp_type = FieldDescriptor::CPPTYPE_INT32;
    const FieldDescriptor* seconds = nullptr;  // Timestamp and Duration: their seconds field
  };
  std::vector<List> lists;
  std::vector<Column> columns;

  int list(int parent, std::vector<const FieldDescriptor*> steps,
           std::vector<const Reflection*> refls) {
    for (size_t i = 0; i < lists.size(); ++i) {
      if (lists[i].parent == parent && lists[i].steps == steps) return static_cast<int>(i);
    }
    lists.push_back(List{parent, std::move(steps), std::move(refls)});
    return static_cast<int>(lists.size() - 1);
  }
  int column(int set, std::vector<const FieldDescriptor*> steps,
             std::vector<const Reflection*> refls) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (columns[i].set == set && columns[i].steps == steps) return static_cast<int>(i);
    }
    Column c{set, std::move(steps), std::move(refls)};
    const FieldDescriptor* last = c.steps.back();
    c.cpp_type = last->cpp_type();
    if (c.cpp_type == FieldDescriptor::CPPTYPE_MESSAGE &&
        (isTimestamp(last->message_type()) || isDuration(last->message_type()))) {
      c.seconds = last->message_type()->field(0);
    }
    columns.push_back(std::move(c));
    return static_cast<int>(columns.size() - 1);
  }
  // The lists a path of message fields from list `start` (-1: the root) goes through, cut after
  // each repeated field; the last one holds the messages the path reaches.
  std::vector<int> chain(int start, const std::vector<const FieldDescriptor*>& steps,
                         const std::vector<const Reflection*>& refls) {
    std::vector<int> out;
    int parent = start;
    size_t from = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (!steps[i]->is_repeated() && i + 1 < steps.size()) continue;
      parent = list(parent, {steps.begin() + from, steps.begin() + i + 1},
                    {refls.begin() + from, refls.begin() + i + 1});
      out.push_back(parent);
      from = i + 1;
    }
    return out;
  }
};

InputLayout::InputLayout() : impl(std::make_unique<Impl>()) {}
InputLayout::~InputLayout() = default;
size_t InputLayout::sets() const { return impl->lists.size(); }
size_t InputLayout::columns() const { return impl->columns.size(); }

// The lists and columns of the current input. `generation` counts inputs: a list or column
// filled for an older one is stale and is filled again when next asked for.
struct Evaluation::Cache {
  explicit Cache(const InputLayout::Impl& l) : layout(l) { sync(); }
  const InputLayout::Impl& layout;
  uint64_t generation = 1;
  // `index` is the position in its repeated field, as MessagePath::forEach gives it.
  using Element = Evaluation::Element;
  struct List {
    uint64_t generation = 0;
    std::vector<Element> elements;
    // Elements below element p of the parent list are [first[p], first[p + 1]).
    std::vector<uint32_t> first;
  };
  struct Column {
    uint64_t generation = 0;
    std::vector<Value> values;  // per element of the column's list
  };
  std::vector<List> lists;
  std::vector<Column> columns;
  // Strings reflection copied out of a message instead of returning a reference (not the case
  // for generated messages' plain string fields): the column's view must outlive the read.
  std::vector<std::unique_ptr<std::string>> owned;
  size_t owned_used = 0;
  std::string scratch;                              // what reflection may copy a string into
  std::vector<const Message*> messages_, holders_;  // fillColumn's buffers

  // The layout may have grown since the last input (more expressions compiled into it): done
  // when an input starts, and before filling.
  void sync() {
    if (lists.size() < layout.lists.size()) lists.resize(layout.lists.size());
    if (columns.size() < layout.columns.size()) columns.resize(layout.columns.size());
  }

  void nextInput() {
    ++generation;
    owned_used = 0;
    sync();
  }

  std::string& ownedString() {
    if (owned_used == owned.size()) owned.push_back(std::make_unique<std::string>());
    return *owned[owned_used++];
  }

  static void walk(const Message& m, const InputLayout::Impl::List& def, size_t step,
                   std::vector<Element>& out) {
    const FieldDescriptor* f = def.steps[step];
    const Reflection* r = def.refls[step] != nullptr ? def.refls[step] : m.GetReflection();
    bool last = step + 1 == def.steps.size();
    if (f->is_repeated()) {
      // One reflection call for the whole field instead of one per element (GetRepeatedMessage)
      // costs a third as much here. Upstream deprecates it for GetRepeatedFieldRef(), which
      // costs a default-instance lookup per field and a virtual call per element; protobuf 3.21
      // keeps it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      const auto& items = r->GetRepeatedPtrField<Message>(m, f);
#pragma GCC diagnostic pop
      for (int k = 0; k < items.size(); ++k) {
        if (last) {
          out.push_back(Element{&items.Get(k), k});
        } else {
          walk(items.Get(k), def, step + 1, out);
        }
      }
      return;
    }
    const Message& sub = r->GetMessage(m, f);
    if (last) {
      out.push_back(Element{&sub, 0});
    } else {
      walk(sub, def, step + 1, out);
    }
  }

  // The elements of list `id` for this input (`id` below lists.size(): call sync() first).
  const List& list(int id, const Message& root) {
    const List& l = lists[id];
    return l.generation == generation ? l : fillList(id, root);
  }

  [[gnu::noinline]] const List& fillList(int id, const Message& root) {
    const auto& def = layout.lists[id];
    if (def.parent >= 0) list(def.parent, root);
    List& l = lists[id];
    l.elements.clear();
    l.first.clear();
    if (def.parent < 0) {
      l.first.push_back(0);
      walk(root, def, 0, l.elements);
    } else {
      const List& parent = lists[def.parent];
      for (const auto& p : parent.elements) {
        l.first.push_back(static_cast<uint32_t>(l.elements.size()));
        walk(*p.message, def, 0, l.elements);
      }
    }
    l.first.push_back(static_cast<uint32_t>(l.elements.size()));
    l.generation = generation;
    return l;
  }

  // Reads column `def` of the messages `from` into `out` (as readField, with the field's type
  // known in advance, one type dispatch for the whole column).
  void read(const InputLayout::Impl::Column& def, const std::vector<const Message*>& from,
            Value* out) {
    const std::vector<const Message*>* holders = &from;
    size_t last = def.steps.size() - 1;
    if (last > 0) {
      holders_.assign(from.begin(), from.end());
      for (size_t step = 0; step < last; ++step) {
        for (const Message*& m : holders_) {
          const Reflection* r = def.refls[step] != nullptr ? def.refls[step] : m->GetReflection();
          m = &r->GetMessage(*m, def.steps[step]);
        }
      }
      holders = &holders_;
    }
    const FieldDescriptor* f = def.steps[last];
    const Reflection* known = def.refls[last];
    size_t n = holders->size();
    for (size_t i = 0; i < n; ++i) out[i] = Value{};
    auto each = [&](auto&& read_one) {
      for (size_t i = 0; i < n; ++i) {
        const Message& m = *(*holders)[i];
        read_one(m, known != nullptr ? known : m.GetReflection(), out[i]);
      }
    };
    switch (def.cpp_type) {
      case FieldDescriptor::CPPTYPE_BOOL:
        each([&](const Message& m, const Reflection* r, Value& v) { v.b = r->GetBool(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        each([&](const Message& m, const Reflection* r, Value& v) { v.i = r->GetInt32(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        each([&](const Message& m, const Reflection* r, Value& v) { v.i = r->GetInt64(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        each([&](const Message& m, const Reflection* r, Value& v) { v.i = r->GetUInt32(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        each([&](const Message& m, const Reflection* r, Value& v) {
          uint64_t u = r->GetUInt64(m, f);
          v.i = u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(u);
        });
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        each([&](const Message& m, const Reflection* r, Value& v) { v.d = r->GetDouble(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        each([&](const Message& m, const Reflection* r, Value& v) { v.d = r->GetFloat(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        each([&](const Message& m, const Reflection* r, Value& v) { v.i = r->GetEnumValue(m, f); });
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        each([&](const Message& m, const Reflection* r, Value& v) {
          const std::string& text = r->GetStringReference(m, f, &scratch);
          if (&text == &scratch) {
            std::string& kept = ownedString();
            kept.swap(scratch);
            v.s = kept;
          } else {
            v.s = text;
          }
        });
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        each([&](const Message& m, const Reflection* r, Value& v) {
          const Message& sub = r->GetMessage(m, f);
          v.m = &sub;
          if (def.seconds != nullptr) v.i = sub.GetReflection()->GetInt64(sub, def.seconds);
        });
        break;
    }
  }

  // The value of column `column` for element `element` of its list; null if there is no such
  // element (a slot bound for another input).
  [[gnu::always_inline]] const Value* value(int column, uint32_t element, const Message& root) {
    if (static_cast<size_t>(column) < columns.size()) {
      const Column& c = columns[column];
      if (c.generation == generation) {
        return element < c.values.size() ? &c.values[element] : nullptr;
      }
    }
    return fillColumn(column, element, root);
  }

  [[gnu::noinline]] const Value* fillColumn(int column, uint32_t element, const Message& root) {
    sync();
    Column& c = columns[column];
    const auto& def = layout.columns[column];
    messages_.clear();
    if (def.set < 0) {
      messages_.push_back(&root);
    } else {
      for (const auto& e : list(def.set, root).elements) messages_.push_back(e.message);
    }
    c.values.resize(messages_.size());
    read(def, messages_, c.values.data());
    c.generation = generation;
    return element < c.values.size() ? &c.values[element] : nullptr;
  }
};

namespace {

// A path of singular fields from the root or a bound message (`tls.extensions.compression`,
// `c.notAfter`, `v.clientAuth.requested`): one value. With a layout it is a column, read once
// per input for every element of the variable's list.
class FieldNode : public NodeBase {
 public:
  int start_slot = -1;  // -1: the root
  std::vector<const FieldDescriptor*> fields;
  std::vector<const Reflection*> refls;  // of the message holding each field (null: ask)
  int column = -1;                       // in the evaluation's cache, when compiled with a layout
  int set = -1;  // the list the start slot must be bound to for the column to apply
  const InputLayout* layout = nullptr;  // the column's (an Evaluation for another reads through)

  // This runs for most reads of a rule set, so the cached case stays small and the reflection
  // walk is out of line.
  Value eval(Evaluation& ev) const override {
    if (const Value* v = cached(ev)) return *v;
    return read(ev);
  }
  bool test(Evaluation& ev) const override {
    if (const Value* v = cached(ev)) return !v->null && v->b;
    Value v = read(ev);
    return !v.null && v.b;
  }

  const Value* cached(Evaluation& ev) const {
    if (column < 0 || ev.layout() != layout) return nullptr;
    Evaluation::Cache* c = ev.cache();
    uint32_t element = 0;
    if (start_slot >= 0) {
      const Evaluation::Slot& s = ev.slot(static_cast<size_t>(start_slot));
      if (s.set != set) return nullptr;
      element = s.element;
    }
    return c->value(column, element, ev.root());
  }

  [[gnu::noinline]] Value read(Evaluation& ev) const {
    const Message* m;
    if (start_slot >= 0) {
      m = ev.slot(static_cast<size_t>(start_slot)).message;
      if (m == nullptr) return Value{.null = true};
    } else {
      m = &ev.root();
    }
    size_t last = fields.size() - 1;
    for (size_t i = 0; i < last; ++i) {
      const Reflection* r = refls[i] != nullptr ? refls[i] : m->GetReflection();
      m = &r->GetMessage(*m, fields[i]);
    }
    const FieldDescriptor* field = fields[last];
    const Reflection* refl = refls[last] != nullptr ? refls[last] : m->GetReflection();
    Value v;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        v.b = refl->GetBool(*m, field);
        return v;
      case FieldDescriptor::CPPTYPE_STRING:
        v.s = refl->GetStringReference(*m, field, &ev.scratch());
        return v;
      case FieldDescriptor::CPPTYPE_ENUM:
        v.i = refl->GetEnumValue(*m, field);
        return v;
      case FieldDescriptor::CPPTYPE_UINT32:
        v.i = refl->GetUInt32(*m, field);
        return v;
      default:
        return readField(ev, *m, refl, field, -1);
    }
  }
};

// An operand read without a virtual call or a copy when it is a literal or a cached column, as
// most operands of rule conditions are (`v.supported`, `s.cipher == "NULL"`,
// `c.keyBits < params.min_bits`).
class Operand {
 public:
  void set(const NodeBase* n) {
    node_ = n;
    constant_ = constantOf(*n);
    field_ = dynamic_cast<const FieldNode*>(n);
  }
  // The value; `store` holds it when it had to be computed.
  const Value& get(Evaluation& ev, Value& store) const {
    if (constant_ != nullptr) return *constant_;
    if (field_ != nullptr) {
      if (const Value* v = field_->cached(ev)) return *v;
    }
    store = node_->eval(ev);
    return store;
  }
  // As NodeBase::test.
  bool test(Evaluation& ev) const {
    if (constant_ != nullptr) return !constant_->null && constant_->b;
    if (field_ != nullptr) {
      if (const Value* v = field_->cached(ev)) return !v->null && v->b;
    }
    return node_->test(ev);
  }

 private:
  const NodeBase* node_ = nullptr;
  const Value* constant_ = nullptr;
  const FieldNode* field_ = nullptr;
};

// A path: a start (root, bound slot) and field steps; a step may carry an index expression.
class PathNode : public NodeBase {
 public:
  int start_slot = -1;  // -1: root
  bool start_is_scalar = false;
  Type start_type;  // for scalar slots
  struct Step {
    const FieldDescriptor* field;
    NodePtr index;                     // for a repeated field taken at one position
    const Reflection* refl = nullptr;  // of the message holding `field`
  };
  std::vector<Step> steps;
  // With a layout, for a many-valued path of messages without indexes: the cached lists from the
  // start down to the messages the path reaches (InputLayout::Impl::chain).
  std::vector<int> chain;
  const InputLayout* layout = nullptr;  // chain's

  // The messages of a cached path: [*begin, *end) of the returned elements of list
  // chain.back(). Null when they are not cached (no layout, or the start slot is not bound from a
  // cached list).
  const Evaluation::Element* cached(Evaluation& ev, uint32_t* begin, uint32_t* end) const {
    if (chain.empty() || ev.layout() != layout) return nullptr;
    return ev.elements(chain, start_slot, begin, end);
  }

  Value eval(Evaluation& ev) const override {
    // A single-valued path (what the compiler allows here) is a plain walk down the steps.
    const Message* m;
    if (start_slot >= 0) {
      auto& slot = ev.slot(static_cast<size_t>(start_slot));
      if (start_is_scalar) return slotValue(slot);
      m = slot.message;
      if (m == nullptr) return Value{.null = true};
      if (steps.empty()) {
        Value v;
        v.m = m;
        return v;
      }
    } else {
      m = &ev.root();
    }
    for (size_t i = 0;; ++i) {
      const Step& step = steps[i];
      const FieldDescriptor* f = step.field;
      const Reflection* r = step.refl != nullptr ? step.refl : m->GetReflection();
      int k = -1;
      if (f->is_repeated()) {
        if (!step.index) return Value{.null = true};  // not reached: such paths are many-valued
        int n = r->FieldSize(*m, f);
        Value ix = step.index->eval(ev);
        int64_t at = ix.i < 0 ? n + ix.i : ix.i;  // -1 is the last element
        if (ix.null || at < 0 || at >= n) return Value{.null = true};
        k = static_cast<int>(at);
      }
      if (i + 1 == steps.size()) return readField(ev, *m, r, f, k);
      m = k >= 0 ? &r->GetRepeatedMessage(*m, f, k) : &r->GetMessage(*m, f);
    }
  }

  void each(Evaluation& ev, FnRef<bool(const Value&)> fn) const override {
    uint32_t begin = 0, end = 0;
    if (const Evaluation::Element* elements = cached(ev, &begin, &end)) {
      for (uint32_t i = begin; i < end; ++i) {
        Value v;
        v.m = elements[i].message;
        if (!fn(v)) return;
      }
      return;
    }
    if (start_slot >= 0) {
      auto& slot = ev.slot(static_cast<size_t>(start_slot));
      if (start_is_scalar) {
        fn(slotValue(slot));
        return;
      }
      if (slot.message == nullptr) return;
      if (steps.empty()) {
        Value v;
        v.m = slot.message;
        fn(v);
        return;
      }
      walk(ev, *slot.message, 0, fn);
    } else {
      walk(ev, ev.root(), 0, fn);
    }
  }

  static Value slotValue(const Evaluation::Slot& slot) {
    Value v;
    v.m = slot.message;
    v.i = slot.scalar_i;
    v.d = slot.scalar_d;
    v.b = slot.scalar_b;
    v.s = slot.scalar_s;
    return v;
  }

 private:
  // Returns false when iteration was stopped.
  bool walk(Evaluation& ev, const Message& m, size_t i, FnRef<bool(const Value&)>& fn) const {
    const Step& step = steps[i];
    const FieldDescriptor* f = step.field;
    const Reflection* r = step.refl != nullptr ? step.refl : m.GetReflection();
    bool last = i + 1 == steps.size();
    if (f->is_repeated()) {
      int n = r->FieldSize(m, f);
      if (step.index) {
        Value ix = step.index->eval(ev);
        int64_t k = ix.i < 0 ? n + ix.i : ix.i;  // -1 is the last element
        if (ix.null || k < 0 || k >= n) return true;
        return visit(ev, m, r, f, static_cast<int>(k), last, i, fn);
      }
      for (int k = 0; k < n; ++k) {
        if (!visit(ev, m, r, f, k, last, i, fn)) return false;
      }
      return true;
    }
    return visit(ev, m, r, f, -1, last, i, fn);
  }
  bool visit(Evaluation& ev, const Message& m, const Reflection* r, const FieldDescriptor* f, int k,
             bool last, size_t i, FnRef<bool(const Value&)>& fn) const {
    if (last) return fn(readField(ev, m, r, f, k));
    const Message& sub = k >= 0 ? r->GetRepeatedMessage(m, f, k) : r->GetMessage(m, f);
    return walk(ev, sub, i + 1, fn);
  }
};

class NotNode : public BoolNode {
 public:
  NodePtr arg;
  Operand op;  // arg
  // A null operand is false, so `not` of it is true.
  bool test(Evaluation& ev) const override { return !op.test(ev); }
};

class NegNode : public NodeBase {
 public:
  NodePtr arg;
  Value eval(Evaluation& ev) const override {
    Value v = arg->eval(ev);
    v.i = -v.i;
    v.d = -v.d;
    return v;
  }
};

class LogicNode : public BoolNode {
 public:
  bool is_and = true;
  NodePtr l, r;
  Operand lo, ro;  // l and r
  bool test(Evaluation& ev) const override {
    bool a = lo.test(ev);
    if (is_and ? !a : a) return a;
    return ro.test(ev);
  }
};

enum class Cmp { kEq, kNe, kLt, kLe, kGt, kGe };

// How two values of compatible types compare: integers (also enums, bools, times, durations),
// doubles, strings.
enum class CmpMode { kInt, kDouble, kString, kBool };

bool compareValues(CmpMode mode, Cmp op, const Value& a, const Value& b, bool a_double,
                   bool b_double) {
  int c = 0;
  switch (mode) {
    case CmpMode::kBool:
      c = (a.b == b.b) ? 0 : (a.b ? 1 : -1);
      break;
    case CmpMode::kInt:
      c = a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
      break;
    case CmpMode::kDouble: {
      double x = a_double ? a.d : static_cast<double>(a.i);
      double y = b_double ? b.d : static_cast<double>(b.i);
      c = x < y ? -1 : (x > y ? 1 : 0);
      break;
    }
    case CmpMode::kString:
      c = a.s.compare(b.s);
      c = c < 0 ? -1 : (c > 0 ? 1 : 0);
      break;
  }
  switch (op) {
    case Cmp::kEq:
      return c == 0;
    case Cmp::kNe:
      return c != 0;
    case Cmp::kLt:
      return c < 0;
    case Cmp::kLe:
      return c <= 0;
    case Cmp::kGt:
      return c > 0;
    case Cmp::kGe:
      return c >= 0;
  }
  return false;
}

class CompareNode : public BoolNode {
 public:
  Cmp op = Cmp::kEq;
  CmpMode mode = CmpMode::kInt;
  bool l_double = false, r_double = false;
  NodePtr l, r;
  Operand lo, ro;  // l and r
  bool test(Evaluation& ev) const override {
    Value ls, rs;
    const Value& a = lo.get(ev, ls);
    if (a.null) return false;  // absent values compare false
    const Value& b = ro.get(ev, rs);
    if (b.null) return false;
    return compareValues(mode, op, a, b, l_double, r_double);
  }
};

// A constant set of strings (`s.name in params.allowed`). Conditions look values up in it for
// every element, so a lookup costs a cheap hash of the length and three 8-byte windows (cipher
// suite names share prefixes and suffixes, not all three) and one comparison; a short list is
// compared in turn.
class StringSet {
 public:
  void build(const std::vector<std::string_view>& items) {
    items_ = items;  // a duplicate is harmless: lookups stop at the first
    slots_.clear();
    if (items_.size() <= kLinear) return;
    size_t size = 16;
    while (size < 2 * items_.size()) size *= 2;
    slots_.assign(size, kEmpty);
    mask_ = size - 1;
    for (uint32_t i = 0; i < items_.size(); ++i) {
      size_t at = hash(items_[i]) & mask_;
      while (slots_[at] != kEmpty) at = (at + 1) & mask_;
      slots_[at] = i;
    }
  }
  bool contains(std::string_view x) const {
    if (slots_.empty()) return containsLinear(x);
    for (size_t at = hash(x) & mask_;; at = (at + 1) & mask_) {
      uint32_t i = slots_[at];
      if (i == kEmpty) return false;
      if (items_[i] == x) return true;
    }
  }

 private:
  static constexpr size_t kLinear = 8;
  static constexpr uint32_t kEmpty = UINT32_MAX;

  bool containsLinear(std::string_view x) const {
    for (std::string_view s : items_) {
      if (s == x) return true;
    }
    return false;
  }
  static uint64_t window(const char* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // a fixed size: a load, not a call
    return w;
  }
  static uint64_t hash(std::string_view s) {
    uint64_t h = s.size() * 0x9E3779B97F4A7C15ull;
    if (s.size() >= 8) {
      const char* p = s.data();
      size_t last = s.size() - 8;
      h ^= window(p) ^ std::rotl(window(p + last / 2), 21) ^ std::rotl(window(p + last), 42);
    } else {
      uint64_t w = 0;
      std::memcpy(&w, s.data(), s.size());
      h ^= w;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
  }

  std::vector<std::string_view> items_;
  std::vector<uint32_t> slots_;  // open addressing over items_
  size_t mask_ = 0;
};

// `x in LIST` / `x not in LIST` / `LIST contains x`: membership of a single value in a list
// literal or a many-valued path.
class InNode : public BoolNode {
 public:
  CmpMode mode = CmpMode::kInt;
  bool needle_double = false, hay_double = false;
  bool negate = false;
  NodePtr needle, hay;
  Operand needle_op;
  // A constant list, indexed once: strings in a StringSet, numbers (also enums) sorted.
  bool constant = false;
  StringSet strings;
  std::vector<int64_t> ints;

  void index() {
    auto* list = dynamic_cast<ListLiteral*>(hay.get());
    if (list == nullptr || needle_double || hay_double) return;
    if (mode != CmpMode::kString && mode != CmpMode::kInt) return;
    for (const auto& item : list->items) {
      if (dynamic_cast<Literal*>(item.get()) == nullptr) return;
    }
    std::vector<std::string_view> texts;
    for (const auto& item : list->items) {
      // Literals own their text, so the views stay valid as long as the list does.
      const Value& v = static_cast<const Literal*>(item.get())->value();
      if (mode == CmpMode::kString) {
        texts.push_back(v.s);
      } else {
        ints.push_back(v.i);
      }
    }
    strings.build(texts);
    std::sort(ints.begin(), ints.end());
    constant = true;
  }

  bool test(Evaluation& ev) const override {
    Value store;
    const Value& x = needle_op.get(ev, store);
    if (x.null) return negate;
    bool found = false;
    if (constant) {
      found = mode == CmpMode::kString ? strings.contains(x.s)
                                       : std::binary_search(ints.begin(), ints.end(), x.i);
      return negate ? !found : found;
    }
    hay->each(ev, [&](const Value& v) {
      if (!v.null && compareValues(mode, Cmp::kEq, x, v, needle_double, hay_double)) {
        found = true;
        return false;
      }
      return true;
    });
    return negate ? !found : found;
  }
};

class SubstringNode : public BoolNode {
 public:
  NodePtr l, r;
  bool test(Evaluation& ev) const override {
    Value a = l->eval(ev);
    if (a.null) return false;
    Value b = r->eval(ev);
    if (b.null) return false;
    return a.s.find(b.s) != std::string_view::npos;
  }
};

class MatchesNode : public BoolNode {
 public:
  NodePtr l;
  std::unique_ptr<re2::RE2> re;
  bool many = false;
  bool test(Evaluation& ev) const override {
    bool out = false;
    l->each(ev, [&](const Value& v) {
      if (!v.null && re2::RE2::PartialMatch(re2::StringPiece(v.s.data(), v.s.size()), *re)) {
        out = true;
        return false;
      }
      return true;
    });
    return out;
  }
};

class ArithNode : public NodeBase {
 public:
  bool plus = true;
  bool as_double = false;
  bool l_double = false, r_double = false;
  NodePtr l, r;
  Value eval(Evaluation& ev) const override {
    Value a = l->eval(ev);
    Value b = r->eval(ev);
    Value out;
    if (a.null || b.null) {
      out.null = true;
      return out;
    }
    if (as_double) {
      double x = l_double ? a.d : static_cast<double>(a.i);
      double y = r_double ? b.d : static_cast<double>(b.i);
      out.d = plus ? x + y : x - y;
    } else {
      // Saturating, so far-future dates (9999-12-31) plus a duration cannot overflow.
      int64_t res;
      if (plus ? __builtin_add_overflow(a.i, b.i, &res) : __builtin_sub_overflow(a.i, b.i, &res)) {
        res = ((plus ? b.i : -b.i) > 0) ? INT64_MAX : INT64_MIN;
      }
      out.i = res;
    }
    return out;
  }
};

class QuantifierNode : public NodeBase {
 public:
  enum class Kind { kAny, kAll, kCount } kind = Kind::kAny;
  size_t slot = 0;
  bool scalar = false;
  NodePtr source;                           // many-valued
  NodePtr pred;                             // null for count(path)
  Operand pred_op;                          // pred
  const PathNode* cached_source = nullptr;  // `source`, when it is a path of cached messages
  Value eval(Evaluation& ev) const override {
    Value out;
    int64_t count = 0;
    int64_t index = 0;
    bool result = kind == Kind::kAll;
    auto& s = ev.slot(slot);
    // Called with the variable bound; false stops the iteration.
    auto visit = [&]() {
      s.index = index++;
      bool hit = pred == nullptr || pred_op.test(ev);
      switch (kind) {
        case Kind::kAny:
          if (hit) {
            result = true;
            return false;
          }
          return true;
        case Kind::kAll:
          if (!hit) {
            result = false;
            return false;
          }
          return true;
        case Kind::kCount:
          if (hit) ++count;
          return true;
      }
      return true;
    };
    // Over a cached list the variable is bound to its elements, so the predicate's reads of
    // their fields come from the cache's columns.
    uint32_t begin = 0, end = 0;
    const Evaluation::Element* elements = nullptr;
    if (cached_source != nullptr &&
        (elements = cached_source->cached(ev, &begin, &end)) != nullptr) {
      int set = cached_source->chain.back();
      for (uint32_t i = begin; i < end; ++i) {
        // A message variable: its scalar_* are never read.
        s.message = elements[i].message;
        s.set = set;
        s.element = i;
        if (!visit()) break;
      }
    } else {
      source->each(ev, [&](const Value& v) {
        s.message = v.m;
        s.scalar_i = v.i;
        s.scalar_d = v.d;
        s.scalar_b = v.b;
        s.scalar_s = v.s;
        s.set = -1;
        return visit();
      });
    }
    if (kind == Kind::kCount) {
      out.i = count;
    } else {
      out.b = result;
    }
    return out;
  }
};

class NowNode : public NodeBase {
 public:
  Value eval(Evaluation& ev) const override {
    Value v;
    v.i = ev.now();
    return v;
  }
};

class IndexOfNode : public NodeBase {
 public:
  size_t slot = 0;
  Value eval(Evaluation& ev) const override {
    Value v;
    v.i = ev.slot(slot).index;
    return v;
  }
};

class DaysNode : public NodeBase {
 public:
  NodePtr arg;
  Value eval(Evaluation& ev) const override {
    Value v = arg->eval(ev);
    if (v.null) return v;
    // Floor division: -1 second is day -1, not day 0.
    int64_t q = v.i / kSecondsPerDay;
    if (v.i % kSecondsPerDay != 0 && v.i < 0) --q;
    v.i = q;
    return v;
  }
};

class CaseNode : public NodeBase {
 public:
  bool upper = false;
  NodePtr arg;
  Value eval(Evaluation& ev) const override {
    Value v = arg->eval(ev);
    if (v.null) return v;
    std::string& out = ev.scratch();
    out.assign(v.s);
    for (char& c : out) {
      c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c))
                                  : std::tolower(static_cast<unsigned char>(c)));
    }
    v.s = out;
    return v;
  }
};

class LenNode : public NodeBase {
 public:
  NodePtr arg;
  Value eval(Evaluation& ev) const override {
    Value out;
    if (!arg->type.many) {
      Value v = arg->eval(ev);
      if (v.null) return v;
      out.i = static_cast<int64_t>(v.s.size());
      return out;
    }
    arg->each(ev, [&](const Value&) {
      ++out.i;
      return true;
    });
    return out;
  }
};

class AffixNode : public BoolNode {
 public:
  bool prefix = true;
  NodePtr l, r;
  Operand lo, ro;  // l and r
  bool test(Evaluation& ev) const override {
    Value ls, rs;
    const Value& a = lo.get(ev, ls);
    const Value& b = ro.get(ev, rs);
    if (a.null || b.null) return false;
    return a.s.size() >= b.s.size() &&
           (prefix ? a.s.substr(0, b.s.size()) == b.s : a.s.substr(a.s.size() - b.s.size()) == b.s);
  }
};

class IfNode : public NodeBase {
 public:
  NodePtr cond, yes, no;
  Value eval(Evaluation& ev) const override {
    Value c = cond->eval(ev);
    return (!c.null && c.b) ? yes->eval(ev) : no->eval(ev);
  }
};

class JoinNode : public NodeBase {
 public:
  NodePtr list;
  std::string sep = ", ";
  Value eval(Evaluation& ev) const override {
    std::string& out = ev.scratch();
    out.clear();
    bool first = true;
    list->each(ev, [&](const Value& v) {
      if (!first) out += sep;
      first = false;
      appendRendered(list->type, v, out);
      return true;
    });
    Value v;
    v.s = out;
    return v;
  }
};

// ---- compiler --------------------------------------------------------------------------------

struct Variable {
  std::string name;
  size_t slot;
  Type type;     // message or scalar type of one element
  int set = -1;  // with a layout: the cached list the variable's messages come from
};

class Compiler {
 public:
  explicit Compiler(const CompileScope& scope) : scope_(scope) {
    for (size_t i = 0; i < scope.bound.size(); ++i) {
      Type t;
      t.base = Base::kMessage;
      t.msg = scope.bound[i].second;
      int set = scope.layout != nullptr && i < scope.bound_sets.size() ? scope.bound_sets[i] : -1;
      vars_.push_back(Variable{scope.bound[i].first, i, t, set});
    }
    slots_ = scope.bound.size();
  }
  size_t slots() const { return slots_; }
  bool usesParams() const { return uses_params_; }

  NodePtr compile(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::kInt: {
        Value v;
        v.i = a.i;
        return literal(Type{Base::kInt}, v, a.offset);
      }
      case Ast::Kind::kDouble: {
        Value v;
        v.d = a.d;
        return literal(Type{Base::kDouble}, v, a.offset);
      }
      case Ast::Kind::kDuration: {
        Value v;
        v.i = a.i;
        return literal(Type{Base::kDuration}, v, a.offset);
      }
      case Ast::Kind::kBool: {
        Value v;
        v.b = a.b;
        return literal(Type{Base::kBool}, v, a.offset);
      }
      case Ast::Kind::kString:
        return literal(Type{Base::kString}, Value{}, a.offset, a.text);
      case Ast::Kind::kList:
        return compileList(a);
      case Ast::Kind::kIdent:
      case Ast::Kind::kMember:
      case Ast::Kind::kIndex:
        return compilePath(a);
      case Ast::Kind::kUnary:
        return compileUnary(a);
      case Ast::Kind::kBinary:
        return compileBinary(a);
      case Ast::Kind::kCall:
        return compileCall(a);
      case Ast::Kind::kQuantifier:
        return compileQuantifier(a);
    }
    fail(a.offset, "unsupported expression");
  }

  NodePtr requireBool(NodePtr n, std::string_view where) {
    if (n->type.base != Base::kBool || n->type.many) {
      fail(n->offset, std::string(where) + " must be a condition (true/false), but this is a " +
                          typeName(n->type));
    }
    return n;
  }

 private:
  static NodePtr literal(Type t, Value v, size_t offset, std::string owned = {}) {
    auto n = std::make_unique<Literal>(t, v, std::move(owned));
    n->offset = offset;
    return n;
  }

  NodePtr paramLiteral(const ParamValue& p, size_t offset, const std::string& name) {
    Value v;
    switch (p.kind) {
      case ParamValue::Kind::kBool:
        v.b = p.b;
        return literal(Type{Base::kBool}, v, offset);
      case ParamValue::Kind::kInt:
        v.i = p.i;
        return literal(Type{Base::kInt}, v, offset);
      case ParamValue::Kind::kDouble:
        v.d = p.d;
        return literal(Type{Base::kDouble}, v, offset);
      case ParamValue::Kind::kDuration:
        v.i = p.i;
        return literal(Type{Base::kDuration}, v, offset);
      case ParamValue::Kind::kString:
        return literal(Type{Base::kString}, v, offset, p.s);
      case ParamValue::Kind::kList: {
        auto list = std::make_unique<ListLiteral>();
        list->offset = offset;
        Type t{Base::kString};
        for (size_t i = 0; i < p.list.size(); ++i) {
          if (p.list[i].kind == ParamValue::Kind::kList) {
            fail(offset, "parameter '" + name + "' nests a list in a list");
          }
          auto item = paramLiteral(p.list[i], offset, name);
          if (i == 0) {
            t = item->type;
          } else if (!sameScalar(t, item->type)) {
            fail(offset, "parameter '" + name + "' mixes " + typeName(t) + " and " +
                             typeName(item->type) + " in one list");
          }
          list->items.push_back(std::move(item));
        }
        t.many = true;
        list->type = t;
        return list;
      }
    }
    fail(offset, "bad parameter");
  }

  static bool sameScalar(const Type& a, const Type& b) {
    return a.base == b.base && a.en == b.en && a.msg == b.msg;
  }

  NodePtr compileList(const Ast& a) {
    auto list = std::make_unique<ListLiteral>();
    list->offset = a.offset;
    Type t{Base::kString};
    for (size_t i = 0; i < a.kids.size(); ++i) {
      NodePtr item = compile(*a.kids[i]);
      if (item->type.many) fail(item->offset, "a list cannot hold lists");
      if (i == 0) {
        t = item->type;
      } else if (!sameScalar(t, item->type) && !(isNumber(t) && isNumber(item->type))) {
        fail(item->offset,
             "list items must have one type: " + typeName(t) + " and " + typeName(item->type));
      }
      list->items.push_back(std::move(item));
    }
    t.many = true;
    list->type = t;
    return list;
  }

  static bool isNumber(const Type& t) {
    return !t.many && (t.base == Base::kInt || t.base == Base::kDouble);
  }

  const Variable* findVar(const std::string& name) const {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
      if (it->name == name) return &*it;
    }
    return nullptr;
  }

  static const FieldDescriptor* findField(const Descriptor* d, const std::string& name) {
    if (const auto* f = d->FindFieldByName(name)) return f;
    if (const auto* f = d->FindFieldByLowercaseName(name)) return f;
    if (const auto* f = d->FindFieldByCamelcaseName(name)) return f;
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->json_name() == name) return d->field(i);
    }
    return nullptr;
  }

  static std::string fieldList(const Descriptor* d) {
    std::string s;
    for (int i = 0; i < d->field_count() && i < 30; ++i) {
      if (i) s += ", ";
      s += d->field(i)->json_name();
    }
    return s;
  }

  static Type fieldType(const FieldDescriptor* f) {
    Type t;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        t.base = Base::kBool;
        break;
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT32:
      case FieldDescriptor::CPPTYPE_UINT64:
        t.base = Base::kInt;
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT:
        t.base = Base::kDouble;
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        t.base = Base::kEnum;
        t.en = f->enum_type();
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        t.base = Base::kString;
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (isTimestamp(f->message_type())) {
          t.base = Base::kTime;
        } else if (isDuration(f->message_type())) {
          t.base = Base::kDuration;
        } else {
          t.base = Base::kMessage;
          t.msg = f->message_type();
        }
        break;
    }
    return t;
  }

  // Flattens ident/member/index chains: returns the base identifier and the steps.
  struct RawStep {
    std::string name;
    size_t offset;
    const Ast* index = nullptr;  // index applied after this step
  };
  static void flatten(const Ast& a, std::vector<RawStep>& out) {
    switch (a.kind) {
      case Ast::Kind::kIdent:
        out.push_back(RawStep{a.text, a.offset});
        return;
      case Ast::Kind::kMember:
        flatten(*a.kids[0], out);
        out.push_back(RawStep{a.text, a.offset});
        return;
      case Ast::Kind::kIndex:
        if (a.kids[0]->kind != Ast::Kind::kIdent && a.kids[0]->kind != Ast::Kind::kMember &&
            a.kids[0]->kind != Ast::Kind::kIndex) {
          fail(a.offset, "only a repeated field can be indexed");
        }
        flatten(*a.kids[0], out);
        if (out.back().index != nullptr) fail(a.offset, "a field can be indexed only once");
        out.back().index = a.kids[1].get();
        return;
      default:
        fail(a.offset, "expected a field path");
    }
  }

  NodePtr compilePath(const Ast& a) {
    std::vector<RawStep> raw;
    flatten(a, raw);
    auto path = std::make_unique<PathNode>();
    path->offset = raw[0].offset;
    const std::string& head = raw[0].name;
    size_t first_field = 0;
    const Descriptor* cur = scope_.root;
    Type cur_type;
    if (head == "params") {
      uses_params_ = true;
      if (raw.size() != 2 || raw[0].index || raw[1].index) {
        fail(raw[0].offset, "parameters are used as params.NAME");
      }
      const ParamValue* p = nullptr;
      if (scope_.params) {
        auto it = scope_.params->find(raw[1].name);
        if (it != scope_.params->end()) p = &it->second;
      }
      if (!p) {
        std::string known;
        if (scope_.params) {
          for (const auto& [k, v] : *scope_.params) known += (known.empty() ? "" : ", ") + k;
        }
        fail(raw[1].offset,
             "unknown parameter '" + raw[1].name + "'" +
                 (known.empty() ? " (the rule declares none)" : " (declared: " + known + ")"));
      }
      return paramLiteral(*p, raw[1].offset, raw[1].name);
    }
    // The cached list the path starts from: -1 for the root, -2 when not cached.
    int start_set = -1;
    if (const Variable* v = findVar(head)) {
      if (raw[0].index) fail(raw[0].offset, "a variable cannot be indexed");
      path->start_slot = static_cast<int>(v->slot);
      start_set = v->set >= 0 ? v->set : -2;
      first_field = 1;
      if (v->type.base != Base::kMessage) {
        if (raw.size() > 1) {
          fail(raw[1].offset, "'" + head + "' is a " + typeName(v->type) + ", it has no fields");
        }
        path->start_is_scalar = true;
        path->type = v->type;
        return path;
      }
      cur = v->type.msg;
      cur_type = v->type;
      if (raw.size() == 1) {
        path->type = v->type;
        return path;
      }
    }
    bool many = false;
    Type t;
    for (size_t i = first_field; i < raw.size(); ++i) {
      if (cur == nullptr) {
        fail(raw[i].offset, "'" + raw[i - 1].name + "' is a " + typeName(t) +
                                ", it has no field '" + raw[i].name + "'");
      }
      const FieldDescriptor* f = findField(cur, raw[i].name);
      if (f == nullptr) {
        std::string where = i == 0 ? "the rule input" : std::string(cur->name());
        std::string hint;
        if (i == 0) hint = " (use tls...., asset...., params.... or a bound variable)";
        fail(raw[i].offset, "unknown field '" + raw[i].name + "' in " + where + hint +
                                "; fields: " + fieldList(cur));
      }
      PathNode::Step step{f, nullptr, reflectionFor(cur)};
      if (raw[i].index) {
        if (!f->is_repeated()) fail(raw[i].offset, "'" + raw[i].name + "' is not a list");
        step.index = compile(*raw[i].index);
        if (step.index->type.base != Base::kInt || step.index->type.many) {
          fail(step.index->offset, "an index must be an integer");
        }
      } else if (f->is_repeated()) {
        many = true;
      }
      t = fieldType(f);
      cur = t.base == Base::kMessage ? t.msg : nullptr;
      path->steps.push_back(std::move(step));
    }
    t.many = many;
    path->type = t;
    std::vector<const FieldDescriptor*> fields;
    std::vector<const Reflection*> refls;
    bool indexed = false;
    for (const auto& step : path->steps) {
      fields.push_back(step.field);
      refls.push_back(step.refl);
      indexed = indexed || step.index != nullptr;
    }
    bool cached = scope_.layout != nullptr && start_set >= -1;
    // The common case in rules, `v.supported`, `s.name`, `tls.extensions.compression`: singular
    // fields, read directly (and, with a layout, once per input and element).
    if (!many && !indexed) {
      auto direct = std::make_unique<FieldNode>();
      direct->offset = path->offset;
      direct->type = t;
      direct->start_slot = path->start_slot;
      direct->fields = std::move(fields);
      direct->refls = std::move(refls);
      if (cached) {
        direct->set = start_set;
        direct->column = scope_.layout->impl->column(start_set, direct->fields, direct->refls);
        direct->layout = scope_.layout;
      }
      return direct;
    }
    // A list of messages (`tls.versions`, `v.cipherSuites`) comes from the cached lists.
    if (cached && many && !indexed && t.base == Base::kMessage) {
      path->chain = scope_.layout->impl->chain(start_set, fields, refls);
      path->layout = scope_.layout;
    }
    return path;
  }

  NodePtr compileUnary(const Ast& a) {
    NodePtr arg = compile(*a.kids[0]);
    if (a.text == "not") {
      auto n = std::make_unique<NotNode>();
      n->offset = a.offset;
      n->arg = requireBool(std::move(arg), "the operand of 'not'");
      n->op.set(n->arg.get());
      n->type = Type{Base::kBool};
      return n;
    }
    if (arg->type.many || !(arg->type.base == Base::kInt || arg->type.base == Base::kDouble ||
                            arg->type.base == Base::kDuration)) {
      fail(a.offset, "'-' needs a number or duration, found " + typeName(arg->type));
    }
    auto n = std::make_unique<NegNode>();
    n->offset = a.offset;
    n->type = arg->type;
    n->arg = std::move(arg);
    return n;
  }

  [[noreturn]] void manyError(const NodeBase& n, std::string_view op) {
    fail(n.offset,
         "this path has many values (it crosses a repeated field); '" + std::string(op) +
             "' needs one value: use any(x in ...: ...), all(...), count(...), an index [0] "
             "or 'contains'");
  }

  // Brings a string literal compared with an enum to the enum's number, or fails.
  NodePtr coerceToEnum(NodePtr lit, const EnumDescriptor* en) {
    auto* l = dynamic_cast<Literal*>(lit.get());
    if (l == nullptr) {
      fail(lit->offset, "an enum can be compared only with a value name in quotes");
    }
    std::string name(l->value().s);
    const auto* ev = en->FindValueByName(name);
    if (ev == nullptr) {
      std::string known;
      for (int i = 0; i < en->value_count(); ++i) {
        known += (i ? ", " : "") + std::string(en->value(i)->name());
      }
      fail(lit->offset,
           "'" + name + "' is not a value of " + std::string(en->name()) + " (" + known + ")");
    }
    Value v;
    v.i = ev->number();
    Type t{Base::kEnum};
    t.en = en;
    return literal(t, v, lit->offset);
  }

  // Adjusts operands so they can be compared; returns the comparison mode.
  CmpMode unify(NodePtr& l, NodePtr& r, size_t offset, std::string_view op) {
    Type lt = l->type, rt = r->type;
    lt.many = rt.many = false;
    if (lt.base == Base::kEnum && rt.base == Base::kString) {
      if (r->type.many) {
        auto* list = dynamic_cast<ListLiteral*>(r.get());
        if (!list) fail(r->offset, "an enum can be compared only with value names in quotes");
        for (auto& item : list->items) item = coerceToEnum(std::move(item), lt.en);
        list->type = lt;
        list->type.many = true;
      } else {
        r = coerceToEnum(std::move(r), lt.en);
      }
      return CmpMode::kInt;
    }
    if (rt.base == Base::kEnum && lt.base == Base::kString) {
      if (l->type.many) fail(l->offset, "expected one enum value name");
      l = coerceToEnum(std::move(l), rt.en);
      return CmpMode::kInt;
    }
    if (isNumberBase(lt.base) && isNumberBase(rt.base)) {
      return (lt.base == Base::kDouble || rt.base == Base::kDouble) ? CmpMode::kDouble
                                                                    : CmpMode::kInt;
    }
    if (lt.base != rt.base || (lt.base == Base::kEnum && lt.en != rt.en)) {
      fail(offset, "cannot compare " + typeName(l->type) + " with " + typeName(r->type) +
                       " using '" + std::string(op) + "'");
    }
    switch (lt.base) {
      case Base::kString:
        return CmpMode::kString;
      case Base::kBool:
        return CmpMode::kBool;
      case Base::kMessage:
        fail(offset, "messages cannot be compared; compare one of their fields");
      default:
        return CmpMode::kInt;
    }
  }
  static bool isNumberBase(Base b) { return b == Base::kInt || b == Base::kDouble; }

  NodePtr compileBinary(const Ast& a) {
    const std::string& op = a.text;
    NodePtr l = compile(*a.kids[0]);
    NodePtr r = compile(*a.kids[1]);
    if (op == "and" || op == "or") {
      auto n = std::make_unique<LogicNode>();
      n->offset = a.offset;
      n->is_and = op == "and";
      n->l = requireBool(std::move(l), "the left side of '" + op + "'");
      n->r = requireBool(std::move(r), "the right side of '" + op + "'");
      n->lo.set(n->l.get());
      n->ro.set(n->r.get());
      n->type = Type{Base::kBool};
      return n;
    }
    if (op == "in" || op == "not in") {
      if (l->type.many) manyError(*l, op);
      if (!r->type.many) {
        fail(r->offset, "the right side of '" + op +
                            "' must be a list ([...] or a repeated "
                            "field), found " +
                            typeName(r->type));
      }
      auto n = std::make_unique<InNode>();
      n->offset = a.offset;
      n->negate = op == "not in";
      n->mode = unify(l, r, a.offset, op);
      n->needle_double = l->type.base == Base::kDouble;
      n->hay_double = r->type.base == Base::kDouble;
      n->needle = std::move(l);
      n->hay = std::move(r);
      n->needle_op.set(n->needle.get());
      n->index();
      n->type = Type{Base::kBool};
      return n;
    }
    if (op == "contains") {
      if (r->type.many) manyError(*r, op);
      if (l->type.many) {
        auto n = std::make_unique<InNode>();
        n->offset = a.offset;
        n->mode = unify(l, r, a.offset, op);
        n->hay_double = l->type.base == Base::kDouble;
        n->needle_double = r->type.base == Base::kDouble;
        n->needle = std::move(r);
        n->hay = std::move(l);
        n->needle_op.set(n->needle.get());
        n->type = Type{Base::kBool};
        return n;
      }
      if (l->type.base != Base::kString || r->type.base != Base::kString) {
        fail(a.offset,
             "'contains' needs a list or a string on the left and a string on the "
             "right, found " +
                 typeName(l->type) + " and " + typeName(r->type));
      }
      auto n = std::make_unique<SubstringNode>();
      n->offset = a.offset;
      n->l = std::move(l);
      n->r = std::move(r);
      n->type = Type{Base::kBool};
      return n;
    }
    if (op == "matches") {
      if (l->type.base != Base::kString) {
        fail(l->offset, "'matches' needs a string on the left, found " + typeName(l->type));
      }
      auto* lit = dynamic_cast<Literal*>(r.get());
      if (lit == nullptr || r->type.base != Base::kString) {
        fail(r->offset, "'matches' needs a regular expression in quotes on the right");
      }
      std::string pattern(lit->value().s);
      re2::RE2::Options options;
      options.set_log_errors(false);
      options.set_max_mem(1 << 20);
      auto re = std::make_unique<re2::RE2>(pattern, options);
      if (!re->ok()) fail(r->offset, "invalid regular expression: " + re->error());
      auto n = std::make_unique<MatchesNode>();
      n->offset = a.offset;
      n->many = l->type.many;
      n->l = std::move(l);
      n->re = std::move(re);
      n->type = Type{Base::kBool};
      return n;
    }
    if (op == "+" || op == "-") return compileArith(a, std::move(l), std::move(r));
    // comparisons
    if (l->type.many) manyError(*l, op);
    if (r->type.many) manyError(*r, op);
    auto n = std::make_unique<CompareNode>();
    n->offset = a.offset;
    static const std::pair<std::string_view, Cmp> kOps[] = {{"==", Cmp::kEq}, {"!=", Cmp::kNe},
                                                            {"<", Cmp::kLt},  {"<=", Cmp::kLe},
                                                            {">", Cmp::kGt},  {">=", Cmp::kGe}};
    for (const auto& [text, cmp] : kOps) {
      if (text == op) n->op = cmp;
    }
    n->mode = unify(l, r, a.offset, op);
    if ((n->mode == CmpMode::kBool || n->mode == CmpMode::kString || l->type.base == Base::kEnum) &&
        n->op != Cmp::kEq && n->op != Cmp::kNe && l->type.base != Base::kString) {
      fail(a.offset, "'" + op + "' orders numbers, times, durations and strings; " +
                         typeName(l->type) + " supports only == and !=");
    }
    n->l_double = l->type.base == Base::kDouble;
    n->r_double = r->type.base == Base::kDouble;
    n->l = std::move(l);
    n->r = std::move(r);
    n->lo.set(n->l.get());
    n->ro.set(n->r.get());
    n->type = Type{Base::kBool};
    return n;
  }

  NodePtr compileArith(const Ast& a, NodePtr l, NodePtr r) {
    if (l->type.many) manyError(*l, a.text);
    if (r->type.many) manyError(*r, a.text);
    bool plus = a.text == "+";
    Base lb = l->type.base, rb = r->type.base;
    Type result;
    bool as_double = false;
    if (lb == Base::kTime && rb == Base::kDuration) {
      result.base = Base::kTime;
    } else if (plus && lb == Base::kDuration && rb == Base::kTime) {
      result.base = Base::kTime;
    } else if (!plus && lb == Base::kTime && rb == Base::kTime) {
      result.base = Base::kDuration;
    } else if (lb == Base::kDuration && rb == Base::kDuration) {
      result.base = Base::kDuration;
    } else if (isNumberBase(lb) && isNumberBase(rb)) {
      as_double = lb == Base::kDouble || rb == Base::kDouble;
      result.base = as_double ? Base::kDouble : Base::kInt;
    } else {
      fail(a.offset, "cannot compute " + typeName(l->type) + " " + a.text + " " +
                         typeName(r->type) +
                         " (time ± duration, time - time, numbers and durations work)");
    }
    auto n = std::make_unique<ArithNode>();
    n->offset = a.offset;
    n->plus = plus;
    n->as_double = as_double;
    n->l_double = lb == Base::kDouble;
    n->r_double = rb == Base::kDouble;
    n->l = std::move(l);
    n->r = std::move(r);
    n->type = result;
    return n;
  }

  void arity(const Ast& a, size_t min, size_t max) {
    if (a.kids.size() < min || a.kids.size() > max) {
      std::string want =
          min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max);
      fail(a.offset, a.text + "() takes " + want + " argument" + (max == 1 ? "" : "s") +
                         ", found " + std::to_string(a.kids.size()));
    }
  }
  NodePtr requireType(NodePtr n, Base base, std::string_view what) {
    if (n->type.many || n->type.base != base) {
      fail(n->offset, std::string(what) + ", found " + typeName(n->type));
    }
    return n;
  }

  NodePtr compileCall(const Ast& a) {
    const std::string& fn = a.text;
    if (fn == "now") {
      arity(a, 0, 0);
      auto n = std::make_unique<NowNode>();
      n->offset = a.offset;
      n->type = Type{Base::kTime};
      return n;
    }
    if (fn == "date") {
      arity(a, 1, 1);
      if (a.kids[0]->kind != Ast::Kind::kString) {
        fail(a.kids[0]->offset, "date() takes a date in quotes, e.g. date(\"2030-01-01\")");
      }
      auto secs = parseDate(a.kids[0]->text);
      if (!secs) {
        fail(a.kids[0]->offset,
             "'" + a.kids[0]->text + "' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
      }
      Value v;
      v.i = *secs;
      return literal(Type{Base::kTime}, v, a.offset);
    }
    if (fn == "days") {
      arity(a, 1, 1);
      auto n = std::make_unique<DaysNode>();
      n->offset = a.offset;
      n->arg = requireType(compile(*a.kids[0]), Base::kDuration, "days() takes a duration");
      n->type = Type{Base::kInt};
      return n;
    }
    if (fn == "lower" || fn == "upper") {
      arity(a, 1, 1);
      auto n = std::make_unique<CaseNode>();
      n->offset = a.offset;
      n->upper = fn == "upper";
      n->arg = requireType(compile(*a.kids[0]), Base::kString, fn + "() takes a string");
      n->type = Type{Base::kString};
      return n;
    }
    if (fn == "len") {
      arity(a, 1, 1);
      NodePtr arg = compile(*a.kids[0]);
      if (!arg->type.many && arg->type.base != Base::kString) {
        fail(arg->offset, "len() takes a string or a list, found " + typeName(arg->type));
      }
      auto n = std::make_unique<LenNode>();
      n->offset = a.offset;
      n->arg = std::move(arg);
      n->type = Type{Base::kInt};
      return n;
    }
    if (fn == "count") {  // count(path): the number of values
      arity(a, 1, 1);
      NodePtr arg = compile(*a.kids[0]);
      if (!arg->type.many) fail(arg->offset, "count() takes a list, found " + typeName(arg->type));
      auto n = std::make_unique<LenNode>();
      n->offset = a.offset;
      n->arg = std::move(arg);
      n->type = Type{Base::kInt};
      return n;
    }
    if (fn == "index") {
      arity(a, 1, 1);
      const Ast& k = *a.kids[0];
      const Variable* v = k.kind == Ast::Kind::kIdent ? findVar(k.text) : nullptr;
      if (v == nullptr) fail(k.offset, "index() takes a bound variable (from each: or any(...))");
      auto n = std::make_unique<IndexOfNode>();
      n->offset = a.offset;
      n->slot = v->slot;
      n->type = Type{Base::kInt};
      return n;
    }
    if (fn == "startsWith" || fn == "endsWith") {
      arity(a, 2, 2);
      auto n = std::make_unique<AffixNode>();
      n->offset = a.offset;
      n->prefix = fn == "startsWith";
      n->l = requireType(compile(*a.kids[0]), Base::kString, fn + "() takes strings");
      n->r = requireType(compile(*a.kids[1]), Base::kString, fn + "() takes strings");
      n->lo.set(n->l.get());
      n->ro.set(n->r.get());
      n->type = Type{Base::kBool};
      return n;
    }
    if (fn == "if") {
      arity(a, 3, 3);
      auto n = std::make_unique<IfNode>();
      n->offset = a.offset;
      n->cond = requireBool(compile(*a.kids[0]), "the first argument of if()");
      n->yes = compile(*a.kids[1]);
      n->no = compile(*a.kids[2]);
      if (n->yes->type.many || n->no->type.many || !sameScalar(n->yes->type, n->no->type)) {
        fail(a.offset, "if() needs two values of one type, found " + typeName(n->yes->type) +
                           " and " + typeName(n->no->type));
      }
      n->type = n->yes->type;
      return n;
    }
    if (fn == "join") {
      arity(a, 1, 2);
      auto n = std::make_unique<JoinNode>();
      n->offset = a.offset;
      n->list = compile(*a.kids[0]);
      if (!n->list->type.many) fail(n->list->offset, "join() takes a list");
      if (a.kids.size() == 2) {
        if (a.kids[1]->kind != Ast::Kind::kString) {
          fail(a.kids[1]->offset, "join()'s separator must be a string in quotes");
        }
        n->sep = a.kids[1]->text;
      }
      n->type = Type{Base::kString};
      return n;
    }
    if (fn == "any" || fn == "all") {
      fail(a.offset, fn + "() is written " + fn + "(x in LIST: CONDITION)");
    }
    fail(a.offset, "unknown function '" + fn +
                       "' (known: any, all, count, now, date, days, len, lower, upper, index, "
                       "startsWith, endsWith, if, join)");
  }

  NodePtr compileQuantifier(const Ast& a) {
    const Ast& var = *a.kids[0];
    NodePtr source = compile(*a.kids[1]);
    if (!source->type.many) {
      fail(source->offset,
           a.text + "() iterates a list (a repeated field), found " + typeName(source->type));
    }
    if (var.text == "params" || findField(scope_.root, var.text) != nullptr) {
      fail(var.offset, "'" + var.text + "' is already a name in rules; pick another variable");
    }
    auto n = std::make_unique<QuantifierNode>();
    n->offset = a.offset;
    n->kind = a.text == "any"   ? QuantifierNode::Kind::kAny
              : a.text == "all" ? QuantifierNode::Kind::kAll
                                : QuantifierNode::Kind::kCount;
    if (slots_ >= Evaluation::kMaxSlots) {
      fail(a.offset,
           "too many nested variables (at most " + std::to_string(Evaluation::kMaxSlots) + ")");
    }
    n->slot = slots_++;
    Type element = source->type;
    element.many = false;
    int set = -1;
    if (const auto* path = dynamic_cast<const PathNode*>(source.get());
        path && !path->chain.empty()) {
      n->cached_source = path;
      set = path->chain.back();
    }
    vars_.push_back(Variable{var.text, n->slot, element, set});
    n->pred = requireBool(compile(*a.kids[2]), "the condition of " + a.text + "()");
    n->pred_op.set(n->pred.get());
    vars_.pop_back();
    n->source = std::move(source);
    n->type = Type{n->kind == QuantifierNode::Kind::kCount ? Base::kInt : Base::kBool};
    return n;
  }

  const CompileScope& scope_;
  std::vector<Variable> vars_;
  size_t slots_ = 0;
  bool uses_params_ = false;
};

void setError(ExpressionError* error, const CompileError& e) {
  if (error) {
    error->offset = e.offset;
    error->message = e.message;
  }
}

}  // namespace

// ---- ParamValue ------------------------------------------------------------------------------

bool ParamValue::operator==(const ParamValue& o) const {
  return kind == o.kind && b == o.b && i == o.i && d == o.d && s == o.s && list == o.list;
}

std::string ParamValue::text() const {
  switch (kind) {
    case Kind::kBool:
      return b ? "true" : "false";
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kDouble:
      return formatDouble(d);
    case Kind::kDuration:
      return formatDuration(i);
    case Kind::kString:
      return "\"" + s + "\"";
    case Kind::kList: {
      std::string out = "[";
      for (size_t k = 0; k < list.size(); ++k) out += (k ? ", " : "") + list[k].text();
      return out + "]";
    }
  }
  return "";
}

ParamValue paramFromText(const std::string& text) {
  ParamValue p;
  if (text == "true" || text == "false") {
    p.kind = ParamValue::Kind::kBool;
    p.b = text == "true";
    return p;
  }
  if (!text.empty()) {
    int64_t i = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec == std::errc() && ptr == text.data() + text.size()) {
      p.kind = ParamValue::Kind::kInt;
      p.i = i;
      return p;
    }
    if (ec == std::errc() && ptr + 1 == text.data() + text.size() && durationUnit(*ptr) != 0) {
      p.kind = ParamValue::Kind::kDuration;
      p.i = i * durationUnit(*ptr);
      return p;
    }
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size() && std::isdigit(static_cast<unsigned char>(text[0]))) {
      p.kind = ParamValue::Kind::kDouble;
      p.d = d;
      return p;
    }
  }
  p.kind = ParamValue::Kind::kString;
  p.s = text;
  return p;
}

// ---- Evaluation ------------------------------------------------------------------------------

Evaluation::Evaluation(const google::protobuf::Message& root, int64_t now_unix_seconds,
                       const InputLayout* layout)
    : root_(&root), now_(now_unix_seconds), layout_(layout) {
  if (layout != nullptr) cache_ = std::make_unique<Cache>(*layout->impl);
}
Evaluation::Evaluation(Evaluation&&) noexcept = default;
Evaluation& Evaluation::operator=(Evaluation&&) noexcept = default;
Evaluation::~Evaluation() = default;

void Evaluation::reset(const google::protobuf::Message& root, int64_t now_unix_seconds) {
  root_ = &root;
  now_ = now_unix_seconds;
  if (cache_) cache_->nextInput();
}

void Evaluation::bind(size_t slot, const google::protobuf::Message* message, int64_t index) {
  Slot& s = this->slot(slot);
  s.message = message;
  s.index = index;
  s.set = -1;
}

const Evaluation::Element* Evaluation::elements(const std::vector<int>& chain, int start_slot,
                                                uint32_t* begin, uint32_t* end) {
  if (!cache_ || chain.empty()) return nullptr;
  Cache& c = *cache_;
  if (c.lists.size() < c.layout.lists.size()) c.sync();
  int parent = c.layout.lists[chain[0]].parent;
  uint32_t b = 0, e = 1;  // the root is one element
  if (start_slot >= 0) {
    const Slot& s = slot(static_cast<size_t>(start_slot));
    if (s.set < 0 || s.set != parent) return nullptr;
    b = s.element;
    e = b + 1;
  } else if (parent >= 0) {
    return nullptr;
  }
  const Cache::List* l = nullptr;
  for (int id : chain) {
    l = &c.list(id, *root_);
    if (e >= l->first.size()) return nullptr;  // a slot bound for another input
    b = l->first[b];
    e = l->first[e];
  }
  *begin = b;
  *end = e;
  // Never null for a cached list, even an empty one (null means "not cached").
  static const Element kNone{nullptr, 0};
  return l->elements.empty() ? &kNone : l->elements.data();
}

std::string& Evaluation::scratch() {
  if (scratch_used_ == scratch_.size()) scratch_.push_back(std::make_unique<std::string>());
  return *scratch_[scratch_used_++];
}

// ---- Expression ------------------------------------------------------------------------------

struct Expression::Impl {
  NodePtr root;
  // Templates: literal text and expressions, alternating.
  std::vector<std::pair<std::string, NodePtr>> segments;
  bool is_template = false;
  size_t slots = 0;
  bool uses_params = false;
};

Expression::Expression() : impl_(std::make_unique<Impl>()) {}
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

absl::StatusOr<Expression> Expression::compile(std::string_view text, const CompileScope& scope,
                                               ExpressionError* error) {
  try {
    if (text.size() > kMaxExpressionBytes) fail(0, "expression longer than 64 KiB");
    Parser parser(lex(text));
    AstPtr ast = parser.parseAll();
    Compiler compiler(scope);
    Expression e;
    e.impl_->root = compiler.compile(*ast);
    e.impl_->slots = compiler.slots();
    e.impl_->uses_params = compiler.usesParams();
    return e;
  } catch (const CompileError& err) {
    setError(error, err);
    return absl::InvalidArgumentError("offset " + std::to_string(err.offset) + ": " + err.message);
  }
}

absl::StatusOr<Expression> Expression::compileTemplate(std::string_view text,
                                                       const CompileScope& scope,
                                                       ExpressionError* error) {
  try {
    if (text.size() > kMaxExpressionBytes) fail(0, "template longer than 64 KiB");
    Expression e;
    e.impl_->is_template = true;
    Compiler compiler(scope);
    std::string literal;
    size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
        literal += '{';
        i += 2;
        continue;
      }
      if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        i += 2;
        continue;
      }
      if (c == '}') fail(i, "unmatched '}' in template (write '}}' for a literal brace)");
      if (c != '{') {
        literal += c;
        ++i;
        continue;
      }
      // Find the closing brace outside string literals.
      size_t j = i + 1;
      char quote = 0;
      while (j < text.size()) {
        if (quote) {
          if (text[j] == '\\') {
            j += 2;
            continue;
          }
          if (text[j] == quote) quote = 0;
        } else if (text[j] == '"' || text[j] == '\'') {
          quote = text[j];
        } else if (text[j] == '}') {
          break;
        }
        ++j;
      }
      if (j >= text.size()) fail(i, "unclosed '{' in template");
      std::string_view inner = text.substr(i + 1, j - i - 1);
      try {
        Parser parser(lex(inner));
        AstPtr ast = parser.parseAll();
        NodePtr node = compiler.compile(*ast);
        if (node->type.base == Base::kMessage) {
          fail(ast->offset, "a message cannot be printed; pick one of its fields");
        }
        e.impl_->segments.emplace_back(std::move(literal), std::move(node));
        literal.clear();
      } catch (const CompileError& inner_err) {
        throw CompileError{i + 1 + inner_err.offset, inner_err.message};
      }
      i = j + 1;
    }
    if (!literal.empty()) e.impl_->segments.emplace_back(std::move(literal), nullptr);
    e.impl_->slots = compiler.slots();
    e.impl_->uses_params = compiler.usesParams();
    return e;
  } catch (const CompileError& err) {
    setError(error, err);
    return absl::InvalidArgumentError("offset " + std::to_string(err.offset) + ": " + err.message);
  }
}

bool Expression::isBool() const {
  return impl_->root && impl_->root->type.base == Base::kBool && !impl_->root->type.many;
}

bool Expression::test(Evaluation& ev) const {
  ev.resetScratch();
  return impl_->root->test(ev);
}

std::string Expression::render(Evaluation& ev) const {
  std::string out;
  renderTo(ev, out);
  return out;
}

void Expression::renderTo(Evaluation& ev, std::string& out) const {
  ev.resetScratch();
  auto one = [&](const NodeBase& n) {
    if (n.type.many) {
      bool first = true;
      n.each(ev, [&](const Value& v) {
        if (!first) out += ", ";
        first = false;
        appendRendered(n.type, v, out);
        return true;
      });
      return;
    }
    appendRendered(n.type, n.eval(ev), out);
  };
  if (!impl_->is_template) {
    one(*impl_->root);
    return;
  }
  for (const auto& [text, node] : impl_->segments) {
    out += text;
    if (node) one(*node);
  }
}

size_t Expression::slots() const { return impl_->slots; }
bool Expression::usesParams() const { return impl_->uses_params; }

// ---- MessagePath -----------------------------------------------------------------------------

absl::StatusOr<MessagePath> MessagePath::compile(std::string_view text, const CompileScope& scope,
                                                 ExpressionError* error) {
  try {
    Parser parser(lex(text));
    AstPtr ast = parser.parseAll();
    if (ast->kind != Ast::Kind::kIdent && ast->kind != Ast::Kind::kMember) {
      fail(ast->offset, "expected a field path such as tls.versions");
    }
    std::vector<std::string> names;
    std::vector<size_t> offsets;
    const Ast* cur = ast.get();
    while (cur->kind == Ast::Kind::kMember) {
      names.insert(names.begin(), cur->text);
      offsets.insert(offsets.begin(), cur->offset);
      cur = cur->kids[0].get();
      if (cur->kind != Ast::Kind::kIdent && cur->kind != Ast::Kind::kMember) {
        fail(cur->offset, "expected a plain field path (no indexes or calls)");
      }
    }
    names.insert(names.begin(), cur->text);
    offsets.insert(offsets.begin(), cur->offset);

    MessagePath path;
    const Descriptor* d = scope.root;
    size_t first = 0;
    for (size_t i = 0; i < scope.bound.size(); ++i) {
      if (scope.bound[i].first == names[0]) {
        path.start_slot_ = static_cast<int>(i);
        d = scope.bound[i].second;
        first = 1;
      }
    }
    bool many = false;
    for (size_t i = first; i < names.size(); ++i) {
      const FieldDescriptor* f = nullptr;
      if (d != nullptr) {
        f = d->FindFieldByName(names[i]);
        if (!f) f = d->FindFieldByCamelcaseName(names[i]);
        if (!f) {
          for (int k = 0; k < d->field_count(); ++k) {
            if (d->field(k)->json_name() == names[i]) f = d->field(k);
          }
        }
      }
      if (f == nullptr) {
        fail(offsets[i], "unknown field '" + names[i] + "'" +
                             (d ? " in " + std::string(d->name()) : std::string()));
      }
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
        fail(offsets[i], "'" + names[i] + "' is not a message; each: iterates messages");
      }
      many = many || f->is_repeated();
      path.steps_.push_back(f);
      path.refls_.push_back(reflectionFor(d));
      d = f->message_type();
    }
    if (path.steps_.empty()) fail(offsets[0], "expected a field after '" + names[0] + "'");
    if (!many) fail(offsets[0], "'" + std::string(text) + "' is not a list (no repeated field)");
    path.element_ = d;
    if (scope.layout != nullptr) {
      int start = -1;
      if (path.start_slot_ >= 0) {
        auto slot = static_cast<size_t>(path.start_slot_);
        start = slot < scope.bound_sets.size() ? scope.bound_sets[slot] : -1;
      }
      if (path.start_slot_ < 0 || start >= 0) {
        path.chain_ = scope.layout->impl->chain(start, path.steps_, path.refls_);
        path.layout_ = scope.layout;
      }
    }
    return path;
  } catch (const CompileError& err) {
    setError(error, err);
    return absl::InvalidArgumentError("offset " + std::to_string(err.offset) + ": " + err.message);
  }
}

void MessagePath::walk(const google::protobuf::Message* m, size_t step, int64_t* counter,
                       bool (*cb)(void*, const google::protobuf::Message*, int64_t),
                       void* ctx) const {
  // Returns through *counter < 0 when stopped.
  if (*counter < 0) return;
  const FieldDescriptor* f = steps_[step];
  const Reflection* r = refls_[step] != nullptr ? refls_[step] : m->GetReflection();
  bool last = step + 1 == steps_.size();
  if (f->is_repeated()) {
    int n = r->FieldSize(*m, f);
    for (int k = 0; k < n && *counter >= 0; ++k) {
      const Message& sub = r->GetRepeatedMessage(*m, f, k);
      if (last) {
        if (!cb(ctx, &sub, k)) *counter = -1;
      } else {
        walk(&sub, step + 1, counter, cb, ctx);
      }
    }
  } else {
    const Message& sub = r->GetMessage(*m, f);
    if (last) {
      if (!cb(ctx, &sub, 0)) *counter = -1;
    } else {
      walk(&sub, step + 1, counter, cb, ctx);
    }
  }
}

}  // namespace tlsaudit::rules
