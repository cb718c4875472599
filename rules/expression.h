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
#include <utility>
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

// The element lists and field reads that expressions compiled against it share. A rule set reads
// the same few fields of the same elements many times per input (fifteen suite rules look at each
// suite's cipher, name, kx...); an Evaluation made with the layout walks each list and reads each
// field through reflection once per input, and every expression takes the value from there.
//
// Compilation registers what an expression iterates (a path of repeated message fields, from the
// root or from a bound element) and which singular fields it reads from those elements or from
// the root; evaluation fills each list or column when first needed for the current input. Not
// thread-safe while compiling; read-only (and shareable) afterwards.
class InputLayout {
 public:
  InputLayout();
  ~InputLayout();
  InputLayout(const InputLayout&) = delete;
  InputLayout& operator=(const InputLayout&) = delete;

  // How many element lists and field columns have been registered.
  size_t sets() const;
  size_t columns() const;

  // Internal to the evaluator.
  struct Impl;
  std::unique_ptr<Impl> impl;
};

// Everything a compiled expression may refer to besides the root message.
struct CompileScope {
  using Bound = std::vector<std::pair<std::string, const google::protobuf::Descriptor*>>;
  CompileScope() = default;
  CompileScope(const google::protobuf::Descriptor* root, const Params* params, Bound bound = {},
               InputLayout* layout = nullptr)
      : root(root), params(params), bound(std::move(bound)), layout(layout) {}

  const google::protobuf::Descriptor* root = nullptr;  // e.g. RuleInput
  const Params* params = nullptr;
  // Variables bound outside the expression (a rule's `each:` bindings), by name, each to a
  // message type. Their slots are 0..n-1 in this order.
  Bound bound;
  // Optional: where compiled expressions register the lists they iterate and the fields they
  // read (see InputLayout). Null: every read goes through reflection.
  InputLayout* layout = nullptr;
  // With a layout: per bound variable, the element list its `each:` path iterates
  // (MessagePath::set()); missing or -1 when unknown.
  std::vector<int> bound_sets;
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
  // The same, appended to `out` (no temporary strings).
  void renderTo(Evaluation& ev, std::string& out) const;
  // How many variable slots evaluation needs (bound ones plus the quantifiers' own).
  size_t slots() const;
  // Whether the value depends on `params.NAME` (else only on the text and what is evaluated).
  bool usesParams() const;

 private:
  Expression();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Per-thread evaluation state: the root message, bound variables, the clock, scratch strings and,
// with an InputLayout, the lists and field values read from the current input.
class Evaluation {
 public:
  // `layout`: the layout the expressions were compiled against, or null (no caching). It must
  // outlive the Evaluation and not change while it is used.
  Evaluation(const google::protobuf::Message& root, int64_t now_unix_seconds,
             const InputLayout* layout = nullptr);
  Evaluation(Evaluation&&) noexcept;
  Evaluation& operator=(Evaluation&&) noexcept;
  ~Evaluation();
  // Points the evaluation at another input, keeping its buffers; what was cached from the
  // previous input is forgotten. Call it (or make a new Evaluation) whenever the root changes.
  void reset(const google::protobuf::Message& root, int64_t now_unix_seconds);
  // Binds slot `slot` to `message` (position `index` in the list it came from).
  void bind(size_t slot, const google::protobuf::Message* message, int64_t index);
  int64_t now() const { return now_; }
  const google::protobuf::Message& root() const { return *root_; }
  const InputLayout* layout() const { return layout_; }

