// Which events a sink receives (its `min_severity`, `rules` and `events` settings). Pure.
#pragma once

#include "scanner/alerts/alert_dispatcher.h"
#include "scanner/alerts/alert_message.h"

namespace tlsaudit::scanner::alerts {

// True when `sink` takes `event`: its severity is at least min_severity (UNSPECIFIED: any), and
// its rule id and event name are in the sink's lists (an empty list takes all). An event a sink
// does not take is recorded as taken without delivery and never retried.
bool sinkAccepts(const SinkConfig& sink, const AlertEvent& event);

}  // namespace tlsaudit::scanner::alerts
