#include "rules/yaml_document.h"

#include <re2/re2.h>

#include <charconv>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

namespace tlsaudit::rules {

absl::StatusOr<std::string> readUserFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open the " + std::string(what));
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxUserFileBytes) {
      return absl::InvalidArgumentError(path + ": larger than 4 MiB; not a " + std::string(what));
    }
  }
  return data;
}

std::string SourceLocation::text() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

absl::StatusOr<YamlDocument> YamlDocument::parse(std::string_view text, std::string file) {
  YamlDocument doc;
  doc.file_ = std::move(file);
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      doc.lines_.emplace_back(text.substr(start));
      break;
    }
    doc.lines_.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  try {
    doc.root_ = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    SourceLocation loc{doc.file_, e.mark.line + 1, e.mark.column + 1};
    if (e.mark.is_null()) loc = SourceLocation{doc.file_, 1, 1};
    return absl::InvalidArgumentError(loc.text() + ": YAML syntax error: " + e.msg);
  }
  return doc;
}

SourceLocation YamlDocument::at(const YAML::Node& node) const {
  YAML::Mark m = node.Mark();
  if (m.is_null()) return SourceLocation{file_, 1, 1};
  return SourceLocation{file_, m.line + 1, m.column + 1};
}

SourceLocation YamlDocument::at(const YAML::Node& node, size_t offset) const {
  YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0 || static_cast<size_t>(m.line) >= lines_.size()) {
    return at(node);
  }
  // The scalar's text as segments of source lines: (line index, first column, length).
  struct Segment {
    int line;
    int column;
    size_t length;
  };
  std::vector<Segment> segments;
  const std::string& first = lines_[static_cast<size_t>(m.line)];
  size_t col = static_cast<size_t>(m.column);
  char style = col < first.size() ? first[col] : ' ';
  auto leading = [](const std::string& s) {
    size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    return i;
  };
  if (style == '|' || style == '>') {
    size_t indent = std::string::npos;
    for (size_t l = static_cast<size_t>(m.line) + 1; l < lines_.size(); ++l) {
      const std::string& s = lines_[l];
      size_t lead = leading(s);
      if (lead == s.size()) {  // blank line inside the block
        segments.push_back(Segment{static_cast<int>(l), static_cast<int>(lead), 0});
        continue;
      }
      if (indent == std::string::npos) indent = lead;
      if (lead < indent) break;
      segments.push_back(Segment{static_cast<int>(l), static_cast<int>(indent), s.size() - indent});
    }
  } else {
    bool quoted = style == '"' || style == '\'';
    size_t begin = col + (quoted ? 1 : 0);
    segments.push_back(
        Segment{m.line, static_cast<int>(begin), first.size() - std::min(begin, first.size())});
    size_t base_indent = leading(first);
    for (size_t l = static_cast<size_t>(m.line) + 1; l < lines_.size(); ++l) {
      const std::string& s = lines_[l];
      size_t lead = leading(s);
      if (lead == s.size() || lead <= base_indent) break;
      segments.push_back(Segment{static_cast<int>(l), static_cast<int>(lead), s.size() - lead});
    }
  }
  size_t rest = offset;
  for (const auto& seg : segments) {
    if (rest <= seg.length)
      return SourceLocation{file_, seg.line + 1, seg.column + static_cast<int>(rest) + 1};
    rest -= seg.length + 1;  // the line break (or the space folding made of it)
  }
  return at(node);
}

absl::Status YamlDocument::error(const YAML::Node& node, std::string_view path,
                                 std::string_view message) const {
  std::string out = at(node).text() + ": ";
  if (!path.empty()) out += std::string(path) + ": ";
  out += message;
  return absl::InvalidArgumentError(out);
}

// ---- schema ------------------------------------------------------------------------------------

struct YamlSchema::Impl {
  nlohmann::json schema;
  std::string name;
  // Compiled patterns by their text.
  std::map<std::string, std::unique_ptr<re2::RE2>> patterns;

