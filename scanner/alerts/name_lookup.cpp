#include "scanner/alerts/name_lookup.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"

namespace tlsaudit::scanner::alerts {
namespace {

namespace ip = boost::asio::ip;

struct Lookup {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int rc = 0;
  std::vector<ip::address> addresses;
};

std::vector<ip::address> addressesOf(const addrinfo* list) {
  std::vector<ip::address> out;
  for (const addrinfo* a = list; a != nullptr && out.size() < 16; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      out.emplace_back(ip::address_v4(ntohl(sin->sin_addr.s_addr)));
    } else if (a->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), sin6->sin6_addr.s6_addr, bytes.size());
      out.emplace_back(ip::address_v6(bytes, sin6->sin6_scope_id));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ip::address>> lookupAddresses(
    const std::string& host, std::chrono::steady_clock::time_point deadline) {
  boost::system::error_code ec;
  ip::address literal = ip::make_address(host, ec);
  if (!ec) return std::vector<ip::address>{literal};

  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address instead of one per socket type
    addrinfo* list = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
    std::vector<ip::address> addresses;
    if (rc == 0) addresses = addressesOf(list);
    if (list != nullptr) ::freeaddrinfo(list);
    std::lock_guard lock(lookup->mutex);
    lookup->rc = rc;
    lookup->addresses = std::move(addresses);
    lookup->done = true;
    lookup->done_cv.notify_all();
  }).detach();

  std::unique_lock lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return absl::DeadlineExceededError(absl::StrCat("looking up ", host, " timed out"));
  }
  if (lookup->rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot look up ", host, ": ", ::gai_strerror(lookup->rc)));
  }
  if (lookup->addresses.empty()) {
    return absl::UnavailableError(absl::StrCat(host, " has no IPv4 or IPv6 address"));
  }
  return std::move(lookup->addresses);
}

}  // namespace tlsaudit::scanner::alerts
