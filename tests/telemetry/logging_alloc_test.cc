// Issue 14 item 4: structured log fields cost nothing on a hot path whose level is off. Global
// operator new is counted (hence its own executable) around Log() calls below the level: no
// allocation at all, whatever the fields and arguments.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <sstream>
#include <string>

#include "scaler/telemetry/logging.h"

namespace {
std::atomic<size_t> g_log_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  g_log_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // new above is malloc: free is its match
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace nimscaler::telemetry {
namespace {

TEST(LoggingAllocations, NoneForALineBelowTheLevelWithFields) {
  std::ostringstream out;
  SetupLogging("json", "warn", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto log = Logger("alloc");
  const std::string ns = "nim", name = "llama", trigger = "s0-nim-llama";
  const std::string long_arg(4096, 'x');  // formatted, it would need the heap
  size_t before = g_log_allocs.load();
  for (int i = 0; i < 1000; ++i) {
    Log(log, spdlog::level::info,
        {.ns = ns,
         .scaledobject = name,
         .trigger = trigger,
         .pod = PodOfUrl("http://u:p@10.0.0.1:8000/m"),
         .code = "UNAVAILABLE"},
        "{}/{}: scrape of {} failed: {}", ns, name, i, long_arg);
    Log(*log, spdlog::level::debug, {.ns = ns}, "{}", long_arg);
  }
  EXPECT_EQ(g_log_allocs.load(), before) << "a line below the level allocates nothing";
  // The same call at an enabled level does write (the count above is not vacuous).
  Log(log, spdlog::level::warn, {.ns = ns}, "{}", long_arg);
  log->flush();
  EXPECT_GT(g_log_allocs.load(), before);
  EXPECT_NE(out.str().find("\"namespace\":\"nim\""), std::string::npos) << out.str();
}

}  // namespace
}  // namespace nimscaler::telemetry
