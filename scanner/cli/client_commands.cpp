#include "scanner/cli/client_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "rules/policy.h"
#include "tlsaudit/v1/api.grpc.pb.h"

namespace tlsaudit::scanner {
namespace {

namespace v1 = tlsaudit::v1;
using google::protobuf::util::TimeUtil;

constexpr const char* kDefaultServer = "127.0.0.1:50051";

struct ClientArgs {
  std::string server;
  std::string token;
  std::string token_file;
  std::string tls_ca;
  bool tls = false;
  std::string format = "table";
  double timeout = 30;
};

void addClientOptions(CLI::App* cmd, ClientArgs& a) {
  cmd->add_option("--server", a.server,
                  "daemon's gRPC address (default $TLSAUDIT_SERVER, else 127.0.0.1:50051)");
  cmd->add_option("--token", a.token, "bearer token (default $TLSAUDIT_TOKEN)");
  cmd->add_option("--token-file", a.token_file, "file holding the bearer token");
  cmd->add_option("--tls-ca", a.tls_ca, "connect with TLS, trusting this CA file (PEM)");
  cmd->add_flag("--tls", a.tls, "connect with TLS, trusting the system roots");
  cmd->add_option("--format", a.format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_option("--timeout", a.timeout, "seconds per call")->capture_default_str();
}

// One connection to the daemon with the caller's token.
class Client {
 public:
  static absl::StatusOr<Client> open(const ClientArgs& a) {
    Client c;
    std::string server = a.server;
    if (server.empty()) {
      const char* env = std::getenv("TLSAUDIT_SERVER");
      server = env != nullptr && *env ? env : kDefaultServer;
    }
    c.token_ = a.token;
    if (c.token_.empty() && !a.token_file.empty()) {
      std::ifstream in(a.token_file);
      if (!in) return absl::InvalidArgumentError("--token-file: cannot read " + a.token_file);
      std::getline(in, c.token_);
      while (!c.token_.empty() && std::isspace(static_cast<unsigned char>(c.token_.back()))) {
        c.token_.pop_back();
      }
    }
    if (c.token_.empty()) {
      const char* env = std::getenv("TLSAUDIT_TOKEN");
      if (env != nullptr) c.token_ = env;
    }
    if (!(a.timeout > 0 && a.timeout <= 3600)) {
      return absl::InvalidArgumentError("--timeout must be between 0 and 3600 seconds");
    }
    c.timeout_ = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (!a.tls_ca.empty() || a.tls) {
      grpc::SslCredentialsOptions o;
      if (!a.tls_ca.empty()) {
        std::ifstream in(a.tls_ca);
        if (!in) return absl::InvalidArgumentError("--tls-ca: cannot read " + a.tls_ca);
        std::ostringstream s;
        s << in.rdbuf();
        o.pem_root_certs = s.str();
      }
      creds = grpc::SslCredentials(o);
    }
    auto channel = grpc::CreateChannel(server, creds);
    c.server_ = server;
    c.scans_ = v1::ScanService::NewStub(channel);
    c.inventory_ = v1::InventoryService::NewStub(channel);
    c.findings_ = v1::FindingService::NewStub(channel);
    c.summary_ = v1::SummaryService::NewStub(channel);
    return c;
  }

  // A context with the token; `deadline` false for streams.
  std::unique_ptr<grpc::ClientContext> context(bool deadline = true) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    if (deadline) ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
    return ctx;
  }

  // "UNAUTHENTICATED: unknown bearer token", or a hint when the daemon is not there.
  std::string describe(const grpc::Status& s) const {
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return "cannot reach the daemon at " + server_ + " (" + s.error_message() +
             "); is `tlsaudit serve` running? (--server)";
    }
    static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                   "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                   "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                   "UNAUTHENTICATED"};
    int code = static_cast<int>(s.error_code());
    std::string name = code >= 0 && code <= 16 ? kNames[code] : std::to_string(code);
    return name + ": " + s.error_message();
  }

