// The collection workers are background threads (scaler/common/thread_priority.h): named
// "collect" and nicer than the threads that answer KEDA (BENCHMARKS.md "HA": the tail latency
// of KEDA calls under collection load).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "scaler/common/thread_priority.h"
#include "scaler/engine/collector.h"
#include "scaler/net/http_client.h"

namespace nimscaler::engine {
namespace {

std::string ThreadName(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string text;
  std::getline(in, text);
  return text;
}

// Every collection worker is named "collect" and runs kBackgroundNiceIncrement nicer than the
// process's main thread.
TEST(CollectorThreads, WorkersRunAsBackgroundThreads) {
  EngineDeps deps;
  deps.http = net::MakeCurlHttpClient();
  Collector collector(deps, 3);
  const int main_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
  int found = 0;
  for (int attempt = 0; attempt < 100 && found < 3; ++attempt) {  // the workers start asynchronously
    found = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
      long tid = std::stol(entry.path().filename().string());
      if (ThreadName(tid) != "collect") continue;
      if (getpriority(PRIO_PROCESS, static_cast<id_t>(tid)) == std::min(19, main_nice + kBackgroundNiceIncrement)) {
        ++found;
      }
    }
    if (found < 3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(found, 3);
}

}  // namespace
}  // namespace nimscaler::engine
