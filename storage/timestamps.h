// Conversions between protobuf Timestamps and what travels to and from PostgreSQL: timestamps
// are sent as RFC 3339 text and read back as Unix microseconds (extract(epoch ...) * 1e6), so
// no time zone or locale setting of the session can change them.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>

namespace tlsaudit::storage {

int64_t toMicros(const google::protobuf::Timestamp& t);
google::protobuf::Timestamp fromMicros(int64_t micros);
// RFC 3339 text for a timestamptz parameter.
std::string pgTimestamp(const google::protobuf::Timestamp& t);
// The current time as a Timestamp (microsecond precision, as PostgreSQL keeps it).
google::protobuf::Timestamp nowTimestamp();
// SQL that reads a timestamptz column as Unix microseconds.
#define TLSAUDIT_MICROS(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

}  // namespace tlsaudit::storage
