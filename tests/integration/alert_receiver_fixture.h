// servers/alert_receiver.py for the tests: an HTTP(S) endpoint that records every request and
// can be told to fail, or a syslog collector over UDP or TCP; restartable on the same port.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace tlsaudit::itest {

struct Request {
  std::string method, path, body, answer;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  bool acknowledged() const { return !answer.empty() && answer[0] == '2'; }
};

// servers/alert_receiver.py in one --mode, restartable on the same port; what every run
// received is kept.
class Receiver {
 public:
  explicit Receiver(std::string mode, std::vector<std::string> extra = {})
      : mode_(std::move(mode)), extra_(std::move(extra)) {
    static int counter = 0;
    control_ = scratchDir() + "/receiver-" + std::to_string(::getpid()) + "-" +
               std::to_string(++counter) + ".control";
    setControl("ok");
    start();
  }
  ~Receiver() { stop(); }

  bool start() {
    std::vector<std::string> args = {"--mode", mode_, "--control", control_};
    args.insert(args.end(), extra_.begin(), extra_.end());
    // The same port as before after a restart (argparse keeps the last --port).
    if (port_ != 0) args.insert(args.end(), {"--port", std::to_string(port_)});
    server_ = startPythonServer("alert_receiver.py", args);
    if (!server_->ok()) return false;
    port_ = server_->port();
    return true;
  }
  void stop() {
    if (!server_) return;
    earlier_ += server_->log();
    server_.reset();
  }
  // How the HTTP receiver answers from now on (see alert_receiver.py).
  void setControl(const std::string& line) {
    std::string tmp = control_ + ".tmp";
    std::ofstream(tmp) << line << "\n";
    std::rename(tmp.c_str(), control_.c_str());  // atomic: a request never reads half a line
  }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path, const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string log() const { return earlier_ + (server_ ? server_->log() : ""); }

  std::vector<Request> requests(const std::string& path = "") const;
  std::vector<Request> acknowledged(const std::string& path = "") const;
  std::vector<std::string> syslogMessages() const;

 private:
  std::vector<nlohmann::json> records(const std::string& prefix) const;

  std::string mode_;
  std::vector<std::string> extra_;
  std::string control_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::string earlier_;
};

}  // namespace tlsaudit::itest
