// YAML files users write (rules, profiles, waivers): parsing with positions, validation against
// a JSON Schema, and mapping an offset inside a scalar back to the file's line and column.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tlsaudit::rules {

// A place in a user's file, 1-based; prints as file:line:column.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string text() const;
};

// The largest rule, profile or waivers file accepted: anything bigger is a mistake (or an attack
// on the loader), not a policy.
inline constexpr size_t kMaxUserFileBytes = 4 * 1024 * 1024;

// Reads a user's file, refusing it once more than kMaxUserFileBytes have been read (the size is
// checked while reading, never after loading the whole file). `what` names the kind of file in
// errors ("policy file", "waivers file").
absl::StatusOr<std::string> readUserFile(const std::string& path, std::string_view what);

// One parsed YAML file, kept with its text so errors can point into multi-line scalars.
class YamlDocument {
 public:
  // Parses `text`; a syntax error names file:line:column.
  static absl::StatusOr<YamlDocument> parse(std::string_view text, std::string file);

  const YAML::Node& root() const { return root_; }
  const std::string& file() const { return file_; }
  // Where `node` starts.
  SourceLocation at(const YAML::Node& node) const;
  // Where byte `offset` of the scalar `node`'s value is in the file (plain, quoted, literal |
  // and folded > scalars; approximate for escapes).
  SourceLocation at(const YAML::Node& node, size_t offset) const;
  // An InvalidArgument error "file:line:col: path: message" at `node`.
  absl::Status error(const YAML::Node& node, std::string_view path, std::string_view message) const;

 private:
  std::string file_;
  std::vector<std::string> lines_;
  YAML::Node root_;
};

// A small JSON Schema (draft 2020-12 subset) interpreter over YAML: type (object, array, string,
// integer, number, boolean), properties, required, additionalProperties (false or a schema),
// items, enum, pattern (RE2), minItems, maxItems, minLength, maxLength, minimum, maximum,
// oneOf, $ref to "#/$defs/NAME". Every error names file:line:column and the path in the file.
class YamlSchema {
 public:
  // `schema_json` is the schema's text (shipped with the binary); `name` appears in errors.
  static absl::StatusOr<YamlSchema> load(std::string_view schema_json, std::string name);
  // The first violation, or OK.
  absl::Status validate(const YamlDocument& doc) const;
  // Validates one node against the schema's "$defs/NAME"; `path` prefixes the error's path.
  absl::Status validate(const YamlDocument& doc, const YAML::Node& node, std::string_view def,
                        const std::string& path) const;

  YamlSchema(YamlSchema&&) noexcept;
  YamlSchema& operator=(YamlSchema&&) noexcept;
  ~YamlSchema();

 private:
  YamlSchema();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsaudit::rules
