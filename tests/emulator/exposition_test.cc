// The emulator's /v1/metrics: parses with our parser, passes promtool, and has the families,
// HELP, TYPE and buckets of the real captures.
#include "tools/nim-emulator/exposition.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "scaler/signals/exposition/parser.h"

namespace nimemu {
namespace {

std::string Read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Meta {
  std::map<std::string, std::string> help, type;
  std::map<std::string, std::vector<std::string>> les;  // family -> le values (first series)
};

Meta Scan(const std::string& text) {
  Meta m;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> done;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto sp = line.find(' ', 7);
      m.help[line.substr(7, sp - 7)] = sp == std::string::npos ? "" : line.substr(sp + 1);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      auto sp = line.find(' ', 7);
      m.type[line.substr(7, sp - 7)] = line.substr(sp + 1);
    } else if (auto b = line.find("_bucket{"); b != std::string::npos) {
      std::string fam = line.substr(0, b);
      auto le = line.find("le=\"");
      if (le == std::string::npos) continue;
      std::string v = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      auto& vec = m.les[fam];
      if (!done.count(fam)) {
        if (v == "+Inf") done.insert(fam);
        vec.push_back(v);
      }
    }
  }
  return m;
}

Cluster Loaded(const std::string& engine) {
  PodModel m;
  m.engine = engine;
  Cluster c(m, LoadShape{}, 3, 1);
  c.SetConcurrency(120);
  c.AdvanceTo(45);
  return c;
}

TEST(Exposition, NimParsesWithOurParserAndShowsTheModelState) {
  Cluster c = Loaded("nim");
  const Pod& p = *c.pods()[0];
  std::string body = RenderMetrics(p, c.model(), 1.7e9);
  auto sel = nimscaler::exposition::ParseSelected(
      body, "text/plain; version=0.0.4",
      {"gpu_cache_usage_perc", "num_requests_running", "num_requests_waiting", "time_to_first_token_seconds_count",
       "generation_tokens_total", "request_success_total"});
  ASSERT_TRUE(sel.ok()) << sel.status().message();
  std::map<std::string, double> v;
  for (auto& s : sel.value().series) {
    v[s.name] = s.value;
    EXPECT_EQ(s.Label("model_name"), "meta/llama-3.1-8b-instruct") << s.name;
  }
  EXPECT_DOUBLE_EQ(v["gpu_cache_usage_perc"], p.KvUse());
  EXPECT_GT(v["gpu_cache_usage_perc"], 0.05);
  EXPECT_EQ(v["num_requests_running"], double(p.running.size()));
  EXPECT_EQ(v["num_requests_waiting"], double(p.waiting.size()));
  EXPECT_EQ(v["time_to_first_token_seconds_count"], double(p.metrics.ttft.count));
  EXPECT_EQ(v["generation_tokens_total"], p.metrics.generation_tokens);
  EXPECT_EQ(v["request_success_total"], p.metrics.success);
}

TEST(Exposition, EveryEngineParsesWithOurParser) {
  for (std::string engine : {"nim", "vllm", "sglang"}) {
    Cluster c = Loaded(engine);
    std::string body = RenderMetrics(*c.pods()[0], c.model(), 1.7e9);
    std::string kv = engine == "nim"    ? "gpu_cache_usage_perc"
                     : engine == "vllm" ? "vllm:kv_cache_usage_perc"
                                        : "sglang:token_usage";
    auto sel = nimscaler::exposition::ParseSelected(body, "text/plain; version=0.0.4", {kv});
    ASSERT_TRUE(sel.ok()) << engine << ": " << sel.status().message();
    ASSERT_EQ(sel.value().series.size(), 1u) << engine;
    EXPECT_NEAR(sel.value().series[0].value, c.pods()[0]->KvUse(), 1e-12);
  }
}

TEST(Exposition, SameHelpTypeAndBucketsAsTheCaptures) {
  struct Case {
    std::string engine, capture;
    bool buckets;
  };
  // The vLLM fixture's histograms carry V0 buckets (and a 3-bucket synthetic ITL), so only
  // HELP and TYPE are compared for vLLM.
  for (auto& k : {Case{"nim", "/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom", true},
                  Case{"vllm", "/emulator/vllm-mixed-v0v1-opt125m-datadog-fixture.prom", false},
                  Case{"sglang", "/emulator/sglang-v0.4-docs-llama3.1-8b.prom", true}}) {
    Meta cap = Scan(Read(std::string(NIMSCALER_TESTDATA_DIR) + k.capture));
    ASSERT_FALSE(cap.type.empty()) << k.capture;
    Cluster c = Loaded(k.engine);
    Meta ours = Scan(RenderMetrics(*c.pods()[0], c.model(), 1.7e9));
    int shared = 0;
    for (auto& [fam, type] : ours.type) {
      if (!cap.type.count(fam)) continue;
      ++shared;
      EXPECT_EQ(type, cap.type[fam]) << k.engine << " " << fam;
      EXPECT_EQ(ours.help[fam], cap.help[fam]) << k.engine << " " << fam;
      if (k.buckets && type == "histogram") {
        EXPECT_EQ(ours.les[fam], cap.les[fam]) << k.engine << " " << fam;
      }
    }
    EXPECT_GE(shared, k.engine == "sglang" ? 10 : 12) << k.engine;
    // The signals a scaler reads are all there.
    for (std::string fam :
         k.engine == "nim"
             ? std::vector<std::string>{"gpu_cache_usage_perc", "num_requests_waiting", "num_requests_running",
                                        "time_to_first_token_seconds", "time_per_output_token_seconds",
                                        "e2e_request_latency_seconds", "prompt_tokens_total", "generation_tokens_total",
                                        "request_success_total"}
         : k.engine == "vllm"
             ? std::vector<std::string>{"vllm:kv_cache_usage_perc", "vllm:num_requests_waiting",
                                        "vllm:num_requests_running", "vllm:time_to_first_token_seconds",
                                        "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds"}
             : std::vector<std::string>{"sglang:token_usage", "sglang:num_queue_reqs", "sglang:num_running_reqs",
                                        "sglang:time_to_first_token_seconds"})
      EXPECT_TRUE(ours.type.count(fam)) << k.engine << " lacks " << fam;
  }
}

