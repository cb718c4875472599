// proto3 JSON of a message written straight from reflection, several times faster than
// google::protobuf::util::MessageToJsonString (which converts through a binary stream and a
// type resolver): ingest writes one report per observation. Covers what the model uses; for
// anything else it declines and the caller uses the protobuf printer.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace tlsaudit::storage {

// Appends `s` as a JSON string (quotes, backslashes and control characters escaped); bytes that
// are not well-formed UTF-8 become U+FFFD, so the result is always valid JSON.
void appendJsonString(std::string_view s, std::string& out);
// The same, but bytes that are not well-formed UTF-8 make it return false (with `out`
// unspecified) unless `replace_invalid`.
bool appendJsonStringOrFail(std::string_view s, std::string& out, bool replace_invalid);

// Appends `message` as proto3 JSON to `out`, as MessageToJsonString would with default options
// (lowerCamelCase names, fields without presence only when not default, enums by name, 64-bit
// integers and Timestamps as strings, bytes as base64) and leaving out the field `skip` wherever
// it occurs (nullptr: none). Returns false, with `out` unspecified, when the message holds a
// float, double, map, a well-known type other than Timestamp, or a string that is not UTF-8.
bool appendProtoJson(const google::protobuf::Message& message,
                     const google::protobuf::FieldDescriptor* skip, std::string& out);

}  // namespace tlsaudit::storage
