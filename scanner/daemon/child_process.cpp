#include "scanner/daemon/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace tlsaudit::scanner {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

}  // namespace

absl::StatusOr<RunAsUser> lookupUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return absl::NotFoundError("no system user '" + name + "'");
  }
  return RunAsUser{pw.pw_uid, pw.pw_gid, name, pw.pw_dir ? pw.pw_dir : "/"};
}

absl::StatusOr<ProcessOutcome> runProcess(const std::vector<std::string>& argv,
                                          const std::optional<RunAsUser>& user,
                                          std::chrono::milliseconds timeout,
                                          const std::string& cwd) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(std::string("pipe: ") + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store = {"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"};
  if (user) env_store.push_back("HOME=" + user->home);
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return absl::InternalError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    // The daemon blocks SIGTERM/SIGINT/SIGHUP for its main loop and ignores SIGPIPE; the
    // program starts with the defaults.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    // No socket or file of the daemon leaks into PostgreSQL's long-lived postmaster.
    ::close_range(3, ~0U, 0);
    if (user) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0) {
        const char msg[] = "cannot switch user\n";
        (void)!::write(2, msg, sizeof(msg) - 1);
        ::_exit(126);
      }
    }
    if (::chdir(cwd.c_str()) != 0) (void)!::chdir("/");
    ::execve(args[0], args.data(), env.data());
    const char msg[] = "cannot execute the program\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  ProcessOutcome out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  bool open = true;
  while (open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      if (out.output.size() < kMaxOutput) {
        out.output.append(buf, static_cast<size_t>(std::min<ssize_t>(
                                   n, static_cast<ssize_t>(kMaxOutput - out.output.size()))));
      }
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      open = false;
    }
  }
  ::close(fds[0]);
  int status = 0;
  // The pipe closes when the program and every child holding it end; pg_ctl's postmaster does
  // not hold it (its output goes to the log file), so this wait is short. A program that
  // closed its output and went on running is still held to the deadline.
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      out.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace tlsaudit::scanner
