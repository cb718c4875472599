#include "storage/pg_connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tlsaudit::storage {

namespace {

// libpq's messages end in newlines and indent their hints with tabs; a status is one line.
std::string oneLine(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

PgResult::PgResult(pg_result* result) : result_(result) {}
PgResult::~PgResult() {
  if (result_ != nullptr) PQclear(result_);
}
PgResult::PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}
int PgResult::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }
int PgResult::columns() const { return result_ == nullptr ? 0 : PQnfields(result_); }
int PgResult::column(const char* name) const {
  return result_ == nullptr ? -1 : PQfnumber(result_, name);
}
bool PgResult::isNull(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }
std::string_view PgResult::text(int row, int col) const {
  if (result_ == nullptr || PQgetisnull(result_, row, col)) return {};
  return {PQgetvalue(result_, row, col), static_cast<size_t>(PQgetlength(result_, row, col))};
}
int64_t PgResult::int64(int row, int col) const {
  if (isNull(row, col)) return 0;
  return std::strtoll(PQgetvalue(result_, row, col), nullptr, 10);
}
bool PgResult::boolean(int row, int col) const {
  return !isNull(row, col) && PQgetvalue(result_, row, col)[0] == 't';
}
int64_t PgResult::affected() const {
  const char* n = result_ == nullptr ? "" : PQcmdTuples(result_);
  return n[0] == '\0' ? 0 : std::strtoll(n, nullptr, 10);
}

absl::StatusCode statusCodeForSqlState(std::string_view s) {
  if (s.size() != 5) return absl::StatusCode::kInternal;
  auto cls = s.substr(0, 2);
  // PostgreSQL Appendix A, "PostgreSQL Error Codes".
  if (cls == "08") return absl::StatusCode::kUnavailable;  // connection exception
  if (s == "57P01" || s == "57P02" || s == "57P03") {
    return absl::StatusCode::kUnavailable;  // admin/crash shutdown, cannot connect now
  }
  if (s == "57014") return absl::StatusCode::kDeadlineExceeded;  // query_canceled (timeout)
  if (s == "40001" || s == "40P01") return absl::StatusCode::kAborted;
  if (s == "55P03") return absl::StatusCode::kAborted;         // lock_not_available
  if (cls == "22") return absl::StatusCode::kInvalidArgument;  // data exception
  if (cls == "23") return absl::StatusCode::kFailedPrecondition;
  if (cls == "53") return absl::StatusCode::kResourceExhausted;
  return absl::StatusCode::kInternal;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::connect(
    const PgConnectOptions& options) {
  // Parse first, so a malformed DSN is reported as such and not as an unreachable server.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string why = oneLine(parse_error != nullptr ? parse_error : "out of memory");
    if (parse_error != nullptr) PQfreemem(parse_error);
    return absl::InvalidArgumentError(absl::StrCat("invalid database DSN: ", why));
  }
  PQconninfoFree(parsed);

  // Keywords before "dbname" are defaults; the expanded DSN overrides them.
  std::string timeout = std::to_string(options.connect_timeout.count());
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), options.application_name.c_str(), options.dsn.c_str(),
                          nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = oneLine(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", why));
  }
  std::unique_ptr<PgConnection> c(new PgConnection(conn));
  for (const auto& [name, value] : options.settings) {
    auto set = c->exec("SELECT set_config($1, $2, false)", {name, value});
    if (!set.ok()) return set.status();
  }
  if (options.statement_timeout.count() > 0) {
    auto set = c->exec("SELECT set_config('statement_timeout', $1, false)",
                       {std::to_string(options.statement_timeout.count())});
    if (!set.ok()) return set.status();
  }
  return c;
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::StatusOr<PgResult> PgConnection::check(pg_result* raw, std::string_view what) {
  PgResult result(raw);
  if (raw == nullptr) {
    std::string why = oneLine(PQerrorMessage(conn_));
    return absl::UnavailableError(absl::StrCat("PostgreSQL: ", why));
  }
  auto status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
  std::string message = oneLine(primary != nullptr ? primary : PQresultErrorMessage(raw));
  // No SQLSTATE: libpq lost the connection (its own error, not the server's).
  absl::StatusCode code = state != nullptr ? statusCodeForSqlState(state)
                          : broken()       ? absl::StatusCode::kUnavailable
                                           : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("PostgreSQL ", state != nullptr ? state : "error", " in ",
                                         std::string(what), ": ", message));
}

absl::StatusOr<PgResult> PgConnection::exec(std::string_view sql, const PgParams& params) {
  std::string text(sql);
  std::vector<const char*> values(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i] ? params[i]->c_str() : nullptr;
  }
  return check(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               "statement");
}

absl::StatusOr<PgResult> PgConnection::execPrepared(const std::string& name, std::string_view sql,
                                                    const PgParams& params) {
  if (!prepared_.contains(name)) {
    std::string text(sql);
    auto prepared = check(
        PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr),
        name);
    if (!prepared.ok()) return prepared.status();
    prepared_.insert(name);
  }
  std::vector<const char*> values(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i] ? params[i]->c_str() : nullptr;
  }
  return check(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(),
                              nullptr, nullptr, 0),
               name);
}

