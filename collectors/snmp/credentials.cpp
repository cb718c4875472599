#include "collectors/snmp/credentials.h"

#include <fstream>
#include <sstream>

namespace tlsaudit::collectors::snmp {
namespace {

std::vector<std::string> splitWords(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == '\r') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<AuthProtocol> parseAuthProtocol(std::string_view text) {
  auto t = lowerAscii(text);
  if (t == "md5") return AuthProtocol::kMd5;
  if (t == "sha" || t == "sha1" || t == "sha-1") return AuthProtocol::kSha1;
  if (t == "sha224" || t == "sha-224") return AuthProtocol::kSha224;
  if (t == "sha256" || t == "sha-256") return AuthProtocol::kSha256;
  if (t == "sha384" || t == "sha-384") return AuthProtocol::kSha384;
  if (t == "sha512" || t == "sha-512") return AuthProtocol::kSha512;
  return std::nullopt;
}

std::optional<PrivProtocol> parsePrivProtocol(std::string_view text) {
  auto t = lowerAscii(text);
  if (t == "des") return PrivProtocol::kDes;
  if (t == "aes" || t == "aes128" || t == "aes-128") return PrivProtocol::kAes128;
  if (t == "aes192" || t == "aes-192") return PrivProtocol::kAes192;
  if (t == "aes256" || t == "aes-256") return PrivProtocol::kAes256;
  return std::nullopt;
}

absl::Status parseProtoPass(std::string_view text, bool priv, Credential& into,
                            const std::string& where) {
  auto colon = text.find(':');
  const char* accepted = priv ? "DES, AES (AES-128), AES-192, AES-256"
                              : "MD5, SHA (SHA-1), SHA-224, SHA-256, SHA-384, SHA-512";
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) {
    return absl::InvalidArgumentError(
        where + ": expected PROTOCOL:PASSPHRASE with PROTOCOL one of " + accepted);
  }
  auto proto = text.substr(0, colon);
  std::string pass(text.substr(colon + 1));
  // RFC 3414 §11.2: USM passphrases have at least 8 characters.
  if (pass.size() < 8) {
    return absl::InvalidArgumentError(where + ": the passphrase must have at least 8 characters");
  }
  if (priv) {
    auto p = parsePrivProtocol(proto);
    if (!p) {
      return absl::InvalidArgumentError(where + ": unknown privacy protocol '" +
                                        std::string(proto) + "' (use " + accepted + ")");
    }
    into.priv = *p;
    into.priv_passphrase = std::move(pass);
  } else {
    auto a = parseAuthProtocol(proto);
    if (!a) {
      return absl::InvalidArgumentError(where + ": unknown authentication protocol '" +
                                        std::string(proto) + "' (use " + accepted + ")");
    }
    into.auth = *a;
    into.auth_passphrase = std::move(pass);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Credential>> parseCredentialFile(std::string_view text,
                                                            const std::string& filename) {
  std::vector<Credential> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int line_no = 0;
  int communities = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string where = filename + ":" + std::to_string(line_no);
    auto words = splitWords(line);
    if (words.empty() || words[0][0] == '#') continue;
    Credential c;
    if (words[0] == "community") {
      if (words.size() < 2) return absl::InvalidArgumentError(where + ": community needs a value");
      c.community = words[1];
      c.version = SnmpVersion::kV2c;
      std::string label;
      for (size_t i = 2; i < words.size(); ++i) {
        if (words[i] == "version=1") {
          c.version = SnmpVersion::kV1;
        } else if (words[i] == "version=2c") {
          c.version = SnmpVersion::kV2c;
        } else if (words[i].rfind("name=", 0) == 0) {
          label = words[i].substr(5);
        } else {
          return absl::InvalidArgumentError(where + ": unknown field (use version=1|2c, name=)");
        }
      }
      ++communities;
      c.name = !label.empty() ? label
                              : std::string(c.version == SnmpVersion::kV1 ? "v1" : "v2c") +
                                    "#file" + std::to_string(communities);
    } else if (words[0] == "v3") {
      c.version = SnmpVersion::kV3;
      std::string label;
      for (size_t i = 1; i < words.size(); ++i) {
        const auto& w = words[i];
        if (w.rfind("user=", 0) == 0) {
          c.user = w.substr(5);
        } else if (w.rfind("auth=", 0) == 0) {
          auto st = parseProtoPass(w.substr(5), false, c, where + ": auth");
          if (!st.ok()) return st;
        } else if (w.rfind("priv=", 0) == 0) {
          auto st = parseProtoPass(w.substr(5), true, c, where + ": priv");
          if (!st.ok()) return st;
        } else if (w.rfind("name=", 0) == 0) {
          label = w.substr(5);
        } else {
          return absl::InvalidArgumentError(where +
                                            ": unknown field (use user=, auth=, priv=, name=)");
        }
      }
      if (c.user.empty()) return absl::InvalidArgumentError(where + ": v3 needs user=NAME");
      if (c.priv != PrivProtocol::kNone && c.auth == AuthProtocol::kNone) {
        return absl::InvalidArgumentError(where + ": priv= needs auth= too (USM authPriv)");
      }
      c.name = !label.empty() ? label : "v3:" + c.user;
    } else {
      return absl::InvalidArgumentError(where + ": expected 'community' or 'v3'");
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<Credential>> buildCredentials(const CredentialInputs& in,
                                                         const EnvLookup& env) {
  std::vector<Credential> out;
  auto fromEnv = [&](const std::string& value, const char* var) -> std::string {
    if (!value.empty()) return value;
    const char* v = env ? env(var) : nullptr;
    return v ? std::string(v) : std::string();
  };
  std::string user = fromEnv(in.v3_user, kEnvV3User);
  std::string auth = fromEnv(in.v3_auth, kEnvV3Auth);
  std::string priv = fromEnv(in.v3_priv, kEnvV3Priv);
  if (user.empty() && (!auth.empty() || !priv.empty())) {
    return absl::InvalidArgumentError("--snmp-v3-auth/--snmp-v3-priv need --snmp-v3-user");
  }
  if (!user.empty()) {
    Credential c;
    c.version = SnmpVersion::kV3;
    c.user = user;
    c.name = "v3:" + user;
    if (!auth.empty()) {
      auto st = parseProtoPass(auth, false, c, "--snmp-v3-auth");
      if (!st.ok()) return st;
    }
    if (!priv.empty()) {
      if (auth.empty()) return absl::InvalidArgumentError("--snmp-v3-priv needs --snmp-v3-auth");
      auto st = parseProtoPass(priv, true, c, "--snmp-v3-priv");
      if (!st.ok()) return st;
    }
    out.push_back(std::move(c));
  }
  SnmpVersion version;
  if (in.community_version == "2c" || in.community_version == "2") {
    version = SnmpVersion::kV2c;
  } else if (in.community_version == "1") {
    version = SnmpVersion::kV1;
  } else {
    return absl::InvalidArgumentError("--snmp-version must be 1 or 2c");
  }
  std::vector<std::string> communities = in.communities;
  if (const char* v = env ? env(kEnvCommunities) : nullptr) {
    std::string list(v);
    size_t start = 0;
    while (start <= list.size()) {
      auto comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      if (comma > start) communities.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
  }
  int n = 0;
  for (const auto& community : communities) {
    if (community.empty()) return absl::InvalidArgumentError("--snmp-community: empty community");
    Credential c;
    c.version = version;
    c.community = community;
    c.name = std::string(version == SnmpVersion::kV1 ? "v1#" : "v2c#") + std::to_string(++n);
    out.push_back(std::move(c));
  }
  if (!in.file.empty()) {
    std::ifstream f(in.file);
    if (!f)
      return absl::InvalidArgumentError("cannot read SNMP credentials file '" + in.file + "'");
    std::stringstream ss;
    ss << f.rdbuf();
    auto parsed = parseCredentialFile(ss.str(), in.file);
    if (!parsed.ok()) return parsed.status();
    for (auto& c : *parsed) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tlsaudit::collectors::snmp
