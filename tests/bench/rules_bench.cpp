// Rule evaluation throughput: the baseline and every shipped profile over N realistic reports on
// one thread. Reports are generated from a fixed seed: modern servers (TLS 1.2/1.3, ECDHE-GCM,
// SHA-256 chains), legacy phones (TLS 1.0/1.1, RSA key exchange, CBC/3DES/RC4, MD5/SHA-1 chains
// from long-lived vendor roots), and mixed gateways (many suites in several versions, DHE with
// small groups, client-auth). Prints reports/s, findings and profile count.
//   tlsaudit_rules_bench [REPORTS=100000] [PROFILE,PROFILE...|all (default: all)] [reuse|arena]
//
// Every finding is built in full (rule id, severity, title, evidence, asset, service, host,
// state, first/last seen, profiles, references, tags) as a scan would hand it to output or
// storage. `reuse` (default) writes each report's findings into one repeated field, overwriting
// the previous report's (whose messages, strings and timestamps are reused); `arena` creates them
// on an arena reset every 1,000 reports.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string_view>

#include "rules/policy.h"
#include "tests/unit/rules/realistic_reports.h"

namespace v1 = tlsaudit::v1;
using namespace tlsaudit::rules;
using namespace tlsaudit::rules::fixtures;

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  auto lib = PolicyLibrary::shipped();
  if (!lib.ok()) {
    std::fprintf(stderr, "%s\n", std::string(lib.status().message()).c_str());
    return 2;
  }
  std::vector<std::string> profiles;
  if (argc > 2 && std::string_view(argv[2]) != "all") {  // a comma-separated subset
    std::string list = argv[2];
    for (size_t start = 0; start <= list.size();) {
      size_t end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      profiles.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  } else {
    for (const auto* p : lib->profiles()) profiles.push_back(p->id);
  }
  auto policy = lib->compile(profiles);
  if (!policy.ok()) {
    std::fprintf(stderr, "%s\n", std::string(policy.status().message()).c_str());
    return 2;
  }
  std::mt19937 rng(kRealisticSeed);
  std::vector<v1::RuleInput> reports;
  reports.reserve(n);
  size_t suites = 0;
  for (size_t i = 0; i < n; ++i) {
    reports.push_back(realisticReport(rng, static_cast<int>(i)));
    for (const auto& v : reports.back().tls().versions()) suites += v.cipher_suites_size();
  }
  bool arena_mode = argc > 3 && std::string_view(argv[3]) == "arena";
  CompiledPolicy::Scratch scratch;
  google::protobuf::RepeatedPtrField<v1::Finding> reused;
  std::vector<v1::Finding*> out;
  auto arena = std::make_unique<google::protobuf::Arena>();
  size_t findings = 0;
  size_t evidence_bytes = 0;  // read back from every finding, so none can be skipped
  size_t batch = 0;
  int64_t now = testNow();
  auto cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  double cpu_start = cpu();
  auto start = std::chrono::steady_clock::now();
  for (const auto& r : reports) {
    if (arena_mode) {
      out.clear();
      policy->evaluateAll(r, now, scratch, arena.get(), out);
      findings += out.size();
      for (const auto* f : out) evidence_bytes += f->evidence().size();
      // Findings would be handed to storage or output here; the arena is recycled in batches.
      if (++batch == 1000) {
        arena->Reset();
        batch = 0;
      }
    } else {
      policy->evaluateAll(r, now, scratch, &reused);
      findings += static_cast<size_t>(reused.size());
      for (const auto& f : reused) evidence_bytes += f.evidence().size();
      // Findings would be handed to storage or output here; the next report overwrites them.
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu_secs = cpu() - cpu_start;
  size_t selections = 0;
  for (size_t i = 0; i < profiles.size(); ++i) selections += policy->rules(i).size();
  std::printf(
      "reports: %zu (%.1f suites each), profiles: %zu (%zu rule selections, %zu distinct "
      "rule instances)\n",
      n, static_cast<double>(suites) / static_cast<double>(n), profiles.size(), selections,
      policy->ruleInstances());
  std::printf("findings: %zu (%.1f per report: one per fired rule instance, all profiles)\n",
              findings, static_cast<double>(findings) / static_cast<double>(n));
  std::printf("evidence: %zu bytes; findings %s\n", evidence_bytes,
              arena_mode ? "on an arena (reset every 1,000 reports)"
                         : "reused (one repeated field, overwritten by each report)");
  std::printf("time: %.3f s on one thread: %.0f reports/s\n", secs, static_cast<double>(n) / secs);
  // On a shared machine the thread is not always on its core; its CPU time shows what it cost.
  std::printf("cpu: %.3f s of thread CPU time: %.0f reports/s\n", cpu_secs,
              static_cast<double>(n) / cpu_secs);
  return 0;
}
