// Throughput of the exposition parser on whole files, next to memchr over the same bytes
// (the physical ceiling of any line-based parser). One TSV line per file and variant:
//   file  variant  bytes  samples  ns_per_parse  allocs_per_parse
// Variants: memchr (count newlines), full (every sample selected, every label and value
// read), selective (3 families selected, all lines validated), skip (3 families selected,
// unselected lines skipped with memchr). Usage: exposition_bench MS FILE...
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "scaler/signals/exposition/parser.h"

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

namespace {

using namespace nimscaler::exposition;
using Clock = std::chrono::steady_clock;

class Toucher : public SampleVisitor {
 public:
  void OnFamily(const Family& f) override { names.emplace_back(f.name); }
  void OnSample(const Sample& s) override {
    ++samples;
    if (s.value == s.value) sum += s.value;
    for (const Label& l : s.labels) bytes += l.name.size() + l.value.size();
  }
  std::vector<std::string> names;
  size_t samples = 0;
  size_t bytes = 0;
  double sum = 0;
};

class Quiet : public SampleVisitor {
 public:
  void OnSample(const Sample& s) override {
    ++samples;
    if (s.value == s.value) sum += s.value;
    for (const Label& l : s.labels) bytes += l.value.size();
  }
  size_t samples = 0;
  size_t bytes = 0;
  double sum = 0;
};

template <typename F>
void Measure(const char* file, const char* variant, size_t bytes, size_t samples, int ms, F&& fn) {
  fn();  // warm
  const size_t a0 = g_allocs.load();
  fn();
  const size_t allocs = g_allocs.load() - a0;
  const auto budget = std::chrono::milliseconds(ms);
  size_t iters = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < budget || iters < 5) {
    fn();
    ++iters;
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / static_cast<double>(iters);
  std::printf("%s\t%s\t%zu\t%zu\t%.0f\t%zu\n", file, variant, bytes, samples, ns, allocs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: exposition_bench MS FILE...\n");
    return 1;
  }
  const int ms = std::atoi(argv[1]);
  for (int i = 2; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    const std::string path = argv[i];
    const Format f = path.find(".om.") != std::string::npos ? Format::kOpenMetrics : Format::kPrometheusText;
    Parser parser;
    Toucher probe;
    auto r = parser.Parse(body, f, Selector::All(), probe);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", argv[i], r.status().message().c_str());
      continue;
    }
    const size_t samples = r->samples;
    volatile size_t sink = 0;
    Measure(argv[i], "memchr", body.size(), samples, ms, [&] {
      size_t lines = 0;
      const char* p = body.data();
      const char* end = p + body.size();
      while (p < end) {
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (nl == nullptr) break;
        ++lines;
        p = static_cast<const char*>(nl) + 1;
      }
      sink = sink + lines;
    });
    const Selector all = Selector::All();
    Measure(argv[i], "full", body.size(), samples, ms, [&] {
      Quiet q;
      (void)parser.Parse(body, f, all, q);
      sink = sink + q.samples + q.bytes;
    });
    // Three families spread over the file, as a scaler spec would name.
    Selector some;
    const auto& n = probe.names;
    for (size_t k : {n.size() / 4, n.size() / 2, (3 * n.size()) / 4}) some.AddFamily(n[k]);
    Measure(argv[i], "selective", body.size(), samples, ms, [&] {
      Quiet q;
      (void)parser.Parse(body, f, some, q);
      sink = sink + q.samples;
    });
    Options skip;
    skip.validate_unselected = false;
    Parser fast(skip);
    Measure(argv[i], "skip", body.size(), samples, ms, [&] {
      Quiet q;
      (void)fast.Parse(body, f, some, q);
      sink = sink + q.samples;
    });
  }
  return 0;
}
