#include "scanner/scan_pipeline.h"

#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "collectors/net/connection_gate.h"
#include "collectors/tls/client_hello.h"

namespace tlsaudit::scanner {
namespace {

namespace tls = collectors::tls;
namespace v1 = tlsaudit::v1;

struct Task {
  uint64_t seq = 0;
  const net::TargetSpec* target = nullptr;
  std::optional<net::asio::ip::address> address;  // set for CIDR members and literals
  uint16_t port = 0;
};

// Walks targets × addresses × ports without materialising the list.
class TaskSource {
 public:
  explicit TaskSource(const ScanSettings& s) : s_(s) {}

  std::optional<Task> next() {
    std::lock_guard lock(mutex_);
    if (s_.stop && s_.stop()) return std::nullopt;
    while (target_ < s_.targets.size()) {
      const auto& t = s_.targets[target_];
      uint64_t addresses = t.isNetwork() ? t.network_size : 1;
      size_t ports = t.port ? 1 : s_.ports.size();
      if (address_ < addresses && port_ < ports) {
        Task task;
        task.seq = seq_++;
        task.target = &t;
        task.port = t.port ? *t.port : s_.ports[port_];
        if (t.isNetwork()) task.address = t.addressAt(address_);
        if (++port_ >= ports) {
          port_ = 0;
          ++address_;
        }
        return task;
      }
      ++target_;
      address_ = 0;
      port_ = 0;
    }
    return std::nullopt;
  }

 private:
  const ScanSettings& s_;
  std::mutex mutex_;
  size_t target_ = 0;
  uint64_t address_ = 0;
  size_t port_ = 0;
  uint64_t seq_ = 0;
};

// Emits reports in sequence order; holds back only those that finished early.
class OrderedSink {
 public:
  OrderedSink(const ReportSink& sink, const ProgressSink& progress, uint64_t total)
      : sink_(sink), progress_(progress), total_(total) {}

  void deliver(uint64_t seq, std::optional<v1::TlsReport> report) {
    std::lock_guard lock(mutex_);
    pending_.emplace(seq, std::move(report));
    while (!pending_.empty() && pending_.begin()->first == next_) {
      if (pending_.begin()->second) sink_(std::move(*pending_.begin()->second));
      pending_.erase(pending_.begin());
      ++next_;
    }
    ++done_;
    if (progress_) progress_(done_, total_);
  }

