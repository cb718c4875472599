// The embedded default database: with no DSN configured, the daemon runs a private PostgreSQL
// cluster under its data directory with the installed server binaries (initdb once, pg_ctl
// start/stop, a unix socket only, no TCP) and stops it on exit. A cluster left running by an
// earlier run is adopted; one left behind by a crash is started again (PostgreSQL recovers it
// from its WAL). PostgreSQL refuses to run as root: when the daemon is root, the cluster runs
// as an unprivileged system user (by default `postgres`, which Debian's package creates).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tlsaudit::scanner {

struct EmbeddedPostgresOptions {
  std::string data_dir;        // the cluster goes in DATA_DIR/postgres, the socket in DATA_DIR/run
  std::string bin_dir;         // "": the newest /usr/lib/postgresql/*/bin with initdb and pg_ctl
  std::string user;            // as root: the user the cluster runs as ("": postgres)
  std::string shared_buffers;  // "": PostgreSQL's default
  std::string database = "tlsaudit";
  std::chrono::seconds timeout{60};  // for initdb, start and stop each
  // Progress lines for the log ("initialising ...", "adopted a cluster left running").
  std::function<void(const std::string&)> log;
};

class EmbeddedPostgres {
 public:
  // Makes sure the cluster exists and runs, and that the database exists. Errors say which
  // step failed and quote PostgreSQL's own message (or the tail of its log).
  static absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> start(EmbeddedPostgresOptions options);
  // Stops the cluster (fast shutdown) unless stop() already did.
  ~EmbeddedPostgres();
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // pg_ctl stop -m fast: sessions are ended, committed work is on disk.
  absl::Status stop();
  // A libpq connection string for the database over the unix socket.
  std::string dsn() const;
  // True when the cluster was found running (left by an earlier run) and adopted.
  bool adopted() const { return adopted_; }
  const std::string& logFile() const { return log_file_; }

 private:
  EmbeddedPostgres() = default;
  EmbeddedPostgresOptions options_;
  std::string bin_;
  std::string cluster_;
  std::string socket_dir_;
  std::string log_file_;
  bool running_ = false;
  bool adopted_ = false;
};

// The newest installed PostgreSQL server binaries (/usr/lib/postgresql/N/bin holding initdb and
// pg_ctl); "" when there are none.
std::string newestPostgresBinDir();

}  // namespace tlsaudit::scanner
