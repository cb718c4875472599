// Shared plumbing of the integration tests: the test PKI, server processes on loopback (openssl
// s_server and the Python servers in servers/), bounded command runs (the tlsaudit binary,
// openssl s_client), the scanner library driven in an io_context, and helpers to read reports.
//
// Every process is started in its own process group and killed with it; every wait is bounded.
// What a failing test needs to be understood (the report as JSON, the --trace lines, the
// server's log, the binary's stderr) is printed after its failure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "collectors/tls/starttls.h"
#include "tlsaudit/v1/report.pb.h"

namespace tlsaudit::itest {

namespace v1 = tlsaudit::v1;
using std::chrono::milliseconds;

// ---- test PKI (tests/fixtures/make_pki.sh) ------------------------------------------------

// The folder holding the generated PKI; generated once by the global environment.
const std::string& pkiDir();
// Path of one PKI file, e.g. pki("md5-leaf.crt").
std::string pki(const std::string& name);
// A scratch folder private to this test process (removed at exit).
const std::string& scratchDir();

// ---- diagnostics ----------------------------------------------------------------------------

// Keeps `text` to print under `label` if the current test fails.
void noteForFailure(const std::string& label, const std::string& text);

// ---- processes ------------------------------------------------------------------------------

// A child process in its own process group, stdout and stderr to a log file. The destructor
// terminates the whole group (SIGTERM, then SIGKILL after a grace period) and reaps it.
class Process {
 public:
  // `keep_stdin_open`: give the child a pipe as stdin that stays open for its life
  // (openssl s_server exits at end of stdin); otherwise stdin is /dev/null.
  Process(std::string label, std::vector<std::string> argv, bool keep_stdin_open = false,
          const std::string& cwd = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& label() const { return label_; }
  std::string log() const;
  // Waits until a line of the log matches `re` (bounded); returns the first capture group.
  std::optional<std::string> waitFor(const std::regex& re, milliseconds timeout);
  bool running();
  void stop();
  // Sends `sig` to the process (not its group).
  void signal(int sig);
  // Waits up to `timeout` for the process to exit; its exit code (-1 when a signal ended it),
  // nullopt when it is still running.
  std::optional<int> waitExit(milliseconds timeout);

 private:
  std::string label_;
  std::string log_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  bool reaped_ = false;
  int exit_status_ = 0;
};

// A server on 127.0.0.1 (or ::1) with the port the OS picked.
class Server {
 public:
  Server(std::string label, std::vector<std::string> argv, const std::regex& ready,
         bool keep_stdin_open);
  ~Server();
  uint16_t port() const { return port_; }
  bool ok() const { return port_ != 0; }
  std::string log() const { return process_.log(); }
  const std::string& label() const { return process_.label(); }

 private:
  Process process_;
  uint16_t port_ = 0;
};

// `openssl s_server -accept 127.0.0.1:0 ARGS...` (run in the PKI folder, so file names are
// enough); the port is read from its "ACCEPT" line, so there is no race for a free port.
std::unique_ptr<Server> startOpensslServer(const std::vector<std::string>& args,
                                           const std::string& host = "127.0.0.1");
// `python3 tests/integration/servers/SCRIPT --host HOST --port 0 ARGS...`, READY line.
std::unique_ptr<Server> startPythonServer(const std::string& script,
                                          const std::vector<std::string>& args,
                                          const std::string& host = "127.0.0.1");

struct CommandResult {
  int exit_code = -1;  // -1 when killed or not started
  bool timed_out = false;
  std::string out;
  std::string err;
  milliseconds elapsed{0};
};

// Runs argv to completion (killed after `timeout`), stdin from `input`.
CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         const std::string& input = "");

// Polls `done` every `poll` until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& done, milliseconds timeout = milliseconds(20000),
                milliseconds poll = milliseconds(20));

// HMAC-SHA256 of `data` under `key`, lowercase hex (what webhook signatures carry).
std::string hmacSha256Hex(const std::string& key, const std::string& data);

// A port on IPv4 `host` (SOCK_STREAM or SOCK_DGRAM) that was free a moment ago, for servers
// that cannot be told to pick one; 0 when none could be bound.
uint16_t freePort(const std::string& host, int type);

// GET `url` (http:// on loopback) with Python's urllib (10 s deadline): `out` is the status
// line's code, a newline, then the body; also for 4xx/5xx answers.
CommandResult httpGet(const std::string& url);
// The tlsaudit binary (TLSAUDIT_BINARY) with `args`; notes its output for failures.
CommandResult runTlsaudit(const std::vector<std::string>& args, milliseconds timeout);

// ---- openssl CLI cross-checks ----------------------------------------------------------------

struct OpensslSuite {
  uint16_t code = 0;
  std::string iana;     // TLS_RSA_WITH_AES_128_CBC_SHA
  std::string openssl;  // AES128-SHA
};
// Every suite this OpenSSL build knows (`openssl ciphers -stdname -V ALL:COMPLEMENTOFALL...`).
const std::vector<OpensslSuite>& opensslSuites();
const OpensslSuite* opensslSuiteByIana(const std::string& iana);
const OpensslSuite* opensslSuiteByName(const std::string& openssl_name);