  std::unique_ptr<v1::ScanService::Stub> scans_;
  std::unique_ptr<v1::InventoryService::Stub> inventory_;
  std::unique_ptr<v1::FindingService::Stub> findings_;
  std::unique_ptr<v1::SummaryService::Stub> summary_;

 private:
  std::string server_;
  std::string token_;
  std::chrono::milliseconds timeout_{30000};
};

std::string toJson(const google::protobuf::Message& m, bool pretty = true) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  if (!pretty) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
  }
  return out;
}

// Rows printed with each column as wide as its widest cell (the last column is not padded).
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      if (width.size() < r.size()) width.resize(r.size(), 0);
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        out << r[i];
        if (i + 1 < r.size()) out << std::string(width[i] - r[i].size() + 2, ' ');
      }
      out << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string timeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  auto s = TimeUtil::ToString(t);
  // 2026-12-07T10:11:12.123456Z -> 2026-12-07 10:11:12Z
  if (s.size() >= 19) return s.substr(0, 10) + " " + s.substr(11, 8) + "Z";
  return s;
}

std::string severityText(v1::Severity s) {
  return s == v1::SEVERITY_UNSPECIFIED ? "-" : v1::Severity_Name(s);
}

std::string scanStateText(v1::ScanState s) {
  std::string n = v1::ScanState_Name(s);
  return n.rfind("SCAN_", 0) == 0 ? n.substr(5) : n;
}

std::string progressText(const v1::Scan& s) {
  const auto& p = s.progress();
  std::ostringstream o;
  o << p.work_items_done() + p.work_items_failed() + p.work_items_cancelled() << "/"
    << p.work_items() << " items";
  if (p.work_items_running()) o << " (" << p.work_items_running() << " running)";
  if (p.work_items_failed()) o << ", " << p.work_items_failed() << " failed";
  o << ", " << p.hosts() << " hosts, " << p.services() << " TLS services, " << p.findings()
    << " findings";
  return o.str();
}

std::vector<std::string> scanRow(const v1::Scan& s) {
  std::string targets;
  for (int i = 0; i < s.targets_size() && i < 3; ++i) targets += (i ? " " : "") + s.targets(i);
  if (s.targets_size() > 3) targets += " +" + std::to_string(s.targets_size() - 3);
  return {s.id(), scanStateText(s.state()), timeText(s.created()),
          s.group().empty() ? "-" : s.group(), progressText(s),
          targets + (s.error().empty() ? "" : "  (" + s.error() + ")")};
}

const std::vector<std::string> kFindingHeader = {"ID",      "SEVERITY", "STATE",
                                                 "RULE",    "SERVICE",  "EVIDENCE"};

std::vector<std::string> findingRow(const v1::Finding& f) {
  return {f.id(),
          severityText(f.severity()),
          v1::FindingState_Name(f.state()),
          f.rule_id(),
          f.service(),
          f.evidence().empty() ? f.title() : f.evidence()};
}

int fail(const std::string& command, const std::string& msg) {
  std::cerr << "tlsaudit " << command << ": " << msg << "\n";
  return 2;
}

std::optional<v1::Severity> parseSeverity(const std::string& text) {
  auto s = rules::severityFromText(text);
  if (s == v1::SEVERITY_UNSPECIFIED) return std::nullopt;
  return s;
}

// ---- scans ----

struct ScansArgs {
  ClientArgs client;
  std::vector<std::string> targets;
  std::string group;
  std::string ports;
  std::string profile;
  std::string name;
  std::string site;
  std::vector<std::string> exclude;
  bool wait = false;
  std::string id;
  std::vector<std::string> states;
  int limit = 20;
};

// Streams a scan's progress until it ends; the final scan in `last`.
int watchScan(Client& c, const std::string& id, const ClientArgs& a, v1::Scan& last,
              bool print_each) {
  auto ctx = c.context(false);
  v1::WatchScanRequest req;
  req.set_id(id);
  auto reader = c.scans_->WatchScan(ctx.get(), req);
  v1::Scan s;
  while (reader->Read(&s)) {
    last = s;
    if (!print_each) continue;
    if (a.format == "json") {
      std::cout << toJson(s, false) << "\n";
    } else {
      std::cout << "scan " << s.id() << " " << scanStateText(s.state()) << ": " << progressText(s)
                << "\n";
    }
    std::cout.flush();
  }
  auto st = reader->Finish();
  if (!st.ok()) return fail("scans watch", c.describe(st));
  return 0;
}