absl::Status PgConnection::execScript(std::string_view sql) {
  std::string text(sql);
  return check(PQexec(conn_, text.c_str()), "script").status();
}

absl::StatusOr<int64_t> PgConnection::copyIn(std::string_view copy_sql, std::string_view rows) {
  std::string text(copy_sql);
  pg_result* start = PQexec(conn_, text.c_str());
  if (start == nullptr || PQresultStatus(start) != PGRES_COPY_IN) {
    auto r = check(start, "copy");
    if (!r.ok()) return r.status();
    return absl::InternalError("copyIn: not a COPY FROM STDIN statement");
  }
  PQclear(start);
  // libpq takes the data in pieces of any size; a failure here shows up in the final result.
  constexpr size_t kPiece = 1 << 20;
  bool sent = true;
  for (size_t at = 0; sent && at < rows.size(); at += kPiece) {
    size_t n = std::min(kPiece, rows.size() - at);
    sent = PQputCopyData(conn_, rows.data() + at, static_cast<int>(n)) == 1;
  }
  if (PQputCopyEnd(conn_, sent ? nullptr : "client failed to send the COPY data") != 1) {
    sent = false;
  }
  // Read every result, so the connection is ready for the next command whatever happened.
  absl::StatusOr<PgResult> outcome = absl::UnavailableError("PostgreSQL: no result for COPY");
  bool first = true;
  while (pg_result* r = PQgetResult(conn_)) {
    if (first) {
      outcome = check(r, "copy");
      first = false;
    } else {
      PQclear(r);
    }
  }
  if (!outcome.ok()) return outcome.status();
  if (!sent) return absl::UnavailableError("PostgreSQL: COPY data could not be sent");
  return outcome->affected();
}

bool PgConnection::broken() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }

std::string PgConnection::describe() const {
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  return absl::StrCat(host != nullptr ? host : "", ":", port != nullptr ? port : "");
}

int PgConnection::serverVersion() const { return PQserverVersion(conn_); }

absl::StatusOr<std::unique_ptr<PgTransaction>> PgTransaction::begin(PgConnection& connection,
                                                                    std::string_view isolation) {
  std::string sql;
  if (isolation == "SERIALIZABLE") {
    sql = "BEGIN ISOLATION LEVEL SERIALIZABLE";
  } else if (isolation == "REPEATABLE READ") {
    sql = "BEGIN ISOLATION LEVEL REPEATABLE READ";
  } else {
    sql = "BEGIN";
  }
  auto r = connection.exec(sql);
  if (!r.ok()) return r.status();
  return std::unique_ptr<PgTransaction>(new PgTransaction(connection));
}

PgTransaction::~PgTransaction() {
  if (open_) (void)rollback();
}

absl::Status PgTransaction::commit() {
  if (!open_) return absl::FailedPreconditionError("transaction already ended");
  open_ = false;
  return connection_.exec("COMMIT").status();
}

absl::Status PgTransaction::rollback() {
  if (!open_) return absl::OkStatus();
  open_ = false;
  // Nothing to undo on a lost connection: the server rolls back when the session ends.
  if (connection_.broken()) return absl::OkStatus();
  return connection_.exec("ROLLBACK").status();
}

std::string pgBool(bool value) { return value ? "t" : "f"; }

void PgCopyRows::separate() {
  if (row_started_) data_ += '\t';
  row_started_ = true;
}

PgCopyRows& PgCopyRows::text(std::string_view value) {
  separate();
  // PostgreSQL "COPY", File Formats, Text Format: backslash escapes. Runs of other bytes go out
  // as they are.
  size_t run = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char* escaped = nullptr;
    switch (value[i]) {
      case '\\':
        escaped = "\\\\";
        break;
      case '\t':
        escaped = "\\t";
        break;
      case '\n':
        escaped = "\\n";
        break;
      case '\r':
        escaped = "\\r";
        break;
      default:
        continue;
    }
    data_.append(value.data() + run, i - run);
    data_ += escaped;
    run = i + 1;
  }
  data_.append(value.data() + run, value.size() - run);
  return *this;
}

PgCopyRows& PgCopyRows::number(int64_t value) {
  separate();
  data_ += std::to_string(value);
  return *this;
}

PgCopyRows& PgCopyRows::boolean(bool value) {
  separate();
  data_ += value ? 't' : 'f';
  return *this;
}

PgCopyRows& PgCopyRows::null() {
  separate();
  data_ += "\\N";
  return *this;
}

void PgCopyRows::endRow() {
  data_ += '\n';
  row_started_ = false;
  ++rows_;
}

std::string pgTextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::vector<std::string> parsePgTextArray(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return out;
  text = text.substr(1, text.size() - 2);
  size_t i = 0;
  while (i < text.size()) {
    std::string value;
    if (text[i] == '"') {
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        value += text[i++];
      }
      ++i;  // closing quote
    } else {
      while (i < text.size() && text[i] != ',') value += text[i++];
    }
    out.push_back(std::move(value));
    if (i < text.size() && text[i] == ',') ++i;
  }
  return out;
}

std::string pgBytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string parsePgBytea(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return {};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i + 1 < text.size(); i += 2) {
    int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace tlsaudit::storage