  // Internal to the evaluator.
  struct Slot {
    const google::protobuf::Message* message = nullptr;
    int64_t index = 0;
    // A bound scalar (any(a in v.clientAuth.signatureAlgorithms: ...)).
    int64_t scalar_i = 0;
    double scalar_d = 0;
    bool scalar_b = false;
    std::string_view scalar_s;
    // The cached list `message` belongs to and its position there; -1: not from a cached list.
    int set = -1;
    uint32_t element = 0;
  };
  // Variables live in a fixed array: the compiler refuses more than kMaxSlots.
  static constexpr size_t kMaxSlots = 16;
  Slot& slot(size_t i) { return slots_[i < kMaxSlots ? i : kMaxSlots - 1]; }
  std::string& scratch();
  void resetScratch() { scratch_used_ = 0; }
  // The cached values of this input (null without a layout).
  struct Cache;
  Cache* cache() { return cache_.get(); }
  // A message of a cached list, and its position in the repeated field it came from.
  struct Element {
    const google::protobuf::Message* message;
    int64_t index;
  };
  // The messages of cached list chain.back() that the lists of `chain` reach from what
  // `start_slot` is bound to (-1: from the root): [*begin, *end) of the returned array. Null when
  // the slot is not bound to an element of chain[0]'s parent list (the caller then walks the
  // messages itself).
  const Element* elements(const std::vector<int>& chain, int start_slot, uint32_t* begin,
                          uint32_t* end);
  // Binds `slot` to `e`, element `element` of cached list `set`.
  void bindElement(size_t slot, int set, uint32_t element, const Element& e) {
    Slot& s = this->slot(slot);
    s.message = e.message;
    s.index = e.index;
    s.set = set;
    s.element = element;
  }

 private:
  const google::protobuf::Message* root_;
  int64_t now_;
  const InputLayout* layout_ = nullptr;
  std::array<Slot, kMaxSlots> slots_{};
  std::vector<std::unique_ptr<std::string>> scratch_;
  size_t scratch_used_ = 0;
  std::unique_ptr<Cache> cache_;
};

// Iterates the messages a path (from the root or a bound slot) reaches, e.g. the `each:` source
// "tls.versions" or "v.cipherSuites". Compiled once.
class MessagePath {
 public:
  // `text` is `name.field.field`, where name is a root field or a bound variable in `scope`.
  static absl::StatusOr<MessagePath> compile(std::string_view text, const CompileScope& scope,
                                             ExpressionError* error = nullptr);
  const google::protobuf::Descriptor* elementType() const { return element_; }
  // With a layout in the scope: the cached list this path iterates (for CompileScope::bound_sets
  // of the variables bound to it); else -1.
  int set() const { return chain_.empty() ? -1 : chain_.back(); }
  // Whether `other` reaches the same messages the same way (same start, same fields).
  bool sameWalk(const MessagePath& other) const {
    return start_slot_ == other.start_slot_ && steps_ == other.steps_ && chain_ == other.chain_ &&
           layout_ == other.layout_;
  }
  // Calls fn(message, index) for each message reached; stops when fn returns false.
  template <typename Fn>
  void forEach(Evaluation& ev, Fn&& fn) const;
  // Binds slot `slot` to each message reached in turn and calls fn(); stops when fn returns
  // false. With the Evaluation's cache the messages come from the cached list, so expressions
  // read their fields from its columns.
  template <typename Fn>
  void bindEach(Evaluation& ev, size_t slot, Fn&& fn) const;

 private:
  int start_slot_ = -1;     // -1: the root message
  std::vector<int> chain_;  // cached lists from the start down to the elements (with a layout)
  const InputLayout* layout_ = nullptr;  // chain_'s
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

template <typename Fn>
void MessagePath::bindEach(Evaluation& ev, size_t slot, Fn&& fn) const {
  uint32_t begin = 0, end = 0;
  const Evaluation::Element* elements = nullptr;
  if (!chain_.empty() && ev.layout() == layout_ &&
      (elements = ev.elements(chain_, start_slot_, &begin, &end)) != nullptr) {
    int set = chain_.back();
    for (uint32_t i = begin; i < end; ++i) {
      ev.bindElement(slot, set, i, elements[i]);
      if (!fn()) return;
    }
    return;
  }
  forEach(ev, [&](const google::protobuf::Message* m, int64_t index) {
    ev.bind(slot, m, index);
    return fn();
  });
}

}  // namespace tlsaudit::rules
