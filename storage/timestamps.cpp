#include "storage/timestamps.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>

namespace tlsaudit::storage {

using google::protobuf::util::TimeUtil;

int64_t toMicros(const google::protobuf::Timestamp& t) {
  return TimeUtil::TimestampToMicroseconds(t);
}

google::protobuf::Timestamp fromMicros(int64_t micros) {
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

std::string pgTimestamp(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

google::protobuf::Timestamp nowTimestamp() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return fromMicros(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

}  // namespace tlsaudit::storage
