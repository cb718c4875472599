#include "scanner/alerts/sink_filter.h"

#include <algorithm>

namespace tlsaudit::scanner::alerts {

bool sinkAccepts(const SinkConfig& sink, const AlertEvent& event) {
  if (sink.min_severity != tlsaudit::v1::SEVERITY_UNSPECIFIED &&
      event.severity < sink.min_severity) {
    return false;
  }
  auto listed = [](const std::vector<std::string>& list, const std::string& value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  };
  return listed(sink.rules, event.rule_id) && listed(sink.events, event.event);
}

}  // namespace tlsaudit::scanner::alerts
