// Where SNMP credentials come from: command-line options, environment variables and a
// credentials file, combined into the ordered list discovery tries. Pure; secrets are kept in
// the Credential structs only and never appear in error messages.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "collectors/snmp/credential.h"

namespace tlsaudit::collectors::snmp {

struct CredentialInputs {
  std::vector<std::string> communities;  // --snmp-community (repeatable)
  std::string community_version = "2c";  // --snmp-version: 1 or 2c for communities
  std::string v3_user;                   // --snmp-v3-user
  std::string v3_auth;                   // --snmp-v3-auth PROTO:PASSPHRASE
  std::string v3_priv;                   // --snmp-v3-priv PROTO:PASSPHRASE
  std::string file;                      // --snmp-credentials FILE
};

// Environment variables read when the matching option is absent.
inline constexpr const char* kEnvCommunities = "TLSAUDIT_SNMP_COMMUNITIES";  // comma separated
inline constexpr const char* kEnvV3User = "TLSAUDIT_SNMP_V3_USER";
inline constexpr const char* kEnvV3Auth = "TLSAUDIT_SNMP_V3_AUTH";
inline constexpr const char* kEnvV3Priv = "TLSAUDIT_SNMP_V3_PRIV";

using EnvLookup = std::function<const char*(const char*)>;

// The credentials to try, in order: the v3 user (options, else environment), communities from
// options, from the environment, then the file's entries in file order. Names: "v3:USER",
// "v2c#N", "v1#N", or the file's "name=" value.
absl::StatusOr<std::vector<Credential>> buildCredentials(const CredentialInputs& in,
                                                         const EnvLookup& env);

// Credentials file, one per line, '#' comments:
//   community SECRET [version=1|2c] [name=LABEL]
//   v3 user=NAME [auth=PROTO:PASSPHRASE] [priv=PROTO:PASSPHRASE] [name=LABEL]
// Errors name `filename`, the line and the field, never the secret.
absl::StatusOr<std::vector<Credential>> parseCredentialFile(std::string_view text,
                                                            const std::string& filename);

// "SHA:passphrase" → protocol and passphrase (for --snmp-v3-auth/--snmp-v3-priv).
absl::Status parseProtoPass(std::string_view text, bool priv, Credential& into,
                            const std::string& where);

}  // namespace tlsaudit::collectors::snmp