  const nlohmann::json& resolve(const nlohmann::json& s) const {
    if (s.is_object() && s.contains("$ref")) {
      std::string ref = s["$ref"].get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) == 0) {
        const auto& defs = schema["$defs"];
        auto it = defs.find(ref.substr(prefix.size()));
        if (it != defs.end()) return *it;
      }
    }
    return s;
  }

  static bool isInteger(const std::string& s) {
    int64_t v;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  }
  static bool isNumber(const std::string& s) {
    if (s.empty()) return false;
    char* end = nullptr;
    std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
  }

  static std::string kindOf(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return "'" + n.Scalar() + "'";
      case YAML::NodeType::Null:
        return "nothing";
      default:
        return "an undefined value";
    }
  }

  bool typeMatches(const std::string& type, const YAML::Node& n) const {
    if (type == "object") return n.IsMap();
    if (type == "array") return n.IsSequence();
    if (type == "null") return n.IsNull();
    if (!n.IsScalar()) return false;
    const std::string& s = n.Scalar();
    if (type == "string") return true;
    if (type == "integer") return isInteger(s);
    if (type == "number") return isNumber(s);
    if (type == "boolean") return s == "true" || s == "false";
    return false;
  }

  absl::Status check(const YamlDocument& doc, const nlohmann::json& raw, const YAML::Node& n,
                     const std::string& path) const {
    const nlohmann::json& s = resolve(raw);
    if (!s.is_object()) return absl::OkStatus();
    std::string where = path.empty() ? std::string("(top)") : path;
    if (s.contains("oneOf")) {
      absl::Status first;
      for (const auto& alt : s["oneOf"]) {
        auto st = check(doc, alt, n, path);
        if (st.ok()) return st;
        if (first.ok()) first = st;
      }
      if (s.contains("description")) {
        return doc.error(
            n, where, "expected " + s["description"].get<std::string>() + ", found " + kindOf(n));
      }
      return first;
    }
    if (s.contains("type")) {
      bool ok = false;
      std::string expected;
      auto one = [&](const std::string& t) {
        ok = ok || typeMatches(t, n);
        expected += (expected.empty() ? "" : " or ") + t;
      };
      if (s["type"].is_array()) {
        for (const auto& t : s["type"]) one(t.get<std::string>());
      } else {
        one(s["type"].get<std::string>());
      }
      if (!ok) {
        std::string what = s.contains("description") ? s["description"].get<std::string>()
                                                     : "a value of type " + expected;
        return doc.error(n, where, "expected " + what + ", found " + kindOf(n));
      }
    }
    if (s.contains("enum") && n.IsScalar()) {
      bool found = false;
      std::string list;
      for (const auto& e : s["enum"]) {
        std::string v = e.is_string() ? e.get<std::string>() : e.dump();
        found = found || v == n.Scalar();
        list += (list.empty() ? "" : ", ") + v;
      }
      if (!found) {
        return doc.error(n, where, "'" + n.Scalar() + "' is not one of: " + list);
      }
    }
    if (n.IsScalar()) {
      const std::string& v = n.Scalar();
      if (s.contains("minLength") && v.size() < s["minLength"].get<size_t>()) {
        return doc.error(n, where, v.empty() ? "must not be empty" : "is too short");
      }
      if (s.contains("maxLength") && v.size() > s["maxLength"].get<size_t>()) {
        return doc.error(
            n, where,
            "is longer than " + std::to_string(s["maxLength"].get<size_t>()) + " characters");
      }
      if (s.contains("pattern")) {
        auto it = patterns.find(s["pattern"].get<std::string>());
        if (it != patterns.end() && !re2::RE2::PartialMatch(v, *it->second)) {
          std::string what = s.contains("description") ? s["description"].get<std::string>()
                                                       : "text matching " + it->first;
          return doc.error(n, where, "'" + v + "' is not " + what);
        }
      }
      if ((s.contains("minimum") || s.contains("maximum")) && isNumber(v)) {
        double d = std::strtod(v.c_str(), nullptr);
        if (s.contains("minimum") && d < s["minimum"].get<double>()) {
          return doc.error(n, where, "must be at least " + s["minimum"].dump());
        }
        if (s.contains("maximum") && d > s["maximum"].get<double>()) {
          return doc.error(n, where, "must be at most " + s["maximum"].dump());
        }
      }
    }
    if (n.IsSequence()) {
      if (s.contains("minItems") && n.size() < s["minItems"].get<size_t>()) {
        return doc.error(
            n, where, "needs at least " + std::to_string(s["minItems"].get<size_t>()) + " item(s)");
      }
      if (s.contains("maxItems") && n.size() > s["maxItems"].get<size_t>()) {
        return doc.error(n, where,
                         "has more than " + std::to_string(s["maxItems"].get<size_t>()) + " items");
      }
      if (s.contains("items")) {
        for (size_t i = 0; i < n.size(); ++i) {
          auto st = check(doc, s["items"], n[i], path + "[" + std::to_string(i) + "]");
          if (!st.ok()) return st;
        }
      }
    }
    if (n.IsMap()) {
      const nlohmann::json* props = s.contains("properties") ? &s["properties"] : nullptr;
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string key = it->first.Scalar();
        std::string sub = path.empty() ? key : path + "." + key;
        if (props && props->contains(key)) {
          auto st = check(doc, (*props)[key], it->second, sub);
          if (!st.ok()) return st;
          continue;
        }
        if (s.contains("additionalProperties")) {
          const auto& ap = s["additionalProperties"];
          if (ap.is_boolean() && !ap.get<bool>()) {
            std::string known;
            if (props) {
              for (auto p = props->begin(); p != props->end(); ++p) {
                known += (known.empty() ? "" : ", ") + p.key();
              }
            }
            return doc.error(it->first, where,
                             "unknown key '" + key + "'" +
                                 (known.empty() ? "" : " (expected one of: " + known + ")"));
          }
          if (ap.is_object()) {
            auto st = check(doc, ap, it->second, sub);
            if (!st.ok()) return st;
          }
        }
      }
      // After the keys: a misspelt key is named as such, not as the key it should have been.
      if (s.contains("required")) {
        for (const auto& r : s["required"]) {
          std::string key = r.get<std::string>();
          if (!n[key]) return doc.error(n, where, "missing required key '" + key + "'");
        }
      }
    }
    return absl::OkStatus();
  }

  void collectPatterns(const nlohmann::json& s) {
    if (s.is_object()) {
      if (s.contains("pattern") && s["pattern"].is_string()) {
        std::string p = s["pattern"].get<std::string>();
        if (!patterns.count(p)) patterns.emplace(p, std::make_unique<re2::RE2>(p));
      }
      for (const auto& [k, v] : s.items()) collectPatterns(v);
    } else if (s.is_array()) {
      for (const auto& v : s) collectPatterns(v);
    }
  }
};

