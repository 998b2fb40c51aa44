// Background threads (scaler/common/thread_priority.h) are named and run at a lower priority.
#include "scaler/common/thread_priority.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace nimscaler {
namespace {

TEST(ThreadPriority, BackgroundThreadIsNamedAndNicer) {
  long tid = 0;
  int before = 0, after = 0;
  Status status;
  std::thread t([&] {
    tid = syscall(SYS_gettid);
    before = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    status = MakeBackgroundThread("bg-test-thread-long-name", 5);
    after = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  });
  t.join();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(after, std::min(19, before + 5));
  // The calling thread (the test's main thread) keeps its priority.
  EXPECT_EQ(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))), before);
}

}  // namespace
}  // namespace nimscaler
