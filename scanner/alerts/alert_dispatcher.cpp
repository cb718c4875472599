// Placeholder until the alert delivery branch lands: validates nothing, delivers nothing.
#include "scanner/alerts/alert_dispatcher.h"

namespace tlsaudit::scanner::alerts {

struct AlertDispatcher::Impl {};
AlertDispatcher::AlertDispatcher(DispatcherOptions, std::vector<SinkConfig>)
    : impl_(std::make_unique<Impl>()) {}
AlertDispatcher::~AlertDispatcher() = default;
void AlertDispatcher::start() {}
void AlertDispatcher::stop() {}
void AlertDispatcher::reconfigure(std::vector<SinkConfig>) {}
void AlertDispatcher::poke() {}
std::vector<SinkStats> AlertDispatcher::stats() const { return {}; }
absl::Status validateSink(const SinkConfig&) { return absl::OkStatus(); }

}  // namespace tlsaudit::scanner::alerts
