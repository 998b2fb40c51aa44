// Proves the hot path allocates nothing per sample: global operator new is counted while
// every corpus file is parsed with every sample selected, every label read and every value
// used. A warm parser must not allocate at all; a cold one only a bounded number of times
// (its scratch tables), independent of the sample count.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>

#include "scaler/signals/exposition/parser.h"
#include "tests/signals/exposition/canonical.h"

namespace {
std::atomic<size_t> g_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace nimscaler::exposition {
namespace {

class Toucher : public SampleVisitor {
 public:
  void OnFamily(const Family& f) override { bytes += f.name.size(); }
  void OnSample(const Sample& s) override {
    ++samples;
    sum += s.value == s.value ? s.value : 0;
    for (const Label& l : s.labels) bytes += l.name.size() + l.value.size();
    if (s.exemplar) bytes += s.exemplar->labels.size();
  }
  size_t samples = 0;
  size_t bytes = 0;
  double sum = 0;
};

TEST(ExpositionAllocations, NoneOnAWarmParserAndBoundedOnAColdOne) {
  const std::string dir = std::string(NIMSCALER_TESTDATA_DIR) + "/exposition";
  for (const char* name : {"prometheus-server-alltypes-237mfs.prom", "tgi-v3-datadog-fixture.prom",
                           "vllm-mixed-v0v1-opt125m-datadog-fixture.prom", "sglang-v0.4-docs-llama3.1-8b.prom",
                           "nim-llm-1.x-llama3.1-8b-datadog-fixture.prom", "prometheus-textparse-omparse-utf8.om.txt",
                           "prometheus-textparse-alltypes-5mfs.om.txt", "prometheus-textparse-1histogram.om.txt"}) {
    SCOPED_TRACE(name);
    const std::string body = testing::ReadFile(dir + "/" + name);
    const Format f =
        std::string(name).find(".om.") != std::string::npos ? Format::kOpenMetrics : Format::kPrometheusText;
    for (Strictness strictness : {Strictness::kPrometheus, Strictness::kSpec}) {
      // Spec-strict OpenMetrics (the cross-line checker) on a file that is conformant.
      if (strictness == Strictness::kSpec && std::string(name) != "prometheus-textparse-1histogram.om.txt") {
        continue;
      }
      Options o;
      o.strictness = strictness;
      const Selector all = Selector::All();
      Toucher t;
      const size_t before_cold = g_allocs.load();
      Parser parser(o);
      auto cold = parser.Parse(body, f, all, t);
      const size_t cold_allocs = g_allocs.load() - before_cold;
      ASSERT_TRUE(cold.ok()) << cold.status().message();
      ASSERT_GT(t.samples, 0u);
      EXPECT_LE(cold_allocs, 24u) << "for " << t.samples << " samples";

      const size_t before_warm = g_allocs.load();
      auto warm = parser.Parse(body, f, all, t);
      EXPECT_EQ(g_allocs.load() - before_warm, 0u);
      ASSERT_TRUE(warm.ok());
      std::printf("%s: %zu samples, %zu allocations cold, 0 warm\n", name, warm->samples, cold_allocs);
    }
  }
}

}  // namespace
}  // namespace nimscaler::exposition
