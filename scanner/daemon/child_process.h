// Runs a helper program to completion (PostgreSQL's initdb and pg_ctl) with a deadline,
// optionally as another user, and collects what it printed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tlsaudit::scanner {

struct RunAsUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
};

struct ProcessOutcome {
  int exit_code = -1;   // -1 when killed (timeout or signal)
  bool timed_out = false;
  std::string output;   // stdout and stderr interleaved, capped at 64 KiB
};

// Looks up a system user by name; kNotFound names the user.
absl::StatusOr<RunAsUser> lookupUser(const std::string& name);

// Runs argv[0] (an absolute path) with argv; stdin is /dev/null, no descriptor of this process
// other than the output pipe is inherited. With `user`, the child drops to that user (and its
// primary group, no supplementary groups) before exec. Killed with SIGKILL after `timeout`.
// Errors only for what prevents running it at all.
absl::StatusOr<ProcessOutcome> runProcess(const std::vector<std::string>& argv,
                                          const std::optional<RunAsUser>& user,
                                          std::chrono::milliseconds timeout,
                                          const std::string& cwd = "/");

}  // namespace tlsaudit::scanner
