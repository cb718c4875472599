#include "scanner/daemon/daemon_config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "collectors/net/asio.h"
#include "collectors/net/targets.h"
#include "collectors/snmp/credentials.h"
#include "rules/policy.h"
#include "rules/waivers.h"
#include "rules/yaml_document.h"

namespace tlsaudit::scanner {
namespace {

// The TLS ports of `tlsaudit scan` (scan_command.cpp): implicit TLS and STARTTLS services that
// phones, gateways and servers commonly offer.
const std::vector<uint16_t> kDefaultTlsPorts = {443,  8443, 5061, 636,  993,  995, 465,
                                                587,  990,  3389, 5986, 6443, 8883, 9443};

// A token file holds one token; surrounding whitespace (a trailing newline) is not part of it.
constexpr size_t kMaxTokenFileBytes = 4096;

class Loader {
 public:
  explicit Loader(const rules::YamlDocument& doc) : doc_(doc) {}

  // An error at `node`: file:line:col for nodes from the file, the -o setting for overrides.
  absl::Status error(const YAML::Node& node, const std::string& path, const std::string& msg) {
    if (node && node.Mark().line < 0) {
      return absl::InvalidArgumentError(absl::StrCat("-o ", path, ": ", msg));
    }
    return doc_.error(node, path, msg);
  }

  // The value of a scalar the schema typed (integer, number, boolean). YAML's own reading can
  // still refuse what the schema let through ("019", "1e3" for an integer, a port above 65535):
  // the first such value becomes the load's error, naming it, instead of an exception.
  template <typename T>
  T value(const YAML::Node& n, const std::string& path) {
    T out{};
    if (!YAML::convert<T>::decode(n, out) && bad_value_.ok()) {
      bad_value_ = error(n, path, "'" + n.Scalar() + "' is not a valid value here");
    }
    return out;
  }
  absl::Status badValue() const { return bad_value_; }

  absl::StatusOr<std::chrono::milliseconds> duration(const YAML::Node& n, const std::string& path) {
    auto d = parseDuration(n.Scalar());
    if (!d.ok()) return error(n, path, std::string(d.status().message()));
    return *d;
  }

  absl::Status listen(const YAML::Node& n, const std::string& path, std::string& out) {
    std::string v = n.Scalar();
    auto colon = v.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(v.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return error(n, path, "'" + v + "' is not HOST:PORT (e.g. 127.0.0.1:50051, [::1]:50051)");
    }
    out = v;
    return absl::OkStatus();
  }

