// Shared plumbing of the storage tests: one PostgreSQL cluster per test process (unix socket
// only, started on first use and stopped at the end), a fresh migrated database per test, and
// builders for realistic host results.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/pg_connection.h"
#include "tests/integration/harness.h"
#include "tlsaudit/v1/scan.pb.h"

namespace tlsaudit::itest {

namespace v1 = tlsaudit::v1;

// The process's shared cluster (started on first call); nullptr after a failure.
PostgresCluster* sharedPostgres();

// Connects to `dsn` (statement timeout 30 s) or fails the test.
std::unique_ptr<storage::PgConnection> connectOrFail(const std::string& dsn);
// One value of a one-row, one-column query, as text ("" and a failure on error).
std::string queryValue(storage::PgConnection& c, const std::string& sql);
int64_t queryCount(storage::PgConnection& c, const std::string& sql);
// A fingerprint of every row of the schema's tables (md5 over each table's rows in a fixed
// order), to show that an operation changed nothing.
std::string databaseFingerprint(storage::PgConnection& c);

// "reference=count" for every reference of the schema with rows whose referenced row is
// missing (tlsaudit_orphan_references(), migration 0003); empty when there are none or the
// schema predates the function.
// With `require`, a missing function is a test failure (the database was migrated).
std::vector<std::string> orphanReferences(storage::PgConnection& c, bool require = false);

// Every test gets its own database `t_<n>` on the shared cluster, optionally migrated. After
// the test, no row may refer to a row that is not there (migration 0003 guarantees the
// references ingest writes without foreign keys).
class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual bool migrateOnSetUp() const { return true; }

  std::string dsn_;
  std::unique_ptr<storage::PgConnection> db_;
};

// ---- builders -----------------------------------------------------------------------------

struct FakeCert {
  std::string sha256;  // 64 hex
  std::string der;
  std::string subject;
  std::string signature_hash;
};
// A deterministic certificate named `name`, with about `der_bytes` of DER.
FakeCert fakeCert(const std::string& name, const std::string& signature_hash = "SHA256",
                  size_t der_bytes = 900);

// A TLS report of ip:port accepting `versions`, presenting `leaf` then `issuer`.
v1::TlsReport makeReport(const std::string& ip, uint32_t port,
                         const std::vector<v1::TlsVersion>& versions, const FakeCert& leaf,
                         const FakeCert& issuer);
v1::Finding makeFinding(const std::string& rule_id, v1::Severity severity,
                        const std::vector<std::string>& profiles = {"baseline"});

// A host result of one service for `scan_id`.
v1::HostResult makeHostResult(const std::string& scan_id, const std::string& ip, uint32_t port,
                              const std::vector<v1::Finding>& findings, bool complete = true,
                              const std::string& vendor = "", const std::string& model = "");

// Creates a scan and returns its id.
std::string createScan(storage::PgConnection& c, const std::string& name = "test");

}  // namespace tlsaudit::itest
