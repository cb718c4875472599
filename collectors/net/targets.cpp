#include "collectors/net/targets.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <iterator>

namespace tlsaudit::net {
namespace {

struct SchemeInfo {
  std::string_view name;
  uint16_t port;
};
// Well-known ports: IANA service registry.
constexpr SchemeInfo kSchemes[] = {
    {"https", 443},      {"tls", 443},   {"smtp", 25},       {"smtps", 465},
    {"submission", 587}, {"imap", 143},  {"imaps", 993},     {"pop3", 110},
    {"pop3s", 995},      {"ftp", 21},    {"ftps", 990},      {"ldap", 389},
    {"ldaps", 636},      {"xmpp", 5222}, {"postgres", 5432}, {"sips", 5061},
};

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out.append(p.data(), p.size());
  return out;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parseUint(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

bool validHostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return false;
    }
  }
  return h.front() != '-' && h.front() != '.';
}

}  // namespace

uint16_t defaultPortForScheme(std::string_view scheme) {
  for (const auto& s : kSchemes) {
    if (s.name == scheme) return s.port;
  }
  return 0;
}

bool isKnownScheme(std::string_view scheme) { return defaultPortForScheme(scheme) != 0; }

namespace {

// The address `index` places after `base` (blocks are at most 2^24 addresses).
asio::ip::address offsetAddress(const asio::ip::address& base, uint64_t index) {
  if (base.is_v4()) {
    return asio::ip::address_v4(base.to_v4().to_uint() + static_cast<uint32_t>(index));
  }
  auto bytes = base.to_v6().to_bytes();
  // Add index to the low 64 bits (blocks are at most 2^24 addresses).
  for (int i = 15; i >= 0 && index; --i) {
    uint64_t sum = uint64_t{bytes[static_cast<size_t>(i)]} + (index & 0xFF);
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(sum);
    index = (index >> 8) + (sum >> 8);
  }
  return asio::ip::address_v6(bytes);
}

}  // namespace

asio::ip::address TargetSpec::addressAt(uint64_t index) const {
  return offsetAddress(*network_base, index);
}