  absl::Status load(DaemonConfig& c) {
    const YAML::Node& root = doc_.root();
    if (auto n = root["data_dir"]) c.data_dir = n.Scalar();
    if (auto n = root["instance"]) c.instance = n.Scalar();
    if (auto db = root["database"]) {
      if (auto n = db["dsn"]) c.database.dsn = n.Scalar();
      if (auto n = db["pool"]) c.database.pool = value<size_t>(n, "database.pool");
      if (auto n = db["statement_timeout"]) {
        auto d = duration(n, "database.statement_timeout");
        if (!d.ok()) return d.status();
        c.database.statement_timeout = *d;
      }
      if (auto e = db["embedded"]) {
        if (auto n = e["bin_dir"]) c.database.bin_dir = n.Scalar();
        if (auto n = e["user"]) c.database.user = n.Scalar();
        if (auto n = e["shared_buffers"]) c.database.shared_buffers = n.Scalar();
      }
    }
    if (auto g = root["grpc"]) {
      if (auto n = g["listen"]) {
        if (auto st = listen(n, "grpc.listen", c.grpc.listen); !st.ok()) return st;
      }
      if (auto n = g["allow_plaintext"]) c.grpc.allow_plaintext = value<bool>(n, "grpc.allow_plaintext");
      if (auto t = g["tls"]) {
        c.grpc.tls_certificate = t["certificate"].Scalar();
        c.grpc.tls_key = t["key"].Scalar();
        for (const auto& [file, field] :
             {std::pair{c.grpc.tls_certificate, "grpc.tls.certificate"},
              std::pair{c.grpc.tls_key, "grpc.tls.key"}}) {
          if (::access(file.c_str(), R_OK) != 0) {
            return error(t[std::string(field).substr(9)], field,
                         "cannot read '" + file + "': " + std::strerror(errno));
          }
        }
      }
      if (auto tokens = g["tokens"]) {
        std::set<std::string> names, values;
        for (size_t i = 0; i < tokens.size(); ++i) {
          const YAML::Node& t = tokens[i];
          std::string path = "grpc.tokens[" + std::to_string(i) + "]";
          TokenConfig tc;
          tc.name = t["name"].Scalar();
          tc.role = t["role"].Scalar() == "operator" ? Role::kOperator : Role::kViewer;
          if (t["token"] && t["token_file"]) {
            return error(t, path, "give either token or token_file, not both");
          }
          if (auto n = t["token"]) {
            tc.token = n.Scalar();
          } else if (auto f = t["token_file"]) {
            auto text = rules::readUserFile(f.Scalar(), "token file");
            if (!text.ok() || text->size() > kMaxTokenFileBytes) {
              return error(f, path + ".token_file",
                           text.ok() ? "is larger than 4 KiB"
                                     : std::string(text.status().message()));
            }
            tc.token = std::string(absl::StripAsciiWhitespace(*text));
          } else {
            return error(t, path, "missing required key 'token' (or 'token_file')");
          }
          // 16 characters is the floor; tokens are compared in constant time but a short one is
          // guessable.
          if (tc.token.size() < 16) {
            return error(t, path, "the token must have at least 16 characters");
          }
          if (!names.insert(tc.name).second) {
            return error(t["name"], path + ".name", "'" + tc.name + "' is used twice");
          }
          if (!values.insert(tc.token).second) {
            return error(t, path, "the same token is configured twice");
          }
          c.grpc.tokens.push_back(std::move(tc));
        }
      }
    }
    if (auto m = root["metrics"]) {
      if (auto n = m["listen"]) {
        if (auto st = listen(n, "metrics.listen", c.metrics.listen); !st.ok()) return st;
      }
    }
    if (auto w = root["workers"]) {
      if (auto n = w["count"]) c.workers.count = value<size_t>(n, "workers.count");
      if (auto n = w["max_attempts"]) c.workers.max_attempts = value<int>(n, "workers.max_attempts");
      if (auto n = w["addresses_per_item"]) c.workers.addresses_per_item = value<size_t>(n, "workers.addresses_per_item");
      if (auto n = w["lease"]) {
        auto d = duration(n, "workers.lease");
        if (!d.ok()) return d.status();
        if (*d < std::chrono::seconds(5)) return error(n, "workers.lease", "must be at least 5s");
        c.workers.lease = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      if (auto n = w["shutdown_grace"]) {
        auto d = duration(n, "workers.shutdown_grace");
        if (!d.ok()) return d.status();
        c.workers.shutdown_grace = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
    if (auto p = root["politeness"]) {
      auto& o = c.politeness;
      if (auto n = p["concurrency"]) o.concurrency = value<size_t>(n, "politeness.concurrency");
      if (auto n = p["per_host"]) o.per_host = value<size_t>(n, "politeness.per_host");
      if (auto n = p["per_subnet"]) o.per_subnet = value<size_t>(n, "politeness.per_subnet");
      if (auto n = p["rate"]) o.rate = value<double>(n, "politeness.rate");
      if (auto n = p["max_suites"]) o.max_suites = value<size_t>(n, "politeness.max_suites");
      if (auto n = p["retries"]) o.retries = value<int>(n, "politeness.retries");
      for (auto [key, into] : {std::pair{"timeout", &o.timeout},
                               std::pair{"connect_timeout", &o.connect_timeout}}) {
        if (auto n = p[key]) {
          auto d = duration(n, std::string("politeness.") + key);
          if (!d.ok()) return d.status();
          if (d->count() < 10 || *d > std::chrono::minutes(10)) {
            return error(n, std::string("politeness.") + key, "must be between 10ms and 10m");
          }
          *into = *d;
        }
      }
    }
    if (auto t = root["trust"]) {
      if (auto n = t["system"]) c.trust.system = value<bool>(n, "trust.system");
      if (auto files = t["ca_files"]) {
        for (size_t i = 0; i < files.size(); ++i) {
          std::string f = files[i].Scalar();
          if (::access(f.c_str(), R_OK) != 0) {
            return error(files[i], "trust.ca_files[" + std::to_string(i) + "]",
                         "cannot read '" + f + "': " + std::strerror(errno));
          }
          c.trust.ca_files.push_back(f);
        }
      }
    }
    if (auto creds = root["snmp_credentials"]) {
      std::set<std::string> names;
      for (size_t i = 0; i < creds.size(); ++i) {
        const YAML::Node& n = creds[i];
        std::string path = "snmp_credentials[" + std::to_string(i) + "]";
        collectors::snmp::Credential cred;
        cred.name = n["name"].Scalar();
        if (!names.insert(cred.name).second) {
          return error(n["name"], path + ".name", "'" + cred.name + "' is used twice");
        }
        if (n["community"] && n["user"]) {
          return error(n, path, "give either community (v1/v2c) or user (v3), not both");
        }
        if (auto com = n["community"]) {
          cred.community = com.Scalar();
          cred.version = n["version"] && n["version"].Scalar() == "1"
                             ? collectors::snmp::SnmpVersion::kV1
                             : collectors::snmp::SnmpVersion::kV2c;
          if (n["auth"] || n["priv"]) {
            return error(n, path, "auth and priv belong to a v3 user, not to a community");
          }
        } else if (auto user = n["user"]) {
          cred.version = collectors::snmp::SnmpVersion::kV3;
          cred.user = user.Scalar();
          // parseProtoPass never repeats the passphrase in its message.
          if (auto a = n["auth"]) {
            auto st = collectors::snmp::parseProtoPass(a.Scalar(), false, cred, "auth");
            if (!st.ok()) return error(a, path + ".auth", std::string(st.message()));
          }
          if (auto p = n["priv"]) {
            if (!n["auth"]) return error(p, path + ".priv", "privacy needs auth too (authPriv)");
            auto st = collectors::snmp::parseProtoPass(p.Scalar(), true, cred, "priv");
            if (!st.ok()) return error(p, path + ".priv", std::string(st.message()));
          }
        } else {
          return error(n, path, "missing required key 'community' (or 'user' for SNMPv3)");
        }
        c.snmp_credentials.push_back(std::move(cred));
      }
    }
    if (auto p = root["policy"]) {
      if (auto n = p["profile"]) c.policy.profile = n.Scalar();
      if (auto files = p["files"]) {
        for (size_t i = 0; i < files.size(); ++i) c.policy.files.push_back(files[i].Scalar());
      }
      if (auto n = p["waivers"]) c.policy.waivers = n.Scalar();
    }
    if (auto r = root["retention"]) {
      if (auto n = r["observations"]) {
        auto d = duration(n, "retention.observations");
        if (!d.ok()) return d.status();
        c.retention = std::chrono::duration_cast<std::chrono::hours>(*d);
        if (d->count() > 0 && c.retention < std::chrono::hours(24)) {
          return error(n, "retention.observations", "must be 0 (keep) or at least 1d");
        }
      }
    }
    if (auto st = loadGroups(c); !st.ok()) return st;
    if (auto st = loadAlerts(c); !st.ok()) return st;
    return absl::OkStatus();
  }

  absl::Status loadGroups(DaemonConfig& c) {
    auto groups = doc_.root()["groups"];
    if (!groups) return absl::OkStatus();
    std::set<std::string> names;
    for (size_t i = 0; i < groups.size(); ++i) {
      const YAML::Node& n = groups[i];
      std::string path = "groups[" + std::to_string(i) + "]";
      TargetGroup g;
      g.name = n["name"].Scalar();
      if (!names.insert(g.name).second) {
        return error(n["name"], path + ".name", "'" + g.name + "' is used twice");
      }
      auto targets = n["targets"];
      for (size_t j = 0; j < targets.size(); ++j) {
        auto t = net::parseTargets({targets[j].Scalar()});
        if (!t.ok()) {
          return error(targets[j], path + ".targets[" + std::to_string(j) + "]",
                       std::string(t.status().message()));
        }
        g.targets.push_back(targets[j].Scalar());
      }
      if (auto ex = n["exclude"]) {
        for (size_t j = 0; j < ex.size(); ++j) {
          auto t = net::parseTargets({ex[j].Scalar()});
          if (!t.ok()) {
            return error(ex[j], path + ".exclude[" + std::to_string(j) + "]",
                         std::string(t.status().message()));
          }
          g.exclude.push_back(ex[j].Scalar());
        }
      }
      if (auto ports = n["ports"]) {
        for (size_t j = 0; j < ports.size(); ++j) g.ports.push_back(value<uint16_t>(ports[j], path + ".ports[" + std::to_string(j) + "]"));
      }
      if (auto snmp = n["snmp"]) {
        for (size_t j = 0; j < snmp.size(); ++j) {
          std::string name = snmp[j].Scalar();
          if (c.snmpCredential(name) == nullptr) {
            return error(snmp[j], path + ".snmp[" + std::to_string(j) + "]",
                         "no snmp_credentials entry is named '" + name + "'");
          }
          g.snmp.push_back(name);
        }
      }
      if (auto p = n["snmp_port"]) g.snmp_port = value<uint16_t>(p, path + ".snmp_port");
      if (auto p = n["profile"]) g.profile = p.Scalar();
      if (auto s = n["site"]) g.site = s.Scalar();
      if (auto s = n["schedule"]) {
        std::string spath = path + ".schedule";
        if (s["every"] && s["cron"]) return error(s, spath, "give either every or cron, not both");
        if (auto e = s["every"]) {
          auto d = duration(e, spath + ".every");
          if (!d.ok()) return d.status();
          auto sch = Schedule::every(std::chrono::duration_cast<std::chrono::seconds>(*d));
          if (!sch.ok()) return error(e, spath + ".every", std::string(sch.status().message()));
          g.schedule = *sch;
        } else if (auto cr = s["cron"]) {
          auto sch = Schedule::cron(cr.Scalar());
          if (!sch.ok()) return error(cr, spath + ".cron", std::string(sch.status().message()));
          g.schedule = *sch;
        } else {
          return error(s, spath, "missing required key 'every' (or 'cron')");
        }
      }
      c.groups.push_back(std::move(g));
    }
    return absl::OkStatus();
  }

  absl::Status loadAlerts(DaemonConfig& c) {
    auto list = doc_.root()["alerts"];
    if (!list) return absl::OkStatus();
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& n = list[i];
      std::string path = "alerts[" + std::to_string(i) + "]";
      alerts::SinkConfig s;
      s.name = n["name"].Scalar();
      if (!names.insert(s.name).second) {
        return error(n["name"], path + ".name", "'" + s.name + "' is used twice");
      }
      s.type = n["type"].Scalar();
      if (auto v = n["url"]) s.url = v.Scalar();
      if (auto v = n["secret"]) s.secret = v.Scalar();
      if (auto h = n["headers"]) {
        for (auto it = h.begin(); it != h.end(); ++it) {
          s.headers.emplace_back(it->first.Scalar(), it->second.Scalar());
        }
      }
      if (auto v = n["ca_file"]) s.ca_file = v.Scalar();
      if (auto v = n["verify_tls"]) s.verify_tls = value<bool>(v, path + ".verify_tls");
      if (auto v = n["address"]) s.address = v.Scalar();
      if (auto v = n["transport"]) s.transport = v.Scalar();
      if (auto v = n["facility"]) s.facility = value<int>(v, path + ".facility");
      if (auto v = n["min_severity"]) s.min_severity = rules::severityFromText(v.Scalar());
      if (auto v = n["rules"]) {
        for (size_t j = 0; j < v.size(); ++j) s.rules.push_back(v[j].Scalar());
      }
      if (auto v = n["events"]) {
        for (size_t j = 0; j < v.size(); ++j) s.events.push_back(v[j].Scalar());
      }
      if (auto v = n["timeout"]) {
        auto d = duration(v, path + ".timeout");
        if (!d.ok()) return d.status();
        s.timeout = *d;
      }
      if (auto v = n["expires_after"]) {
        auto d = duration(v, path + ".expires_after");
        if (!d.ok()) return d.status();
        s.expires_after = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
      if (auto st = alerts::validateSink(s); !st.ok()) {
        return error(n, path, std::string(st.message()));
      }
      c.alerts.push_back(std::move(s));
    }
    return absl::OkStatus();
  }

 private:
  const rules::YamlDocument& doc_;
  absl::Status bad_value_;
};

// Replaces ${NAME} and ${NAME:-default} in every scalar. The values never appear in errors.
absl::Status expandEnvironment(const rules::YamlDocument& doc, YAML::Node node,
                               const std::string& path, const EnvLookup& env) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      auto st = expandEnvironment(doc, it->second, path.empty() ? key : path + "." + key, env);
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      auto st = expandEnvironment(doc, node[i], path + "[" + std::to_string(i) + "]", env);
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }
  if (!node.IsScalar()) return absl::OkStatus();
  const std::string& in = node.Scalar();
  if (in.find('$') == std::string::npos) return absl::OkStatus();
  std::string out;
  for (size_t i = 0; i < in.size();) {
    if (in.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    size_t end = in.find('}', i + 2);
    if (end == std::string::npos) {
      return doc.error(node, path, "'${' without a closing '}' (write $${ for a literal ${)");
    }
    std::string inner = in.substr(i + 2, end - i - 2);
    std::optional<std::string> fallback;
    if (auto dash = inner.find(":-"); dash != std::string::npos) {
      fallback = inner.substr(dash + 2);
      inner = inner.substr(0, dash);
    }
    bool valid = !inner.empty() && !absl::ascii_isdigit(static_cast<unsigned char>(inner[0]));
    for (char ch : inner) valid = valid && (absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_');
    if (!valid) return doc.error(node, path, "'${" + inner + "}' is not a variable name");
    const char* value = env(inner.c_str());
    if (value == nullptr || (*value == '\0' && fallback)) {
      if (!fallback) {
        return doc.error(node, path, "environment variable " + inner + " is not set");
      }
      out += *fallback;
    } else {
      out += value;
    }
    i = end + 1;
  }
  node = out;
  return absl::OkStatus();
}

// Applies one `-o a.b.c=value`; new nodes carry no position (errors then name the -o).
absl::Status applyOverride(YAML::Node root, const std::string& setting) {
  auto eq = setting.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError("-o " + setting + ": expected KEY=VALUE, e.g. -o workers.count=4");
  }
  std::string key = setting.substr(0, eq);
  std::string value = setting.substr(eq + 1);
  std::vector<std::string> parts = absl::StrSplit(key, '.');
  YAML::Node value_node;
  try {
    value_node = YAML::Load(value);
  } catch (const YAML::Exception&) {
    value_node = YAML::Node(value);
  }
  if (value.empty()) value_node = YAML::Node(std::string());
  // yaml-cpp nodes are handles: walking with a copy and assigning edits the tree in place.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.empty()) return absl::InvalidArgumentError("-o " + key + ": empty key component");
    YAML::Node cur = chain.back();
    bool last = i + 1 == parts.size();
    size_t index = 0;
    if (cur.IsSequence() && absl::SimpleAtoi(p, &index)) {
      if (index >= cur.size()) {
        return absl::InvalidArgumentError(absl::StrCat("-o ", key, ": ", p, " is past the end of a list of ",
                                                       cur.size()));
      }
      if (last) {
        cur[index] = value_node;
      } else {
        chain.push_back(cur[index]);
      }
      continue;
    }
    if (cur.IsDefined() && !cur.IsMap() && !cur.IsNull()) {
      return absl::InvalidArgumentError("-o " + key + ": '" + p + "' is inside a value that is not a mapping");
    }
    if (last) {
      cur[p] = value_node;
    } else {
      chain.push_back(cur[p]);
    }
  }
  return absl::OkStatus();
}

}  // namespace

const TargetGroup* DaemonConfig::group(const std::string& name) const {
  for (const auto& g : groups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

const collectors::snmp::Credential* DaemonConfig::snmpCredential(const std::string& name) const {
  for (const auto& c : snmp_credentials) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool isLoopbackListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = net::asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

namespace {

absl::StatusOr<DaemonConfig> loadConfig(const std::string& path, const ConfigOverrides& overrides,
                                        const EnvLookup& env) {
  std::string text = "{}";
  std::string name = "(defaults)";
  if (!path.empty()) {
    auto read = rules::readUserFile(path, "configuration file");
    if (!read.ok()) return read.status();
    text = *read;
    name = path;
  }
  auto doc = rules::YamlDocument::parse(text, name);
  if (!doc.ok()) return doc.status();
  YAML::Node root = doc->root();
  if (root.IsNull()) {
    return absl::InvalidArgumentError(name + ": the configuration is empty (expected a mapping)");
  }
  if (!root.IsMap()) {
    return doc->error(root, "(top)", "expected a mapping of settings");
  }
  if (auto st = expandEnvironment(*doc, root, "", env); !st.ok()) return st;
  for (const auto& o : overrides.settings) {
    if (auto st = applyOverride(root, o); !st.ok()) return st;
  }
  static const auto* schema = [] {
    auto s = rules::YamlSchema::load(configSchemaJson(), "config.schema.json");
    return s.ok() ? new rules::YamlSchema(*std::move(s)) : nullptr;
  }();
  if (schema == nullptr) return absl::InternalError("the configuration schema does not load");
  if (auto st = schema->validate(*doc); !st.ok()) {
    std::string msg(st.message());
    if (!overrides.settings.empty()) {
      // Is the file fine without the -o settings? Then one of them is at fault; nodes they
      // made have no place in the file, so the message names the settings instead.
      auto plain = rules::YamlDocument::parse(text, name);
      bool file_ok = plain.ok() && plain->root().IsMap() &&
                     expandEnvironment(*plain, plain->root(), "", env).ok() &&
                     schema->validate(*plain).ok();
      if (file_ok) {
        std::string prefix = name + ":";
        if (msg.rfind(prefix, 0) == 0) {
          // Drop "file:line:col: ".
          size_t at = msg.find(": ", prefix.size());
          if (at != std::string::npos) msg = msg.substr(at + 2);
        }
        std::string list;
        for (const auto& o : overrides.settings) list += (list.empty() ? "" : ", ") + o;
        msg = "-o override (" + list + "): " + msg;
      }
    }
    return absl::InvalidArgumentError(msg);
  }
  DaemonConfig c;
  c.source = name;
  c.default_ports = kDefaultTlsPorts;
  Loader loader(*doc);
  absl::Status loaded = loader.load(c);
  if (!loader.badValue().ok()) return loader.badValue();
  if (!loaded.ok()) return loaded;

  if (overrides.data_dir) c.data_dir = *overrides.data_dir;
  if (overrides.database_dsn) c.database.dsn = *overrides.database_dsn;
  if (overrides.grpc_listen) c.grpc.listen = *overrides.grpc_listen;
  if (overrides.metrics_listen) c.metrics.listen = *overrides.metrics_listen;
  for (const auto& [value, flag] : {std::pair{&c.grpc.listen, "--grpc-listen"},
                                    std::pair{&c.metrics.listen, "--metrics-listen"}}) {
    if (value->empty()) continue;
    auto colon = value->rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(value->substr(colon + 1), &port) || port > 65535) {
      return absl::InvalidArgumentError(std::string(flag) + ": '" + *value +
                                        "' is not HOST:PORT (e.g. 127.0.0.1:50051)");
    }
  }
  if (c.data_dir.empty()) c.data_dir = ::geteuid() == 0 ? "/var/lib/tlsaudit" : "";
  // The embedded PostgreSQL takes the directory into its configuration file and into the
  // connection string: a quote, space or backslash there would change what they say.
  if (!std::all_of(c.data_dir.begin(), c.data_dir.end(), [](char ch) {
        return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '/' || ch == '.' ||
               ch == '_' || ch == '-' || ch == '+' || ch == ',' || ch == '@' || ch == ':';
      })) {
    return absl::InvalidArgumentError(
        (overrides.data_dir ? std::string("--data-dir") : name + ": data_dir") + ": '" +
        c.data_dir.substr(0, 200) +
        "' has characters other than letters, digits and / . _ - + , @ :");
  }
  if (c.data_dir.empty() && c.database.dsn.empty()) {
    return absl::InvalidArgumentError(
        "no data directory: set data_dir in the configuration or pass --data-dir (the embedded "
        "PostgreSQL lives there)");
  }
  if (c.instance.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    c.instance = host[0] ? host : "tlsaudit";
  }
  // Without tokens anyone who can connect may start scans: only this machine may connect.
  if (c.grpc.tokens.empty() && !isLoopbackListen(c.grpc.listen)) {
    return absl::InvalidArgumentError(
        name + ": grpc.listen " + c.grpc.listen +
        " is not a loopback address and no grpc.tokens are configured: refusing to serve the API "
        "without authentication (add tokens, or listen on 127.0.0.1)");
  }
  if (!c.grpc.tokens.empty() && !isLoopbackListen(c.grpc.listen) &&
      c.grpc.tls_certificate.empty() && !c.grpc.allow_plaintext) {
    return absl::InvalidArgumentError(
        name + ": grpc.listen " + c.grpc.listen +
        " is not a loopback address and grpc.tls is not set: bearer tokens would cross the "
        "network in clear (add grpc.tls, or grpc.allow_plaintext: true behind a TLS proxy)");
  }
  if (c.metrics.listen == c.grpc.listen && !c.metrics.listen.empty() &&
      c.grpc.listen.substr(c.grpc.listen.rfind(':')) != ":0") {
    return absl::InvalidArgumentError("metrics.listen and grpc.listen are the same address " +
                                      c.grpc.listen);
  }
  // Profiles named by the configuration must exist in the shipped policy plus policy.files.
  auto lib = rules::PolicyLibrary::shipped();
  if (!lib.ok()) return lib.status();
  for (const auto& f : c.policy.files) {
    if (auto st = lib->addFile(f, /*user=*/true); !st.ok()) return st;
  }
  std::vector<std::pair<std::string, std::string>> profiles = {{c.policy.profile, "policy.profile"}};
  for (size_t i = 0; i < c.groups.size(); ++i) {
    if (!c.groups[i].profile.empty()) {
      profiles.emplace_back(c.groups[i].profile, "groups[" + std::to_string(i) + "].profile");
    }
  }
  for (const auto& [profile, field] : profiles) {
    auto compiled = lib->compile({profile});
    if (!compiled.ok()) {
      return absl::InvalidArgumentError(name + ": " + field + ": " +
                                        std::string(compiled.status().message()));
    }
  }
  if (!c.policy.waivers.empty()) {
    auto set = rules::loadWaivers(c.policy.waivers);
    if (!set.ok()) return set.status();
    if (!set->malformed.empty()) {
      std::string msg = c.policy.waivers + ": " + std::to_string(set->malformed.size()) +
                        " malformed waiver(s), nothing applied:";
      for (const auto& p : set->malformed) msg += "\n  " + p.where + ": " + p.message;
      return absl::InvalidArgumentError(msg);
    }
    for (const auto& w : set->waivers) {
      if (!lib->rule(w.rule_id())) {
        return absl::InvalidArgumentError(w.origin() + ": waiver names unknown rule '" +
                                          w.rule_id() + "'");
      }
    }
  }
  return c;
}

}  // namespace

absl::StatusOr<DaemonConfig> loadDaemonConfig(const std::string& path,
                                              const ConfigOverrides& overrides,
                                              const EnvLookup& env) {
  // The loader reads only what the schema admitted; should yaml-cpp still refuse something,
  // that is one error naming the file, never an exception out of the daemon.
  try {
    return loadConfig(path, overrides, env);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError((path.empty() ? std::string("(defaults)") : path) + ": " +
                                      e.what());
  }
}

}  // namespace tlsaudit::scanner
