#include "tests/integration/alert_receiver_fixture.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/escaping.h"

namespace tlsaudit::itest {

std::vector<Request> Receiver::requests(const std::string& path) const {
  std::vector<Request> out;
  // In the order the requests arrived, not the order their records were written (after the
  // answer, by the thread serving each connection).
  auto list = records("REQUEST ");
  std::stable_sort(list.begin(), list.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.value("arrived_ns", int64_t{0}) < b.value("arrived_ns", int64_t{0});
  });
  for (const auto& j : list) {
    Request r;
    r.method = j.value("method", "");
    r.path = j.value("path", "");
    r.answer =
        j["answer"].is_number() ? std::to_string(j["answer"].get<int>()) : j.value("answer", "");
    absl::Base64Unescape(j.value("body_b64", ""), &r.body);
    for (const auto& h : j["headers"]) {
      std::string name = h[0];
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = h[1];
    }
    if (path.empty() || r.path == path) out.push_back(std::move(r));
  }
  return out;
}

std::vector<Request> Receiver::acknowledged(const std::string& path) const {
  std::vector<Request> out;
  for (auto& r : requests(path)) {
    if (r.acknowledged()) out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> Receiver::syslogMessages() const {
  std::vector<std::string> out;
  for (const auto& j : records("SYSLOG ")) {
    std::string msg;
    absl::Base64Unescape(j.value("msg_b64", ""), &msg);
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<nlohmann::json> Receiver::records(const std::string& prefix) const {
  std::vector<nlohmann::json> out;
  std::istringstream in(log());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto j = nlohmann::json::parse(line.substr(prefix.size()), nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

}  // namespace tlsaudit::itest
