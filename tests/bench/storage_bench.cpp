// Storage benchmark (not part of ctest's unit/integration runs): ingest throughput of realistic
// service observations and finding-list latency over a million findings, against the database
// given by --database (tests/bench/run_storage.sh starts a private cluster for it).
//
//   tlsaudit_storage_bench --database DSN [--observations 100000] [--writers 3] [--batch 200]
//                          [--via-writer] [--scans 1] [--findings 1000000] [--queries 2000]
//
// --batch N: host results per PgFindingStore::ingestBatch call (1: PgFindingStore::ingest, one
// host per transaction). --via-writer: the daemon's path instead of --writers threads: every
// result is enqueued to one HostResultWriter (one writer thread, batches of --batch). --scans N:
// N scans of the same hosts one after the other, figures for each (the later ones update).
#include <google/protobuf/util/time_util.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "storage/host_result_writer.h"
#include "storage/ingest_rows.h"
#include "storage/migrator.h"
#include "storage/pg_connection.h"
#include "storage/pg_finding_store.h"
#include "storage/pg_scan_queue.h"

namespace v1 = tlsaudit::v1;
namespace st = tlsaudit::storage;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string dsn;
  int observations = 100000;
  int writers = 3;  // two cores: a third keeps them busy while a client encodes
  int findings = 1000000;
  int queries = 2000;
  int batch = 200;
  bool via_writer = false;
  int scans = 1;              // ingest passes over the same hosts
  bool queries_only = false;  // the database was filled by an earlier run (TLSAUDIT_BENCH_KEEP)
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
  std::exit(2);
}

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof(b), "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// A certificate of realistic size (about 1.1 KB of DER), identified by `seed`.
void fillCert(v1::Certificate* c, uint64_t seed, const std::string& subject,
              const std::string& issuer, const std::string& hash, bool ca) {
  std::mt19937_64 rng(seed);
  std::string der(1100 + seed % 300, '\0');
  for (auto& ch : der) ch = static_cast<char>(rng());
  std::string sha;
  for (int i = 0; i < 4; ++i) sha += hex64(rng());
  c->set_sha256(sha);
  c->set_sha1(sha.substr(0, 40));
  c->set_der(der);
  c->set_subject(subject);
  c->set_issuer(issuer);
  c->set_common_name(subject.substr(3));
  c->set_serial(hex64(seed));
  c->mutable_not_before()->set_seconds(1500000000 + static_cast<int64_t>(seed % 100000000));
  c->mutable_not_after()->set_seconds(2000000000 + static_cast<int64_t>(seed % 100000000));
  c->set_signature_algorithm(hash == "MD5"    ? "md5WithRSAEncryption"
                             : hash == "SHA1" ? "sha1WithRSAEncryption"
                                              : "sha256WithRSAEncryption");
  c->set_signature_hash(hash);
  c->set_key_type("RSA");
  c->set_key_bits(2048);
  c->add_subject_alt_names("DNS:" + subject.substr(3));
  c->add_subject_alt_names("IP:10.0.0.1");
  c->set_is_ca(ca);
  c->set_version(3);
  c->set_source(v1::CERTIFICATE_SOURCE_PRESENTED);
}

const char* kSuites[] = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                         "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                         "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                         "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
                         "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                         "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                         "TLS_RSA_WITH_AES_128_GCM_SHA256",
                         "TLS_RSA_WITH_AES_256_GCM_SHA384",
                         "TLS_RSA_WITH_AES_128_CBC_SHA",
                         "TLS_RSA_WITH_AES_256_CBC_SHA",
                         "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                         "TLS_RSA_WITH_RC4_128_SHA"};
const char* kVendors[][2] = {{"Yealink", "T46G"},    {"Yealink", "T54W"},
                             {"Polycom", "VVX 411"}, {"Cisco", "CP-8841"},
                             {"AudioCodes", "M500"}, {"Grandstream", "GXP2170"},
                             {"Dell", "R640"},       {"HP", "M404"}};
