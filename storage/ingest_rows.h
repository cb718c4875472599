// What a host result becomes in the database, as plain values: the asset's address, each
// service's identity, the stored report JSON and the normalised rows. Pure (no I/O), and shared
// by both ingest paths (one host per transaction in pg_finding_store.cpp, batches in
// pg_batch_ingest.cpp), so both store exactly the same values.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tlsaudit/v1/scan.pb.h"

// How a stored asset takes in a new result, in both ingest paths (`INSERT INTO assets ... ON
// CONFLICT (address) DO UPDATE SET` this): a sparse result (only an address, from a TLS-only
// scan) never erases what discovery knew, and the first/last seen times only widen.
#define TLSAUDIT_ASSET_MERGE                                                               \
  " addresses = CASE WHEN cardinality(EXCLUDED.addresses) > 0 THEN EXCLUDED.addresses"     \
  "   ELSE assets.addresses END,"                                                          \
  " mac = COALESCE(EXCLUDED.mac, assets.mac),"                                             \
  " hostname = COALESCE(NULLIF(EXCLUDED.hostname, ''), assets.hostname),"                  \
  " vendor = COALESCE(NULLIF(EXCLUDED.vendor, ''), assets.vendor),"                        \
  " model = COALESCE(NULLIF(EXCLUDED.model, ''), assets.model),"                           \
  " firmware = COALESCE(NULLIF(EXCLUDED.firmware, ''), assets.firmware),"                  \
  " serial = COALESCE(NULLIF(EXCLUDED.serial, ''), assets.serial),"                        \
  " device_class = CASE WHEN EXCLUDED.device_class <> 0 THEN EXCLUDED.device_class"        \
  "   ELSE assets.device_class END,"                                                       \
  " site = COALESCE(NULLIF(EXCLUDED.site, ''), assets.site),"                              \
  " inventory = assets.inventory || EXCLUDED.inventory,"                                   \
  " first_seen = LEAST(assets.first_seen, EXCLUDED.first_seen),"                           \
  " last_seen = GREATEST(assets.last_seen, EXCLUDED.last_seen)"

namespace tlsaudit::storage {

// A database id as text: 1 to 18 decimal digits.
bool isDecimalId(const std::string& s);

// The asset's primary address: asset.addresses[0], else the first report's target ip; "" when
// there is none.
std::string hostAddress(const tlsaudit::v1::HostResult& host);

// Where and when a service was observed: the report's ip (else the asset's address), the port of
// the service (else the report's), the transport ("tcp" when unset) and the observation time
// (the host's, else the report's scanned_at, else now). kInvalidArgument without a valid port.
struct ServiceIdentity {
  std::string ip;
  uint32_t port = 0;
  std::string transport;
  google::protobuf::Timestamp observed;
};
absl::StatusOr<ServiceIdentity> serviceIdentity(const tlsaudit::v1::HostResult& host,
                                                const tlsaudit::v1::ServiceResult& service,
                                                const std::string& asset_address);

// The report as stored in observations.report: proto3 JSON without certificate DER (kept once
// in certificates.der).
std::string reportJson(const tlsaudit::v1::TlsReport& report);
// The asset as stored in assets.inventory: proto3 JSON without its services.
std::string assetJson(const tlsaudit::v1::Asset& asset);

// The normalised rows of one report. Pointers point into the report and stay valid while it
// lives.
struct ObservationRows {
  struct Version {
    int version = 0;
    bool supported = false;
    int cipher_order = 0;
  };
  // The suites one version accepted, in order (the server's preference when it has one).
  struct SuiteList {
    int version = 0;
    const google::protobuf::RepeatedPtrField<tlsaudit::v1::CipherSuite>* suites = nullptr;
  };
  struct ClientAuth {
    int version = 0;
    const tlsaudit::v1::ClientAuth* auth = nullptr;
  };
  struct ChainEntry {
    int chain_index = 0;
    int position = 0;    // 0 = leaf
    std::string sha256;  // lower-case hex
    int source = 0;
    bool trusted = false;
  };
  struct Certificate {
    std::string sha256;  // lower-case hex
    std::string sha1;    // lower-case hex, "" unless 40 hex digits
    const tlsaudit::v1::Certificate* certificate = nullptr;
  };
  std::vector<Version> versions;
  std::vector<SuiteList> suites;        // versions with at least one accepted suite
  std::vector<ClientAuth> client_auth;  // versions whose server requested a client certificate
  std::vector<ChainEntry> chain;
  // Each distinct certificate once, in order of first appearance. A certificate without a
  // SHA-256 or DER cannot be stored once and is left out (the report JSON keeps its fields).
  std::vector<Certificate> certificates;
};
ObservationRows observationRows(const tlsaudit::v1::TlsReport& report);

// A version's suites as the array columns of observation_cipher_suites, each a PostgreSQL array
// literal with the element of every suite in order: element i of each array is suite i.
struct SuiteArrays {
  std::string codes, names, kx, auth, ciphers, macs, bits, forward_secret;
};
SuiteArrays suiteArrays(const ObservationRows::SuiteList& list);

}  // namespace tlsaudit::storage
