#include "storage/proto_json.h"

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tlsaudit::storage {

namespace pb = google::protobuf;

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), 0 when there is none.
size_t utf8Sequence(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;  // continuation bytes
  if (c >= 0xC2 && c <= 0xDF) {
    n = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 2;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3;
  } else {
    return 0;
  }
  if (s.size() - i <= n) return 0;
  auto b1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && b1 < 0xA0) || (c == 0xED && b1 > 0x9F) || (c == 0xF0 && b1 < 0x90) ||
      (c == 0xF4 && b1 > 0x8F)) {
    return 0;
  }
  for (size_t k = 1; k <= n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n + 1;
}

// Appends `s` as a JSON string; false when it is not well-formed UTF-8 (the printer would
// refuse it), with `out` unspecified.
bool appendString(std::string_view s, std::string& out) {
  return appendJsonStringOrFail(s, out, /*replace_invalid=*/false);
}

// RFC 3339 as google::protobuf::util::TimeUtil::ToString writes it: UTC with "Z", and 0, 3, 6
// or 9 fractional digits, as few as the nanoseconds need. `seconds` is within 0001..9999.
void appendTimestamp(int64_t seconds, int32_t nanos, std::string& out) {
  int64_t days = seconds / 86400, rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms", civil_from_days).
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char text[40];
  int n = std::snprintf(text, sizeof(text), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                        static_cast<long long>(year), static_cast<long long>(month),
                        static_cast<long long>(day), static_cast<long long>(rest / 3600),
                        static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60));
  if (nanos != 0) {
    if (nanos % 1000000 == 0) {
      n += std::snprintf(text + n, sizeof(text) - n, ".%03d", nanos / 1000000);
    } else if (nanos % 1000 == 0) {
      n += std::snprintf(text + n, sizeof(text) - n, ".%06d", nanos / 1000);
    } else {
      n += std::snprintf(text + n, sizeof(text) - n, ".%09d", nanos);
    }
  }
  out += '"';
  out.append(text, n);
  out += "Z\"";
}

// What appendMessage needs to know of a message type, computed once per type and thread: its
// fields in the order JSONB keeps object keys (shorter names first, then bytewise), and whether
// it is a Timestamp, or declined (another well-known type, or a type with extensions, which the
// field list does not hold). JSON key order means nothing, but PostgreSQL sorts every object's
// keys when it builds JSONB, and keys already in order make that sort a single pass (it was 4%
// of the server's ingest time). Keyed by descriptor: the model's live as long as the program.
struct MessageType {
  enum Kind { kPlain, kTimestamp, kDeclined } kind = kPlain;
  std::vector<const pb::FieldDescriptor*> fields;
};

const MessageType& messageType(const pb::Descriptor* d) {
  thread_local std::unordered_map<const pb::Descriptor*, MessageType> types;
  auto [it, inserted] = types.try_emplace(d);
  if (inserted) {
    MessageType& t = it->second;
    if (d == pb::Timestamp::descriptor()) {
      t.kind = MessageType::kTimestamp;
    } else if (d->file()->name().rfind("google/protobuf/", 0) == 0 ||
               d->extension_range_count() > 0) {
      t.kind = MessageType::kDeclined;
    }
    for (int i = 0; i < d->field_count(); ++i) t.fields.push_back(d->field(i));
    std::sort(t.fields.begin(), t.fields.end(), [](const auto* a, const auto* b) {
      const std::string &x = a->json_name(), &y = b->json_name();
      return x.size() != y.size() ? x.size() < y.size() : x < y;
    });
  }
  return it->second;
}

bool appendMessage(const pb::Message& m, const pb::FieldDescriptor* skip, std::string& out);

// One value of `f` (element `index` when repeated).
bool appendValue(const pb::Message& m, const pb::FieldDescriptor* f, int index,
                 const pb::FieldDescriptor* skip, std::string& out) {
  const pb::Reflection* r = m.GetReflection();
  bool repeated = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      out += (repeated ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      return true;
    case pb::FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out, repeated ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out, repeated ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      return true;
    case pb::FieldDescriptor::CPPTYPE_INT64:  // proto3 JSON: 64-bit integers are strings
      absl::StrAppend(&out, "\"", repeated ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f),
                      "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out, "\"", repeated ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f),
                      "\"");
      return true;
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      int number = repeated ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const pb::EnumValueDescriptor* v = f->enum_type()->FindValueByNumber(number);
      if (v == nullptr) {
        absl::StrAppend(&out, number);  // a value this build does not know
      } else {
        absl::StrAppend(&out, "\"", v->name(), "\"");
      }
      return true;
    }
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = repeated ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                      : r->GetStringReference(m, f, &scratch);
      if (f->type() == pb::FieldDescriptor::TYPE_BYTES) {
        absl::StrAppend(&out, "\"", absl::Base64Escape(s), "\"");
        return true;
      }
      return appendString(s, out);
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return appendMessage(repeated ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f),
                           skip, out);
    default:  // float and double: the protobuf printer's number formatting is its own
      return false;
  }
}

bool appendMessage(const pb::Message& m, const pb::FieldDescriptor* skip, std::string& out) {
  const pb::Descriptor* d = m.GetDescriptor();
  const MessageType& type = messageType(d);
  const pb::Reflection* r = m.GetReflection();
  if (type.kind == MessageType::kTimestamp) {
    int64_t seconds = r->GetInt64(m, d->field(0));  // google/protobuf/timestamp.proto
    int32_t nanos = r->GetInt32(m, d->field(1));
    // RFC 3339 years 0001..9999 only; the printer refuses the rest.
    if (seconds < pb::util::TimeUtil::kTimestampMinSeconds ||
        seconds > pb::util::TimeUtil::kTimestampMaxSeconds || nanos < 0 || nanos > 999999999) {
      return false;
    }
    appendTimestamp(seconds, nanos, out);
    return true;
  }
  if (type.kind == MessageType::kDeclined) return false;  // other well-known types
  out += '{';
  bool first = true;
  for (const pb::FieldDescriptor* f : type.fields) {
    // Present as ListFields has it: a non-empty repeated field, a set message or oneof member,
    // a proto3 scalar that is not its default.
    int n = f->is_repeated() ? r->FieldSize(m, f) : 0;
    if (f->is_repeated() ? n == 0 : !r->HasField(m, f)) continue;
    if (f == skip) continue;
    if (f->is_map()) return false;
    out += first ? "\"" : ",\"";
    out += f->json_name();
    out += "\":";
    first = false;
    if (f->is_repeated()) {
      out += '[';
      for (int i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        if (!appendValue(m, f, i, skip, out)) return false;
      }
      out += ']';
    } else if (!appendValue(m, f, -1, skip, out)) {
      return false;
    }
  }
  out += '}';
  return true;
}

}  // namespace

void appendJsonString(std::string_view s, std::string& out) {
  appendJsonStringOrFail(s, out, /*replace_invalid=*/true);
}

bool appendJsonStringOrFail(std::string_view s, std::string& out, bool replace_invalid) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the bytes that go out as they are
  auto flush = [&](size_t end) { out.append(s.data() + run, end - run); };
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8Sequence(s, i);
      if (n > 0) {
        i += n;
        continue;
      }
      if (!replace_invalid) return false;
      flush(i);
      out += "\\ufffd";
    } else if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    } else {
      flush(i);
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
      }
    }
    run = ++i;
  }
  flush(s.size());
  out += '"';
  return true;
}

bool appendProtoJson(const pb::Message& message, const pb::FieldDescriptor* skip,
                     std::string& out) {
  return appendMessage(message, skip, out);
}

}  // namespace tlsaudit::storage