const char* kRules[] = {"tls10-enabled", "tls11-enabled", "md5-signature", "sha1-signature",
                        "rsa-kx-only",   "3des-suite",    "rc4-suite",     "no-fallback-scsv",
                        "weak-dh",       "expired-cert",  "self-signed",   "client-auth-md5"};
const char* kProfiles[] = {"baseline", "pci-dss-4.0", "nist-800-52r2", "mozilla-intermediate",
                           "bsi-tr-02102-2"};

// The host result of host `i` in scan number `pass` (a day after the one before): 1 to 3 TLS
// services; 30% of services present one of 200 shared
// vendor default leaves, the others a leaf of their own; all chain to 4 intermediates.
v1::HostResult makeHost(const std::string& scan, int i, int services, int pass) {
  std::mt19937 rng(i);
  v1::HostResult h;
  h.set_scan_id(scan);
  std::string ip = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) +
                   "." + std::to_string(i & 255);
  auto* a = h.mutable_asset();
  a->add_addresses(ip);
  const auto* vm = kVendors[i % 8];
  a->set_vendor(vm[0]);
  a->set_model(vm[1]);
  a->set_firmware("1." + std::to_string(i % 30) + ".4");
  a->set_mac("00:15:65:" + hex64(i).substr(10, 2) + ":" + hex64(i).substr(12, 2) + ":" +
             hex64(i).substr(14, 2));
  a->set_device_class(i % 8 < 4 ? v1::PHONE : v1::GATEWAY);
  a->set_hostname("dev-" + std::to_string(i));
  const uint32_t ports[] = {443, 5061, 8443};
  for (int s = 0; s < services; ++s) {
    auto* sr = h.add_services();
    sr->mutable_service()->set_port(ports[s]);
    sr->mutable_service()->set_protocol(s == 1 ? "sip" : "https");
    sr->set_complete(true);
    auto* r = sr->mutable_report();
    r->mutable_target()->set_host(ip);
    r->mutable_target()->set_ip(ip);
    r->mutable_target()->set_port(ports[s]);
    r->set_reachable(true);
    r->set_tls(true);
    bool legacy = rng() % 3 == 0;
    for (auto v : {v1::SSL3, v1::TLS1_0, v1::TLS1_1, v1::TLS1_2, v1::TLS1_3}) {
      auto* vr = r->add_versions();
      vr->set_version(v);
      bool supported = v == v1::TLS1_2 || (legacy && (v == v1::TLS1_0 || v == v1::TLS1_1)) ||
                       (!legacy && v == v1::TLS1_3);
      vr->set_supported(supported);
      if (!supported) continue;
      vr->set_cipher_order(v1::CIPHER_ORDER_SERVER);
      vr->set_server_preference(true);
      int n = v == v1::TLS1_3 ? 3 : 8 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n; ++k) {
        auto* cs = vr->add_cipher_suites();
        cs->set_code(0xc02f + k);
        cs->set_name(kSuites[k]);
        cs->set_kx(k < 6 ? "ECDHE" : "RSA");
        cs->set_auth("RSA");
        cs->set_cipher(k == 10 ? "3DES_EDE_CBC" : "AES_128_GCM");
        cs->set_mac(k < 3 ? "AEAD" : "SHA");
        cs->set_bits(k == 10 ? 112 : 128);
        cs->set_forward_secret(k < 6);
        if (k < 6) {
          cs->set_kx_group("secp256r1");
          cs->set_kx_bits(256);
        }
      }
      if (v == v1::TLS1_2 && s == 1) {
        auto* ca = vr->mutable_client_auth();
        ca->set_version(v);
        ca->set_requested(true);
        ca->add_signature_algorithms("rsa_pkcs1_sha256");
        ca->add_signature_algorithms("rsa_pkcs1_sha1");
        ca->add_signature_algorithms("rsa_pkcs1_md5");
        ca->add_ca_names("CN=Vendor Device Root,O=Vendor");
        ca->add_certificate_types("rsa_sign");
      }
    }
    r->add_groups()->set_name("secp256r1");
    r->add_groups()->set_name("x25519");
    auto* chain = r->add_chains();
    bool shared = rng() % 10 < 3;
    uint64_t leaf_seed = shared ? 1000000 + rng() % 200 : 10000000ull + i * 4 + s;
    int inter = i % 4;
    std::string inter_name = "CN=Vendor Intermediate " + std::to_string(inter);
    fillCert(chain->add_certificates(), leaf_seed, "CN=device-" + std::to_string(leaf_seed),
             inter_name,
             inter == 0   ? "MD5"
             : inter == 1 ? "SHA1"
                          : "SHA256",
             false);
    fillCert(chain->add_certificates(), 500 + inter, inter_name, "CN=Vendor Root", "SHA256", true);
    chain->set_key_type("RSA");
    chain->set_validation_error("unable to get local issuer certificate");
    chain->add_versions(v1::TLS1_2);
    r->mutable_extensions()->set_secure_renegotiation(true);
    r->mutable_extensions()->set_fallback_scsv(legacy ? v1::SUPPORT_NO : v1::SUPPORT_YES);
    r->mutable_extensions()->set_session_ticket(true);
    r->mutable_extensions()->set_extended_master_secret(!legacy);
    r->set_duration_ms(800 + rng() % 4000);
    r->set_connections(20 + rng() % 40);
    *r->mutable_scanned_at() =
        google::protobuf::util::TimeUtil::SecondsToTimestamp(1700000000 + pass * 86400);
    // Three findings per service, as a baseline policy gives a legacy device.
    for (int k = 0; k < 3; ++k) {
      auto* f = sr->add_findings();
      f->set_rule_id(kRules[(i + s + k * 5) % 12]);
      f->set_severity(static_cast<v1::Severity>(1 + (i + k) % 5));
      f->set_title("Rule " + f->rule_id() + " violated");
      f->set_evidence("leaf CN=device signed md5WithRSAEncryption by " + inter_name);
      f->add_profiles(kProfiles[k % 5]);
      f->add_profiles("baseline");
      f->add_references("PCI DSS 4.0 4.2.1");
    }
  }
  return h;
}

