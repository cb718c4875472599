// Scan targets as users write them: host, host:port, [v6]:port, IPv4/IPv6 literals, CIDR
// blocks, address ranges (10.0.0.10-10.0.0.50, 10.0.0.10-50), scheme://host[:port] for a
// dialogue (smtp, imap, pop3, ftp, ldap, xmpp, postgres, sips, https) and @file lists. Parsing is
// pure; blocks expand lazily so a /8 costs no memory. AddressSpace combines blocks and exclusions
// and PermutedIndex walks it in an order that spreads load across subnets.
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
  // CIDR block or range: first address and number of addresses (enumerated lazily).
  std::optional<asio::ip::address> network_base;
  uint64_t network_size = 0;
  unsigned prefix = 0;  // CIDR prefix; 0 for a range
  bool is_range = false;

  bool isNetwork() const { return network_base.has_value(); }
  // The address at `index` of the block (0 ≤ index < network_size).
  asio::ip::address addressAt(uint64_t index) const;
};

// Largest blocks accepted: every IPv4 prefix, IPv6 /104 or longer (16M addresses).
inline constexpr unsigned kMinIpv6Prefix = 104;

// Largest range accepted (A-B): the size of an IPv6 /104 or IPv4 /8 block.
inline constexpr uint64_t kMaxRangeSize = uint64_t{1} << 24;

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

// The addresses a scan may touch: included blocks and literals minus excluded ones. Discovery
// uses it twice: to enumerate what to sweep and to decide whether an address a neighbour table
// mentions may be probed. Host names must be resolved to literals before (see resolveNames()).
class AddressSpace {
 public:
  // `include` and `exclude` hold address literals, CIDR blocks or ranges (no host names, no
  // ports). Errors name the offending target.
  static absl::StatusOr<AddressSpace> build(const std::vector<TargetSpec>& include,
                                            const std::vector<TargetSpec>& exclude);
  // True when `a` lies in an included block and in no excluded one.
  bool contains(const asio::ip::address& a) const;
  // Number of indices (sum of included block sizes, exclusions not subtracted).
  uint64_t size() const { return total_; }
  // The address at `index` (< size()), and whether it survives the exclusions.
  asio::ip::address at(uint64_t index) const;
  bool excluded(const asio::ip::address& a) const;

 private:
  struct Block {
    asio::ip::address first;
    uint64_t count = 0;
    uint64_t offset = 0;  // index of `first` in the whole space
  };
  static bool inBlock(const Block& b, const asio::ip::address& a);
  std::vector<Block> include_;
  std::vector<Block> exclude_;
  uint64_t total_ = 0;
};

// A keyed pseudo-random permutation of [0, n): every index exactly once, O(1) memory. A
// four-round Feistel network over the next even power of two, walking a counter and skipping
// outputs >= n (at most 4 counter steps per index). Consecutive outputs land in unrelated
// /24s, so a sweep never hammers one subnet. Not thread-safe.
class PermutedIndex {
 public:
  PermutedIndex(uint64_t n, uint64_t key);
  std::optional<uint64_t> next();
  uint64_t size() const { return n_; }

 private:
  uint64_t permute(uint64_t x) const;
  uint64_t n_;
  uint64_t key_;
  unsigned half_bits_ = 1;
  uint64_t counter_ = 0;
  uint64_t limit_ = 0;  // 2^(2*half_bits)
};

}  // namespace tlsaudit::net