TEST(Exposition, FaultsRenameOrBreakTheBody) {
  Cluster c = Loaded("nim");
  Pod p(std::string("nim"));
  p.faults.renamed = true;
  std::string renamed = RenderMetrics(p, c.model(), 1.7e9);
  EXPECT_EQ(renamed.find("gpu_cache_usage_perc"), std::string::npos);
  EXPECT_NE(renamed.find("kv_cache_usage_perc"), std::string::npos);
  EXPECT_TRUE(nimscaler::exposition::ParseSelected(renamed, "", {"x"}).ok());
  p.faults.renamed = false;
  p.faults.garbage = true;
  EXPECT_FALSE(nimscaler::exposition::ParseSelected(RenderMetrics(p, c.model(), 1.7e9), "", {"x"}).ok());
}

TEST(Exposition, PythonFloatSpelling) {
  EXPECT_EQ(PyFloat(5), "5.0");
  EXPECT_EQ(PyFloat(0.25), "0.25");
  EXPECT_EQ(PyFloat(1e-05), "1e-05");
  EXPECT_EQ(PyFloat(2560), "2560.0");
}

// Issue 18 item 4: the emulated front door reads like the KEDA HTTP add-on interceptor (the
// fixture nim-scaler's http-add-on preset is tested against): same family, HELP, TYPE and
// labels, and the value is held + waiting + running, whatever the Service's name.
TEST(Exposition, FrontDoorHasTheHttpAddOnInterceptorsShape) {
  Meta cap = Scan(Read(std::string(NIMSCALER_TESTDATA_DIR) + "/frontdoor/http-add-on.prom"));
  ASSERT_TRUE(cap.type.count("interceptor_request_concurrency"));
  ClusterView v;
  v.held = 3;
  v.waiting = 4;
  v.running = 5;
  std::string body = RenderFrontDoor(v, "nim", "meta-llama3-8b");
  Meta ours = Scan(body);
  EXPECT_EQ(ours.type["interceptor_request_concurrency"], cap.type["interceptor_request_concurrency"]);
  EXPECT_EQ(ours.help["interceptor_request_concurrency"], cap.help["interceptor_request_concurrency"]);
  auto sel =
      nimscaler::exposition::ParseSelected(body, "text/plain; version=0.0.4", {"interceptor_request_concurrency"});
  ASSERT_TRUE(sel.ok()) << sel.status().message();
  ASSERT_EQ(sel.value().series.size(), 1u);
  const auto& s = sel.value().series[0];
  EXPECT_EQ(s.value, 12);
  EXPECT_EQ(s.Label("route_name"), "meta-llama3-8b");
  EXPECT_EQ(s.Label("route_namespace"), "nim");
  EXPECT_EQ(s.labels.size(), 2u);
  // Label values are escaped, so an odd name cannot break the body.
  auto odd = nimscaler::exposition::ParseSelected(RenderFrontDoor(ClusterView{}, "n\"s", "a\nb"),
                                                  "text/plain; version=0.0.4", {"interceptor_request_concurrency"});
  ASSERT_TRUE(odd.ok()) << odd.status().message();
  ASSERT_EQ(odd.value().series.size(), 1u);
  EXPECT_EQ(odd.value().series[0].Label("route_namespace"), "n\"s");
  EXPECT_EQ(odd.value().series[0].Label("route_name"), "a\nb");
  EXPECT_EQ(odd.value().series[0].value, 0);
}

// promtool (Debian package prometheus) must accept the bodies. For vLLM and SGLang it only
// lints the engines' real ':' names (exit 3); a parse error is exit 1.
TEST(Exposition, PromtoolCheckMetrics) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool not installed (Debian package prometheus, scripts/deps/emulator.txt)";
  for (std::string engine : {"nim", "vllm", "sglang"}) {
    Cluster c = Loaded(engine);
    std::string path = ::testing::TempDir() + "/emu-" + engine + ".prom";
    std::ofstream(path) << RenderMetrics(*c.pods()[0], c.model(), 1.7e9);
    std::string out_path = path + ".out";
    int rc = std::system(("promtool check metrics < " + path + " > " + out_path + " 2>&1").c_str());
    int code = WEXITSTATUS(rc);
    std::string out = Read(out_path);
    if (engine == "nim") {
      EXPECT_EQ(code, 0) << out;
    } else {
      EXPECT_TRUE(code == 0 || code == 3) << engine << ": " << out;
      std::istringstream lines(out);
      std::string l;
      while (std::getline(lines, l))
        EXPECT_NE(l.find("should not contain ':'"), std::string::npos) << engine << ": " << l;
    }
  }
}

}  // namespace
}  // namespace nimemu
