#include "tests/integration/harness.h"

#include "scanner/daemon/embedded_postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/hmac.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>

#include "collectors/net/asio.h"
#include "collectors/net/connection_gate.h"
#include "collectors/tls/tls_prober.h"
#include "collectors/tls/x509_analysis.h"

#ifndef TLSAUDIT_SOURCE_DIR
#error "TLSAUDIT_SOURCE_DIR must name the source tree"
#endif
#ifndef TLSAUDIT_BINARY
#error "TLSAUDIT_BINARY must name the built tlsaudit binary"
#endif

namespace tlsaudit::itest {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string readFile(const std::string& path, size_t max_bytes = 4 << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string out;
  out.resize(max_bytes);
  in.read(out.data(), static_cast<std::streamsize>(max_bytes));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

std::string tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

// ---- failure notes ----------------------------------------------------------------------

std::mutex& notesMutex() {
  static std::mutex m;
  return m;
}
std::vector<std::pair<std::string, std::string>>& notes() {
  static std::vector<std::pair<std::string, std::string>> n;
  return n;
}

class FailureNotesPrinter : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    std::lock_guard lock(notesMutex());
    notes().clear();
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    std::lock_guard lock(notesMutex());
    if (info.result() != nullptr && info.result()->Failed()) {
      for (const auto& [label, text] : notes()) {
        std::printf("----- %s -----\n%s\n", label.c_str(), text.c_str());
      }
      if (!notes().empty()) std::printf("----- end of notes -----\n");
      std::fflush(stdout);
    }
    notes().clear();
  }
};

// ---- scratch folder and PKI -------------------------------------------------------------

std::string& scratchPath() {
  static std::string path;
  return path;
}
std::string& pkiPath() {
  static std::string path;
  return path;
}

std::string selfDir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::temp_directory_path().string() : exe.parent_path().string();
}

// Runs make_pki.sh into `dir`; false with a failure message when it does not work.
bool generatePki(const std::string& dir) {
  std::string script = std::string(TLSAUDIT_SOURCE_DIR) + "/tests/fixtures/make_pki.sh";
  auto r = runCommand({"bash", script, dir}, milliseconds(180000));
  if (r.exit_code != 0) {
    ADD_FAILURE() << "make_pki.sh " << dir << " failed (exit " << r.exit_code
                  << (r.timed_out ? ", timed out" : "") << "):\n"
                  << r.err << r.out;
    return false;
  }
  return true;
}

