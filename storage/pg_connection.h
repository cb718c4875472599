// A small RAII layer over libpq: one connection, its results, transactions and prepared
// statements. Values always travel as parameters ($1, $2...) in text format, never spliced into
// SQL text, so a filter value cannot change what a statement does.
//
// A PgConnection is used by one thread at a time (libpq connections are not thread-safe); the
// pool (pg_pool.h) and the writer (host_result_writer.h) give each of their threads its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pg_conn;
struct pg_result;

namespace tlsaudit::storage {

// A value for one placeholder; std::nullopt is SQL NULL.
using PgParam = std::optional<std::string>;
using PgParams = std::vector<PgParam>;

// One statement's result; owns the PGresult.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* result);
  ~PgResult();
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  int columns() const;
  // Index of the column named `name`, -1 when there is none.
  int column(const char* name) const;
  bool isNull(int row, int col) const;
  // The value as text; "" for NULL. Valid while this result lives.
  std::string_view text(int row, int col) const;
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  int64_t int64(int row, int col) const;  // 0 for NULL
  bool boolean(int row, int col) const;   // false for NULL
  // Rows an INSERT/UPDATE/DELETE touched.
  int64_t affected() const;

 private:
  pg_result* result_ = nullptr;
};

struct PgConnectOptions {
  // libpq connection string: "host=/run/pg dbname=tlsaudit" or "postgresql://u@h:5432/db".
  std::string dsn;
  // Used unless the DSN sets connect_timeout itself.
  std::chrono::seconds connect_timeout{5};
  // Every statement on the connection is cancelled by the server after this; 0 disables.
  std::chrono::milliseconds statement_timeout{30000};
  std::string application_name = "tlsaudit";
  // Session settings applied after connecting (set_config). random_page_cost 1.1 tells the
  // planner that index reads are cheap (SSD, or a working set in memory): findings are written
  // scan by scan, so one rule's rows cluster in id order, and with the default of 4 the planner
  // prefers walking the primary key backwards past hundreds of thousands of other rules' rows
  // over the (rule_id, id) index (165 ms instead of 2 ms for a page; see tests/bench).
  std::vector<std::pair<std::string, std::string>> settings = {{"random_page_cost", "1.1"}};
};

// Maps a PostgreSQL error to a status code: connection loss and "server shutting down" are
// kUnavailable (retry on a new connection), serialization failures and deadlocks kAborted
// (retry the transaction), statement timeouts kDeadlineExceeded, bad values kInvalidArgument,
// constraint violations kFailedPrecondition, everything else kInternal.
absl::StatusCode statusCodeForSqlState(std::string_view sqlstate);

class PgConnection {
 public:
  // Connects and applies the session settings. Errors are kUnavailable (server unreachable,
  // refused, timed out) or kInvalidArgument (the DSN cannot be parsed), with libpq's reason.
  static absl::StatusOr<std::unique_ptr<PgConnection>> connect(const PgConnectOptions& options);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement with parameters (PQexecParams). The SQL text must be a constant.
  absl::StatusOr<PgResult> exec(std::string_view sql, const PgParams& params = {});
  // Runs one statement prepared on this connection under `name` (prepared on first use).
  // `sql` must always be the same text for a given name.
  absl::StatusOr<PgResult> execPrepared(const std::string& name, std::string_view sql,
                                        const PgParams& params = {});
  // Runs a script of several statements without parameters (migrations only).
  absl::Status execScript(std::string_view sql);
  // Runs `copy_sql`, a constant `COPY table (columns) FROM STDIN` statement (text format), and
  // sends `rows` (built with PgCopyRows) as its data; returns the number of rows copied. The
  // values travel as COPY data, never as SQL text.
  absl::StatusOr<int64_t> copyIn(std::string_view copy_sql, std::string_view rows);

  // True when the connection to the server is lost; a new one is needed.
  bool broken() const;
  // "host:port" or the socket folder, for messages (never the password).
  std::string describe() const;
  // PostgreSQL server version, e.g. 150018.
  int serverVersion() const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  absl::StatusOr<PgResult> check(pg_result* result, std::string_view what);

  pg_conn* conn_ = nullptr;
  std::unordered_set<std::string> prepared_;
};

// BEGIN on creation; ROLLBACK on destruction unless commit() succeeded. Not thread-safe.
class PgTransaction {
 public:
  // `isolation`: "READ COMMITTED", "REPEATABLE READ" or "SERIALIZABLE".
  static absl::StatusOr<std::unique_ptr<PgTransaction>> begin(
      PgConnection& connection, std::string_view isolation = "READ COMMITTED");
  ~PgTransaction();
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;

  absl::Status commit();
  absl::Status rollback();

 private:
  explicit PgTransaction(PgConnection& connection) : connection_(connection) {}
  PgConnection& connection_;
  bool open_ = true;
};

// Text forms of values for parameters.
std::string pgBool(bool value);
// A PostgreSQL array literal ({"a","b"}) with every element quoted and escaped.
std::string pgTextArray(const std::vector<std::string>& values);
// Parses a one-dimensional text array as PostgreSQL prints it.
std::vector<std::string> parsePgTextArray(std::string_view text);
// Rows in COPY's text format, built field by field. Every value is escaped here (backslash,
// tab, newline, carriage return), so any text travels as data. Text fields hold the value's
// text form: pgBool, pgTextArray, pgBytea, decimal numbers.
class PgCopyRows {
 public:
  PgCopyRows& text(std::string_view value);
  PgCopyRows& number(int64_t value);
  PgCopyRows& boolean(bool value);
  PgCopyRows& null();
  // Ends the current row.
  void endRow();
  const std::string& data() const { return data_; }
  size_t rows() const { return rows_; }
  bool empty() const { return rows_ == 0; }

 private:
  void separate();

  std::string data_;
  size_t rows_ = 0;
  bool row_started_ = false;
};

// bytea in hex input form (\x0a1b...).
std::string pgBytea(std::string_view bytes);
// Decodes bytea in hex output form; empty on malformed input.
std::string parsePgBytea(std::string_view text);

}  // namespace tlsaudit::storage