absl::StatusOr<TargetSpec> parseTarget(std::string_view text) {
  TargetSpec t;
  t.original = std::string(text);
  std::string_view rest = text;
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(cat({"target '", text, "': ", why}));
  };
  if (rest.empty()) return bad("empty target");
  if (auto pos = rest.find("://"); pos != std::string_view::npos) {
    t.scheme = lower(rest.substr(0, pos));
    if (!isKnownScheme(t.scheme)) {
      return bad("unknown scheme '" + t.scheme +
                 "' (use https, smtp, smtps, submission, imap, imaps, pop3, pop3s, ftp, ftps, "
                 "ldap, ldaps, xmpp, postgres or sips)");
    }
    rest = rest.substr(pos + 3);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  }
  // Range: A-B or, for IPv4, A-N (last octet). Host names may contain '-', so a range is
  // recognised only when the left side is an address literal.
  if (auto dash = rest.find('-'); dash != std::string_view::npos && t.scheme.empty()) {
    boost::system::error_code ec1, ec2;
    auto first = asio::ip::make_address(std::string(rest.substr(0, dash)), ec1);
    if (!ec1) {
      auto right = rest.substr(dash + 1);
      auto last = asio::ip::make_address(std::string(right), ec2);
      uint64_t octet = 0;
      if (ec2 && first.is_v4() && parseUint(right, 255, octet)) {
        last = asio::ip::address_v4((first.to_v4().to_uint() & 0xFFFFFF00u) |
                                    static_cast<uint32_t>(octet));
        ec2 = {};
      }
      if (ec2 || last.is_v4() != first.is_v4()) {
        return bad("a range is FIRST-LAST with two addresses of the same family (or A.B.C.D-N)");
      }
      uint64_t count = 0;
      if (first.is_v4()) {
        uint32_t a = first.to_v4().to_uint(), b = last.to_v4().to_uint();
        if (b < a) return bad("the last address of a range comes before the first");
        count = uint64_t{b} - a + 1;
      } else {
        auto a = first.to_v6().to_bytes(), b = last.to_v6().to_bytes();
        if (b < a) return bad("the last address of a range comes before the first");
        // Ranges fit in the low 64 bits: the high 64 bits must agree.
        if (!std::equal(a.begin(), a.begin() + 8, b.begin())) return bad("range too large");
        uint64_t lo_a = 0, lo_b = 0;
        for (size_t i = 8; i < 16; ++i) {
          lo_a = (lo_a << 8) | a[i];
          lo_b = (lo_b << 8) | b[i];
        }
        if (lo_b - lo_a >= kMaxRangeSize)
          count = kMaxRangeSize + 1;
        else
          count = lo_b - lo_a + 1;
      }
      if (count > kMaxRangeSize) {
        return bad("ranges are limited to " + std::to_string(kMaxRangeSize) + " addresses");
      }
      t.network_base = first;
      t.network_size = count;
      t.is_range = true;
      return t;
    }
  }
  // CIDR block.
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (!t.scheme.empty()) return bad("a scheme cannot be combined with an address block");
    boost::system::error_code ec;
    auto base = asio::ip::make_address(std::string(rest.substr(0, slash)), ec);
    uint64_t prefix = 0;
    if (ec) return bad("the part before '/' is not an IPv4 or IPv6 address");
    unsigned bits = base.is_v4() ? 32 : 128;
    if (!parseUint(rest.substr(slash + 1), bits, prefix)) {
      return bad("prefix length must be 0.." + std::to_string(bits));
    }
    if (base.is_v6() && prefix < kMinIpv6Prefix) {
      return bad("IPv6 blocks larger than /" + std::to_string(kMinIpv6Prefix) + " are not scanned");
    }
    t.prefix = static_cast<unsigned>(prefix);
    if (base.is_v4()) {
      uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
      t.network_base = asio::ip::address_v4(base.to_v4().to_uint() & mask);
      t.network_size = uint64_t{1} << (32 - prefix);
    } else {
      auto bytes = base.to_v6().to_bytes();
      for (unsigned i = static_cast<unsigned>(prefix); i < 128; ++i) {
        bytes[i / 8] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
      }
      t.network_base = asio::ip::address_v6(bytes);
      t.network_size = uint64_t{1} << (128 - prefix);
    }
    return t;
  }
  // [v6]:port or [v6]
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after an IPv6 address");
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':PORT' after ']'");
      port = after.substr(1);
      if (port.empty()) return bad("empty port after ':'");
    }
  } else if (std::count(rest.begin(), rest.end(), ':') == 1) {
    auto colon = rest.find(':');
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return bad("empty port after ':'");
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (ec && !validHostname(host)) {
    return bad("not a host name, IPv4/IPv6 address or CIDR block");
  }
  // "10.0.0.300" is a valid host name to DNS, but nobody means a name by it.
  if (ec && !host.empty() &&
      host.find_first_not_of("0123456789.") == std::string_view::npos) {
    return bad("not a valid IPv4 address");
  }
  if (!ec && addr.is_v6() && rest.front() != '[' &&
      std::count(rest.begin(), rest.end(), ':') == 1) {
    return bad("write IPv6 addresses with a port as [ADDRESS]:PORT");
  }
  t.host = std::string(host);
  if (!port.empty()) {
    uint64_t p = 0;
    if (!parseUint(port, 65535, p) || p == 0) return bad("port must be 1..65535");
    t.port = static_cast<uint16_t>(p);
  } else if (!t.scheme.empty()) {
    t.port = defaultPortForScheme(t.scheme);
  }
  return t;
}

