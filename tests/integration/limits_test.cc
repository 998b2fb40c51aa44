// Issue 19 item 11: the serve process runs with every descriptor the system allows, so a large
// number of triggers does not run it out of descriptors (failed scrapes, /healthz unanswered).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/fakes/child_process.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

// "Max open files  <soft>  <hard>  files" from /proc/<pid>/limits.
std::pair<long, long> OpenFileLimits(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft, hard;
    fields >> soft >> hard;
    auto num = [](const std::string& s) { return s == "unlimited" ? -1L : std::stol(s); };
    return {num(soft), num(hard)};
  }
  return {0, 0};
}

TEST(ServeLimits, RaisesItsOpenFileSoftLimitToTheHardLimit) {
  // A soft limit of 256 under a higher hard limit, as many systems start processes with.
  std::string bin = std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler";
  testing::ChildProcess server(
      {"/bin/sh", "-c",
       "ulimit -Sn 256 && exec " + bin + " serve --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --kube-api off"});
  ASSERT_TRUE(server.started());
  ASSERT_FALSE(server.WaitFor(R"(serving grpc_port=\d+)", 10s).empty()) << server.output();
  auto [soft, hard] = OpenFileLimits(server.pid());
  ASSERT_NE(hard, 0) << "cannot read /proc/" << server.pid() << "/limits";
  if (hard != -1 && hard <= 256) GTEST_SKIP() << "the hard limit here is " << hard;
  EXPECT_EQ(soft, hard);
  EXPECT_NE(server.output().find("open file limit raised from 256"), std::string::npos) << server.output();
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

}  // namespace
}  // namespace nimscaler
