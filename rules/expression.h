// The rule condition language: expressions over the proto model, resolved through protobuf
// reflection, type-checked and compiled once, then evaluated many times.
//
//   tls.extensions.compression
//   any(v in tls.versions: v.supported and v.version in ["SSL2", "SSL3"])
//   count(s in v.cipherSuites: s.forwardSecret) == 0
//   c.notAfter < now() + 30d and c.signatureHash matches "^(MD5|SHA1)$"
//
// Field names are the proto names or their JSON (lowerCamelCase) forms. A path that crosses a
// repeated field without an index (`tls.versions.version`) has many values and may only be used
// where a list is expected: any/all/count, `contains`, the right of `in`, len(). Enum fields
// compare with the enum value's name as a string literal, checked when the rule is compiled.
// google.protobuf.Timestamp fields are times; `30d`, `12h`, `1y` are durations.
//
// Values of `params.NAME` are constants supplied when compiling (a rule's defaults, overridden
// by a profile), so one rule text serves several profiles.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tlsaudit::rules {

// A compile error: what was expected, and where in the expression text (0-based offset).
struct ExpressionError {
  size_t offset = 0;
  std::string message;
};

// A constant parameter value (from YAML): scalars or a list of scalars.
struct ParamValue {
  enum class Kind { kBool, kInt, kDouble, kString, kDuration, kList };
  Kind kind = Kind::kString;
  bool b = false;
  int64_t i = 0;  // also the duration in seconds
  double d = 0;
  std::string s;
  std::vector<ParamValue> list;

  bool operator==(const ParamValue& other) const;
  // Text for `rules explain` and instance keys: 2048, "x", 30d, [a, b].
  std::string text() const;
};
using Params = std::map<std::string, ParamValue, std::less<>>;

// Parses a parameter written as YAML text: true/false, integers, decimals, durations (30d),
// otherwise a string.
ParamValue paramFromText(const std::string& text);

class Evaluation;

// Everything a compiled expression may refer to besides the root message.
struct CompileScope {
  const google::protobuf::Descriptor* root = nullptr;  // e.g. RuleInput
  const Params* params = nullptr;
  // Variables bound outside the expression (a rule's `each:` bindings), by name, each to a
  // message type. Their slots are 0..n-1 in this order.
  std::vector<std::pair<std::string, const google::protobuf::Descriptor*>> bound;
};

// One compiled expression. Thread-compatible: evaluate from many threads with one Evaluation
// each.
class Expression {
 public:
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  ~Expression();

  // Compiles `text`. On failure the error names the offset and what was expected.
  static absl::StatusOr<Expression> compile(std::string_view text, const CompileScope& scope,
                                            ExpressionError* error = nullptr);
  // Compiles a `{expr}` template (evidence text); `{{` and `}}` are literal braces.
  static absl::StatusOr<Expression> compileTemplate(std::string_view text,
                                                    const CompileScope& scope,
                                                    ExpressionError* error = nullptr);

  bool isBool() const;
  // Evaluates a condition (the expression must be boolean).
  bool test(Evaluation& ev) const;
  // Evaluates and renders the value as text (templates, explanations).
  std::string render(Evaluation& ev) const;
  // How many variable slots evaluation needs (bound ones plus the quantifiers' own).
  size_t slots() const;

 private:
  Expression();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Per-thread evaluation state: the root message, bound variables, the clock, scratch strings.
class Evaluation {
 public:
  Evaluation(const google::protobuf::Message& root, int64_t now_unix_seconds);
  // Points the evaluation at another input, keeping its buffers.
  void reset(const google::protobuf::Message& root, int64_t now_unix_seconds) {
    root_ = &root;
    now_ = now_unix_seconds;
  }
  // Binds slot `slot` to `message` (position `index` in the list it came from).
  void bind(size_t slot, const google::protobuf::Message* message, int64_t index);
  int64_t now() const { return now_; }
  const google::protobuf::Message& root() const { return *root_; }

  // Internal to the evaluator.
  struct Slot {
    const google::protobuf::Message* message = nullptr;
    int64_t index = 0;
    // A bound scalar (any(a in v.clientAuth.signatureAlgorithms: ...)).
    int64_t scalar_i = 0;
    double scalar_d = 0;
    bool scalar_b = false;
    std::string_view scalar_s;
  };
  // Variables live in a fixed array: the compiler refuses more than kMaxSlots.
  static constexpr size_t kMaxSlots = 16;
  Slot& slot(size_t i) { return slots_[i < kMaxSlots ? i : kMaxSlots - 1]; }
  std::string& scratch();
  void resetScratch() { scratch_used_ = 0; }

 private:
  const google::protobuf::Message* root_;
  int64_t now_;
  std::array<Slot, kMaxSlots> slots_{};
  std::vector<std::unique_ptr<std::string>> scratch_;
  size_t scratch_used_ = 0;
};

// Iterates the messages a path (from the root or a bound slot) reaches, e.g. the `each:` source
// "tls.versions" or "v.cipherSuites". Compiled once.
class MessagePath {
 public:
  // `text` is `name.field.field`, where name is a root field or a bound variable in `scope`.
  static absl::StatusOr<MessagePath> compile(std::string_view text, const CompileScope& scope,
                                             ExpressionError* error = nullptr);
  const google::protobuf::Descriptor* elementType() const { return element_; }
  // Calls fn(message, index) for each message reached; stops when fn returns false.
  template <typename Fn>
  void forEach(Evaluation& ev, Fn&& fn) const;

 private:
  int start_slot_ = -1;  // -1: the root message
  std::vector<const google::protobuf::FieldDescriptor*> steps_;
  std::vector<const google::protobuf::Reflection*> refls_;  // of each step's message type
  const google::protobuf::Descriptor* element_ = nullptr;
  void walk(const google::protobuf::Message* m, size_t step, int64_t* counter,
            bool (*cb)(void*, const google::protobuf::Message*, int64_t), void* ctx) const;
  friend class Expression;
};

template <typename Fn>
void MessagePath::forEach(Evaluation& ev, Fn&& fn) const {
  const google::protobuf::Message* start =
      start_slot_ < 0 ? &ev.root() : ev.slot(static_cast<size_t>(start_slot_)).message;
  if (start == nullptr) return;
  int64_t counter = 0;
  auto trampoline = [](void* ctx, const google::protobuf::Message* m, int64_t i) -> bool {
    return (*static_cast<Fn*>(ctx))(m, i);
  };
  walk(start, 0, &counter, trampoline, &fn);
}

}  // namespace tlsaudit::rules
