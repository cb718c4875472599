#include "tests/integration/daemon_fixture.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tlsaudit::itest {

namespace fs = std::filesystem;

std::string daemonUnavailableReason() { return PostgresCluster::unavailableReason(); }

DaemonUnderTest::DaemonUnderTest(const std::string& config, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  // Under /tmp, not the scratch folder: the cluster's user (postgres) must be able to walk in,
  // and the socket path must stay short.
  char tmpl[] = "/tmp/tlsaudit-daemon-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0755);
  data_dir_ = dir_ + "/data";
  config_path_ = dir_ + "/tlsaudit.yaml";
  ready_path_ = dir_ + "/ready";
  rewriteConfig(config);
}

DaemonUnderTest::~DaemonUnderTest() {
  if (process_) {
    noteForFailure("daemon log", process_->log());
    process_->signal(SIGTERM);
    process_->waitExit(milliseconds(15000));
    process_.reset();
  }
  // A PostgreSQL left behind by kill9() (or a daemon that did not stop in time).
  std::string cluster = data_dir_ + "/postgres";
  if (!dir_.empty() && fs::exists(cluster + "/postmaster.pid")) {
    std::string bin;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql")) {
      if (fs::exists(e.path() / "bin/pg_ctl")) bin = (e.path() / "bin/pg_ctl").string();
    }
    if (!bin.empty()) {
      runCommand({"runuser", "-u", "postgres", "--", bin, "-D", cluster, "-m", "immediate", "-w",
                  "-t", "20", "stop"},
                 milliseconds(30000));
    }
  }
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

void DaemonUnderTest::rewriteConfig(const std::string& config) {
  std::ofstream(config_path_ + ".tmp") << config;
  fs::rename(config_path_ + ".tmp", config_path_);
}

bool DaemonUnderTest::start(milliseconds timeout) {
  ready_ = false;
  fs::remove(ready_path_);
  std::vector<std::string> argv = {TLSAUDIT_BINARY,    "serve",
                                   "--config",         config_path_,
                                   "--data-dir",       data_dir_,
                                   "--grpc-listen",    "127.0.0.1:0",
                                   "--metrics-listen", "127.0.0.1:0",
                                   "--ready-file",     ready_path_,
                                   "--log-level",      "debug"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>("tlsaudit-serve-" + std::to_string(++starts_), argv);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(ready_path_);
    std::string line;
    if (std::getline(in, line) && !line.empty()) {
      std::istringstream words(line);
      std::string w;
      while (words >> w) {
        if (w.rfind("grpc=", 0) == 0) grpc_ = w.substr(5);
        if (w.rfind("metrics=", 0) == 0) metrics_ = w.substr(8);
      }
      ready_ = !grpc_.empty();
      return ready_;
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ADD_FAILURE() << "the daemon did not become ready; log:\n" << process_->log();
  return false;
}

std::string DaemonUnderTest::dsn() const {
  return "host=" + data_dir_ + "/run port=5432 user=postgres dbname=tlsaudit";
}

CommandResult DaemonUnderTest::cli(std::vector<std::string> args, milliseconds timeout) {
  args.push_back("--server");
  args.push_back(grpc_);
  return runTlsaudit(args, timeout);
}

nlohmann::json DaemonUnderTest::cliJson(std::vector<std::string> args, milliseconds timeout) {
  args.push_back("--format");
  args.push_back("json");
  auto r = cli(args, timeout);
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (r.exit_code != 0 || doc.is_discarded()) {
    ADD_FAILURE() << "tlsaudit " << args[0] << " exit " << r.exit_code << ": " << r.err << r.out;
    return nlohmann::json::object();
  }
  return doc;
}

void DaemonUnderTest::kill9() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->waitExit(milliseconds(10000));
  noteForFailure("daemon log (killed)", process_->log());
  ready_ = false;
}

std::optional<int> DaemonUnderTest::terminate(milliseconds timeout) {
  if (!process_) return std::nullopt;
  process_->signal(SIGTERM);
  auto code = process_->waitExit(timeout);
  noteForFailure("daemon log (terminated)", process_->log());
  ready_ = false;
  return code;
}

CommandResult DaemonUnderTest::httpGet(const std::string& path) {
  return itest::httpGet("http://" + metrics_ + path);
}

}  // namespace tlsaudit::itest
