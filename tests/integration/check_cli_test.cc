// The real `nim-scaler` binary's command-line surface (issue 15 item 1): every subcommand's
// --help, `check` on YAML as users write it, on whole ScaledObject files and on capture files.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "externalscaler.grpc.pb.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;

std::string Binary() { return std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler"; }

struct CliRun {
  int rc;
  std::string out;
};

// Runs the binary with `args`; `stdout_only` drops stderr (through /bin/sh) so that a test
// can tell which stream a text went to.
CliRun RunBinary(const std::vector<std::string>& args, bool stdout_only = false) {
  std::vector<std::string> argv;
  if (stdout_only) {
    std::string cmd = "exec \"$0\"";
    for (size_t i = 0; i < args.size(); ++i) cmd += " \"$" + std::to_string(i + 1) + "\"";
    cmd += " 2>/dev/null";
    argv = {"/bin/sh", "-c", cmd, Binary()};
  } else {
    argv = {Binary()};
  }
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess p(argv);
  int rc = p.Wait(30s);
  return {rc, p.output()};
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Issue 15 item 1: `serve --help` and `check --help` were rejected as unknown flags. Every
// subcommand's --help prints its usage to stdout, exits 0 and documents the exit codes.
TEST(CheckCli, EverySubcommandHasHelpOnStdoutWithExitCodes) {
  struct Row {
    std::string cmd;
    std::vector<std::string> must;
  };
  const std::vector<Row> rows = {
      {"serve", {"usage: nim-scaler serve", "--grpc-addr", "exit codes"}},
      {"check", {"usage: nim-scaler check", "--metadata", "--scrape", "--reference", "exit codes"}},
      {"record", {"usage: nim-scaler record", "exit codes"}},
      {"replay", {"usage: nim-scaler replay", "exit codes"}},
      {"version", {"usage: nim-scaler version", "exit codes"}},
  };
  for (const auto& r : rows) {
    for (const char* flag : {"--help", "-h"}) {
      SCOPED_TRACE(r.cmd + " " + flag);
      CliRun run = RunBinary({r.cmd, flag}, /*stdout_only=*/true);
      EXPECT_EQ(run.rc, 0) << run.out;
      for (const auto& m : r.must)
        EXPECT_NE(run.out.find(m), std::string::npos) << "no \"" << m << "\" in\n" << run.out;
    }
  }
  // The top-level usage names every subcommand and the exit codes.
  CliRun top = RunBinary({"--help"}, true);
  EXPECT_EQ(top.rc, 0);
  for (const char* m : {"serve --help", "check --help", "record --help", "replay --help", "exit codes"}) {
    EXPECT_NE(top.out.find(m), std::string::npos) << m << " in\n" << top.out;
  }
  // An unknown flag is still a usage error (exit 2), with the usage on stderr.
  CliRun bad = RunBinary({"check", "--no-such-flag"});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("usage: nim-scaler check"), std::string::npos) << bad.out;
}

// Issue 15 item 1: a metadata block copied from a ScaledObject, with inline comments, a
// block scalar and quoted values, reads as YAML (the old line splitter kept "# ..." inside
// the values and exited 2 on `formula: >-`).
TEST(CheckCli, MetadataBlockReadsAsYaml) {
  std::string md = WriteTemp("yaml-metadata.yaml",
                             "metadata:\n"
                             "  scalerAddress: nim-scaler-headless.nim-scaler.svc:9090   # KEDA's own key\n"
                             "  endpoints: \"http://127.0.0.1:1/v1/metrics\"  # a static pod\n"
                             "  engine: nim   # the NIM preset\n"
                             "  formula: >-\n"
                             "    max(sum(kv_cache)/0.7,\n"
                             "    sum(waiting)/4)\n"
                             "  window: '90s'\n");
  CliRun run = RunBinary({"check", "--metadata", md});
  EXPECT_EQ(run.rc, 0) << run.out;
  EXPECT_NE(run.out.find("engine:         nim\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("formula:        max(sum(kv_cache)/0.7, sum(waiting)/4)"), std::string::npos) << run.out;

  // The forms that worked before still do: plain `key: value` lines and a JSON object.
  std::string plain = WriteTemp("plain-metadata.yaml",
                                "endpoints: http://127.0.0.1:1/v1/metrics\nengine: \"nim\"\ntargetKvCache: 0.7\n");
  CliRun p = RunBinary({"check", "--metadata", plain});
  EXPECT_EQ(p.rc, 0) << p.out;
  std::string json =
      WriteTemp("json-metadata.json",
                R"({"endpoints": "http://127.0.0.1:1/v1/metrics", "engine": "nim", "targetKvCache": "0.7"})");
  CliRun j = RunBinary({"check", "--metadata", json});
  EXPECT_EQ(j.rc, 0) << j.out;

  // A bad value is still named by key; a list where a string belongs names the key too.
  std::string bad =
      WriteTemp("bad-metadata.yaml", "endpoints: http://127.0.0.1:1/v1/metrics\ntargetKvCache: lots  # oops\n");
  CliRun b = RunBinary({"check", "--metadata", bad});
  EXPECT_EQ(b.rc, 1) << b.out;
  EXPECT_NE(b.out.find("targetKvCache"), std::string::npos) << b.out;
  EXPECT_EQ(b.out.find("oops"), std::string::npos) << "the comment leaked into the value:\n" << b.out;
  std::string list = WriteTemp("list-metadata.yaml", "endpoints: [a, b]\n");
  CliRun l = RunBinary({"check", "--metadata", list});
  EXPECT_EQ(l.rc, 2) << l.out;
  EXPECT_NE(l.out.find("\"endpoints\""), std::string::npos) << l.out;
  // A whole ScaledObject given to --metadata points at -f.
  CliRun whole = RunBinary({"check", "--metadata", std::string(NIMSCALER_SOURCE_DIR) + "/keda/vllm.yaml"});
  EXPECT_EQ(whole.rc, 2) << whole.out;
  EXPECT_NE(whole.out.find("check -f"), std::string::npos) << whole.out;
}

// The YAML files of a source directory ("keda", "deploy/quickstart"), sorted; chart values
// files (values*.yaml) are not Kubernetes objects and are left out.
std::vector<std::string> YamlFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(NIMSCALER_SOURCE_DIR) + "/" + dir)) {
    if (e.path().extension() == ".yaml" && e.path().filename().string().rfind("values", 0) != 0)
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> KedaExamples() { return YamlFiles("keda"); }

// Runs `check -f` on every file: each passes, and a copy with a misspelt key in each nim-scaler
// trigger fails naming that key. Returns the number of triggers checked.
int ExpectEveryFilePassesCheckFile(const std::vector<std::string>& files) {
  int triggers = 0;
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    CliRun run = RunBinary({"check", "-f", f});
    EXPECT_EQ(run.rc, 0) << run.out;
    std::regex checked(R"((\d+) trigger\(s\) checked: all valid)");
    std::smatch m;
    if (std::regex_search(run.out, m, checked))
      triggers += std::stoi(m[1].str());
    else
      EXPECT_NE(run.out.find("nothing checked"), std::string::npos) << run.out;

    // The broken copy: a misspelt key under every scalerAddress line.
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string broken = std::regex_replace(ss.str(), std::regex(R"(^( *)(scalerAddress:.*)$)", std::regex::multiline),
                                            "$1$2\n$1targetKvCahce: \"0.7\"");
    if (broken == ss.str()) continue;
    std::string copy = WriteTemp("broken-" + std::filesystem::path(f).filename().string(), broken);
    CliRun bad = RunBinary({"check", "-f", copy});
    EXPECT_EQ(bad.rc, 1) << bad.out;
    EXPECT_NE(bad.out.find("INVALID: invalid trigger metadata: unknown key \"targetKvCahce\""), std::string::npos)
        << bad.out;
    EXPECT_NE(bad.out.find("spec.triggers[0]"), std::string::npos) << bad.out;
  }
  return triggers;
}

// Issue 15 item 1 (acceptance): every file in keda/ passes `check -f`, and a copy with a
// misspelt key in each nim-scaler trigger fails naming that key.
TEST(CheckCli, EveryKedaExamplePassesCheckFile) {
  auto files = KedaExamples();
  ASSERT_GE(files.size(), 5u);
  EXPECT_GE(ExpectEveryFilePassesCheckFile(files), 5) << "the keda/ examples hold at least five nim-scaler triggers";
}

// Issue 18 item 3: the KEDA HTTP add-on recipe holds ONE ScaledObject with two triggers,
// nim-scaler's and the add-on's external-push scaler. `check -f` checks nim-scaler's, skips the
// add-on's with a note naming its address (its metadata key httpScaledObject is not ours), and
// skips the HTTPScaledObject document; the file passes.
TEST(CheckCli, HttpAddOnRecipeChecksOnlyNimScalersTrigger) {
  const std::string f = std::string(NIMSCALER_SOURCE_DIR) + "/keda/http-add-on.yaml";
  CliRun run = RunBinary({"check", "-f", f});
  EXPECT_EQ(run.rc, 0) << run.out;
  for (const char* m : {"document 1: kind HTTPScaledObject, skipped",
                        "(ScaledObject nim/llama-3-1-8b-instruct), spec.triggers[0] (external-push):\nmetadata OK",
                        "spec.triggers[1]: scalerAddress \"keda-add-ons-http-external-scaler.keda:9090\" does not name "
                        "nim-scaler, skipped",
                        "1 trigger(s) checked: all valid",
                        // Issue 18 item 1: where the front door is read and which series it maps.
                        "  front door:     Service keda/keda-add-ons-http-interceptor-metrics port 2223, path /metrics "
                        "(preset http-add-on: frontdoor_inflight <- interceptor_request_concurrency{"
                        "route_name=\"llama-3-1-8b-instruct\",route_namespace=\"nim\"}"}) {
    EXPECT_NE(run.out.find(m), std::string::npos) << "no \"" << m << "\" in\n" << run.out;
  }
}

// Issue 15 item 4 (acceptance): the kind quickstart's manifests (deploy/quickstart/) pass
// `check -f` too, with its ScaledObject's nim-scaler trigger among them; a misspelt copy fails.
TEST(CheckCli, QuickstartScaledObjectPassesCheckFile) {
  auto files = YamlFiles("deploy/quickstart");
  ASSERT_GE(files.size(), 3u) << "fake-nim.yaml, scaledobject.yaml, load.yaml";
  EXPECT_EQ(ExpectEveryFilePassesCheckFile(files), 1) << "the quickstart holds one nim-scaler trigger";
}

// `check -f` on several documents: only nim-scaler's external triggers are checked, each named
// by document and trigger index; the others are skipped with a note (--all-external checks
// every external trigger).
TEST(CheckCli, CheckFileReportsEveryDocumentAndTriggerByIndex) {
  std::string f = WriteTemp("multi.yaml",
                            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                            "---\n"
                            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
                            "metadata: {name: model-a, namespace: team}\n"
                            "spec:\n"
                            "  scaleTargetRef: {name: model-a}\n"
                            "  triggers:\n"
                            "    - type: cpu\n"
                            "      metadata: {value: \"50\"}\n"
                            "    - type: external\n"
                            "      metadata:\n"
                            "        scalerAddress: other-scaler.ns.svc:9090\n"
                            "        anything: goes\n"
                            "    - type: external-push\n"
                            "      metadata:\n"
                            "        scalerAddress: nim-scaler.nim-scaler.svc:9090  # ours\n"
                            "        service: model-a\n"
                            "        engine: vllm\n"
                            "---\n"
                            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"
                            "metadata: {name: model-b, namespace: team}\n"
                            "spec:\n"
                            "  triggers:\n"
                            "    - type: external\n"
                            "      metadata:\n"
                            "        scalerAddress: nim-scaler.nim-scaler.svc:9090\n"
                            "        service: model-b\n"
                            "        targetWaiting: \"-1\"\n");
  CliRun run = RunBinary({"check", "-f", f});
  EXPECT_EQ(run.rc, 1) << run.out;
  for (const char* m :
       {"document 1: kind ConfigMap, skipped",
        "document 2 (ScaledObject team/model-a), spec.triggers[0]: type cpu, skipped",
        "document 2 (ScaledObject team/model-a), spec.triggers[1]: scalerAddress \"other-scaler.ns.svc:9090\" "
        "does not name nim-scaler, skipped",
        "document 2 (ScaledObject team/model-a), spec.triggers[2] (external-push):\nmetadata OK",
        "metricName:     nim-team-model-a",
        "document 3 (ScaledObject team/model-b), spec.triggers[0] (external):\nINVALID: ",
        "2 trigger(s) checked: see INVALID above"}) {
    EXPECT_NE(run.out.find(m), std::string::npos) << "no \"" << m << "\" in\n" << run.out;
  }
  EXPECT_NE(run.out.find("targetWaiting"), std::string::npos) << run.out;
  // --all-external also checks the other scaler's trigger (and finds its key unknown).
  CliRun all = RunBinary({"check", "-f", f, "--all-external"});
  EXPECT_EQ(all.rc, 1) << all.out;
  EXPECT_NE(all.out.find("3 trigger(s) checked"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("unknown key \"anything\""), std::string::npos) << all.out;
  // An unparsable file is a usage error naming the line.
  std::string broken = WriteTemp("unparsable.yaml", "kind: ScaledObject\nspec: [unclosed\n");
  CliRun bad = RunBinary({"check", "-f", broken});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("not valid YAML: line "), std::string::npos) << bad.out;
}

// Issue 15 item 1 (acceptance): `check --scrape <capture file>` works for every engine
// capture (it refused files before: only URLs were fetched).
TEST(CheckCli, ScrapeReadsEveryEngineCaptureFile) {
  struct Capture {
    std::string path;
    std::string engine;
  };
  std::vector<Capture> captures;
  const std::string dir = std::string(NIMSCALER_TESTDATA_DIR);
  for (const auto& e : std::filesystem::directory_iterator(dir + "/engines")) {
    if (e.path().extension() == ".prom") captures.push_back({e.path().string(), ""});
  }
  ASSERT_FALSE(captures.empty());
  // The other engines' captures live beside the exposition parser's fixtures.
  captures.push_back({dir + "/exposition/vllm-mixed-v0v1-opt125m-datadog-fixture.prom", "vllm"});
  captures.push_back({dir + "/exposition/sglang-v0.4-docs-llama3.1-8b.prom", "sglang"});
  captures.push_back({dir + "/exposition/tgi-v3-datadog-fixture.prom", "tgi"});
  captures.push_back({dir + "/exposition/triton-trtllm-backend-readme.prom", "triton"});
  for (const auto& c : captures) {
    SCOPED_TRACE(c.path);
    std::string engine = c.engine;
    if (engine.empty()) engine = std::filesystem::path(c.path).filename().string().substr(0, 3) == "nim" ? "nim" : "";
    std::string md =
        WriteTemp("capture-metadata.yaml",
                  std::string("engine: auto\n") + (engine == "tgi" ? "formula: \"sum(waiting)/4 + sum(running)/64\"\n"
                                                                   : "targetKvCache: \"0.7\"\n"));
    CliRun run = RunBinary({"check", "--metadata", md, "--scrape", c.path});
    EXPECT_EQ(run.rc, 0) << run.out;
    EXPECT_NE(run.out.find("capture file:   " + c.path), std::string::npos) << run.out;
    if (!engine.empty())
      EXPECT_NE(run.out.find("engine: " + engine + " (detected)"), std::string::npos) << run.out;
    else
      EXPECT_NE(run.out.find(" (detected)"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("result: value "), std::string::npos) << run.out;
  }
  // Neither a URL nor a file: a usage error that says so.
  CliRun bad =
      RunBinary({"check", "--metadata", WriteTemp("m.yaml", "engine: nim\n"), "--scrape", "/no/such/capture.prom"});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("neither an http(s):// URL nor a readable capture file"), std::string::npos) << bad.out;
}

// Issue 15 item 2 (acceptance): a pod serving vLLM names under `engine: sglang` gets
// FAILED_PRECONDITION from GetMetrics whose message names vLLM metrics the pod serves (it
// named only the sglang metric it looked for before). Real `serve` binary, real gRPC.
TEST(MissingMetrics, ErrorNamesTheClosestMetricsThePodServes) {
  testing::FakePod pod(testing::ReadTestdata("exposition/vllm-mixed-v0v1-opt125m-datadog-fixture.prom"), "/metrics");
  testing::ChildProcess server(
      {Binary(), "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--allow-static-endpoints"});
  auto m = server.WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  auto stub = externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  ref.set_name("qwen");
  ref.set_namespace_("vllm");
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = pod.url();
  md["engine"] = "sglang";
  md["targetKvCache"] = "0.7";
  md["scrapeInterval"] = "500ms";
  std::string name;
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status st = stub->GetMetricSpec(&ctx, ref, &spec);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(spec.metricspecs_size(), 1);
    name = spec.metricspecs(0).metricname();
  }
  grpc::Status last;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    req.set_metricname(name);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    externalscaler::GetMetricsResponse resp;
    last = stub->GetMetrics(&ctx, req, &resp);
    if (last.error_code() == grpc::StatusCode::FAILED_PRECONDITION) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(last.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << last.error_message();
  EXPECT_NE(last.error_message().find("sglang:"), std::string::npos) << last.error_message();
  EXPECT_TRUE(
      std::regex_search(last.error_message(), std::regex(R"(closest names the pod serves: [^;]*vllm:num_requests_)")))
      << last.error_message();
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

// Issue 15 item 2: `engine: auto` logs the engine it chose, once per trigger (not per cycle).
TEST(AutoEngine, LogsItsChoiceOncePerTrigger) {
  testing::FakePod pod(testing::ReadTestdata("exposition/sglang-v0.4-docs-llama3.1-8b.prom"), "/metrics");
  testing::ChildProcess server(
      {Binary(), "serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--allow-static-endpoints"});
  auto m = server.WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  auto stub = externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
  externalscaler::ScaledObjectRef ref;
  ref.set_name("llama");
  ref.set_namespace_("sglang");
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = pod.url();
  md["engine"] = "auto";
  md["targetKvCache"] = "0.7";
  md["scrapeInterval"] = "500ms";
  grpc::ClientContext ctx;
  externalscaler::GetMetricSpecResponse spec;
  grpc::Status st = stub->GetMetricSpec(&ctx, ref, &spec);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto chose = server.WaitFor(R"(sglang/llama: engine auto detected sglang on pod )", 10s);
  ASSERT_FALSE(chose.empty()) << server.output();
  // Several more cycles (500 ms each): still one line.
  server.WaitFor(R"(no such line)", 2500ms);
  const std::string out = server.output();
  size_t count = 0;
  for (size_t at = out.find("engine auto detected"); at != std::string::npos;
       at = out.find("engine auto detected", at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << out;
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
}

}  // namespace
}  // namespace nimscaler
