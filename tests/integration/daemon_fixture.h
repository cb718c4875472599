// `tlsaudit serve` as the integration tests run it: a real daemon process on its embedded
// PostgreSQL (initdb'd under a temporary data directory), gRPC and metrics on ports the OS
// picks, driven through the tlsaudit CLI client. The destructor stops the daemon and, should
// a test have killed it, the PostgreSQL it left running.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {

class DaemonUnderTest {
 public:
  // `config` is the YAML body (data_dir and listeners are given on the command line).
  explicit DaemonUnderTest(const std::string& config, std::vector<std::string> extra_args = {});
  ~DaemonUnderTest();

  // Starts the daemon (again, after kill9/terminate) and waits until it serves; false with a
  // failure noted when it does not within the bound.
  bool start(milliseconds timeout = milliseconds(90000));
  bool ok() const { return ready_; }
  const std::string& server() const { return grpc_; }
  const std::string& metrics() const { return metrics_; }
  const std::string& dataDir() const { return data_dir_; }
  const std::string& configPath() const { return config_path_; }
  Process* process() { return process_.get(); }
  std::string log() const { return process_ ? process_->log() : ""; }
  // libpq DSN of the embedded cluster (unix socket).
  std::string dsn() const;

  // The tlsaudit CLI against this daemon (--server added).
  CommandResult cli(std::vector<std::string> args, milliseconds timeout = milliseconds(90000));
  // cli(...) with --format json, parsed; a failure is noted and {} returned on bad output.
  nlohmann::json cliJson(std::vector<std::string> args,
                         milliseconds timeout = milliseconds(90000));

  void rewriteConfig(const std::string& config);
  // SIGKILL, no teardown: its PostgreSQL keeps running (as after a crash).
  void kill9();
  // SIGTERM and wait for the exit; its exit code (nullopt when it did not exit in time).
  std::optional<int> terminate(milliseconds timeout);

  // GET http://metrics/PATH; status line and body.
  CommandResult httpGet(const std::string& path);

 private:
  std::string dir_;
  std::string data_dir_;
  std::string config_path_;
  std::string ready_path_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<Process> process_;
  std::string grpc_;
  std::string metrics_;
  bool ready_ = false;
  int starts_ = 0;
};

// Why a daemon cannot run here ("" when it can): root for the embedded PostgreSQL's user
// switch, the server binaries, the postgres user.
std::string daemonUnavailableReason();

#define SKIP_WITHOUT_DAEMON()                                                            \
  do {                                                                                   \
    if (auto why = ::tlsaudit::itest::daemonUnavailableReason(); !why.empty()) {         \
      GTEST_SKIP() << why;                                                               \
    }                                                                                    \
  } while (false)

}  // namespace tlsaudit::itest
