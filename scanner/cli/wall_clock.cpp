#include "scanner/cli/wall_clock.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>

namespace tlsaudit::scanner {

int64_t nowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string nowRfc3339() {
  return google::protobuf::util::TimeUtil::ToString(
      google::protobuf::util::TimeUtil::SecondsToTimestamp(nowUnixSeconds()));
}

}  // namespace tlsaudit::scanner
