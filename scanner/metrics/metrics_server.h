// The metrics listener: Prometheus text exposition on GET /metrics and a liveness/readiness
// answer on GET /healthz, over plain HTTP (Boost.Beast) on its own thread. Requests are small,
// capped and bounded in time; anything else gets 404 or 405.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}

namespace tlsaudit::scanner {

struct HealthReport {
  bool healthy = false;
  std::string text;  // one line per component: "database: ok"
};

class MetricsServer {
 public:
  // Binds `listen` (host:port; port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
      std::function<HealthReport()> health);
  ~MetricsServer();
  void stop();
  int port() const;

 private:
  MetricsServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlsaudit::scanner