int runScansStart(const ScansArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("scans start", std::string(c.status().message()));
  v1::StartScanRequest req;
  for (const auto& t : a.targets) req.add_targets(t);
  req.set_group(a.group);
  req.set_profile(a.profile);
  req.set_name(a.name);
  req.set_site(a.site);
  for (const auto& e : a.exclude) req.add_exclude(e);
  if (!a.ports.empty()) {
    std::stringstream in(a.ports);
    std::string item;
    while (std::getline(in, item, ',')) {
      char* end = nullptr;
      long p = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || p < 1 || p > 65535) {
        return fail("scans start", "--ports: '" + item + "' is not a port");
      }
      req.add_ports(static_cast<uint32_t>(p));
    }
  }
  v1::Scan scan;
  auto ctx = c->context();
  auto st = c->scans_->StartScan(ctx.get(), req, &scan);
  if (!st.ok()) return fail("scans start", c->describe(st));
  if (!a.wait) {
    if (a.client.format == "json") {
      std::cout << toJson(scan) << "\n";
    } else {
      std::cout << "scan " << scan.id() << " started: " << scan.progress().work_items()
                << " work item(s), profile " << scan.profile() << "\n";
    }
    return 0;
  }
  if (a.client.format != "json") {
    std::cout << "scan " << scan.id() << " started: " << scan.progress().work_items()
              << " work item(s), profile " << scan.profile() << "; waiting\n";
  }
  v1::Scan last = scan;
  int rc = watchScan(*c, scan.id(), a.client, last, a.client.format != "json");
  if (rc != 0) return rc;
  if (a.client.format == "json") std::cout << toJson(last) << "\n";
  return last.state() == v1::SCAN_DONE ? 0 : 1;
}

int runScansList(const ScansArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("scans list", std::string(c.status().message()));
  v1::ListScansRequest req;
  req.set_page_size(a.limit);
  req.set_group(a.group);
  for (const auto& s : a.states) {
    v1::ScanState st;
    std::string upper;
    for (char ch : s) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!v1::ScanState_Parse("SCAN_" + upper, &st)) {
      return fail("scans list", "--state '" + s + "' is not pending, running, done, cancelled or failed");
    }
    req.add_states(st);
  }
  v1::ListScansResponse resp;
  auto ctx = c->context();
  auto st = c->scans_->ListScans(ctx.get(), req, &resp);
  if (!st.ok()) return fail("scans list", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(resp) << "\n";
    return 0;
  }
  Table t({"SCAN", "STATE", "CREATED", "GROUP", "PROGRESS", "TARGETS"});
  for (const auto& s : resp.scans()) t.add(scanRow(s));
  t.print(std::cout);
  return 0;
}

int runScansStatus(const ScansArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("scans status", std::string(c.status().message()));
  v1::GetScanRequest req;
  req.set_id(a.id);
  v1::Scan scan;
  auto ctx = c->context();
  auto st = c->scans_->GetScan(ctx.get(), req, &scan);
  if (!st.ok()) return fail("scans status", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(scan) << "\n";
    return 0;
  }
  std::cout << "scan " << scan.id() << (scan.name().empty() ? "" : " (" + scan.name() + ")")
            << ": " << scanStateText(scan.state()) << "\n"
            << "  targets:  ";
  for (const auto& t : scan.targets()) std::cout << t << " ";
  std::cout << "\n  profile:  " << scan.profile() << "\n  progress: " << progressText(scan)
            << "\n  created:  " << timeText(scan.created()) << " by "
            << (scan.requested_by().empty() ? "-" : scan.requested_by())
            << "\n  started:  " << timeText(scan.started())
            << "\n  finished: " << timeText(scan.finished()) << "\n";
  if (!scan.error().empty()) std::cout << "  error:    " << scan.error() << "\n";
  return 0;
}