absl::StatusOr<std::vector<TargetSpec>> parseTargets(const std::vector<std::string>& args) {
  std::vector<TargetSpec> out;
  for (const auto& arg : args) {
    if (!arg.empty() && arg.front() == '@') {
      std::string path = arg.substr(1);
      std::ifstream in(path);
      if (!in) return absl::InvalidArgumentError("cannot read target file '" + path + "'");
      std::string line;
      int line_no = 0;
      while (std::getline(in, line)) {
        ++line_no;
        auto trimmed = strip(line);
        if (trimmed.empty() || trimmed.front() == '#') continue;
        auto t = parseTarget(trimmed);
        if (!t.ok()) {
          return absl::InvalidArgumentError(path + ":" + std::to_string(line_no) + ": " +
                                            std::string(t.status().message()));
        }
        out.push_back(*std::move(t));
      }
      continue;
    }
    auto t = parseTarget(arg);
    if (!t.ok()) return t.status();
    out.push_back(*std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<uint16_t>> parsePortList(std::string_view text) {
  std::vector<uint16_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    auto item = strip(text.substr(start, comma - start));
    auto bad = [&] {
      return absl::InvalidArgumentError(
          cat({"--ports: '", item, "' is not a port (1..65535) or range like 8000-8010"}));
    };
    uint64_t a = 0, b = 0;
    if (auto dash = item.find('-'); dash != std::string_view::npos) {
      if (!parseUint(item.substr(0, dash), 65535, a) ||
          !parseUint(item.substr(dash + 1), 65535, b) || a == 0 || b < a) {
        return bad();
      }
    } else {
      if (!parseUint(item, 65535, a) || a == 0) return bad();
      b = a;
    }
    for (uint64_t p = a; p <= b; ++p) {
      if (std::find(out.begin(), out.end(), p) == out.end())
        out.push_back(static_cast<uint16_t>(p));
    }
    start = comma + 1;
  }
  if (out.empty()) return absl::InvalidArgumentError("--ports: no ports given");
  return out;
}

namespace {

// The span of one literal or block as (first, count).
absl::StatusOr<std::pair<asio::ip::address, uint64_t>> spanOf(const TargetSpec& t) {
  if (t.isNetwork()) return std::make_pair(*t.network_base, t.network_size);
  boost::system::error_code ec;
  auto a = asio::ip::make_address(t.host, ec);
  if (ec) {
    return absl::InvalidArgumentError("target '" + t.original +
                                      "': host names must be resolved before sweeping");
  }
  return std::make_pair(a, uint64_t{1});
}

// a - b for two addresses of the same family as a 128-bit difference clipped to 64 bits;
// `ok` false when a < b or the distance does not fit.
uint64_t distance(const asio::ip::address& a, const asio::ip::address& b, bool& ok) {
  ok = false;
  if (a.is_v4() != b.is_v4()) return 0;
  if (a.is_v4()) {
    uint32_t x = a.to_v4().to_uint(), y = b.to_v4().to_uint();
    ok = x >= y;
    return ok ? uint64_t{x} - y : 0;
  }
  auto x = a.to_v6().to_bytes(), y = b.to_v6().to_bytes();
  if (x < y || !std::equal(x.begin(), x.begin() + 8, y.begin())) return 0;
  uint64_t lx = 0, ly = 0;
  for (size_t i = 8; i < 16; ++i) {
    lx = (lx << 8) | x[i];
    ly = (ly << 8) | y[i];
  }
  ok = true;
  return lx - ly;
}

}  // namespace

absl::StatusOr<AddressSpace> AddressSpace::build(const std::vector<TargetSpec>& include,
                                                 const std::vector<TargetSpec>& exclude) {
  AddressSpace s;
  for (const auto& t : include) {
    auto span = spanOf(t);
    if (!span.ok()) return span.status();
    s.include_.push_back(Block{span->first, span->second, s.total_});
    s.total_ += span->second;
  }
  for (const auto& t : exclude) {
    auto span = spanOf(t);
    if (!span.ok()) return span.status();
    s.exclude_.push_back(Block{span->first, span->second, 0});
  }
  return s;
}

bool AddressSpace::inBlock(const Block& b, const asio::ip::address& a) {
  bool ok = false;
  auto d = distance(a, b.first, ok);
  return ok && d < b.count;
}

bool AddressSpace::excluded(const asio::ip::address& a) const {
  for (const auto& b : exclude_) {
    if (inBlock(b, a)) return true;
  }
  return false;
}

bool AddressSpace::contains(const asio::ip::address& raw) const {
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address for this purpose.
  asio::ip::address a = raw;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  if (excluded(a)) return false;
  for (const auto& b : include_) {
    if (inBlock(b, a)) return true;
  }
  return false;
}

asio::ip::address AddressSpace::at(uint64_t index) const {
  if (include_.empty()) return asio::ip::address();
  // Blocks are in offset order: a binary search keeps long target files cheap.
  auto it = std::upper_bound(include_.begin(), include_.end(), index,
                             [](uint64_t i, const Block& b) { return i < b.offset; });
  const Block& b = it == include_.begin() ? include_.front() : *std::prev(it);
  if (index - b.offset >= b.count) return include_.back().first;
  return offsetAddress(b.first, index - b.offset);
}

PermutedIndex::PermutedIndex(uint64_t n, uint64_t key) : n_(n), key_(key) {
  while (half_bits_ < 32 && (uint64_t{1} << (2 * half_bits_)) < n) ++half_bits_;
  limit_ = uint64_t{1} << (2 * half_bits_);
}

uint64_t PermutedIndex::permute(uint64_t x) const {
  uint64_t mask = (uint64_t{1} << half_bits_) - 1;
  uint64_t left = x >> half_bits_, right = x & mask;
  for (uint64_t round = 0; round < 4; ++round) {
    // splitmix64 finaliser as the round function: cheap and well mixed.
    uint64_t f = right + key_ + round * 0x9E3779B97F4A7C15ull;
    f = (f ^ (f >> 30)) * 0xBF58476D1CE4E5B9ull;
    f = (f ^ (f >> 27)) * 0x94D049BB133111EBull;
    f ^= f >> 31;
    uint64_t next = left ^ (f & mask);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::optional<uint64_t> PermutedIndex::next() {
  while (counter_ < limit_) {
    uint64_t v = permute(counter_++);
    if (v < n_) return v;
  }
  return std::nullopt;
}

}  // namespace tlsaudit::net
