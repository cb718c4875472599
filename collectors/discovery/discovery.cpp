#include "collectors/discovery/discovery.h"

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "collectors/fingerprint/http_banner.h"
#include "collectors/fingerprint/signatures.h"
#include "collectors/fingerprint/sip_options.h"
#include "collectors/net/connection_gate.h"
#include "collectors/net/peer_text.h"
#include "collectors/net/port_probe.h"
#include "collectors/net/probe_socket.h"
#include "collectors/net/subnet_gate.h"
#include "collectors/snmp/inventory.h"
#include "collectors/tls/openssl_handshake.h"

namespace tlsaudit::collectors::discovery {
namespace {

namespace asio = net::asio;
namespace v1 = tlsaudit::v1;
using net::awaitable;
using net::use_awaitable;
using Address = asio::ip::address;
using Clock = std::chrono::steady_clock;

// Completion counter for child coroutines. Used from one thread only (children report back
// through bind_executor onto the parent's single-threaded io_context): the parent waits on a timer
// that the last child cancels.
class WaitGroup {
 public:
  explicit WaitGroup(const asio::any_io_executor& ex) : timer_(ex) {
    timer_.expires_at(asio::steady_timer::time_point::max());
  }
  void add() { ++pending_; }
  void done() {
    if (--pending_ == 0) timer_.cancel();
  }
  awaitable<void> wait() {
    while (pending_ > 0) {
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }

 private:
  asio::steady_timer timer_;
  int pending_ = 0;
};

std::string hostText(const Address& a) { return a.to_string(); }

std::string endpointText(const Address& a, uint16_t port) {
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(port);
}

std::string randomToken() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  uint64_t v = rng();
  for (int i = 0; i < 16; ++i, v >>= 4) out += kHex[v & 15];
  return out;
}

std::string subjectOf(const std::vector<uint8_t>& der) {
  const unsigned char* p = der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (!cert) return "";
  std::string out;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) out.assign(data, static_cast<size_t>(std::min<long>(n, 1024)));
    BIO_free(bio);
  }
  X509_free(cert);
  return out;
}

void addUnique(google::protobuf::RepeatedPtrField<std::string>* v, const std::string& s) {
  if (s.empty()) return;
  for (const auto& x : *v) {
    if (x == s) return;
  }
  v->Add(std::string(s));
}

void setIfEmpty(std::string* field, const std::string& value) {
  if (field->empty() && !value.empty()) *field = value;
}

// Sort key of an address literal: family, then bytes.
std::pair<int, std::array<unsigned char, 16>> addressKey(const std::string& s) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(s, ec);
  std::array<unsigned char, 16> bytes{};
  if (ec) return {2, bytes};
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), bytes.begin());
    return {0, bytes};
  }
  return {1, a.to_v6().to_bytes()};
}

// One host's TCP ports, shared by the lanes that probe them.
struct PortSweep {
  size_t next = 0;   // index of the next port to claim
  size_t lanes = 0;  // lanes running, each holding at most one connection
  std::vector<uint16_t> open;
};

// A connect still in flight and the permit it holds.
struct InFlight {
  uint16_t port = 0;
  net::SubnetGate::Permit permit;
  net::ConnectSweeper::Started probe;
};

// What one host task learned before it is turned into an Asset.
struct HostWork {
  Address address;
  v1::Asset asset;
  fingerprint::Evidence evidence;
  std::vector<snmp::Neighbour> neighbours;
  bool answered = false;
};

// DiscoveryStats of the UDP, SNMP and neighbour work, updated from several threads (the
// per-address TCP counters live in each Shard).
struct Counters {
  std::atomic<uint64_t> udp_probes{0}, snmp_agents{0}, neighbours{0}, neighbour_targets{0},
      neighbours_out_of_scope{0};
  DiscoveryStats snapshot() const {
    DiscoveryStats s;
    s.udp_probes = udp_probes;
    s.snmp_agents = snmp_agents;
    s.neighbours = neighbours;
    s.neighbour_targets = neighbour_targets;
    s.neighbours_out_of_scope = neighbours_out_of_scope;
    return s;
  }
};

// What one sweep thread owns: its single-threaded io_context, its connect sweeper, the addresses
// it took from the shared order, and counters no other thread writes. Nothing here is shared on
// the per-probe path, so two threads never contend for a lock or a cache line there.
struct Shard {
  explicit Shard(std::chrono::milliseconds connect_timeout)
      : io(1), sweeper(io.get_executor(), connect_timeout) {}
  asio::io_context io;
  net::ConnectSweeper sweeper;
  std::vector<Address> batch;  // taken from the order, used from the back
  uint64_t addresses = 0, tcp_probes = 0, open_ports = 0;
  // Probes answered at once since the workers last let the io_context run other handlers.
  unsigned unyielded = 0;
  // Hosts in flight on this shard. Written by its thread only (a load and a store, no locked
  // instruction), read by the others when they run out of addresses (a host still in flight
  // may add neighbour addresses).
  std::atomic<uint64_t> active{0};
  // Timers of this shard's workers that wait for work; only this shard's thread touches it.
  std::vector<asio::steady_timer*> idle;
};