int runScansWatch(const ScansArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("scans watch", std::string(c.status().message()));
  v1::Scan last;
  return watchScan(*c, a.id, a.client, last, true);
}

int runScansCancel(const ScansArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("scans cancel", std::string(c.status().message()));
  v1::CancelScanRequest req;
  req.set_id(a.id);
  v1::Scan scan;
  auto ctx = c->context();
  auto st = c->scans_->CancelScan(ctx.get(), req, &scan);
  if (!st.ok()) return fail("scans cancel", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(scan) << "\n";
  } else {
    std::cout << "scan " << scan.id() << ": " << scanStateText(scan.state()) << "\n";
  }
  return 0;
}

// ---- findings ----

struct FindingsArgs {
  ClientArgs client;
  std::vector<std::string> severities;
  std::string min_severity;
  std::vector<std::string> rules;
  std::vector<std::string> states;
  std::string address;
  std::string vendor;
  std::string model;
  std::string profile;
  std::string since;
  std::string scan;
  int limit = 100;
  bool all = false;
  std::vector<std::string> kinds;
  std::string after;
};

absl::Status buildFilter(const FindingsArgs& a, v1::FindingFilter& f) {
  for (const auto& s : a.severities) {
    auto v = parseSeverity(s);
    if (!v) return absl::InvalidArgumentError("--severity '" + s + "' is not info, low, medium, high or critical");
    f.add_severities(*v);
  }
  if (!a.min_severity.empty()) {
    auto v = parseSeverity(a.min_severity);
    if (!v) {
      return absl::InvalidArgumentError("--min-severity '" + a.min_severity +
                                        "' is not info, low, medium, high or critical");
    }
    f.set_min_severity(*v);
  }
  for (const auto& r : a.rules) f.add_rule_ids(r);
  for (const auto& s : a.states) {
    std::string upper;
    for (char ch : s) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    v1::FindingState st;
    if (!v1::FindingState_Parse(upper, &st) || st == v1::FINDING_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError("--state '" + s + "' is not open, resolved or waived");
    }
    f.add_states(st);
  }
  f.set_address(a.address);
  f.set_vendor(a.vendor);
  f.set_model(a.model);
  f.set_profile(a.profile);
  f.set_scan_id(a.scan);
  if (!a.since.empty()) {
    google::protobuf::Timestamp t;
    std::string text = a.since;
    if (text.size() == 10) text += "T00:00:00Z";
    if (!TimeUtil::FromString(text, &t)) {
      return absl::InvalidArgumentError("--since '" + a.since +
                                        "' is not a date (2026-12-01) or RFC 3339 time");
    }
    *f.mutable_since() = t;
  }
  return absl::OkStatus();
}

