// SNMP credentials as plain data (no SNMP library, no Asio), shared by the client interface
// (snmp_client.h) and the credential sources (credentials.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tlsaudit::collectors::snmp {

enum class SnmpVersion { kV1, kV2c, kV3 };
// RFC 3414 (MD5, SHA-1) and RFC 7860 (SHA-2) USM authentication.
enum class AuthProtocol { kNone, kMd5, kSha1, kSha224, kSha256, kSha384, kSha512 };
// RFC 3414 (DES), RFC 3826 (AES-128) and the Blumenthal draft (AES-192/256) USM privacy.
enum class PrivProtocol { kNone, kDes, kAes128, kAes192, kAes256 };

// One credential. `name` is what output shows ("v2c#2", "v3:ops"); secrets never leave this
// struct (no logging, no output, no error message contains them).
struct Credential {
  std::string name;
  SnmpVersion version = SnmpVersion::kV2c;
  std::string community;  // v1, v2c
  std::string user;       // v3 USM securityName
  AuthProtocol auth = AuthProtocol::kNone;
  std::string auth_passphrase;
  PrivProtocol priv = PrivProtocol::kNone;
  std::string priv_passphrase;
};

// Parses "MD5", "SHA", "SHA-256"... (case-insensitive); nullopt if unknown.
std::optional<AuthProtocol> parseAuthProtocol(std::string_view text);
std::optional<PrivProtocol> parsePrivProtocol(std::string_view text);

}  // namespace tlsaudit::collectors::snmp
