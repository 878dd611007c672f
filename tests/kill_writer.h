// The crash test shared by the checkpoint writers' tests: a forked child writes in a loop and is
// SIGKILLed at a moment of the caller's choosing, so the file on disk is whatever a crash at
// that moment leaves.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace hsanet {

// Forks a child that calls write(first), write(first + 1), ... until it is killed (or for 10 s,
// should the parent have died), waits delay_ms, SIGKILLs it and reaps it. Fails if the fork
// fails or the child ended by itself (it threw: exit 3, or ran out of time: exit 0).
inline ::testing::AssertionResult kill_writer_midway(const std::function<void(int64_t)>& write,
                                                     int64_t first, int delay_ms) {
  const pid_t pid = ::fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  if (pid == 0) {
    const auto start = std::chrono::steady_clock::now();
    try {
      for (int64_t k = first; std::chrono::steady_clock::now() - start < std::chrono::seconds(10); ++k)
        write(k);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return ::testing::AssertionFailure() << "waitpid failed";
  if (!WIFSIGNALED(status))
    return ::testing::AssertionFailure() << "the writer exited by itself with " << WEXITSTATUS(status);
  return ::testing::AssertionSuccess();
}

}  // namespace hsanet