// CPU seconds (user + system) the PostgreSQL server has used: its postmaster, the postmaster's
// live children and those it has reaped (cutime/cstime), read from /proc (proc(5)); -1 when the
// server is not on this machine. Backends that served a connection and exited count too.
double serverCpuSeconds(const std::string& data_dir) {
  std::ifstream pid_file(data_dir + "/postmaster.pid");
  long postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0) return -1;
  auto stat = [](long pid, bool with_children, long* parent) -> double {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                               std::istream_iterator<std::string>());
    if (f.size() < 15) return -1;
    // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    if (parent != nullptr) *parent = std::stol(f[1]);
    double ticks = std::stod(f[11]) + std::stod(f[12]);
    if (with_children) ticks += std::stod(f[13]) + std::stod(f[14]);
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  };
  double total = stat(postmaster, true, nullptr);
  if (total < 0) return -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    long parent = 0;
    double cpu = stat(std::stol(name), false, &parent);
    if (cpu >= 0 && parent == postmaster) total += cpu;
  }
  return total;
}

// Which of the server's processes used the CPU while ingest ran (backends, autovacuum workers,
// the WAL writer...): every 100 ms, each child of the postmaster
// (/proc/<pid>/task/<pid>/children) with its title (/proc/<pid>/cmdline) and CPU time. A process
// that lives between two samples is missed here; serverCpuSeconds() counts it. The sampling
// thread's own CPU time is kept apart (ownCpuSeconds), so the client's figure leaves it out.
class ServerCpuSampler {
 public:
  explicit ServerCpuSampler(const std::string& data_dir) {
    std::ifstream pid_file(data_dir + "/postmaster.pid");
    if (!(pid_file >> postmaster_) || postmaster_ <= 0) return;
    sample(true);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        sample(false);
      }
      rusage u{};
      getrusage(RUSAGE_THREAD, &u);
      own_cpu_ =
          u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    });
  }
  // Stops sampling (after a last sample); CPU seconds per kind of process.
  std::map<std::string, double> stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      sample(false);
    }
    std::map<std::string, double> out;
    for (const auto& [pid, p] : processes_) out[p.kind] += p.last - p.first;
    return out;
  }
  // CPU seconds the sampling thread used (after stop()).
  double ownCpuSeconds() const { return own_cpu_; }

 private:
  struct Process {
    std::string kind;
    double first = 0;  // CPU when first seen at the start; 0 when it started later
    double last = 0;
  };
  void sample(bool at_start) {
    std::ifstream children(absl::StrFormat("/proc/%d/task/%d/children", postmaster_, postmaster_));
    for (std::string name; children >> name;) {
      std::ifstream stat_file("/proc/" + name + "/stat");
      std::string text((std::istreambuf_iterator<char>(stat_file)),
                       std::istreambuf_iterator<char>());
      size_t close = text.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream fields(text.substr(close + 2));
      std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                                 std::istream_iterator<std::string>());
      // After the command: state(0) ppid(1) ... utime(11) stime(12).
      if (f.size() < 13 || std::stol(f[1]) != postmaster_ || f[0] == "Z") continue;
      double cpu = (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
      long pid = std::stol(name);
      auto [it, added] = processes_.try_emplace(pid);
      if (added) {
        std::ifstream cmdline_file("/proc/" + name + "/cmdline");
        std::string title;
        std::getline(cmdline_file, title, '\0');
        it->second.kind = "backends";
        for (const char* kind : {"autovacuum", "walwriter", "checkpointer", "background writer"}) {
          if (title.find(kind) != std::string::npos) it->second.kind = kind;
        }
        it->second.first = at_start ? cpu : 0;
      }
      it->second.last = std::max(it->second.last, cpu);
    }
  }

  long postmaster_ = 0;
  double own_cpu_ = 0;
  std::map<long, Process> processes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double clientCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

