#include "storage/proto_json.h"

#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/time_util.h>

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

bool isUtf8(std::string_view s) {
  for (size_t i = 0, n = 0; i < s.size(); i += n) {
    if ((n = utf8Sequence(s, i)) == 0) return false;
  }
  return true;
}

bool appendString(std::string_view s, std::string& out) {
  if (!isUtf8(s)) return false;
  appendJsonString(s, out);
  return true;
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
  if (d->full_name() == "google.protobuf.Timestamp") {
    const auto* r = m.GetReflection();
    pb::Timestamp t;
    t.set_seconds(r->GetInt64(m, d->FindFieldByNumber(1)));
    t.set_nanos(r->GetInt32(m, d->FindFieldByNumber(2)));
    // RFC 3339 years 0001..9999 only; the printer refuses the rest.
    if (t.seconds() < pb::util::TimeUtil::kTimestampMinSeconds ||
        t.seconds() > pb::util::TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 ||
        t.nanos() > 999999999) {
      return false;
    }
    absl::StrAppend(&out, "\"", pb::util::TimeUtil::ToString(t), "\"");
    return true;
  }
  if (d->file()->name().rfind("google/protobuf/", 0) == 0) return false;  // other WKTs
  std::vector<const pb::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  out += '{';
  bool first = true;
  for (const pb::FieldDescriptor* f : fields) {
    if (f == skip) continue;
    if (f->is_map()) return false;
    absl::StrAppend(&out, first ? "\"" : ",\"", f->json_name(), "\":");
    first = false;
    if (f->is_repeated()) {
      out += '[';
      int n = m.GetReflection()->FieldSize(m, f);
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
}

bool appendProtoJson(const pb::Message& message, const pb::FieldDescriptor* skip,
                     std::string& out) {
  return appendMessage(message, skip, out);
}

}  // namespace tlsaudit::storage