// Under ctest every test is its own process, and make_pki.sh takes seconds (RSA keys), so the
// PKI is generated once into the build tree and reused while it is fresh: same script, less
// than six hours old. TLSAUDIT_IT_FRESH_PKI=1 makes a private one in the scratch folder.
std::string preparePki() {
  if (const char* fresh = std::getenv("TLSAUDIT_IT_FRESH_PKI"); fresh && *fresh == '1') {
    std::string dir = scratchPath() + "/pki";
    return generatePki(dir) ? dir : "";
  }
  std::string dir = selfDir() + "/integration-pki";
  std::string script = readFile(std::string(TLSAUDIT_SOURCE_DIR) + "/tests/fixtures/make_pki.sh");
  std::string key = std::to_string(std::hash<std::string>{}(script));
  std::string stamp = dir + "/.stamp";

  int lock = ::open((dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) {
    ADD_FAILURE() << "cannot open " << dir << ".lock: " << std::strerror(errno);
    return "";
  }
  auto deadline = Clock::now() + std::chrono::seconds(240);
  while (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    if (Clock::now() > deadline) {
      ::close(lock);
      ADD_FAILURE() << "timed out waiting for the PKI lock " << dir << ".lock";
      return "";
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  bool fresh = false;
  std::error_code ec;
  if (readFile(stamp) == key) {
    auto age = fs::file_time_type::clock::now() - fs::last_write_time(stamp, ec);
    fresh = !ec && age < std::chrono::hours(6);
  }
  bool ok = true;
  if (!fresh) {
    fs::remove(stamp, ec);
    ok = generatePki(dir);
    if (ok) std::ofstream(stamp) << key;
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return ok ? dir : "";
}

class IntegrationEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/tlsaudit-it-XXXXXX";
    char* dir = ::mkdtemp(tmpl);
    ASSERT_NE(dir, nullptr) << "mkdtemp: " << std::strerror(errno);
    scratchPath() = dir;
    pkiPath() = preparePki();
    ASSERT_FALSE(pkiPath().empty()) << "no test PKI";
  }
  void TearDown() override {
    std::error_code ec;
    if (!scratchPath().empty()) fs::remove_all(scratchPath(), ec);
  }
};

[[maybe_unused]] const bool kRegistered = [] {
  ::testing::AddGlobalTestEnvironment(new IntegrationEnvironment);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailureNotesPrinter);
  return true;
}();

std::atomic<int> g_process_counter{0};

std::string sanitize(const std::string& label) {
  std::string out;
  for (char c : label) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.substr(0, 40);
}

// fork + exec with a new process group; stdin/stdout/stderr given as fds.
pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd,
            const std::string& cwd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Servers must not outlive a test binary that is killed (s_server never notices the end of
    // its stdin while it waits in accept()).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);
    ::setpgid(0, 0);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::close_range(3, ~0U, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  if (pid > 0) ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works at once
  return pid;
}

// Waits for `pid` until `deadline`; true (and *status) when it exited.
bool waitUntil(pid_t pid, Clock::time_point deadline, int* status) {
  for (;;) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

}  // namespace

const std::string& pkiDir() { return pkiPath(); }
std::string pki(const std::string& name) { return pkiPath() + "/" + name; }
const std::string& scratchDir() { return scratchPath(); }

void noteForFailure(const std::string& label, const std::string& text) {
  std::lock_guard lock(notesMutex());
  notes().emplace_back(label, text);
}

// ---- Process ----------------------------------------------------------------------------

Process::Process(std::string label, std::vector<std::string> argv, bool keep_stdin_open,
                 const std::string& cwd)
    : label_(std::move(label)) {
  log_path_ =
      scratchDir() + "/" + std::to_string(++g_process_counter) + "-" + sanitize(label_) + ".log";
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int in_fd = -1;
  int pipe_fds[2] = {-1, -1};
  if (keep_stdin_open && ::pipe2(pipe_fds, O_CLOEXEC) == 0) {
    in_fd = pipe_fds[0];
    stdin_fd_ = pipe_fds[1];
  } else {
    in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (log_fd >= 0 && in_fd >= 0) pid_ = spawn(argv, in_fd, log_fd, log_fd, cwd);
  if (log_fd >= 0) ::close(log_fd);
  if (in_fd >= 0) ::close(in_fd);
  if (pid_ <= 0) ADD_FAILURE() << "cannot start " << label_ << ": " << std::strerror(errno);
}

Process::~Process() { stop(); }

std::string Process::log() const { return readFile(log_path_); }

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  pid_t r = ::waitpid(pid_, &exit_status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

std::optional<int> Process::waitExit(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (!reaped_ && waitUntil(pid_, Clock::now() + timeout, &exit_status_)) reaped_ = true;
  if (!reaped_) return std::nullopt;
  return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
}

std::optional<std::string> Process::waitFor(const std::regex& re, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::istringstream lines(log());
    std::string line;
    while (std::getline(lines, line)) {
      std::smatch m;
      if (std::regex_search(line, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
    }
    if (!running() || Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void Process::stop() {
  if (pid_ <= 0) return;
  if (!reaped_) {
    ::kill(-pid_, SIGTERM);
    if (!waitUntil(pid_, Clock::now() + std::chrono::seconds(2), &exit_status_)) {
      ::kill(-pid_, SIGKILL);
      waitUntil(pid_, Clock::now() + std::chrono::seconds(5), &exit_status_);
    }
    reaped_ = true;
  }
  ::kill(-pid_, SIGKILL);  // anything the child left in its group
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
  pid_ = -1;
}

// ---- Server -------------------------------------------------------------------------------

Server::Server(std::string label, std::vector<std::string> argv, const std::regex& ready,
               bool keep_stdin_open)
    : process_(std::move(label), std::move(argv), keep_stdin_open, pkiDir()) {
  if (!process_.started()) return;
  auto port = process_.waitFor(ready, milliseconds(10000));
  if (port) port_ = static_cast<uint16_t>(std::stoul(*port));
  if (!port_) {
    ADD_FAILURE() << process_.label() << " did not report its port; log:\n" << process_.log();
  }
}

Server::~Server() {
  process_.stop();
  noteForFailure("server log: " + process_.label(), tail(process_.log(), 6000));
}

std::unique_ptr<Server> startOpensslServer(const std::vector<std::string>& args,
                                           const std::string& host) {
  std::vector<std::string> argv = {
      "openssl", "s_server", "-accept",
      host.find(':') != std::string::npos ? "[" + host + "]:0" : host + ":0"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string label = "openssl s_server";
  for (const auto& a : args) label += " " + a;
  // s_server prints "ACCEPT 127.0.0.1:PORT" (or "ACCEPT [::1]:PORT") once it listens.
  return std::make_unique<Server>(label, argv, std::regex(R"(^ACCEPT .*:(\d+)\s*$)"), true);
}

std::unique_ptr<Server> startPythonServer(const std::string& script,
                                          const std::vector<std::string>& args,
                                          const std::string& host) {
  std::vector<std::string> argv = {
      "python3",       std::string(TLSAUDIT_SOURCE_DIR) + "/tests/integration/servers/" + script,
      "--host",        host,
      "--port",        "0",
      "--max-seconds", "300"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string label = script;
  for (const auto& a : args) label += " " + a;
  return std::make_unique<Server>(label, argv, std::regex(R"(^READY (\d+)\s*$)"), false);
}

// ---- commands -------------------------------------------------------------------------------

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds timeout,
                         const std::string& input) {
  CommandResult result;
  int n = ++g_process_counter;
  std::string base = (scratchDir().empty() ? std::string("/tmp") : scratchDir()) + "/cmd-" +
                     std::to_string(::getpid()) + "-" + std::to_string(n);
  std::string in_path = base + ".in", out_path = base + ".out", err_path = base + ".err";
  std::ofstream(in_path, std::ios::binary) << input;
  int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto started = Clock::now();
  pid_t pid =
      (in_fd >= 0 && out_fd >= 0 && err_fd >= 0) ? spawn(argv, in_fd, out_fd, err_fd, "") : -1;
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) ::close(fd);
  }
  if (pid > 0) {
    int status = 0;
    if (!waitUntil(pid, started + timeout, &status)) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      waitUntil(pid, Clock::now() + std::chrono::seconds(5), &status);
    } else if (WIFEXITED(status)) {
      result.exit_code = WEXITSTATUS(status);
    }
    ::kill(-pid, SIGKILL);
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  result.out = readFile(out_path, 64 << 20);
  result.err = readFile(err_path);
  std::error_code ec;
  for (const auto& p : {in_path, out_path, err_path}) fs::remove(p, ec);
  return result;
}

CommandResult runTlsaudit(const std::vector<std::string>& args, milliseconds timeout) {
  std::vector<std::string> argv = {TLSAUDIT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, timeout);
  std::string cmd = "tlsaudit";
  for (const auto& a : args) cmd += " " + a;
  noteForFailure(cmd, "exit " + std::to_string(r.exit_code) +
                          (r.timed_out ? " (killed: timed out)" : "") + " after " +
                          std::to_string(r.elapsed.count()) + " ms\n--- stderr:\n" +
                          tail(r.err, 8000) + "\n--- stdout:\n" + tail(r.out, 12000));
  return r;
}

// ---- openssl CLI --------------------------------------------------------------------------

const std::vector<OpensslSuite>& opensslSuites() {
  static const std::vector<OpensslSuite> suites = [] {
    std::vector<OpensslSuite> out;
    auto r = runCommand({"openssl", "ciphers", "-stdname", "-V", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"},
                        milliseconds(10000));
    std::istringstream lines(r.out);
    std::string line;
    std::regex re(R"(^\s*0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2})\s+-\s+(\S+)\s+-\s+(\S+))");
    while (std::getline(lines, line)) {
      std::smatch m;
      if (!std::regex_search(line, m, re)) continue;
      OpensslSuite s;
      s.code = static_cast<uint16_t>(std::stoul(m[1].str() + m[2].str(), nullptr, 16));
      s.iana = m[3];
      s.openssl = m[4];
      out.push_back(s);
    }
    return out;
  }();
  return suites;
}

const OpensslSuite* opensslSuiteByIana(const std::string& iana) {
  for (const auto& s : opensslSuites()) {
    if (s.iana == iana) return &s;
  }
  return nullptr;
}

const OpensslSuite* opensslSuiteByName(const std::string& openssl_name) {
  for (const auto& s : opensslSuites()) {
    if (s.openssl == openssl_name) return &s;
  }
  return nullptr;
}

CommandResult sClient(uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, milliseconds(10000));
}

std::string sClientCipher(const CommandResult& r) {
  std::smatch m;
  static const std::regex re(R"(Cipher is (\S+))");
  std::string all = r.out + r.err;
  if (std::regex_search(all, m, re) && m[1] != "(NONE)") return m[1];
  return "";
}

bool sClientConnects(uint16_t port, const std::vector<std::string>& args) {
  auto r = sClient(port, args);
  return r.exit_code == 0 && !sClientCipher(r).empty();
}

std::string certificateSubject(const std::string& pem_path) {
  auto r =
      runCommand({"openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", pem_path},
                 milliseconds(10000));
  std::string s = r.out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.rfind("subject=", 0) == 0) s = s.substr(8);
  return s;
}

// ---- probing --------------------------------------------------------------------------------

ProbeResult probe(const ProbeRequest& rq) {
  namespace tls = collectors::tls;
  namespace asio = net::asio;
  ProbeResult result;
  tls::Endpoint ep;
  ep.host = rq.host.empty() ? rq.ip : rq.host;
  ep.ip = asio::ip::make_address(rq.ip);
  ep.port = rq.port;
  ep.sni = rq.sni;
  ep.starttls = rq.starttls;
  ep.sip = rq.sip;

  tls::ProbeOptions opt;
  opt.timeout = rq.timeout;
  opt.max_suites_per_hello = rq.max_suites_per_hello;
  opt.min_suites_per_hello = rq.min_suites_per_hello;
  if (rq.validate) {
    std::vector<std::string> files;
    for (const auto& f : rq.ca_files)
      files.push_back(f.find('/') == std::string::npos ? pki(f) : f);
    auto store = tls::TrustStore::load(files, false);
    if (!store.ok()) {
      ADD_FAILURE() << "TrustStore::load: " << store.status();
      return result;
    }
    opt.trust_store = *store;
  }
  auto trace = std::make_shared<std::vector<std::string>>();
  auto trace_mutex = std::make_shared<std::mutex>();
  opt.trace = [trace, trace_mutex](const std::string& line) {
    std::lock_guard lock(*trace_mutex);
    trace->push_back(line);
  };

  auto report = std::make_shared<std::optional<v1::TlsReport>>();
  auto error = std::make_shared<std::string>();
  auto started = Clock::now();
  {
    net::ConnectionGate gate(2, 0);  // outlives the io_context and every coroutine in it
    asio::io_context io;
    asio::co_spawn(asio::make_strand(io), tls::probeEndpoint(ep, opt, gate),
                   [report, error](std::exception_ptr e, v1::TlsReport r) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         *error = ex.what();
                       } catch (...) {
                         *error = "unknown exception";
                       }
                     } else {
                       *report = std::move(r);
                     }
                   });
    io.run_for(rq.limit);
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  {
    std::lock_guard lock(*trace_mutex);
    result.trace = *trace;
  }
  result.finished = report->has_value();
  if (result.finished) result.report = std::move(**report);
  std::string label = "probe " + rq.ip + ":" + std::to_string(rq.port);
  std::string text =
      result.finished ? toJson(result.report)
                      : "probe did not finish within " + std::to_string(rq.limit.count()) + " ms";
  if (!error->empty()) text += "\nexception: " + *error;
  text += "\n--- trace (" + std::to_string(result.trace.size()) + " lines, " +
          std::to_string(result.elapsed.count()) + " ms):\n";
  for (const auto& line : result.trace) text += line + "\n";
  noteForFailure(label, tail(text, 30000));
  if (!error->empty()) ADD_FAILURE() << "probeEndpoint threw: " << *error;
  return result;
}

// ---- reports ----------------------------------------------------------------------------------

std::string toJson(const v1::TlsReport& report) {
  v1::TlsReport copy = report;
  for (auto& chain : *copy.mutable_chains()) {
    for (auto& cert : *chain.mutable_certificates()) cert.clear_der();  // keep notes readable
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(copy, &out, options);
  return out;
}

const v1::VersionResult* findVersion(const v1::TlsReport& report, v1::TlsVersion version) {
  for (const auto& v : report.versions()) {
    if (v.version() == version) return &v;
  }
  return nullptr;
}

std::set<v1::TlsVersion> supportedVersions(const v1::TlsReport& report) {
  std::set<v1::TlsVersion> out;
  for (const auto& v : report.versions()) {
    if (v.supported()) out.insert(v.version());
  }
  return out;
}

std::vector<v1::TlsVersion> versionList(const google::protobuf::RepeatedField<int>& versions) {
  std::vector<v1::TlsVersion> out;
  for (int v : versions) out.push_back(static_cast<v1::TlsVersion>(v));
  return out;
}

std::vector<std::string> suiteNames(const v1::VersionResult& version) {
  std::vector<std::string> out;
  for (const auto& s : version.cipher_suites()) out.push_back(s.name());
  return out;
}

std::set<std::string> suiteNameSet(const v1::VersionResult& version) {
  auto names = suiteNames(version);
  return {names.begin(), names.end()};
}

std::set<std::string> groupNames(const v1::TlsReport& report) {
  std::set<std::string> out;
  for (const auto& g : report.groups()) out.insert(g.name());
  return out;
}

std::string errorsText(const v1::TlsReport& report) {
  std::string out;
  for (const auto& e : report.errors()) {
    out += "[" + e.stage() + "/" + e.kind() + "] " + e.message() + "\n";
  }
  return out.empty() ? "(no errors)" : out;
}

bool hasErrorKind(const v1::TlsReport& report, const std::string& kind) {
  return std::any_of(report.errors().begin(), report.errors().end(),
                     [&](const v1::ProbeError& e) { return e.kind() == kind; });
}

// ---- CountingRelay ------------------------------------------------------------------------

namespace {

namespace asio = net::asio;

struct RelaySession : std::enable_shared_from_this<RelaySession> {
  explicit RelaySession(net::tcp::socket client_socket)
      : client(std::move(client_socket)), backend(client.get_executor()) {}

  void start(uint16_t backend_port) {
    auto self = shared_from_this();
    backend.async_connect(net::tcp::endpoint(asio::ip::address_v4::loopback(), backend_port),
                          [self](const boost::system::error_code& ec) {
                            if (ec) return self->closeAll();
                            self->pump(self->client, self->backend, self->up);
                            self->pump(self->backend, self->client, self->down);
                          });
  }

  void pump(net::tcp::socket& from, net::tcp::socket& to, std::array<uint8_t, 16384>& buf) {
    auto self = shared_from_this();
    from.async_read_some(
        asio::buffer(buf), [self, &from, &to, &buf](const boost::system::error_code& ec, size_t n) {
          if (ec == asio::error::eof) {
            boost::system::error_code ignored;
            to.shutdown(net::tcp::socket::shutdown_send, ignored);
            return;
          }
          if (ec) return self->closeAll();
          asio::async_write(to, asio::buffer(buf.data(), n),
                            [self, &from, &to, &buf](const boost::system::error_code& wec, size_t) {
                              if (wec) return self->closeAll();
                              self->pump(from, to, buf);
                            });
        });
  }

  void closeAll() {
    boost::system::error_code ignored;
    client.close(ignored);
    backend.close(ignored);
  }

  // No FIN or RST from the client yet.
  bool clientOpen() {
    if (!client.is_open()) return false;
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(client.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return false;
    return info.tcpi_state == TCP_ESTABLISHED || info.tcpi_state == TCP_FIN_WAIT1 ||
           info.tcpi_state == TCP_FIN_WAIT2;
  }

  net::tcp::socket client;
  net::tcp::socket backend;
  std::array<uint8_t, 16384> up{};
  std::array<uint8_t, 16384> down{};
};

}  // namespace

struct CountingRelay::State {
  asio::io_context io;
  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;
  std::vector<uint16_t> backends;
  std::vector<uint16_t> ports;
  std::list<std::weak_ptr<RelaySession>> sessions;  // touched on the io thread only
  std::atomic<int> max_seen{0};
  std::atomic<int> accepted{0};
  std::thread thread;

  void acceptLoop(size_t i) {
    acceptors[i]->async_accept(
        [this, i](const boost::system::error_code& ec, net::tcp::socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            auto session = std::make_shared<RelaySession>(std::move(socket));
            int open = 0;
            for (auto it = sessions.begin(); it != sessions.end();) {
              auto s = it->lock();
              if (!s) {
                it = sessions.erase(it);
                continue;
              }
              open += s->clientOpen() ? 1 : 0;
              ++it;
            }
            open += session->clientOpen() ? 1 : 0;
            if (open > max_seen) max_seen = open;
            ++accepted;
            sessions.push_back(session);
            session->start(backends[i]);
          }
          acceptLoop(i);
        });
  }
};

CountingRelay::CountingRelay(const std::vector<uint16_t>& backend_ports)
    : state_(std::make_unique<State>()) {
  state_->backends = backend_ports;
  for (size_t i = 0; i < backend_ports.size(); ++i) {
    auto acceptor = std::make_unique<net::tcp::acceptor>(
        state_->io, net::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    state_->ports.push_back(acceptor->local_endpoint().port());
    state_->acceptors.push_back(std::move(acceptor));
    state_->acceptLoop(i);
  }
  State* s = state_.get();
  s->thread = std::thread([s] { s->io.run(); });
}

CountingRelay::~CountingRelay() {
  state_->io.stop();
  state_->thread.join();
}

uint16_t CountingRelay::port(size_t i) const { return state_->ports.at(i); }
int CountingRelay::maxConcurrent() const { return state_->max_seen.load(); }
int CountingRelay::accepted() const { return state_->accepted.load(); }

// ---- ClosedPort ---------------------------------------------------------------------------

ClosedPort::ClosedPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port_ = ntohs(addr.sin_port);
  }
}

ClosedPort::~ClosedPort() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tlsaudit::itest

// ---- PostgreSQL -----------------------------------------------------------------------------

namespace tlsaudit::itest {
namespace {

// initdb and pg_ctl of the newest PostgreSQL installed ("" when none is): the daemon's lookup.
std::string postgresBinDir() { return scanner::newestPostgresBinDir(); }

// A port on 127.0.0.1 that was free a moment ago (postgres cannot bind port 0 and report it).
uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

CommandResult runAsPostgres(const std::string& cwd, const std::vector<std::string>& argv,
                            milliseconds timeout) {
  std::vector<std::string> full = {"runuser", "-u", "postgres", "--", "env", "-C", cwd};
  full.insert(full.end(), argv.begin(), argv.end());
  return runCommand(full, timeout);
}

// The initdb'd data folder every cluster copies: made once per build tree and binary version,
// under a lock (ctest runs tests in parallel processes). "" with a failure when it cannot be.
std::string postgresTemplate(const std::string& bin) {
  const passwd* pw = ::getpwnam("postgres");
  std::string dir = selfDir() + "/pg-template";
  std::string stamp = dir + "/.stamp-" + std::to_string(std::hash<std::string>{}(bin));
  int lock = ::open((dir + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0 || pw == nullptr) {
    ADD_FAILURE() << "cannot lock " << dir << ".lock: " << std::strerror(errno);
    if (lock >= 0) ::close(lock);
    return "";
  }
  ::flock(lock, LOCK_EX);
  std::error_code ec;
  std::string result = dir + "/data";
  if (!fs::exists(stamp, ec)) {
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    // postgres must be able to enter the folder (and run in it) to write the data folder.
    if (ec || ::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      ADD_FAILURE() << "cannot make " << dir;
      result.clear();
    } else {
      auto init = runAsPostgres(dir,
                                {bin + "/initdb", "-D", result, "-A", "trust", "-U", "postgres",
                                 "--no-locale", "-E", "UTF8", "--no-sync"},
                                milliseconds(120000));
      if (init.exit_code != 0) {
        ADD_FAILURE() << "initdb failed (exit " << init.exit_code << "):\n" << init.out << init.err;
        result.clear();
      } else {
        std::ofstream(stamp) << bin << "\n";
      }
    }
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return result;
}

}  // namespace

std::string PostgresCluster::unavailableReason() {
  if (postgresBinDir().empty()) {
    return "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian package "
           "postgresql; scripts/setup.sh installs it)";
  }
  if (::getpwnam("postgres") == nullptr) {
    return "no 'postgres' system user (created by the Debian package postgresql)";
  }
  if (::geteuid() != 0) return "not root: runuser cannot switch to the postgres user";
  return "";
}

PostgresCluster::PostgresCluster(const Settings& settings)
    : PostgresCluster(Options{.tcp = true, .server_certificate = true, .settings = settings}) {}

PostgresCluster::PostgresCluster(const Options& options)
    : bin_(postgresBinDir()), tcp_(options.tcp) {
  const passwd* pw = ::getpwnam("postgres");
  char tmpl[] = "/tmp/tlsaudit-pg-XXXXXX";
  if (pw == nullptr || ::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "cannot make a folder for PostgreSQL: " << std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    ADD_FAILURE() << "chown " << dir_ << ": " << std::strerror(errno);
    return;
  }
  if (options.server_certificate) {
    // Copies of the test PKI's RSA leaf: postgres wants its key owned by itself, mode 0600.
    for (const auto& [from, to] :
         {std::pair{"rsa-leaf.crt", "server.crt"}, std::pair{"rsa-leaf.key", "server.key"}}) {
      std::error_code ec;
      fs::copy_file(pki(from), dir_ + "/" + to, ec);
      if (ec || ::chown((dir_ + "/" + to).c_str(), pw->pw_uid, pw->pw_gid) != 0 ||
          ::chmod((dir_ + "/" + to).c_str(), 0600) != 0) {
        ADD_FAILURE() << "cannot install " << to << " in " << dir_;
        return;
      }
    }
  }
  std::string templ = postgresTemplate(bin_);
  if (templ.empty()) return;
  // cp -a as root keeps the owner (postgres) and the 0700 mode postgres insists on.
  auto copy = runCommand({"cp", "-a", templ, dataDir()}, milliseconds(60000));
  if (copy.exit_code != 0) {
    ADD_FAILURE() << "cannot copy the PostgreSQL template: " << copy.err;
    return;
  }
  Settings all = {
      {"listen_addresses", tcp_ ? "'127.0.0.1'" : "''"},
      {"unix_socket_directories", "'" + dir_ + "'"},
      // Tests crash postgres, never the kernel, so WAL it has written survives without fsync.
      // synchronous_commit stays on: the crash tests rely on an acknowledged commit being in
      // the WAL (with it off, the last commits before a crash are lost by design).
      {"fsync", "off"},
  };
  if (options.server_certificate) {
    all.push_back({"ssl_cert_file", "'" + dir_ + "/server.crt'"});
    all.push_back({"ssl_key_file", "'" + dir_ + "/server.key'"});
  }
  all.insert(all.end(), options.settings.begin(), options.settings.end());
  {
    std::ofstream conf(dataDir() + "/postgresql.conf", std::ios::app);
    for (const auto& [key, value] : all) conf << key << " = " << value << "\n";
  }
  if (!tcp_) {
    port_ = 5432;  // only names the socket file, in a folder of its own
    start();
    return;
  }
  // The port is chosen before postgres binds it; another process may take it in between.
  for (int attempt = 0; attempt < 3 && !running_; ++attempt) {
    port_ = freePort();
    if (start()) break;
    if (log().find("could not bind") == std::string::npos) break;
  }
  if (!running_) port_ = 0;
}

bool PostgresCluster::start() {
  if (dir_.empty()) return false;
  auto r = asPostgres({bin_ + "/pg_ctl", "-D", dataDir(), "-l", logPath(), "-o",
                       "-p " + std::to_string(port_), "-w", "-t", "30", "start"},
                      milliseconds(40000));
  running_ = r.exit_code == 0;
  if (running_) {
    started_once_ = true;
  } else if (!tcp_ || log().find("could not bind") == std::string::npos) {
    ADD_FAILURE() << "pg_ctl start failed (exit " << r.exit_code << "):\n"
                  << r.out << r.err << "\nserver log:\n"
                  << log();
  }
  return running_;
}

bool PostgresCluster::stop(const std::string& mode) {
  if (!running_) return true;
  auto r = asPostgres({bin_ + "/pg_ctl", "-D", dataDir(), "-m", mode, "-w", "-t", "20", "stop"},
                      milliseconds(30000));
  if (r.exit_code != 0) {
    ADD_FAILURE() << "pg_ctl stop failed (exit " << r.exit_code << "):\n" << r.out << r.err;
    return false;
  }
  running_ = false;
  return true;
}

PostgresCluster::~PostgresCluster() {
  stop("immediate");
  if (!dir_.empty()) {
    noteForFailure("postgres log", log());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresCluster::dsn(const std::string& dbname) const {
  return "host=" + dir_ + " port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
}

std::string PostgresCluster::log() const { return readFile(logPath()); }

CommandResult PostgresCluster::asPostgres(const std::vector<std::string>& argv,
                                          milliseconds timeout) const {
  return runAsPostgres(dir_, argv, timeout);
}

bool eventually(const std::function<bool()>& done, milliseconds timeout, milliseconds poll) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

std::string hmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

uint16_t freePort(const std::string& host, int type) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    socklen_t len = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

CommandResult httpGet(const std::string& url) {
  std::string script =
      "import sys, urllib.request, urllib.error\n"
      "try:\n"
      "    r = urllib.request.urlopen(sys.argv[1], timeout=10)\n"
      "    print(r.status); sys.stdout.write(r.read().decode())\n"
      "except urllib.error.HTTPError as e:\n"
      "    print(e.code); sys.stdout.write(e.read().decode())\n";
  return runCommand({"/usr/bin/python3", "-c", script, url}, milliseconds(20000));
}

}  // namespace tlsaudit::itest