// Addresses taken from the shared order at once: one lock per batch instead of one per address.
constexpr size_t kAddressBatch = 16;
// Connects answered before connect() returned (a refusal from a local stack) never suspend a
// worker; after this many the worker lets the io_context run the rest (deadlines, sockets in
// flight, other workers).
constexpr unsigned kUnyieldedProbes = 32;
// How often a worker waiting for work looks again by itself. A host that finishes while workers
// wait wakes them when it matters (wakeIdle), so this only bounds a missed wake-up.
constexpr std::chrono::milliseconds kIdlePoll{20};

class Engine {
 public:
  Engine(const net::AddressSpace& targets, const net::AddressSpace& scope,
         const DiscoveryOptions& o, snmp::SnmpClient* client)
      : targets_(targets),
        scope_(scope),
        o_(o),
        client_(client),
        // Per-host limits are enforced by each host's own lanes (one task owns an address);
        // the gate adds the shared ones: per subnet and probes per second.
        gate_(o.per_subnet, o.rate),
        gated_(o.rate > 0 || o.per_subnet > 0),
        order_(targets.size(), o.seed ? o.seed : std::random_device{}()) {}

  DiscoveryResult run() {
    auto start = Clock::now();
    unsigned threads = o_.threads ? o_.threads : std::max(1u, std::thread::hardware_concurrency());
    // One single-threaded io_context per thread rather than strands on a shared one: a host's
    // coroutines then never need a strand, which halves the per-probe overhead of a sweep.
    // SNMP runs on the first context only (Net-SNMP's state is not thread-safe).
    for (unsigned i = 0; i < threads; ++i) {
      shards_.push_back(std::make_unique<Shard>(o_.connect_timeout));
      asio::co_spawn(shards_.back()->io, shards_.back()->sweeper.run(), asio::detached);
    }
    snmp_executor_.emplace(shards_[0]->io.get_executor());
    size_t workers = std::max<size_t>(1, o_.concurrency);
    workers_left_ = workers;
    for (size_t i = 0; i < workers; ++i) {
      Shard& shard = *shards_[i % threads];
      asio::co_spawn(shard.io, worker(shard), asio::detached);
    }
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) {
      pool.emplace_back([this, i] { shards_[i]->io.run(); });
    }
    shards_[0]->io.run();
    for (auto& t : pool) t.join();
    DiscoveryResult out;
    out.stats = stats_.snapshot();
    for (const auto& shard : shards_) {
      out.stats.addresses += shard->addresses;
      out.stats.tcp_probes += shard->tcp_probes;
      out.stats.open_ports += shard->open_ports;
      out.stats.tcp_answered_at_once += shard->sweeper.immediateAnswers();
      out.stats.tcp_sockets += shard->sweeper.socketsOpened();
    }
    out.stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    out.warnings.assign(warnings_.begin(), warnings_.end());
    std::vector<std::pair<std::string, v1::Asset*>> sorted;
    for (auto& [key, asset] : assets_) sorted.emplace_back(key, &asset);
    std::sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
      auto kx = addressKey(x.first), ky = addressKey(y.first);
      return kx != ky ? kx < ky : x.first < y.first;
    });
    for (auto& [key, asset] : sorted) out.assets.push_back(std::move(*asset));
    return out;
  }

 private:
  void trace(const std::string& line) {
    if (!o_.trace) return;
    std::lock_guard lock(trace_mutex_);
    o_.trace(line);
  }

  // The per-subnet and rate limits, when any is set; otherwise nothing to wait for.
  awaitable<net::SubnetGate::Permit> gate(const Address& a) {
    if (!gated_) co_return net::SubnetGate::Permit();
    co_return co_await gate_.acquire(a);
  }

  // The next address for `shard`: from its batch, refilled from the shared order (then the
  // neighbour addresses) under the lock, kAddressBatch at a time.
  std::optional<Address> nextAddress(Shard& shard) {
    // A stopped sweep starts no new address; those in flight finish within their deadlines.
    if (o_.stop && o_.stop()) {
      shard.batch.clear();
      return std::nullopt;
    }
    if (shard.batch.empty()) {
      std::lock_guard lock(mutex_);
      while (shard.batch.size() < kAddressBatch) {
        auto index = order_.next();
        if (!index) break;
        auto a = targets_.at(*index);
        if (!targets_.excluded(a)) shard.batch.push_back(a);
      }
      // Kept in the order's sequence: the batch is used from the back.
      std::reverse(shard.batch.begin(), shard.batch.end());
      if (shard.batch.empty() && !extra_.empty()) {
        shard.batch.push_back(extra_.front());
        extra_.pop_front();
      }
      if (shard.batch.empty()) return std::nullopt;
    }
    Address a = shard.batch.back();
    shard.batch.pop_back();
    return a;
  }

  uint64_t hostsInFlight() const {
    uint64_t n = 0;
    for (const auto& shard : shards_) n += shard->active.load();
    return n;
  }

  // The last worker to leave stops every context's connect sweeper, so io_context::run ends.
  void workerDone() {
    if (--workers_left_ != 0) return;
    for (auto& shard : shards_) {
      asio::post(shard->io, [s = &shard->sweeper] { s->stop(); });
    }
  }

  // Wakes the workers waiting for work on every shard. Called when a host finishes while some
  // wait and it queued neighbour addresses or was the last one in flight: at the end of a sweep
  // the threads finish at different moments, and the early one's workers would otherwise keep
  // the process alive until their next poll.
  void wakeIdle() {
    for (auto& shard : shards_) {
      asio::post(shard->io, [s = shard.get()] {
        for (auto* timer : s->idle) timer->cancel();
      });
    }
  }

  awaitable<void> worker(Shard& shard) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer idle(ex);
    for (;;) {
      auto a = nextAddress(shard);
      if (!a) {
        // Hosts still in flight may add neighbour addresses; wait for them before leaving.
        // They queue them before they leave `active`, so look once more after seeing none.
        // Counted as waiting before looking, so that a host finishing meanwhile wakes it.
        ++idle_workers_;
        bool finished = hostsInFlight() == 0 && !(a = nextAddress(shard));
        if (!finished && !a) {
          idle.expires_after(kIdlePoll);
          shard.idle.push_back(&idle);
          boost::system::error_code ec;
          co_await idle.async_wait(asio::redirect_error(use_awaitable, ec));
          shard.idle.erase(std::find(shard.idle.begin(), shard.idle.end(), &idle));
        }
        --idle_workers_;
        if (finished) {
          workerDone();
          co_return;
        }
        if (!a) continue;
      }
      shard.active.store(shard.active.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
      try {
        co_await probeHost(*a, shard);
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        warnings_.insert("internal error while probing " + hostText(*a) + ": " + e.what());
      }
      // Release: whatever this host queued (neighbour addresses) is visible to a thread that
      // sees it gone.
      shard.active.store(shard.active.load(std::memory_order_relaxed) - 1,
                         std::memory_order_release);
      // Workers wait only near the end of a sweep (a rarely written counter, cheap to read).
      if (idle_workers_.load(std::memory_order_relaxed) > 0 &&
          (neighbours_queued_.exchange(false) || hostsInFlight() == 0)) {
        wakeIdle();
      }
      if (o_.progress) {
        uint64_t done = ++done_;
        std::lock_guard lock(trace_mutex_);
        o_.progress(done, targets_.size() + stats_.neighbour_targets);
      }
      if (shard.unyielded >= kUnyieldedProbes) {
        shard.unyielded = 0;
        co_await asio::post(ex, use_awaitable);
      }
    }
  }

  awaitable<void> probeHost(Address a, Shard& shard) {
    ++shard.addresses;
    HostWork w;
    w.address = a;
    auto ex = co_await asio::this_coro::executor;
    PortSweep tcp;
    HostWork snmp_work;
    {
      // Child tasks (SIP, SNMP, TCP connects still in flight) report here; a host whose every
      // probe was answered at once never builds it.
      std::optional<WaitGroup> wg;
      auto done = asio::bind_executor(ex, [&wg](std::exception_ptr) { wg->done(); });
      auto join = [&wg, &ex]() {
        if (!wg) wg.emplace(ex);
        wg->add();
      };
      if (o_.sip_udp) {
        join();
        asio::co_spawn(ex, probeSipUdp(a, w), done);
      }
      if (client_ && !o_.snmp_credentials.empty()) {
        // Net-SNMP's process-wide state lives on one thread (snmp_client.h). It fills its own
        // HostWork, folded in below, so the two threads never touch the same object.
        snmp_work.address = a;
        join();
        asio::co_spawn(*snmp_executor_, probeSnmp(a, snmp_work), done);
      }
      // Ports are probed here while the kernel answers at once; each connect still in flight
      // gets a lane that waits for it and then claims further ports. At most per_host lanes,
      // so at most per_host connections to this address at any time.
      // Children refer to this frame: whatever happens here, wait for them before leaving.
      std::exception_ptr failure;
      try {
        while (tcp.lanes < o_.per_host) {
          auto pending = co_await probeUntilPending(a, shard, tcp);
          if (!pending) break;
          ++tcp.lanes;
          join();
          asio::co_spawn(ex, tcpLane(a, shard, tcp, std::move(*pending)), done);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (wg) co_await wg->wait();
      if (failure) std::rethrow_exception(failure);
    }
    auto& open = tcp.open;
    if (snmp_work.answered) {
      w.answered = true;
      foldInto(w.asset, std::move(snmp_work.asset));
      w.evidence.sys_object_id = snmp_work.evidence.sys_object_id;
      w.evidence.sys_descr = snmp_work.evidence.sys_descr;
      w.neighbours = std::move(snmp_work.neighbours);
    }
    std::sort(open.begin(), open.end());
    if (!open.empty()) {
      w.answered = true;
      addUnique(w.asset.mutable_discovered_by(), "tcp");
      std::map<uint16_t, v1::Service> services;
      for (uint16_t port : open) {
        auto& s = services[port];
        s.set_port(port);
        s.set_transport("tcp");
      }
      if (o_.identify_services) {
        // One banner connection at a time: fragile devices get no burst.
        for (uint16_t port : open) {
          co_await identifyService(a, port, services[port], w.evidence);
        }
      }
      for (auto& [port, s] : services) {
        if (s.tls()) addUnique(w.asset.mutable_discovered_by(), "tls");
        if (s.protocol() == "http" || s.protocol() == "https") {
          addUnique(w.asset.mutable_discovered_by(), "http");
        }
        if (s.protocol() == "sip" || s.protocol() == "sips") {
          addUnique(w.asset.mutable_discovered_by(), "sip");
        }
        *w.asset.add_services() = std::move(s);
      }
    }
    if (!w.answered) co_return;
    // Built only for hosts that answered: a sweep of dead space formats nothing.
    w.asset.add_addresses(hostText(a));
    identify(w.asset, w.evidence);
    std::lock_guard lock(mutex_);
    for (const auto& n : w.neighbours) addNeighbour(n, w);
    merge(hostText(a), std::move(w.asset));
  }

  // Claims and probes this host's ports while the kernel answers them at once; returns the
  // first connect still in flight (the caller waits for it), or nothing once every port is
  // claimed.
  awaitable<std::optional<InFlight>> probeUntilPending(Address a, Shard& shard, PortSweep& s) {
    while (s.next < o_.tcp_ports.size()) {
      uint16_t port = o_.tcp_ports[s.next++];
      net::SubnetGate::Permit permit;
      if (gated_) permit = co_await gate_.acquire(a);
      ++shard.tcp_probes;
      auto started = shard.sweeper.start(net::tcp::endpoint(a, port), o_.retries);
      if (!started.done()) co_return InFlight{port, std::move(permit), std::move(started)};
      ++shard.unyielded;
      noteTcp(a, port, started.result(), shard, s);
    }
    co_return std::nullopt;
  }

  // One of a host's at most per_host connections: waits for a connect in flight, then probes
  // further ports until another one is in flight, and so on.
  awaitable<void> tcpLane(Address a, Shard& shard, PortSweep& s, InFlight first) {
    std::optional<InFlight> current = std::move(first);
    while (current) {
      auto r = co_await shard.sweeper.finish(std::move(current->probe));
      current->permit = net::SubnetGate::Permit();
      noteTcp(a, current->port, r, shard, s);
      current = co_await probeUntilPending(a, shard, s);
    }
    --s.lanes;
  }

  void noteTcp(const Address& a, uint16_t port, const net::TcpProbeResult& r, Shard& shard,
               PortSweep& s) {
    if (o_.trace) {
      trace("tcp " + endpointText(a, port) + " " + net::ioResultName(r.result) + " (" +
            std::to_string(r.attempts) + " attempt" + (r.attempts == 1 ? "" : "s") + ")");
    }
    if (r.result == net::IoResult::kOk) {
      ++shard.open_ports;
      s.open.push_back(port);
    }
  }

  awaitable<void> probeSipUdp(Address a, HostWork& w) {
    auto permit = co_await gate(a);
    ++stats_.udp_probes;
    std::string call_id = randomToken(), branch = randomToken(), tag = randomToken();
    auto target = hostText(a);
    uint16_t port = o_.sip_port;
    net::UdpRequestBuilder build = [=](const net::udp::endpoint& local) {
      fingerprint::SipOptionsRequest req;
      req.transport = "UDP";
      req.target_host = target;
      req.target_port = port;
      req.local_host = local.address().to_string();
      req.local_port = local.port();
      req.call_id = call_id;
      req.branch = branch;
      req.tag = tag;
      auto text = fingerprint::buildSipOptions(req);
      return std::vector<uint8_t>(text.begin(), text.end());
    };
    auto r = co_await net::udpExchange(net::udp::endpoint(a, port), std::move(build),
                                       o_.udp_timeout, o_.retries, fingerprint::kMaxSipHeaderBytes);
    if (o_.trace) trace("sip-udp " + endpointText(a, port) + " " + net::ioResultName(r.result));
    if (r.result != net::IoResult::kOk) co_return;
    auto parsed = fingerprint::parseSipResponse(r.reply);
    if (!parsed || parsed->status_code == 0) co_return;
    w.answered = true;
    addUnique(w.asset.mutable_discovered_by(), "udp");
    addUnique(w.asset.mutable_discovered_by(), "sip");
    auto* s = w.asset.add_services();
    s->set_port(port);
    s->set_transport("udp");
    s->set_protocol("sip");
    s->set_banner(parsed->status_line);
    s->set_product(!parsed->user_agent.empty() ? parsed->user_agent : parsed->server);
    setIfEmpty(&w.evidence.sip_agent, s->product());
  }

  // Credentials in order, but the one that last worked in this /24 first: devices of one
  // subnet usually share their community.
  std::vector<size_t> credentialOrder(const Address& a) {
    std::vector<size_t> order;
    auto hint = subnet_credential_.find(net::ConnectionGate::subnetOf(hostText(a)));
    if (hint != subnet_credential_.end()) order.push_back(hint->second);
    for (size_t i = 0; i < o_.snmp_credentials.size(); ++i) {
      if (order.empty() || order.front() != i) order.push_back(i);
    }
    return order;
  }

  awaitable<void> probeSnmp(Address a, HostWork& w) {
    snmp::AgentAddress agent;
    agent.endpoint = net::udp::endpoint(a, o_.snmp_port);
    agent.timeout = o_.udp_timeout;
    agent.retries = o_.retries;
    std::unique_ptr<snmp::SnmpSession> session;
    std::vector<snmp::VarBind> system;
    const snmp::Credential* used = nullptr;
    for (size_t index : credentialOrder(a)) {
      const auto& cred = o_.snmp_credentials[index];
      auto permit = co_await gate(a);
      ++stats_.udp_probes;
      auto opened = co_await client_->open(agent, cred);
      if (!opened.ok()) {
        trace("snmp " + endpointText(a, o_.snmp_port) + " " + cred.name + ": " +
              std::string(opened.status().message()));
        noteSnmpError(opened.status());
        continue;
      }
      const std::vector<snmp::Oid> sys_oids = {snmp::oids::kSysDescr, snmp::oids::kSysObjectId,
                                               snmp::oids::kSysContact, snmp::oids::kSysName,
                                               snmp::oids::kSysLocation};
      auto got = co_await (*opened)->get(sys_oids);
      if (!got.ok()) {
        trace("snmp " + endpointText(a, o_.snmp_port) + " " + cred.name + ": " +
              std::string(got.status().message()));
        noteSnmpError(got.status());
        continue;
      }
      trace("snmp " + endpointText(a, o_.snmp_port) + " " + cred.name + ": ok");
      session = *std::move(opened);
      system = *std::move(got);
      used = &cred;
      subnet_credential_[net::ConnectionGate::subnetOf(hostText(a))] = index;
      break;
    }
    if (!session) co_return;
    ++stats_.snmp_agents;
    w.answered = true;
    auto& asset = w.asset;
    addUnique(asset.mutable_discovered_by(), "snmp");
    asset.set_snmp_credential(used->name);
    auto* svc = asset.add_services();
    svc->set_port(o_.snmp_port);
    svc->set_transport("udp");
    svc->set_protocol("snmp");
    auto sys = snmp::decodeSystem(system);
    asset.set_sys_descr(sys.descr);
    asset.set_sys_object_id(sys.object_id);
    asset.set_sys_name(sys.name);
    asset.set_sys_location(sys.location);
    asset.set_sys_contact(sys.contact);
    setIfEmpty(asset.mutable_hostname(), sys.name);
    svc->set_banner(net::sanitisePeerText(sys.descr, 256));
    w.evidence.sys_object_id = sys.object_id;
    w.evidence.sys_descr = sys.descr;
    if (!o_.snmp_tables) co_return;

    auto deadline = Clock::now() + o_.walk_budget;
    auto walk = [&](const snmp::Oid& root) -> awaitable<std::vector<snmp::VarBind>> {
      if (Clock::now() >= deadline) co_return std::vector<snmp::VarBind>{};
      auto r = co_await session->walk(root, o_.max_table_rows, deadline);
      if (!r.ok()) {
        trace("snmp walk " + snmp::oidToString(root) + " at " + hostText(a) + ": " +
              std::string(r.status().message()));
        co_return std::vector<snmp::VarBind>{};
      }
      co_return *std::move(r);
    };
    auto entity = snmp::decodeEntity(co_await walk(snmp::oids::kEntPhysicalEntry));
    setIfEmpty(asset.mutable_model(), entity.model);
    setIfEmpty(asset.mutable_serial(), entity.serial);
    setIfEmpty(asset.mutable_hardware_revision(), entity.hardware_rev);
    setIfEmpty(asset.mutable_firmware(),
               !entity.software_rev.empty() ? entity.software_rev : entity.firmware_rev);
    setIfEmpty(asset.mutable_vendor(), entity.mfg);
    asset.set_mac(snmp::firstInterfaceMac(co_await walk(snmp::oids::kIfPhysAddress)));
    auto lldp_loc = co_await walk(snmp::oids::kLldpLocPortEntry);
    auto lldp_rem = co_await walk(snmp::oids::kLldpRemEntry);
    auto lldp_man = co_await walk(snmp::oids::kLldpRemManAddrEntry);
    auto lldp_med = co_await walk(snmp::oids::kLldpXMedRemInventoryEntry);
    auto cdp = co_await walk(snmp::oids::kCdpCacheEntry);
    std::vector<snmp::VarBind> if_names;
    if (!cdp.empty()) {
      if_names = co_await walk(snmp::oids::kIfName);
      auto descr = co_await walk(snmp::oids::kIfDescr);
      if_names.insert(if_names.end(), descr.begin(), descr.end());
    }
    auto arp_phys = co_await walk(snmp::oids::kIpNetToPhysicalPhysAddress);
    auto arp_media = co_await walk(snmp::oids::kIpNetToMediaPhysAddress);
    for (auto& n : snmp::decodeLldp(lldp_rem, lldp_man, lldp_med, lldp_loc)) {
      w.neighbours.push_back(std::move(n));
    }
    for (auto& n : snmp::decodeCdp(cdp, if_names)) w.neighbours.push_back(std::move(n));
    for (auto& n : snmp::decodeArp(arp_phys, arp_media)) w.neighbours.push_back(std::move(n));
    stats_.neighbours += w.neighbours.size();
  }

  void noteSnmpError(const absl::Status& st) {
    // Silence is normal in a sweep; a credential the agent rejects is worth one warning per
    // kind (the message names the agent, so keep the first few only).
    if (st.code() == absl::StatusCode::kPermissionDenied ||
        st.code() == absl::StatusCode::kInvalidArgument) {
      std::lock_guard lock(mutex_);
      if (warnings_.size() < 20) warnings_.insert(std::string(st.message()));
    }
  }

  awaitable<void> identifyService(Address a, uint16_t port, v1::Service& s,
                                  fingerprint::Evidence& ev) {
    auto permit = co_await gate(a);
    auto ex = co_await asio::this_coro::executor;
    auto socket = net::ProbeSocket::create(ex);
    auto r = co_await socket->connect(net::tcp::endpoint(a, port), o_.connect_timeout);
    if (r != net::IoResult::kOk) co_return;
    if (port == o_.sip_port) {
      co_await identifySipTcp(*socket, a, port, s, ev);
    } else if (contains(o_.http_ports, port)) {
      co_await identifyHttp(*socket, a, s, ev);
    } else {
      co_await identifyTls(*socket, a, port, s, ev);
    }
    socket->close();
  }

  awaitable<void> identifySipTcp(net::ProbeSocket& socket, Address a, uint16_t port, v1::Service& s,
                                 fingerprint::Evidence& ev) {
    fingerprint::SipOptionsRequest req;
    req.transport = "TCP";
    req.target_host = hostText(a);
    req.target_port = port;
    boost::system::error_code ec;
    auto local = socket.socket().local_endpoint(ec);
    req.local_host = ec ? "" : local.address().to_string();
    req.local_port = ec ? 0 : local.port();
    req.call_id = randomToken();
    req.branch = randomToken();
    req.tag = randomToken();
    auto text = fingerprint::buildSipOptions(req);
    std::vector<uint8_t> bytes(text.begin(), text.end());
    if (co_await socket.writeAll(bytes, o_.read_timeout) != net::IoResult::kOk) co_return;
    std::vector<uint8_t> in;
    while (in.size() < fingerprint::kMaxSipHeaderBytes + 1) {
      if (co_await socket.readSome(in, 4096, o_.read_timeout) != net::IoResult::kOk) break;
      if (auto parsed = fingerprint::parseSipResponse(in)) {
        if (parsed->status_code == 0) break;
        s.set_protocol("sip");
        s.set_banner(parsed->status_line);
        s.set_product(!parsed->user_agent.empty() ? parsed->user_agent : parsed->server);
        setIfEmpty(&ev.sip_agent, s.product());
        break;
      }
    }
    trace("sip-tcp " + endpointText(a, port) + " " + (s.protocol().empty() ? "no answer" : "ok"));
  }

  awaitable<void> identifyHttp(net::ProbeSocket& socket, Address a, v1::Service& s,
                               fingerprint::Evidence& ev) {
    auto text = fingerprint::buildHttpGet(hostText(a));
    std::vector<uint8_t> bytes(text.begin(), text.end());
    if (co_await socket.writeAll(bytes, o_.read_timeout) != net::IoResult::kOk) co_return;
    std::vector<uint8_t> in;
    bool closed = false;
    while (in.size() < fingerprint::kMaxHttpBytes) {
      if (co_await socket.readSome(in, 8192, o_.read_timeout) != net::IoResult::kOk) {
        closed = true;
        break;
      }
      if (fingerprint::parseHttpResponse(in, false) && fingerprint::httpTitleSettled(in)) break;
    }
    (void)closed;
    auto banner = fingerprint::parseHttpResponse(in, true);
    if (!banner || banner->status == 0) co_return;
    applyHttp(*banner, false, s, ev);
  }

  void applyHttp(const fingerprint::HttpBanner& b, bool tls, v1::Service& s,
                 fingerprint::Evidence& ev) {
    s.set_protocol(tls ? "https" : "http");
    s.set_banner(!b.title.empty() ? b.title : b.status_line);
    s.set_product(b.server);
    setIfEmpty(&ev.http_server, b.server);
    setIfEmpty(&ev.http_title, !b.title.empty() ? b.title : b.www_authenticate_realm);
  }

  awaitable<void> identifyTls(net::ProbeSocket& socket, Address a, uint16_t port, v1::Service& s,
                              fingerprint::Evidence& ev) {
    tls::HandshakeRequest req;
    bool sips = port == 5061;  // RFC 3261 §26.2: SIP over TLS
    if (sips) {
      fingerprint::SipOptionsRequest sip;
      sip.transport = "TLS";
      sip.target_host = hostText(a);
      sip.target_port = port;
      boost::system::error_code ec;
      auto local = socket.socket().local_endpoint(ec);
      sip.local_host = ec ? "" : local.address().to_string();
      sip.local_port = ec ? 0 : local.port();
      sip.call_id = randomToken();
      sip.branch = randomToken();
      sip.tag = randomToken();
      req.sip_options = sip;
    } else if (contains(o_.https_ports, port)) {
      req.http_request = fingerprint::buildHttpGet(hostText(a));
    }
    auto r = co_await tls::runOpensslHandshake(socket, req, o_.read_timeout);
    trace("tls " + endpointText(a, port) + " " + (r.completed ? "ok" : "no: " + r.error));
    if (!r.completed && r.chain.empty()) co_return;
    s.set_tls(true);
    s.set_protocol(sips ? "sips" : "tls");
    if (!r.chain.empty()) setIfEmpty(&ev.cert_subject, subjectOf(r.chain.front()));
    if (r.sip && r.sip->status_code) {
      s.set_banner(r.sip->status_line);
      s.set_product(!r.sip->user_agent.empty() ? r.sip->user_agent : r.sip->server);
      setIfEmpty(&ev.sip_agent, s.product());
    }
    if (r.http && r.http->status) applyHttp(*r.http, true, s, ev);
  }

  static bool contains(const std::vector<uint16_t>& ports, uint16_t port) {
    return std::find(ports.begin(), ports.end(), port) != ports.end();
  }

  void identify(v1::Asset& asset, const fingerprint::Evidence& ev) {
    // The device's own inventory (ENTITY-MIB, LLDP-MED) outranks a signature's guess.
    if (auto id = fingerprint::SignatureDb::builtin().identify(ev)) {
      fingerprint::applyIdentification(*id, asset);
    }
  }

  // Called with mutex_ held.
  void addNeighbour(const snmp::Neighbour& n, const HostWork& reporter) {
    v1::Asset asset;
    for (const auto& addr : n.addresses) asset.add_addresses(addr);
    asset.set_mac(n.mac);
    asset.set_hostname(n.sys_name);
    asset.set_sys_name(n.sys_name);
    asset.set_sys_descr(n.sys_descr.empty() ? n.version : n.sys_descr);
    asset.set_vendor(n.mfg);
    asset.set_model(!n.model.empty() ? n.model : n.platform);
    asset.set_firmware(!n.software_rev.empty() ? n.software_rev : n.firmware_rev);
    asset.set_serial(n.serial);
    asset.set_hardware_revision(n.hardware_rev);
    addUnique(asset.mutable_discovered_by(), n.protocol);
    if (n.protocol != "arp") {
      auto* att = asset.mutable_attachment();
      att->set_switch_name(reporter.asset.sys_name());
      att->set_switch_address(hostText(reporter.address));
      att->set_switch_port(n.local_port);
      att->set_protocol(n.protocol == "lldp" ? "LLDP" : "CDP");
    }
    fingerprint::Evidence ev;
    ev.sys_descr = !n.sys_descr.empty() ? n.sys_descr : n.platform + " " + n.version;
    identify(asset, ev);

    // Only addresses inside the scope are ever contacted; the rest are facts the switch told.
    bool in_scope = false;
    for (const auto& text : n.addresses) {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(text, ec);
      if (ec) continue;
      if (!scope_.contains(addr)) {
        ++stats_.neighbours_out_of_scope;
        trace("neighbour " + text + " (" + n.protocol + ") outside the scope: not probed");
        continue;
      }
      in_scope = true;
      if (o_.follow_neighbours && !targets_.contains(addr) && !queued_.count(text) &&
          queued_.size() < o_.max_neighbour_targets) {
        queued_.insert(text);
        extra_.push_back(addr);
        neighbours_queued_ = true;
        ++stats_.neighbour_targets;
        trace("neighbour " + text + " (" + n.protocol + ") added to the sweep");
      }
    }
    // ARP rows name every host a router has seen; keep those in scope only.
    if (n.protocol == "arp" && !in_scope) return;
    std::string key = !n.addresses.empty() ? n.addresses.front()
                      : !n.mac.empty()     ? "mac:" + n.mac
                                           : "";
    if (key.empty()) {
      key = n.protocol + ":" + n.chassis_id + "@" + hostText(reporter.address) + "/" + n.local_port;
    }
    merge(key, std::move(asset));
  }

  // Folds `incoming` into what is known under `key` (and under its MAC). mutex_ held.
  void merge(const std::string& key_in, v1::Asset&& incoming) {
    std::string key = key_in;
    if (!assets_.count(key) && !incoming.mac().empty()) {
      if (auto it = by_mac_.find(incoming.mac()); it != by_mac_.end()) key = it->second;
    }
    auto [it, inserted] = assets_.try_emplace(key);
    v1::Asset& a = it->second;
    if (inserted) {
      a = std::move(incoming);
    } else {
      foldInto(a, std::move(incoming));
    }
    if (!a.mac().empty()) by_mac_.emplace(a.mac(), key);
  }

  // Adds what `incoming` knows and `a` does not.
  static void foldInto(v1::Asset& a, v1::Asset&& incoming) {
    {
      for (const auto& addr : incoming.addresses()) addUnique(a.mutable_addresses(), addr);
      for (const auto& d : incoming.discovered_by()) addUnique(a.mutable_discovered_by(), d);
      setIfEmpty(a.mutable_mac(), incoming.mac());
      setIfEmpty(a.mutable_hostname(), incoming.hostname());
      setIfEmpty(a.mutable_vendor(), incoming.vendor());
      setIfEmpty(a.mutable_model(), incoming.model());
      setIfEmpty(a.mutable_firmware(), incoming.firmware());
      setIfEmpty(a.mutable_serial(), incoming.serial());
      setIfEmpty(a.mutable_hardware_revision(), incoming.hardware_revision());
      setIfEmpty(a.mutable_sys_descr(), incoming.sys_descr());
      setIfEmpty(a.mutable_sys_object_id(), incoming.sys_object_id());
      setIfEmpty(a.mutable_sys_name(), incoming.sys_name());
      setIfEmpty(a.mutable_sys_location(), incoming.sys_location());
      setIfEmpty(a.mutable_sys_contact(), incoming.sys_contact());
      setIfEmpty(a.mutable_snmp_credential(), incoming.snmp_credential());
      setIfEmpty(a.mutable_fingerprint(), incoming.fingerprint());
      if (a.device_class() == v1::DEVICE_CLASS_UNSPECIFIED) {
        a.set_device_class(incoming.device_class());
      }
      if (!a.has_attachment() && incoming.has_attachment()) {
        *a.mutable_attachment() = incoming.attachment();
      }
      for (const auto& s : incoming.services()) {
        bool known = false;
        for (const auto& mine : a.services()) {
          known = known || (mine.port() == s.port() && mine.transport() == s.transport());
        }
        if (!known) *a.add_services() = s;
      }
    }
  }

  const net::AddressSpace& targets_;
  const net::AddressSpace& scope_;
  const DiscoveryOptions& o_;
  snmp::SnmpClient* client_;
  net::SubnetGate gate_;
  bool gated_;
  std::optional<asio::io_context::executor_type> snmp_executor_;
  std::vector<std::unique_ptr<Shard>> shards_;  // one per thread
  std::atomic<size_t> workers_left_{0};
  std::atomic<size_t> idle_workers_{0};         // workers waiting for work, all shards
  std::atomic<bool> neighbours_queued_{false};  // extra_ grew since waiting workers last woke
  std::mutex mutex_;        // order_, extra_, queued_, assets_, by_mac_, warnings_
  std::mutex trace_mutex_;  // the trace and progress callbacks
  net::PermutedIndex order_;
  std::deque<Address> extra_;
  std::set<std::string> queued_;
  std::map<std::string, size_t> subnet_credential_;
  std::map<std::string, v1::Asset> assets_;
  std::map<std::string, std::string> by_mac_;
  std::set<std::string> warnings_;
  Counters stats_;
  std::atomic<uint64_t> done_{0};  // hosts finished, for the progress callback
};

}  // namespace

bool likelyTlsPort(uint16_t port) {
  // IANA: https 443, ldaps 636, imaps 993, pop3s 995, smtps 465, ftps 990, sips 5061,
  // and the alternates devices use for HTTPS and management.
  constexpr uint16_t kPorts[] = {443,  465,  636,   993,  995,  990,  5061, 8443,
                                 4443, 9443, 10443, 5986, 6443, 8883, 3389, 587};
  return std::find(std::begin(kPorts), std::end(kPorts), port) != std::end(kPorts);
}

absl::StatusOr<DiscoveryResult> discover(const net::AddressSpace& targets,
                                         const net::AddressSpace& scope,
                                         const DiscoveryOptions& options,
                                         snmp::SnmpClient* snmp_client) {
  if (options.tcp_ports.empty() && !options.sip_udp &&
      (options.snmp_credentials.empty() || !snmp_client)) {
    return absl::InvalidArgumentError("discovery needs ports, SIP over UDP or SNMP credentials");
  }
  if (options.concurrency == 0 || options.per_host == 0) {
    return absl::InvalidArgumentError("--concurrency and --per-host must be at least 1");
  }
  Engine engine(targets, scope, options, snmp_client);
  return engine.run();
}

}  // namespace tlsaudit::collectors::discovery
