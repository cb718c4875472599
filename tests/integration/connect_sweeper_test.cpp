// ConnectSweeper against real loopback sockets: refusals answered before connect() returns (no
// wait, one socket reused), an open port after a run of refusals on that reused socket, and a
// silent port (full accept queue, SYNs dropped) that still waits for its deadline and retries.
// Also `tlsaudit discover` on one host mixing refused, open and silent ports under --per-host.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collectors/net/port_probe.h"
#include "tests/integration/harness.h"

namespace tlsaudit::itest {
namespace {

using ::testing::HasSubstr;
namespace asio = net::asio;
using Clock = std::chrono::steady_clock;

// A listening socket on `host`:0. With `silent`, its accept queue (backlog 0) is filled and never
// accepted, so the kernel drops further SYNs: a connect to it gets no answer at all.
class Listener {
 public:
  Listener(const std::string& host, bool silent) {
    // Non-blocking, so drain() never waits.
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(fd_, silent ? 0 : 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return;
    }
    port_ = ntohs(sa.sin_port);
    for (int i = 0; silent && i < 2; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      fillers_.push_back(fd);
    }
    if (silent) ::usleep(100000);
  }
  ~Listener() {
    for (int fd : fillers_) ::close(fd);
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }
  // Connections accepted so far (non-blocking accept of what is queued, each closed at once).
  int drain() {
    int n = 0;
    for (int i = 0; i < 1000; ++i) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) break;
      ::close(c);
      ++n;
    }
    return n;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

net::tcp::endpoint loopback(uint16_t port) {
  return net::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port);
}

// Runs `task` on `io` with the sweeper's ticker beside it, bounded in time.
template <typename T>
std::optional<T> runWith(asio::io_context& io, net::ConnectSweeper& sweeper,
                         net::awaitable<T> task) {
  std::optional<T> out;
  asio::co_spawn(io, sweeper.run(), asio::detached);
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    if (!e) out = std::move(value);
    sweeper.stop();
  });
  io.run_for(std::chrono::seconds(20));
  return out;
}

TEST(ConnectSweeperTest, RefusalsAreAnsweredAtOnceOnOneReusedSocket) {
  ClosedPort closed;
  ASSERT_NE(closed.port(), 0);
  Listener open("127.0.0.1", false);
  ASSERT_NE(open.port(), 0);
  asio::io_context io(1);
  net::ConnectSweeper sweeper(io.get_executor(), milliseconds(2000));
  constexpr int kProbes = 200;
  int refused = 0, immediate = 0;
  for (int i = 0; i < kProbes; ++i) {
    auto started = sweeper.start(loopback(closed.port()), 1);
    if (started.done()) {
      ++immediate;
      refused += started.result().result == net::IoResult::kRefused;
      EXPECT_EQ(started.result().attempts, 1);
      continue;
    }
    // The kernel may defer loopback processing under load: then the wait path answers.
    auto r = runWith(io, sweeper, sweeper.finish(std::move(started)));
    io.restart();
    ASSERT_TRUE(r.has_value());
    refused += r->result == net::IoResult::kRefused;
    EXPECT_EQ(r->attempts, 1);  // a refusal is never retried
  }
  EXPECT_EQ(refused, kProbes);
  // Loopback answers before connect() returns; each refused socket is reused for the next probe.
  EXPECT_GT(immediate, kProbes / 2);
  EXPECT_LE(sweeper.socketsOpened(), static_cast<uint64_t>(kProbes - immediate + 1));
  EXPECT_EQ(sweeper.immediateAnswers(), static_cast<uint64_t>(immediate));

  // An open port on the socket that has just been refused 200 times: a real connection.
  auto r = runWith(io, sweeper, sweeper.probe(loopback(open.port()), 1));
  io.restart();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result, net::IoResult::kOk);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(open.drain(), 1);
  // And a refusal right after: still refused (the connected socket was closed, not reused).
  auto again = runWith(io, sweeper, sweeper.probe(loopback(closed.port()), 1));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->result, net::IoResult::kRefused);
}

TEST(ConnectSweeperTest, SilentPortWaitsForItsDeadlineAndRetries) {
  Listener silent("127.0.0.1", true);
  ASSERT_NE(silent.port(), 0);
  asio::io_context io(1);
  net::ConnectSweeper sweeper(io.get_executor(), milliseconds(300));
  auto begin = Clock::now();
  auto started = sweeper.start(loopback(silent.port()), 1);
  // A dropped SYN has no answer yet: the probe is not done and needs finish().
  ASSERT_FALSE(started.done());
  auto r = runWith(io, sweeper, sweeper.finish(std::move(started)));
  auto elapsed = Clock::now() - begin;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->result, net::IoResult::kTimeout);
  EXPECT_EQ(r->attempts, 2);
  // Two deadlines of 300 ms, each ended by the next 25 ms tick after it.
  EXPECT_GE(elapsed, milliseconds(600));
  EXPECT_LT(elapsed, milliseconds(1500));
  EXPECT_EQ(sweeper.immediateAnswers(), 0u);
}

