// The daemon's helper-program runner (initdb, pg_ctl): output captured and capped, exit codes,
// and the deadline held even by a program that closes its output and runs on.
#include "scanner/daemon/child_process.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>

namespace tlsaudit::scanner {
namespace {

using std::chrono::milliseconds;

TEST(ChildProcess, OutputExitCodeAndDefaultSignals) {
  // SIGPIPE and the signal mask are the defaults in the child, whatever the daemon set (as the
  // daemon does: SIGPIPE ignored, SIGTERM blocked for its main loop).
  sigset_t block, before;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &block, &before);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
  auto r = runProcess({"/bin/sh", "-c",
                       "echo out; echo err >&2; grep -E '^(SigBlk|SigIgn)' /proc/self/status; "
                       "exit 3"},
                      std::nullopt, milliseconds(10000));
  ::signal(SIGPIPE, old_pipe);
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_NE(r->output.find("out\n"), std::string::npos);
  EXPECT_NE(r->output.find("err\n"), std::string::npos);
  EXPECT_NE(r->output.find("SigBlk:\t0000000000000000"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("SigIgn:\t0000000000000000"), std::string::npos) << r->output;
}

TEST(ChildProcess, AProgramThatClosesItsOutputStillMeetsTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  auto r = runProcess({"/bin/sh", "-c", "exec >&- 2>&-; sleep 30"}, std::nullopt,
                      milliseconds(1000));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace tlsaudit::scanner