int runFindingsList(const FindingsArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("findings list", std::string(c.status().message()));
  v1::ListFindingsRequest req;
  if (auto st = buildFilter(a, *req.mutable_filter()); !st.ok()) {
    return fail("findings list", std::string(st.message()));
  }
  req.set_page_size(std::min(a.limit, 1000));
  v1::FindingPage all;
  for (int pages = 0; pages < 100000; ++pages) {
    v1::FindingPage page;
    auto ctx = c->context();
    auto st = c->findings_->ListFindings(ctx.get(), req, &page);
    if (!st.ok()) return fail("findings list", c->describe(st));
    for (auto& f : *page.mutable_findings()) *all.add_findings() = std::move(f);
    all.set_next_page_token(page.next_page_token());
    if (!a.all || page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  if (a.client.format == "json") {
    std::cout << toJson(all) << "\n";
    return 0;
  }
  Table t(kFindingHeader);
  for (const auto& f : all.findings()) t.add(findingRow(f));
  t.print(std::cout);
  std::cout << all.findings_size() << " finding(s)"
            << (all.next_page_token().empty() ? "" : "; more with --all") << "\n";
  return 0;
}

int runFindingsWatch(const FindingsArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("findings watch", std::string(c.status().message()));
  v1::WatchFindingsRequest req;
  req.set_after(a.after);
  for (const auto& k : a.kinds) req.add_kinds(k);
  for (const auto& r : a.rules) req.add_rule_ids(r);
  if (!a.min_severity.empty()) {
    auto v = parseSeverity(a.min_severity);
    if (!v) return fail("findings watch", "--min-severity '" + a.min_severity + "' is not a severity");
    req.set_min_severity(*v);
  }
  auto ctx = c->context(false);
  auto reader = c->findings_->WatchFindings(ctx.get(), req);
  v1::FindingChange change;
  while (reader->Read(&change)) {
    if (a.client.format == "json") {
      std::cout << toJson(change, false) << "\n";
    } else {
      const auto& f = change.finding();
      std::cout << timeText(change.at()) << " " << std::left << std::setw(9) << change.kind()
                << " " << std::setw(8) << severityText(f.severity()) << " " << std::setw(24)
                << f.rule_id() << " " << std::setw(22) << f.service() << " "
                << (f.evidence().empty() ? f.title() : f.evidence()) << "\n";
    }
    std::cout.flush();
  }
  auto st = reader->Finish();
  if (!st.ok()) return fail("findings watch", c->describe(st));
  return 0;
}

// ---- waivers ----

struct WaiversArgs {
  ClientArgs client;
  std::string id;
  std::string rule;
  std::string address;
  std::string cidr;
  std::string vendor;
  std::string model;
  uint32_t port = 0;
  std::string reason;
  std::string owner;
  std::string expires;
};

std::string selectorText(const v1::AssetSelector& s) {
  std::vector<std::string> parts;
  if (!s.address().empty()) parts.push_back("address " + s.address());
  if (!s.cidr().empty()) parts.push_back("cidr " + s.cidr());
  if (!s.vendor().empty()) parts.push_back("vendor " + s.vendor());
  if (!s.model().empty()) parts.push_back("model " + s.model());
  if (s.port() != 0) parts.push_back("port " + std::to_string(s.port()));
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

int runWaiversList(const WaiversArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("waivers list", std::string(c.status().message()));
  v1::ListWaiversResponse out;
  auto ctx = c->context();
  auto st = c->findings_->ListWaivers(ctx.get(), v1::ListWaiversRequest(), &out);
  if (!st.ok()) return fail("waivers list", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(out) << "\n";
    return 0;
  }
  Table t({"ID", "RULE", "ASSETS", "EXPIRES", "OWNER", "ORIGIN", "REASON"});
  for (const auto& w : out.waivers()) {
    t.add({w.id(), w.rule_id(), selectorText(w.selector()), timeText(w.expires()),
           w.owner().empty() ? "-" : w.owner(), w.origin(), w.reason()});
  }
  t.print(std::cout);
  std::cout << out.waivers_size() << " waiver(s)\n";
  return 0;
}

int runWaiversAdd(const WaiversArgs& a) {
  v1::CreateWaiverRequest req;
  v1::Waiver* w = req.mutable_waiver();
  w->set_id(a.id);
  w->set_rule_id(a.rule);
  w->mutable_selector()->set_address(a.address);
  w->mutable_selector()->set_cidr(a.cidr);
  w->mutable_selector()->set_vendor(a.vendor);
  w->mutable_selector()->set_model(a.model);
  w->mutable_selector()->set_port(a.port);
  w->set_reason(a.reason);
  w->set_owner(a.owner);
  // A date alone lasts through that day (UTC), as in waiver files.
  google::protobuf::Timestamp t;
  bool date_only = a.expires.size() == 10;
  if (!TimeUtil::FromString(date_only ? a.expires + "T00:00:00Z" : a.expires, &t)) {
    return fail("waivers add",
                "--expires '" + a.expires + "' is not a date (2027-03-31) or RFC 3339 time");
  }
  if (date_only) t.set_seconds(t.seconds() + 86400);
  *w->mutable_expires() = t;
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("waivers add", std::string(c.status().message()));
  v1::Waiver out;
  auto ctx = c->context();
  auto st = c->findings_->CreateWaiver(ctx.get(), req, &out);
  if (!st.ok()) return fail("waivers add", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(out) << "\n";
  } else {
    std::cout << "waiver " << out.id() << ": " << out.rule_id() << " on "
              << selectorText(out.selector()) << " until " << timeText(out.expires()) << "\n";
  }
  return 0;
}

int runWaiversDelete(const WaiversArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("waivers delete", std::string(c.status().message()));
  v1::DeleteWaiverRequest req;
  req.set_id(a.id);
  v1::DeleteWaiverResponse out;
  auto ctx = c->context();
  auto st = c->findings_->DeleteWaiver(ctx.get(), req, &out);
  if (!st.ok()) return fail("waivers delete", c->describe(st));
  if (a.client.format != "json") std::cout << "waiver " << a.id << " deleted\n";
  return 0;
}

// ---- assets, summary ----

struct AssetsArgs {
  ClientArgs client;
  std::string address;
  std::string vendor;
  std::string model;
  int limit = 100;
};

int runAssetsList(const AssetsArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("assets list", std::string(c.status().message()));
  v1::ListAssetsRequest req;
  req.mutable_filter()->set_address(a.address);
  req.mutable_filter()->set_vendor(a.vendor);
  req.mutable_filter()->set_model(a.model);
  req.set_page_size(std::min(a.limit, 1000));
  v1::AssetPage page;
  auto ctx = c->context();
  auto st = c->inventory_->ListAssets(ctx.get(), req, &page);
  if (!st.ok()) return fail("assets list", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(page) << "\n";
    return 0;
  }
  Table t({"ADDRESS", "VENDOR", "MODEL", "FIRMWARE", "CLASS", "SERVICES", "LAST SEEN"});
  for (const auto& asset : page.assets()) {
    std::string services;
    for (const auto& s : asset.services()) {
      services += (services.empty() ? "" : ",") + std::to_string(s.port()) + (s.tls() ? "/tls" : "");
    }
    std::string cls = asset.device_class() == v1::DEVICE_CLASS_UNSPECIFIED
                          ? "-"
                          : v1::DeviceClass_Name(asset.device_class());
    auto dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
    t.add({asset.addresses_size() ? asset.addresses(0) : "?", dash(asset.vendor()),
           dash(asset.model()), dash(asset.firmware()), cls, dash(services),
           timeText(asset.last_seen())});
  }
  t.print(std::cout);
  return 0;
}

struct SummaryArgs {
  ClientArgs client;
  std::vector<std::string> diff;
};

void printCounts(const char* title, const google::protobuf::RepeatedPtrField<v1::CountEntry>& e) {
  if (e.empty()) return;
  std::cout << title << "\n";
  Table t({"  KEY", "COUNT", "ASSETS"});
  for (const auto& c : e) {
    t.add({"  " + (c.key() == "/" ? std::string("(unidentified)") : c.key()),
           std::to_string(c.count()), std::to_string(c.assets())});
  }
  t.print(std::cout);
}

int runSummary(const SummaryArgs& a) {
  auto c = Client::open(a.client);
  if (!c.ok()) return fail("summary", std::string(c.status().message()));
  if (!a.diff.empty()) {
    if (a.diff.size() != 2) return fail("summary", "--diff takes two scan ids: FROM TO");
    v1::DiffScansRequest req;
    req.set_from_scan_id(a.diff[0]);
    req.set_to_scan_id(a.diff[1]);
    v1::ScanDiff diff;
    auto ctx = c->context();
    auto st = c->summary_->DiffScans(ctx.get(), req, &diff);
    if (!st.ok()) return fail("summary", c->describe(st));
    if (a.client.format == "json") {
      std::cout << toJson(diff) << "\n";
      return 0;
    }
    std::cout << "scan " << diff.from_scan_id() << " -> " << diff.to_scan_id() << ": "
              << diff.new_findings_size() << " new, " << diff.resolved_findings_size()
              << " resolved, " << diff.persisting_findings_size() << " persisting\n";
    for (const auto& [label, list] :
         {std::pair{"new", &diff.new_findings()}, std::pair{"resolved", &diff.resolved_findings()}}) {
      if (list->empty()) continue;
      std::cout << label << ":\n";
      Table t(kFindingHeader);
      for (const auto& f : *list) t.add(findingRow(f));
      t.print(std::cout);
    }
    return 0;
  }
  v1::FleetSummary s;
  auto ctx = c->context();
  auto st = c->summary_->GetSummary(ctx.get(), v1::GetSummaryRequest(), &s);
  if (!st.ok()) return fail("summary", c->describe(st));
  if (a.client.format == "json") {
    std::cout << toJson(s) << "\n";
    return 0;
  }
  std::cout << s.assets() << " assets, " << s.services() << " TLS services, " << s.open_findings()
            << " open findings\n";
  printCounts("services accepting each version:", s.versions());
  printCounts("services by leaf signature hash:", s.signature_hashes());
  printCounts("open findings by rule:", s.rules());
  printCounts("assets by vendor/model:", s.vendor_models());
  printCounts("assets still accepting SSLv2..TLS 1.1, by vendor/model:",
              s.legacy_tls_by_vendor_model());
  return 0;
}

}  // namespace

void addClientCommands(CLI::App& app, int& exit_code) {
  auto* scans = app.add_subcommand("scans", "Start, list, follow and cancel scans on the daemon");
  scans->require_subcommand(1);
  {
    auto a = std::make_shared<ScansArgs>();
    auto* cmd = scans->add_subcommand("start", "Start a scan of targets or of a configured group");
    cmd->add_option("targets", a->targets, "address, CIDR, range, host or host:port");
    cmd->add_option("--group", a->group, "a target group of the daemon's configuration");
    cmd->add_option("--ports", a->ports, "ports for targets without one, e.g. 443,8443");
    cmd->add_option("--profile", a->profile, "compliance profile (default: the group's or baseline)");
    cmd->add_option("--name", a->name, "a name shown in lists");
    cmd->add_option("--site", a->site, "site label stored on the assets found");
    cmd->add_option("--exclude", a->exclude, "addresses, blocks or ranges never to probe");
    cmd->add_flag("--wait", a->wait, "follow the scan until it ends (exit 1 unless DONE)");
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runScansStart(*a); });
  }
  {
    auto a = std::make_shared<ScansArgs>();
    auto* cmd = scans->add_subcommand("list", "Scans, newest first");
    cmd->add_option("--state", a->states, "pending, running, done, cancelled, failed (repeatable)");
    cmd->add_option("--group", a->group, "only this target group's scans");
    cmd->add_option("--limit", a->limit, "how many")->capture_default_str()->check(CLI::Range(1, 1000));
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runScansList(*a); });
  }
  {
    auto a = std::make_shared<ScansArgs>();
    auto* cmd = scans->add_subcommand("status", "One scan's state and progress");
    cmd->add_option("id", a->id, "scan id")->required();
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runScansStatus(*a); });
  }
  {
    auto a = std::make_shared<ScansArgs>();
    auto* cmd = scans->add_subcommand("watch", "Follow a scan's progress until it ends");
    cmd->add_option("id", a->id, "scan id")->required();
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runScansWatch(*a); });
  }
  {
    auto a = std::make_shared<ScansArgs>();
    auto* cmd = scans->add_subcommand("cancel", "Cancel a pending or running scan");
    cmd->add_option("id", a->id, "scan id")->required();
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runScansCancel(*a); });
  }

  auto* findings = app.add_subcommand("findings", "List or follow findings stored by the daemon");
  findings->require_subcommand(1);
  {
    auto a = std::make_shared<FindingsArgs>();
    auto* cmd = findings->add_subcommand("list", "Findings, newest first (or by address)");
    cmd->add_option("--severity", a->severities, "info, low, medium, high, critical (repeatable)");
    cmd->add_option("--min-severity", a->min_severity, "at or above this severity");
    cmd->add_option("--rule", a->rules, "rule id (repeatable)");
    cmd->add_option("--state", a->states, "open, resolved, waived (repeatable)");
    cmd->add_option("--address", a->address, "an address or CIDR block");
    cmd->add_option("--vendor", a->vendor, "device vendor");
    cmd->add_option("--model", a->model, "device model");
    cmd->add_option("--profile", a->profile, "profiles that demand the rule contain this one");
    cmd->add_option("--since", a->since, "last seen at or after (2026-12-01 or RFC 3339)");
    cmd->add_option("--scan", a->scan, "last seen in this scan");
    cmd->add_option("--limit", a->limit, "page size")->capture_default_str()->check(CLI::Range(1, 1000));
    cmd->add_flag("--all", a->all, "every page");
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runFindingsList(*a); });
  }
  {
    auto a = std::make_shared<FindingsArgs>();
    auto* cmd = findings->add_subcommand(
        "watch", "Print findings as they are opened, resolved or reopened (until interrupted)");
    cmd->add_option("--kind", a->kinds, "opened, reopened, resolved, waived, unwaived (repeatable)");
    cmd->add_option("--min-severity", a->min_severity, "at or above this severity");
    cmd->add_option("--rule", a->rules, "rule id (repeatable)");
    cmd->add_option("--after", a->after, "replay changes after this event id");
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runFindingsWatch(*a); });
  }

  auto* waivers = app.add_subcommand(
      "waivers", "Accepted risks on the daemon: a rule on some assets until a date");
  waivers->require_subcommand(1);
  {
    auto a = std::make_shared<WaiversArgs>();
    auto* cmd = waivers->add_subcommand("list", "Waivers, from the API and from the waivers file");
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runWaiversList(*a); });
  }
  {
    auto a = std::make_shared<WaiversArgs>();
    auto* cmd = waivers->add_subcommand(
        "add", "Waive a rule on assets until a date; their findings are WAIVED at once");
    cmd->add_option("--rule", a->rule, "rule id")->required();
    cmd->add_option("--address", a->address, "one address");
    cmd->add_option("--cidr", a->cidr, "a CIDR block");
    cmd->add_option("--vendor", a->vendor, "device vendor (case-insensitive)");
    cmd->add_option("--model", a->model, "device model (case-insensitive)");
    cmd->add_option("--port", a->port, "only this port")->check(CLI::Range(1, 65535));
    cmd->add_option("--reason", a->reason, "why the risk is accepted")->required();
    cmd->add_option("--owner", a->owner, "who answers for it");
    cmd->add_option("--expires", a->expires, "2027-03-31 (through that day, UTC) or RFC 3339 time")
        ->required();
    cmd->add_option("--id", a->id, "replace the API waiver with this id (default: a new one)");
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runWaiversAdd(*a); });
  }
  {
    auto a = std::make_shared<WaiversArgs>();
    auto* cmd = waivers->add_subcommand(
        "delete", "Delete an API waiver; what it covered is OPEN again at once");
    cmd->add_option("id", a->id, "waiver id")->required();
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runWaiversDelete(*a); });
  }

  auto* assets = app.add_subcommand("assets", "Devices the daemon found");
  assets->require_subcommand(1);
  {
    auto a = std::make_shared<AssetsArgs>();
    auto* cmd = assets->add_subcommand("list", "Assets with their TLS services");
    cmd->add_option("--address", a->address, "an address or CIDR block");
    cmd->add_option("--vendor", a->vendor, "device vendor");
    cmd->add_option("--model", a->model, "device model");
    cmd->add_option("--limit", a->limit, "how many")->capture_default_str()->check(CLI::Range(1, 1000));
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runAssetsList(*a); });
  }
  {
    auto a = std::make_shared<SummaryArgs>();
    auto* cmd = app.add_subcommand("summary", "Fleet posture: versions, hashes, rules, vendors");
    cmd->add_option("--diff", a->diff, "FROM TO: findings new, resolved and persisting between scans")
        ->expected(2);
    addClientOptions(cmd, a->client);
    cmd->callback([a, &exit_code] { exit_code = runSummary(*a); });
  }
}

}  // namespace tlsaudit::scanner