// One host with two silent ports, a refused one and an open one, two connections at a time:
// the refusal and the open port are recorded after one attempt each, every silent port waits
// for its deadline, and with --per-host 1 the silent ports are waited for one after the other.
TEST(ConnectSweeperTest, DiscoverMixesImmediateAnswersWithDeadlinesUnderPerHost) {
  const std::string host = "127.0.7.70";
  Listener silent1(host, true), silent2(host, true), open(host, false);
  ASSERT_TRUE(silent1.port() && silent2.port() && open.port());
  // A port on the host that nothing listens on: bind a socket without listening.
  int unbound = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(unbound, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::getsockname(unbound, reinterpret_cast<sockaddr*>(&sa), &len);
  std::string closed = std::to_string(ntohs(sa.sin_port));
  std::string ports = std::to_string(silent1.port()) + "," + closed + "," +
                      std::to_string(silent2.port()) + "," + std::to_string(open.port());
  for (const char* per_host : {"2", "1"}) {
    auto r = runTlsaudit(
        {"discover", host, "--ports", ports, "--no-sip-udp", "--no-identify", "--per-host",
         per_host, "--timeout", "0.4", "--retries", "0", "--trace", "--stats", "--format", "json"},
        milliseconds(30000));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("tcp " + host + ":" + closed + " refused (1 attempt)"));
    EXPECT_THAT(r.err,
                HasSubstr("tcp " + host + ":" + std::to_string(open.port()) + " ok (1 attempt)"));
    for (uint16_t p : {silent1.port(), silent2.port()}) {
      EXPECT_THAT(r.err,
                  HasSubstr("tcp " + host + ":" + std::to_string(p) + " timeout (1 attempt)"));
    }
    EXPECT_THAT(r.err, HasSubstr("tcp probes 4, "));
    EXPECT_THAT(r.err, HasSubstr("open ports 1, "));
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.out;
    ASSERT_EQ(doc["assets"].size(), 1u) << r.out;
    ASSERT_EQ(doc["assets"][0]["services"].size(), 1u) << r.out;
    EXPECT_EQ(doc["assets"][0]["services"][0]["port"], open.port());
    // Two silent ports: one deadline when both may be in flight, two in a row with one lane.
    auto floor = per_host == std::string("2") ? milliseconds(400) : milliseconds(800);
    EXPECT_GE(r.elapsed, floor) << "--per-host " << per_host;
    EXPECT_LT(r.elapsed, floor + milliseconds(2000)) << "--per-host " << per_host;
    open.drain();
  }
  ::close(unbound);
}

// Two hosts of one /24, each with a silent port: --per-subnet 1 allows one connection into the
// /24 at a time, so the two deadlines come one after the other; --per-subnet 0 waits for both at
// once. The refused ports of each host are answered either way.
TEST(ConnectSweeperTest, DiscoverHonoursPerSubnetWithConnectsInFlight) {
  Listener silent_a("127.0.7.80", true), silent_b("127.0.7.81", true);
  ASSERT_TRUE(silent_a.port() && silent_b.port());
  std::string a = std::to_string(silent_a.port()), b = std::to_string(silent_b.port());
  for (const char* per_subnet : {"1", "0"}) {
    auto r = runTlsaudit(
        {"discover", "127.0.7.80-81", "--ports", a + "," + b, "--no-sip-udp", "--no-identify",
         "--per-subnet", per_subnet, "--timeout", "0.8", "--retries", "0", "--trace", "--stats"},
        milliseconds(30000));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.80:" + a + " timeout (1 attempt)"));
    EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.81:" + b + " timeout (1 attempt)"));
    EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.80:" + b + " refused (1 attempt)"));
    EXPECT_THAT(r.err, HasSubstr("tcp 127.0.7.81:" + a + " refused (1 attempt)"));
    EXPECT_THAT(r.err, HasSubstr("tcp probes 4, "));
    if (per_subnet == std::string("1")) {
      EXPECT_GE(r.elapsed, milliseconds(1600));
      EXPECT_LT(r.elapsed, milliseconds(3600));
    } else {
      // One deadline, and time to start the process.
      EXPECT_GE(r.elapsed, milliseconds(800));
      EXPECT_LT(r.elapsed, milliseconds(1550));
    }
  }
}

}  // namespace
}  // namespace tlsaudit::itest
