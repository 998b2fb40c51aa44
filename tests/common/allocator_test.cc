// FreeMemoryReleaser (scaler/common/allocator.h): memory freed in the middle of the heap goes
// back to the OS once more than the slack is free (issue 16: RSS back near the baseline after
// 10,000 triggers are forgotten).
#include "scaler/common/allocator.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace nimscaler {
namespace {

long RssAnonKiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long kib = -1;
  while (status >> key) {
    if (key == "RssAnon:") {
      status >> kib;
      break;
    }
  }
  return kib;
}

TEST(FreeMemoryReleaser, ReturnsFreedHeapBeyondTheSlackOnce) {
#if !defined(__GLIBC__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "glibc's allocator only";
#else
  FreeMemoryReleaser releaser(size_t{4} << 20);
  releaser.Poll();  // whatever the test binary freed before
  // 48 MiB in 2 KiB blocks (heap, not mmap), touched; every 32nd stays, so the freed ones
  // cannot merge into the heap's top and be returned by free() itself.
  constexpr size_t kBlock = 2048, kCount = (size_t{48} << 20) / kBlock;
  std::vector<std::unique_ptr<char[]> > blocks(kCount);
  for (auto& b : blocks) {
    b.reset(new char[kBlock]);
    for (size_t i = 0; i < kBlock; i += 512) b[i] = 1;
  }
  long full = RssAnonKiB();
  for (size_t i = 0; i < kCount; ++i) {
    if (i % 32 != 0) blocks[i].reset();
  }
  EXPECT_GT(RssAnonKiB(), full - (8 << 10)) << "free() alone keeps the pages";
  EXPECT_TRUE(releaser.Poll()) << "about 46 MiB became free, beyond the 4 MiB slack";
  EXPECT_LT(RssAnonKiB(), full - (32 << 10)) << "most of the freed 46 MiB is back with the OS";
  EXPECT_FALSE(releaser.Poll()) << "nothing new was freed since";
#endif
}

}  // namespace
}  // namespace nimscaler
