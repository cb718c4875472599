// Load and latency probe for the daemon benchmark (tests/bench/run_daemon.sh): calls
// ListFindings over gRPC in a loop, cycling through filters and following page tokens, until
// a stop file appears (or --max-seconds pass), then prints the call latencies as JSON:
//   {"calls": N, "errors": E, "p50_ms": ..., "p99_ms": ..., "max_ms": ...}
//   tlsaudit_daemon_bench_client SERVER STOP_FILE [INTERVAL_MS] [MAX_SECONDS]
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tlsaudit/v1/api.grpc.pb.h"

namespace v1 = tlsaudit::v1;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SERVER STOP_FILE [INTERVAL_MS] [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  std::string server = argv[1];
  std::string stop_file = argv[2];
  int interval_ms = argc > 3 ? std::atoi(argv[3]) : 20;
  int max_seconds = argc > 4 ? std::atoi(argv[4]) : 1800;
  auto stub = v1::FindingService::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  // The filters a dashboard uses: everything, severe open ones, one rule, one subnet.
  std::vector<v1::FindingFilter> filters(5);
  filters[1].set_min_severity(v1::HIGH);
  filters[1].add_states(v1::OPEN);
  filters[2].add_rule_ids("cert-sig-md5");
  filters[3].set_address("127.3.1.0/24");
  filters[4].add_rule_ids("proto-tls10");
  filters[4].add_states(v1::OPEN);
  std::vector<double> ms;
  int errors = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  size_t i = 0;
  std::string token;
  while (std::chrono::steady_clock::now() < end && ::access(stop_file.c_str(), F_OK) != 0) {
    v1::ListFindingsRequest req;
    *req.mutable_filter() = filters[i % filters.size()];
    req.set_page_size(100);
    req.set_page_token(token);
    v1::FindingPage page;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto t0 = std::chrono::steady_clock::now();
    auto st = stub->ListFindings(&ctx, req, &page);
    auto t1 = std::chrono::steady_clock::now();
    if (st.ok()) {
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      // Follow up to three pages of a filter, then move to the next filter.
      token = (!page.next_page_token().empty() && (i / filters.size()) % 4 != 3)
                  ? page.next_page_token()
                  : "";
      if (token.empty()) ++i;
    } else {
      ++errors;
      token.clear();
      ++i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    if (ms.empty()) return 0.0;
    size_t k = static_cast<size_t>(p * static_cast<double>(ms.size() - 1) + 0.5);
    return ms[std::min(k, ms.size() - 1)];
  };
  std::printf("{\"calls\": %zu, \"errors\": %d, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
              ms.size(), errors, pct(0.50), pct(0.99), ms.empty() ? 0.0 : ms.back());
  return 0;
}
