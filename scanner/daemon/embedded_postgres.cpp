#include "scanner/daemon/embedded_postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "scanner/daemon/child_process.h"
#include "storage/pg_connection.h"

namespace tlsaudit::scanner {
namespace {

namespace fs = std::filesystem;

// Written after initdb succeeded: a data folder without it is the remains of an interrupted
// initdb, not a database, and is set aside rather than started.
constexpr const char* kInitializedMarker = "tlsaudit-initdb-complete";
// sockaddr_un.sun_path holds 108 bytes including the terminator (unix(7)).
constexpr size_t kMaxSocketPath = 107;
// Only names the socket file (.s.PGSQL.5432) in a folder of the cluster's own: no TCP.
constexpr int kSocketPort = 5432;

std::string tail(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  in.seekg(static_cast<std::streamoff>(size > bytes ? size - bytes : 0));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The postmaster PID in a data folder's postmaster.pid (0 when there is none).
pid_t postmasterPid(const std::string& cluster) {
  std::ifstream in(cluster + "/postmaster.pid");
  long pid = 0;
  if (in >> pid) return static_cast<pid_t>(pid);
  return 0;
}

// Whether `pid` is a live (not zombie) process. A postmaster killed with SIGKILL stays a zombie
// until its parent (often PID 1 in a container) reaps it, and PostgreSQL counts a zombie's
// lock file as held; such a lock file is stale.
bool processAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool canConnect(const std::string& socket_dir, int port, std::chrono::seconds within) {
  storage::PgConnectOptions o;
  o.dsn = "host=" + socket_dir + " port=" + std::to_string(port) + " user=postgres dbname=postgres";
  o.connect_timeout = std::chrono::seconds(2);
  auto deadline = std::chrono::steady_clock::now() + within;
  do {
    if (storage::PgConnection::connect(o).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// Every ancestor of `path` must let `user` pass (execute permission), or postgres cannot reach
// its own folder; the error names the first that does not.
absl::Status checkTraversable(const std::string& path, const RunAsUser& user) {
  fs::path p = fs::absolute(path);
  for (fs::path cur = p.parent_path(); !cur.empty(); cur = cur.parent_path()) {
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      bool ok = (st.st_uid == user.uid && (st.st_mode & S_IXUSR)) ||
                (st.st_gid == user.gid && (st.st_mode & S_IXGRP)) || (st.st_mode & S_IXOTH);
      if (!ok) {
        return absl::FailedPreconditionError(
            "the embedded PostgreSQL runs as '" + user.name + "', which cannot enter " +
            cur.string() + " (chmod o+x it, or choose another --data-dir)");
      }
    }
    if (cur == cur.root_path()) break;
  }
  return absl::OkStatus();
}

absl::Status makeOwnedDir(const std::string& dir, const std::optional<RunAsUser>& user,
                          mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError("cannot create " + dir + ": " + ec.message());
  if (user && ::chown(dir.c_str(), user->uid, user->gid) != 0) {
    return absl::FailedPreconditionError("cannot give " + dir + " to " + user->name + ": " +
                                         std::strerror(errno));
  }
  if (::chmod(dir.c_str(), mode) != 0) {
    return absl::FailedPreconditionError("cannot chmod " + dir + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace

std::string newestPostgresBinDir() {
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string bin = entry.path().string() + "/bin";
    if (::access((bin + "/initdb").c_str(), X_OK) != 0 ||
        ::access((bin + "/pg_ctl").c_str(), X_OK) != 0) {
      continue;
    }
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version) {
      best_version = version;
      best = bin;
    }
  }
  return best;
}

absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> EmbeddedPostgres::start(
    EmbeddedPostgresOptions options) {
  std::unique_ptr<EmbeddedPostgres> pg(new EmbeddedPostgres());
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  pg->bin_ = options.bin_dir.empty() ? newestPostgresBinDir() : options.bin_dir;
  if (pg->bin_.empty() || ::access((pg->bin_ + "/pg_ctl").c_str(), X_OK) != 0 ||
      ::access((pg->bin_ + "/initdb").c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server binaries" +
        (options.bin_dir.empty() ? std::string(" in /usr/lib/postgresql/*/bin")
                                 : " in " + options.bin_dir) +
        " (install Debian's postgresql package, or configure database.dsn)");
  }
  std::error_code ec;
  fs::path data = fs::absolute(options.data_dir, ec);
  pg->cluster_ = (data / "postgres").string();
  pg->socket_dir_ = (data / "run").string();
  pg->log_file_ = (data / "postgres.log").string();
  if (pg->socket_dir_.size() + 20 > kMaxSocketPath) {
    return absl::FailedPreconditionError(
        "the data directory path is too long for a unix socket (" +
        std::to_string(pg->socket_dir_.size()) + " characters): use a shorter --data-dir");
  }

  std::optional<RunAsUser> user;
  if (::geteuid() == 0) {
    std::string name = options.user.empty() ? "postgres" : options.user;
    auto u = lookupUser(name);
    if (!u.ok()) {
      return absl::FailedPreconditionError(
          std::string(u.status().message()) +
          ": PostgreSQL refuses to run as root, so the embedded cluster needs an unprivileged "
          "user (database.embedded.user)");
    }
    if (u->uid == 0) {
      return absl::FailedPreconditionError("database.embedded.user '" + name +
                                           "' is root; PostgreSQL refuses to run as root");
    }
    user = *u;
  }
  fs::create_directories(data, ec);
  if (ec) return absl::FailedPreconditionError("cannot create " + data.string() + ": " + ec.message());
  if (user) {
    // The cluster user must be able to walk into DATA_DIR; nothing else in it is theirs.
    struct stat st {};
    if (::stat(data.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH)) {
      ::chmod(data.c_str(), st.st_mode | S_IXOTH);
    }
    if (auto s = checkTraversable(pg->cluster_, *user); !s.ok()) return s;
  }
  if (auto s = makeOwnedDir(pg->socket_dir_, user, 0700); !s.ok()) return s;
  // The log file must be writable by the cluster's user (pg_ctl -l opens it as that user).
  {
    std::ofstream touch(pg->log_file_, std::ios::app);
  }
  if (user) (void)!::chown(pg->log_file_.c_str(), user->uid, user->gid);

  auto run = [&](std::vector<std::string> argv) {
    return runProcess(argv, user, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      options.timeout + std::chrono::seconds(10)),
                      data.string());
  };

  bool initialised = fs::exists(pg->cluster_ + "/" + kInitializedMarker, ec);
  if (!initialised && fs::exists(pg->cluster_, ec)) {
    // An interrupted initdb: keep what is there for inspection, start over beside it.
    std::string aside = pg->cluster_ + ".incomplete-" + std::to_string(::time(nullptr));
    fs::rename(pg->cluster_, aside, ec);
    if (ec) {
      return absl::FailedPreconditionError(pg->cluster_ +
                                           " holds an unfinished cluster and cannot be moved "
                                           "aside: " +
                                           ec.message());
    }
    log("moved an unfinished cluster aside to " + aside);
  }
  if (!initialised) {
    if (auto s = makeOwnedDir(pg->cluster_, user, 0700); !s.ok()) return s;
    log("initialising the embedded PostgreSQL cluster in " + pg->cluster_);
    auto r = run({pg->bin_ + "/initdb", "-D", pg->cluster_, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-locale"});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::FailedPreconditionError("initdb failed (exit " + std::to_string(r->exit_code) +
                                           "): " + r->output);
    }
    std::ofstream conf(pg->cluster_ + "/postgresql.conf", std::ios::app);
    conf << "\n# tlsaudit embedded cluster: unix socket only, in the daemon's data directory.\n"
         << "listen_addresses = ''\n"
         << "unix_socket_directories = '" << pg->socket_dir_ << "'\n"
         << "unix_socket_permissions = 0700\n"
         << "port = " << kSocketPort << "\n";
    if (!options.shared_buffers.empty()) {
      conf << "shared_buffers = '" << options.shared_buffers << "'\n";
    }
    conf.close();
    std::ofstream(pg->cluster_ + "/" + kInitializedMarker) << "initdb done\n";
  }

  // Running already (an earlier daemon was killed without stopping it)? Adopt it.
  auto status = run({pg->bin_ + "/pg_ctl", "-D", pg->cluster_, "status"});
  if (!status.ok()) return status.status();
  bool running = status->exit_code == 0;
  if (running && !canConnect(pg->socket_dir_, kSocketPort, std::chrono::seconds(5))) {
    pid_t pid = postmasterPid(pg->cluster_);
    if (processAlive(pid)) {
      return absl::FailedPreconditionError(
          "a PostgreSQL (PID " + std::to_string(pid) + ") holds " + pg->cluster_ +
          " but accepts no connections on " + pg->socket_dir_ + "; stop it first");
    }
    // The postmaster is gone (a zombie at most): its lock file is stale.
    std::filesystem::remove(pg->cluster_ + "/postmaster.pid", ec);
    log("removed the stale lock file of a PostgreSQL that died (PID " + std::to_string(pid) + ")");
    running = false;
  }
  if (running) {
    pg->adopted_ = true;
    log("adopted the embedded PostgreSQL left running by an earlier run");
  } else {
    // pg_ctl start also clears a stale postmaster.pid after a crash; PostgreSQL then replays
    // its WAL, so what an earlier run committed is there.
    auto r = run({pg->bin_ + "/pg_ctl", "-D", pg->cluster_, "-l", pg->log_file_, "-w", "-t",
                  std::to_string(options.timeout.count()), "start"});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::FailedPreconditionError("pg_ctl start failed (exit " +
                                           std::to_string(r->exit_code) + "): " + r->output +
                                           "\nserver log (" + pg->log_file_ + "):\n" +
                                           tail(pg->log_file_));
    }
    log("started the embedded PostgreSQL (" + pg->cluster_ + ")");
  }
  pg->running_ = true;
  pg->options_ = options;

  // The database (CREATE DATABASE takes no parameters: the name is checked to be plain).
  for (char ch : options.database) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') {
      return absl::InvalidArgumentError("database name '" + options.database + "' is not plain");
    }
  }
  storage::PgConnectOptions admin;
  admin.dsn = "host=" + pg->socket_dir_ + " port=" + std::to_string(kSocketPort) +
              " user=postgres dbname=postgres";
  absl::StatusOr<std::unique_ptr<storage::PgConnection>> c = absl::UnavailableError("not tried");
  for (int i = 0; i < 50; ++i) {
    c = storage::PgConnection::connect(admin);
    if (c.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!c.ok()) return c.status();
  auto exists = (*c)->exec("SELECT 1 FROM pg_database WHERE datname = $1", {options.database});
  if (!exists.ok()) return exists.status();
  if (exists->rows() == 0) {
    auto created = (*c)->exec("CREATE DATABASE " + options.database);
    if (!created.ok()) return created.status();
  }
  return pg;
}

std::string EmbeddedPostgres::dsn() const {
  return "host=" + socket_dir_ + " port=" + std::to_string(kSocketPort) +
         " user=postgres dbname=" + options_.database;
}

absl::Status EmbeddedPostgres::stop() {
  if (!running_) return absl::OkStatus();
  std::optional<RunAsUser> user;
  if (::geteuid() == 0) {
    auto u = lookupUser(options_.user.empty() ? "postgres" : options_.user);
    if (!u.ok()) return u.status();
    user = *u;
  }
  auto stopWith = [&](const char* mode, std::chrono::seconds wait) -> absl::Status {
    auto r = runProcess({bin_ + "/pg_ctl", "-D", cluster_, "-m", mode, "-w", "-t",
                         std::to_string(wait.count()), "stop"},
                        user,
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            wait + std::chrono::seconds(10)));
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::InternalError(std::string("pg_ctl stop -m ") + mode + " failed (exit " +
                                 std::to_string(r->exit_code) + "): " + r->output);
    }
    return absl::OkStatus();
  };
  absl::Status st = stopWith("fast", options_.timeout);
  if (!st.ok()) {
    // Once, and quickly: the next start recovers a cluster that stopped this way (or not at
    // all), so a failed stop is never tried again from the destructor.
    if (options_.log) options_.log(std::string(st.message()) + "; stopping it immediately");
    if (stopWith("immediate", std::chrono::seconds(10)).ok()) st = absl::OkStatus();
  }
  running_ = false;
  if (st.ok() && options_.log) options_.log("stopped the embedded PostgreSQL");
  return st;
}

EmbeddedPostgres::~EmbeddedPostgres() {
  if (running_) (void)stop();
}

}  // namespace tlsaudit::scanner