 private:
  const ReportSink& sink_;
  const ProgressSink& progress_;
  uint64_t total_;
  std::mutex mutex_;
  std::map<uint64_t, std::optional<v1::TlsReport>> pending_;
  uint64_t next_ = 0;
  uint64_t done_ = 0;
};

struct Dialogue {
  tls::StarttlsProtocol protocol = tls::StarttlsProtocol::kNone;
  bool sip = false;
};

Dialogue dialogueFor(const ScanSettings& s, const net::TargetSpec& t, uint16_t port) {
  Dialogue d;
  const std::string& scheme = t.scheme;
  if (!scheme.empty()) {
    if (scheme == "sips") d.sip = true;
    if (scheme == "smtp" || scheme == "submission") d.protocol = tls::StarttlsProtocol::kSmtp;
    if (auto p = tls::parseStarttlsProtocol(scheme); p && scheme != "smtp") d.protocol = *p;
    return d;
  }
  if (s.starttls == "auto") {
    d.protocol = tls::starttlsForPort(port);
    d.sip = port == 5061;
  } else if (auto p = tls::parseStarttlsProtocol(s.starttls)) {
    d.protocol = *p;
  }
  return d;
}

net::awaitable<void> worker(const ScanSettings& s, TaskSource& source, OrderedSink& out,
                            net::ConnectionGate& gate) {
  auto ex = co_await net::asio::this_coro::executor;
  net::tcp::resolver resolver(ex);
  while (auto task = source.next()) {
    const auto& t = *task->target;
    tls::Endpoint ep;
    ep.host = t.isNetwork() ? task->address->to_string() : t.host;
    ep.port = task->port;
    auto d = dialogueFor(s, t, task->port);
    ep.starttls = d.protocol;
    ep.sip = d.sip;
    if (!s.sni.empty()) {
      ep.sni = s.sni;
    } else if (!t.isNetwork() && !tls::isAddressLiteral(t.host)) {
      ep.sni = t.host;
    }
    if (task->address) {
      ep.ip = *task->address;
    } else {
      boost::system::error_code ec;
      ep.ip = net::asio::ip::make_address(t.host, ec);
      if (ec) {
        auto results = co_await resolver.async_resolve(
            t.host, std::to_string(task->port), net::asio::redirect_error(net::use_awaitable, ec));
        if (ec || results.empty()) {
          v1::TlsReport report;
          report.mutable_target()->set_host(t.host);
          report.mutable_target()->set_port(task->port);
          auto* e = report.add_errors();
          e->set_stage("resolve");
          e->set_kind("dns");
          e->set_message("cannot resolve '" + t.host + "': " + (ec ? ec.message() : "no address"));
          out.deliver(task->seq, std::move(report));
          continue;
        }
        // Prefer IPv4 (services often listen on it alone, e.g. "localhost" → 127.0.0.1).
        ep.ip = results.begin()->endpoint().address();
        for (const auto& r : results) {
          if (r.endpoint().address().is_v4()) {
            ep.ip = r.endpoint().address();
            break;
          }
        }
      }
    }
    v1::TlsReport report;
    if (s.in_flight) s.in_flight(1);
    try {
      auto probe = s.probe;
      probe.parallel = s.per_host;  // one endpoint may use the whole per-host allowance
      report = co_await tls::probeEndpoint(ep, probe, gate);
    } catch (const std::exception& e) {
      // A bug must not silently drop an endpoint from the output.
      report.mutable_target()->set_host(ep.host);
      report.mutable_target()->set_ip(ep.ip.to_string());
      report.mutable_target()->set_port(ep.port);
      auto* err = report.add_errors();
      err->set_stage("internal");
      err->set_kind("bug");
      err->set_message(std::string("internal error: ") + e.what());
    }
    if (s.in_flight) s.in_flight(-1);
    // Within address blocks only endpoints that accepted a connection are worth a report.
    if (t.isNetwork() && !report.reachable()) {
      out.deliver(task->seq, std::nullopt);
    } else {
      out.deliver(task->seq, std::move(report));
    }
  }
}

}  // namespace

uint64_t countEndpoints(const ScanSettings& settings) {
  uint64_t total = 0;
  for (const auto& t : settings.targets) {
    uint64_t addresses = t.isNetwork() ? t.network_size : 1;
    total += addresses * (t.port ? 1 : settings.ports.size());
  }
  return total;
}

absl::Status runScan(const ScanSettings& settings, const ReportSink& sink,
                     const ProgressSink& progress) {
  if (settings.starttls != "auto" && !tls::parseStarttlsProtocol(settings.starttls)) {
    return absl::InvalidArgumentError(
        "--starttls: '" + settings.starttls +
        "' is not one of auto, none, smtp, imap, pop3, ftp, ldap, xmpp, postgres");
  }
  if (settings.ports.empty()) return absl::InvalidArgumentError("--ports: no ports given");
  unsigned threads =
      settings.threads ? settings.threads : std::max(1u, std::thread::hardware_concurrency());
  net::asio::io_context io(static_cast<int>(threads));
  net::ConnectionGate gate(settings.per_host, settings.rate);
  TaskSource source(settings);
  OrderedSink out(sink, progress, countEndpoints(settings));
  size_t workers = std::max<size_t>(1, settings.concurrency);
  for (size_t i = 0; i < workers; ++i) {
    net::asio::co_spawn(net::asio::make_strand(io), worker(settings, source, out, gate),
                        net::asio::detached);
  }
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& th : pool) th.join();
  return absl::OkStatus();
}

}  // namespace tlsaudit::scanner