YamlSchema::YamlSchema() : impl_(std::make_unique<Impl>()) {}
YamlSchema::YamlSchema(YamlSchema&&) noexcept = default;
YamlSchema& YamlSchema::operator=(YamlSchema&&) noexcept = default;
YamlSchema::~YamlSchema() = default;

absl::StatusOr<YamlSchema> YamlSchema::load(std::string_view schema_json, std::string name) {
  YamlSchema out;
  out.impl_->name = std::move(name);
  out.impl_->schema = nlohmann::json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (out.impl_->schema.is_discarded()) {
    return absl::InternalError("schema " + out.impl_->name + " is not valid JSON");
  }
  out.impl_->collectPatterns(out.impl_->schema);
  for (const auto& [text, re] : out.impl_->patterns) {
    if (!re->ok()) return absl::InternalError("schema pattern " + text + ": " + re->error());
  }
  return out;
}

absl::Status YamlSchema::validate(const YamlDocument& doc) const {
  return impl_->check(doc, impl_->schema, doc.root(), "");
}

}  // namespace tlsaudit::rules

namespace tlsaudit::rules {

absl::Status YamlSchema::validate(const YamlDocument& doc, const YAML::Node& node,
                                  std::string_view def, const std::string& path) const {
  const auto& defs = impl_->schema["$defs"];
  auto it = defs.find(std::string(def));
  if (it == defs.end()) return absl::InternalError("schema has no $defs/" + std::string(def));
  return impl_->check(doc, *it, node, path);
}

}  // namespace tlsaudit::rules