// `openssl s_client -connect 127.0.0.1:PORT ARGS...` with empty stdin.
CommandResult sClient(uint16_t port, const std::vector<std::string>& args);
// True when s_client completed a handshake (exit 0 and a negotiated cipher).
bool sClientConnects(uint16_t port, const std::vector<std::string>& args);
// The cipher s_client negotiated ("" when none).
std::string sClientCipher(const CommandResult& r);

// Subject of a PEM certificate in RFC 2253 form, as `openssl x509 -nameopt RFC2253` prints it.
std::string certificateSubject(const std::string& pem_path);

// ---- the scanner library ------------------------------------------------------------------

struct ProbeRequest {
  uint16_t port = 0;
  std::string ip = "127.0.0.1";
  std::string host{};  // default: ip
  std::string sni{};
  collectors::tls::StarttlsProtocol starttls = collectors::tls::StarttlsProtocol::kNone;
  bool sip = false;
  milliseconds timeout{2000};
  size_t max_suites_per_hello = 64;
  size_t min_suites_per_hello = 8;
  bool validate = true;                 // with a trust store holding only ca_files
  std::vector<std::string> ca_files{};  // PKI file names or paths
  milliseconds limit{60000};            // the test's own bound on the whole probe
};

struct ProbeResult {
  bool finished = false;  // false: the probe did not end within `limit`
  v1::TlsReport report;
  std::vector<std::string> trace;
  milliseconds elapsed{0};
};

// probeEndpoint() in its own io_context; the report and trace are noted for failures.
ProbeResult probe(const ProbeRequest& request);

// ---- reading reports ------------------------------------------------------------------------

std::string toJson(const v1::TlsReport& report);
const v1::VersionResult* findVersion(const v1::TlsReport& report, v1::TlsVersion version);
std::set<v1::TlsVersion> supportedVersions(const v1::TlsReport& report);
// A repeated TlsVersion field (stored as ints) as a list of versions.
std::vector<v1::TlsVersion> versionList(const google::protobuf::RepeatedField<int>& versions);
std::vector<std::string> suiteNames(const v1::VersionResult& version);
std::set<std::string> suiteNameSet(const v1::VersionResult& version);
std::set<std::string> groupNames(const v1::TlsReport& report);
std::string errorsText(const v1::TlsReport& report);
bool hasErrorKind(const v1::TlsReport& report, const std::string& kind);

// A TCP relay on 127.0.0.1 in front of servers, to count the connections a client holds open
// at once. At each accept it counts the relayed connections whose client side is still open:
// our end of it is ESTABLISHED, FIN_WAIT1 or FIN_WAIT2, i.e. no FIN or RST has arrived from the
// client. On loopback a client's FIN is processed before its next SYN, so this does not
// overcount; a connection the relay closed first is no longer counted (undercount only).
class CountingRelay {
 public:
  explicit CountingRelay(const std::vector<uint16_t>& backend_ports);
  ~CountingRelay();
  // The relay's port in front of backend_ports[i].
  uint16_t port(size_t i) const;
  int maxConcurrent() const;
  int accepted() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A TCP port on 127.0.0.1 that is bound but not listening (connects are refused) for the
// life of the object.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// ---- PostgreSQL -----------------------------------------------------------------------------

// A throw-away PostgreSQL cluster run as the `postgres` system user (postgres refuses to run as
// root, and the tests run as root in CI). Its folder is owned by postgres and removed, with the
// server stopped, by the destructor. The data folder is copied from a template made once per
// build tree by initdb (under a lock), so a cluster starts in a fraction of a second.
class PostgresCluster {
 public:
  // Why no cluster can be started here; "" when one can.
  static std::string unavailableReason();

  // Lines appended to postgresql.conf.
  using Settings = std::vector<std::pair<std::string, std::string>>;
  struct Options {
    bool tcp = true;                 // also listen on 127.0.0.1 (a free port); else socket only
    bool server_certificate = true;  // install the test PKI's RSA leaf as server.crt/key
    Settings settings{};
  };

  // TCP on 127.0.0.1 with the RSA leaf installed, plus `settings`.
  explicit PostgresCluster(const Settings& settings);
  explicit PostgresCluster(const Options& options);
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  bool ok() const { return started_once_; }
  uint16_t port() const { return port_; }
  // The folder holding the unix socket.
  const std::string& socketDir() const { return dir_; }
  // A libpq connection string for `dbname` as user postgres over the unix socket.
  std::string dsn(const std::string& dbname = "postgres") const;

  // pg_ctl stop with `mode` (smart, fast, immediate = crash); true when it stopped.
  bool stop(const std::string& mode = "fast");
  // pg_ctl start, waiting until it accepts connections; true when it runs.
  bool start();
  std::string log() const;

 private:
  std::string dataDir() const { return dir_ + "/data"; }
  std::string logPath() const { return dir_ + "/postgres.log"; }
  CommandResult asPostgres(const std::vector<std::string>& argv, milliseconds timeout) const;

  std::string bin_;
  std::string dir_;
  uint16_t port_ = 0;
  bool tcp_ = true;
  bool running_ = false;
  bool started_once_ = false;
};

#define SKIP_WITHOUT_POSTGRES()                                                             \
  do {                                                                                      \
    if (auto why = ::tlsaudit::itest::PostgresCluster::unavailableReason(); !why.empty()) { \
      GTEST_SKIP() << why;                                                                  \
    }                                                                                       \
  } while (false)

}  // namespace tlsaudit::itest