std::unique_ptr<st::PgConnection> connect(const std::string& dsn) {
  st::PgConnectOptions o;
  o.dsn = dsn;
  o.statement_timeout = std::chrono::milliseconds(0);
  auto c = st::PgConnection::connect(o);
  if (!c.ok()) die(std::string(c.status().message()));
  return *std::move(c);
}

std::string value(st::PgConnection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r.ok()) die(std::string(r.status().message()));
  return r->str(0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(k + " needs a value");
      return argv[++i];
    };
    if (k == "--database") {
      a.dsn = next();
    } else if (k == "--observations") {
      a.observations = std::stoi(next());
    } else if (k == "--writers") {
      a.writers = std::stoi(next());
    } else if (k == "--findings") {
      a.findings = std::stoi(next());
    } else if (k == "--queries") {
      a.queries = std::stoi(next());
    } else if (k == "--batch") {
      a.batch = std::max(1, std::stoi(next()));
    } else if (k == "--via-writer") {
      a.via_writer = true;
    } else if (k == "--scans") {
      a.scans = std::max(1, std::stoi(next()));
    } else if (k == "--queries-only") {
      a.queries_only = true;
    } else {
      die("unknown option " + k);
    }
  }
  if (a.dsn.empty()) die("--database DSN is required");
  auto db = connect(a.dsn);
  auto migrations = st::parseMigrations(st::embeddedMigrationFiles());
  if (!migrations.ok() || !st::migrate(*db, *migrations, false).ok()) die("migration failed");
  v1::Scan scan_proto;
  scan_proto.set_name("bench");
  auto scan = st::PgScanQueue(*db).createScan(scan_proto);
  if (!scan.ok()) die("cannot create a scan");

  if (!a.queries_only) {
    // ---- ingest ------------------------------------------------------------------------------
    // Hosts have 1, 2 or 3 services (2 on average); build the hosts up front so the timing is
    // the database's, not the generator's.
    // Scan after scan of the same hosts: the first writes everything new, the later ones what a
    // daemon writes day after day (services and findings seen again, known certificates).
    for (int pass = 0; pass < a.scans; ++pass) {
      std::string scan_id = scan->id();
      if (pass > 0) {
        auto next_scan = st::PgScanQueue(*db).createScan(scan_proto);
        if (!next_scan.ok()) die("cannot create a scan");
        scan_id = next_scan->id();
      }
      std::string pass_label =
          a.scans > 1 ? absl::StrFormat(" (scan %d of %d)", pass + 1, a.scans) : std::string();
      std::vector<v1::HostResult> hosts;
      int obs = 0;
      for (int i = 0; obs < a.observations; ++i) {
        int n = std::min(1 + i % 3, a.observations - obs);
        hosts.push_back(makeHost(scan_id, i, n, pass));
        obs += n;
      }
      size_t report_bytes = 0;
      for (const auto& s : hosts[0].services()) report_bytes += s.report().ByteSizeLong();
      size_t report_json = 0;
      for (const auto& s : hosts[0].services()) report_json += st::reportJson(s.report()).size();
      std::printf(
          "ingest%s: %d observations in %zu hosts, %s, %d hosts per batch (report ~%zu bytes "
          "protobuf, ~%zu bytes JSON)\n",
          pass_label.c_str(), obs, hosts.size(),
          a.via_writer ? "one HostResultWriter" : (std::to_string(a.writers) + " writers").c_str(),
          a.batch, report_bytes / hosts[0].services_size(), report_json / hosts[0].services_size());
      std::atomic<size_t> next{0};
      std::atomic<int> errors{0}, retries{0};
      std::string data_dir = value(*db, "SHOW data_directory");
      // The writers' sessions are opened before the first CPU reading and closed after the last:
      // a backend that exits in between is counted by the postmaster only once it is reaped.
      std::vector<std::unique_ptr<st::PgConnection>> sessions;
      for (int w = 0; !a.via_writer && w < a.writers; ++w) sessions.push_back(connect(a.dsn));
      ServerCpuSampler sampler(data_dir);
      double server_cpu_start = serverCpuSeconds(data_dir), client_cpu_start = clientCpuSeconds();
      double server_cpu_end = 0, client_cpu_end = 0;
      std::map<std::string, double> server_cpu_by_kind;
      auto start = Clock::now();
      auto stop = [&] {
        server_cpu_end = serverCpuSeconds(data_dir);
        client_cpu_end = clientCpuSeconds();
        server_cpu_by_kind = sampler.stop();
      };
      if (a.via_writer) {
        st::HostResultWriterOptions o;
        o.connect.dsn = a.dsn;
        o.connect.statement_timeout = std::chrono::milliseconds(0);
        o.batch_hosts = static_cast<size_t>(a.batch);
        o.buffer_capacity = hosts.size();
        st::HostResultWriter writer(o, [&](const v1::HostResult&, const auto& outcome) {
          if (outcome.ok()) return;
          std::fprintf(stderr, "ingest: %s\n", std::string(outcome.status().message()).c_str());
          ++errors;
        });
        // The buffer holds every result: handed over as fast as the scanner could.
        for (auto& h : hosts) {
          if (auto s = writer.enqueue(std::move(h)); !s.ok()) die(std::string(s.message()));
        }
        if (!writer.flush(std::chrono::hours(1))) die("writer did not drain");
        stop();  // before the writer's session closes
        retries = static_cast<int>(writer.stats().retries);
      } else {
        std::vector<std::thread> threads;
        for (int w = 0; w < a.writers; ++w) {
          threads.emplace_back([&, w] {
            st::PgFindingStore store(*sessions[w]);
            for (size_t i; (i = next.fetch_add(a.batch)) < hosts.size();) {
              size_t n = std::min<size_t>(a.batch, hosts.size() - i);
              std::span<const v1::HostResult> batch(&hosts[i], n);
              for (int attempt = 0; !batch.empty(); ++attempt) {
                std::vector<absl::StatusOr<v1::IngestOutcome>> results;
                if (a.batch == 1) {
                  results.push_back(store.ingest(batch.front()));
                } else {
                  results = store.ingestBatch(batch);
                }
                // Deadlocks and results held back behind them are retried, as the writer does.
                size_t failed = 0;
                for (const auto& r : results) failed += r.ok() ? 0 : 1;
                if (failed == 0) break;
                bool retry = attempt < 5;
                for (const auto& r : results) {
                  if (!r.ok() && r.status().code() != absl::StatusCode::kAborted) retry = false;
                }
                if (!retry) {
                  for (const auto& r : results) {
                    if (r.ok()) continue;
                    std::fprintf(stderr, "ingest: %s\n", std::string(r.status().message()).c_str());
                    ++errors;
                  }
                  break;
                }
                ++retries;  // the stored ones are replays on the retry
              }
            }
          });
        }
        for (auto& t : threads) t.join();
        stop();
      }
      double secs = std::chrono::duration<double>(Clock::now() - start).count();
      sessions.clear();
      std::printf("ingest%s: %.1f s, %.0f observations/s, %.0f hosts/s, %d errors, %d retried\n",
                  pass_label.c_str(), secs, obs / secs, hosts.size() / secs, errors.load(),
                  retries.load());
      if (errors.load() > 0) die("ingest failed");
      double server_cpu = server_cpu_end - server_cpu_start;
      double client_cpu = client_cpu_end - client_cpu_start - sampler.ownCpuSeconds();
      if (server_cpu_start >= 0) {
        // What the figures would be with the machine to ourselves: CPU time is what a busy
        // machine cannot inflate (much).
        std::printf(
            "ingest%s CPU: server %.0f us + client %.0f us per observation (%.1f + %.1f s); "
            "%.0f observations per CPU-second\n",
            pass_label.c_str(), server_cpu / obs * 1e6, client_cpu / obs * 1e6, server_cpu,
            client_cpu, obs / (server_cpu + client_cpu));
        // Autovacuum of the freshly written tables runs during ingest or not, depending on when
        // the launcher visits the database: part of what ingest costs, but not of every run.
        std::string kinds;
        for (const auto& [kind, cpu] : server_cpu_by_kind) {
          if (cpu / obs * 1e6 >= 0.5)
            kinds +=
                absl::StrFormat("%s%s %.0f us", kinds.empty() ? "" : ", ", kind, cpu / obs * 1e6);
        }
        std::printf("ingest%s CPU of the server by process: %s\n", pass_label.c_str(),
                    kinds.c_str());
      }
    }
    std::printf(
        "ingest: rows: observations %s, certificates %s (%s distinct leaves shared), "
        "findings %s\n",
        value(*db, "SELECT count(*) FROM observations").c_str(),
        value(*db, "SELECT count(*) FROM certificates").c_str(),
        value(*db,
              "SELECT count(DISTINCT sha256) FROM observation_certificates oc WHERE "
              "position = 0 AND (SELECT count(*) FROM observation_certificates x "
              "WHERE x.sha256 = oc.sha256) > 1")
            .c_str(),
        value(*db, "SELECT count(*) FROM findings").c_str());
    (void)db->exec("CHECKPOINT");
    std::printf(
        "database size after ingest: %s (observations+rows %s, certificates %s)\n",
        value(*db, "SELECT pg_size_pretty(pg_database_size(current_database()))").c_str(),
        value(*db,
              "SELECT pg_size_pretty(sum(pg_total_relation_size(c))) FROM unnest(ARRAY["
              "'observations','observation_versions','observation_cipher_suites',"
              "'observation_client_auth','observation_extensions',"
              "'observation_certificates']::regclass[]) c")
            .c_str(),
        value(*db, "SELECT pg_size_pretty(pg_total_relation_size('certificates'))").c_str());

    // ---- a million findings ----------------------------------------------------------------
    // Ingest made three per service; the rest are generated in SQL over the same services, with
    // the spread of rules, severities, states and profiles a fleet gives.
    int64_t have = std::stoll(value(*db, "SELECT count(*) FROM findings"));
    if (have < a.findings) {
      auto t0 = Clock::now();
      auto r = db->exec(
          "INSERT INTO findings (asset_id, service_id, address, rule_id, severity, state, title,"
          " evidence,"
          " profiles, first_seen, last_seen, last_scan_id, state_changed)"
          " SELECT s.asset_id, s.id, a.address, 'extra-rule-' || g, 1 + (s.id + g) % 5,"
          "  CASE WHEN (s.id + g) % 10 < 7 THEN 1 WHEN (s.id + g) % 10 < 9 THEN 2 ELSE 3 END,"
          "  'Extra rule ' || g, 'generated', ARRAY['baseline',"
          "  (ARRAY['pci-dss-4.0','nist-800-52r2','mozilla-intermediate','bsi-tr-02102-2'])"
          "  [1 + (s.id + g) % 4]], now() - make_interval(days => ((s.id + g) % 90)::int),"
          "  now() - make_interval(hours => ((s.id * 7 + g) % 2000)::int), $2::bigint, now()"
          " FROM services s JOIN assets a ON a.id = s.asset_id, generate_series(1, $1::int) AS g"
          " ORDER BY g, s.id LIMIT $3::bigint",
          {std::to_string((a.findings - have) /
                              std::max<int64_t>(1, std::stoll(value(*db,
                                                                    "SELECT count(*) FROM "
                                                                    "services"))) +
                          1),
           scan->id(), std::to_string(a.findings - have)});
      if (!r.ok()) die(std::string(r.status().message()));
      (void)db->exec("VACUUM ANALYZE findings");
      std::printf("findings: %s in total (generated in %.1f s)\n",
                  value(*db, "SELECT count(*) FROM findings").c_str(),
                  std::chrono::duration<double>(Clock::now() - t0).count());
    }
    (void)db->exec("ANALYZE");
  }
  // ---- list findings: keyset pages of 100 with filters ----------------------------------
  (void)db->exec("ANALYZE findings");
  st::PgFindingStore store(*db);
  std::vector<std::pair<std::string, v1::FindingFilter>> filters;
  {
    v1::FindingFilter f;
    filters.push_back({"none", f});
    f.add_states(v1::OPEN);
    f.set_min_severity(v1::HIGH);
    filters.push_back({"open+high", f});
    f.Clear();
    f.add_rule_ids("md5-signature");
    filters.push_back({"rule", f});
    f.Clear();
    f.set_address("10.0.16.0/20");  // hosts 4096..8191, inside every run of 8192+ hosts
    filters.push_back({"cidr", f});
    f.Clear();
    f.set_vendor("yealink");
    f.set_model("t46g");
    f.add_states(v1::OPEN);
    filters.push_back({"vendor+model+open", f});
    f.Clear();
    f.set_profile("pci-dss-4.0");
    f.add_severities(v1::CRITICAL);
    filters.push_back({"profile+critical", f});
    f.Clear();
    *f.mutable_since() = google::protobuf::util::TimeUtil::GetCurrentTime();
    f.mutable_since()->set_seconds(f.since().seconds() - 24 * 3600);
    filters.push_back({"since-24h", f});
  }
  std::map<std::string, std::vector<double>> per;
  std::vector<double> all;
  std::mt19937 rng(42);
  for (int q = 0; q < a.queries;) {
    const auto& [name, filter] = filters[q % filters.size()];
    // Walk 1 to 5 pages: the first and deeper ones.
    std::string token;
    int pages = 1 + rng() % 5;
    for (int p = 0; p < pages && q < a.queries; ++p) {
      ++q;
      auto t0 = Clock::now();
      auto page = store.listFindings(filter, 100, token);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!page.ok()) die(std::string(page.status().message()));
      per[name].push_back(ms);
      all.push_back(ms);
      token = page->next_page_token();
      if (token.empty()) break;
    }
  }
  std::printf("list findings (page of 100, %zu queries): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              all.size(), percentile(all, 0.5), percentile(all, 0.99), percentile(all, 1.0));
  for (const auto& [name, v] : per) {
    std::printf("  %-20s p50 %7.2f ms  p99 %7.2f ms  (%zu)\n", name.c_str(), percentile(v, 0.5),
                percentile(v, 0.99), v.size());
  }
  std::printf("database size at the end: %s\n",
              value(*db, "SELECT pg_size_pretty(pg_database_size(current_database()))").c_str());
  return 0;
}
