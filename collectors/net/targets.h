// Scan targets as users write them: host, host:port, [v6]:port, IPv4/IPv6 literals, CIDR
// blocks, scheme://host[:port] for a dialogue (smtp, imap, pop3, ftp, ldap, xmpp, postgres,
// sips, https) and @file lists. Parsing is pure; CIDR blocks expand lazily so a /8 costs no
// memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/net/asio.h"

namespace tlsaudit::net {

struct TargetSpec {
  std::string original;  // as written, for messages
  std::string host;      // name or address literal (no brackets); empty for CIDR
  std::optional<uint16_t> port;
  std::string scheme;  // "" or the lower-case scheme
  // CIDR block: first address and number of addresses (hosts enumerated lazily).
  std::optional<asio::ip::address> network_base;
  uint64_t network_size = 0;
  unsigned prefix = 0;

  bool isNetwork() const { return network_base.has_value(); }
  // The address at `index` of the block (0 ≤ index < network_size).
  asio::ip::address addressAt(uint64_t index) const;
};

// Largest blocks accepted: every IPv4 prefix, IPv6 /104 or longer (16M addresses).
inline constexpr unsigned kMinIpv6Prefix = 104;

// Parses one target. Errors name the target and what would be accepted.
absl::StatusOr<TargetSpec> parseTarget(std::string_view text);

// Parses every argument, expanding "@FILE" into one target per non-empty, non-# line. Errors
// name the file and line.
absl::StatusOr<std::vector<TargetSpec>> parseTargets(const std::vector<std::string>& args);

// "443,8443,1000-1010" → ports; errors name the bad element.
absl::StatusOr<std::vector<uint16_t>> parsePortList(std::string_view text);

// The port a scheme implies when none is given (smtp 25, imap 143, sips 5061, ...); 0 if none.
uint16_t defaultPortForScheme(std::string_view scheme);
bool isKnownScheme(std::string_view scheme);

}  // namespace tlsaudit::net
