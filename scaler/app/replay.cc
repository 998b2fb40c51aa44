// Exports RunReplay(): `nim-scaler replay` (issue 13 item 4) replays a demand file written by
// `nim-scaler record` on the emulated cluster of the scaling bench, once per trigger
// configuration and once under the article's HPA configuration, through demo::Run
// (tools/demo/scaling.h: the real spec, scrape extraction and evaluator, the demo's KEDA/HPA
// rules). The simulation library is linked into this binary for it (tools/demo/replay.h).
#include "tools/demo/replay.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <variant>

#include "scaler/app/app.h"
#include "scaler/app/demand_file.h"
#include "scaler/common/text.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::app {
namespace {

const char* kReplayUsage =
    "usage: nim-scaler replay DEMAND.jsonl --metadata FILE [--metadata FILE ...] [--out DIR]\n"
    "                         [--startup-delay 150s] [--slo 2s] [--min-replicas 0] [--initial-replicas N]\n"
    "                         [--seed 42]\n"
    "  replays recorded demand on an emulated cluster under each trigger's metadata and under the\n"
    "  article's HPA configuration (baseline); prints the comparison and writes DIR/replay.{md,csv,svg}\n"
    "  (DIR default replay-out). --startup-delay: pod creation -> ready; --min-replicas: KEDA\n"
    "  minReplicaCount of the nim-scaler runs; --initial-replicas: ready at the start (default: the\n"
    "  recording's first ready count, at least 1).\n"
    "exit codes: 0 compared and written; 1 the output directory cannot be written; 2 usage error,\n"
    "  an unreadable or invalid demand file or metadata\n";

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// The policy's metadata as demo::Run completes it, validated now so that an error names the
// file and the key before anything runs.
Status ValidateAsRun(const config::Metadata& metadata, double startup) {
  config::Metadata md = metadata;
  md["endpoints"] = "http://127.0.0.1:9/v1/metrics";
  md["engine"] = "nim";
  md["scrapeInterval"] = "2s";
  if (auto st = md.find("startupTime"); st != md.end() && st->second == "auto") {
    st->second = FormatDouble(startup) + "s";
  }
  trigger::SpecOptions so;
  so.allow_static_endpoints = true;
  so.kube_enabled = false;
  so.min_scrape_interval = std::chrono::milliseconds(100);
  auto built = trigger::BuildScalerSpec("nim", "meta-llama3-8b", md, so);
  return built.ok() ? Status::Ok() : built.status();
}

struct ReplayArgs {
  std::string demand_path, out_dir = "replay-out";
  std::vector<std::string> metadata_files;
  demo::RunOptions ro;
  int min_replicas = 0, initial = -1;
};

// Reads one flag's value into `r`; "" or what is wrong with the value.
std::string SetReplayFlag(const std::string& a, const std::string& v, ReplayArgs* r) {
  if (a == "--metadata") {
    r->metadata_files.push_back(v);
  } else if (a == "--out") {
    r->out_dir = v;
  } else if (a == "--startup-delay" || a == "--slo") {
    auto d = ParseDuration(v);
    if (!d || *d <= Duration::zero()) return "not a positive duration (e.g. 150s, 2m)";
    (a == "--slo" ? r->ro.slo : r->ro.startup) = ToSeconds(*d);
  } else {
    auto n = ParseDouble(v);
    if (!n || *n < 0 || *n != std::floor(*n) || *n > 1e9) return "not a whole number >= 0";
    if (a == "--min-replicas") {
      r->min_replicas = static_cast<int>(*n);
    } else if (a == "--initial-replicas") {
      r->initial = static_cast<int>(*n);
    } else {
      r->ro.seed = static_cast<uint64_t>(*n);
    }
  }
  return {};
}

// The arguments, or the exit code (0 after --help, 2 for a usage error, said on stderr).
std::variant<ReplayArgs, int> ParseReplayArgs(const std::vector<std::string>& args) {
  static const std::vector<std::string> kFlags = {
      "--metadata", "--out", "--startup-delay", "--slo", "--min-replicas", "--initial-replicas", "--seed"};
  ReplayArgs r;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << kReplayUsage;
      return 0;
    }
    if (a.rfind("--", 0) != 0) {
      if (!r.demand_path.empty()) {
        std::cerr << "replay: one demand file only (got \"" << Truncate(r.demand_path, 60) << "\" and \""
                  << Truncate(a, 60) << "\")\n";
        return 2;
      }
      r.demand_path = a;
      continue;
    }
    if (std::find(kFlags.begin(), kFlags.end(), a) == kFlags.end()) {
      std::string msg = "replay: unknown argument \"" + Truncate(a, 40) + "\"";
      if (auto s = SuggestClosest(a, kFlags)) msg += " (did you mean \"" + *s + "\"?)";
      std::cerr << msg << "\n" << kReplayUsage;
      return 2;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "replay: " << a << " needs a value\n" << kReplayUsage;
      return 2;
    }
    const std::string v = args[++i];
    if (std::string bad = SetReplayFlag(a, v, &r); !bad.empty()) {
      std::cerr << "replay: " << a << " \"" << Truncate(v, 40) << "\": " << bad << "\n";
      return 2;
    }
  }
  if (r.demand_path.empty() || r.metadata_files.empty()) {
    std::cerr << "replay: a demand file and at least one --metadata are required\n" << kReplayUsage;
    return 2;
  }
  if (r.min_replicas > 10) {
    std::cerr << "replay: --min-replicas " << r.min_replicas << " is above the emulated maxReplicaCount (10)\n";
    return 2;
  }
  return r;
}

// The article's HPA baseline, then one policy per metadata file (named after the file). Notes on
// stdout which keys of a file the replay cannot use.
Result<std::vector<demo::Policy>> ReplayPolicies(const ReplayArgs& args) {
  std::vector<demo::Policy> policies;
  for (const auto& p : demo::Policies()) {
    if (p.article) policies.push_back(p);
  }
  for (const auto& file : args.metadata_files) {
    auto md = ReadMetadataFile(file);
    if (!md.ok()) return md.status();
    config::Metadata metadata = std::move(md).value();
    auto dropped = demo::StripDeploymentKeys(&metadata);
    if (auto st = ValidateAsRun(metadata, args.ro.startup); !st.ok())
      return InvalidArgument(file + ": " + st.message());
    std::string name = std::filesystem::path(file).stem().string();
    if (name.empty() || name == "article") name = "trigger";
    for (int n = 2;
         std::any_of(policies.begin(), policies.end(), [&](const demo::Policy& p) { return p.name == name; }); ++n) {
      name = std::filesystem::path(file).stem().string() + "-" + std::to_string(n);
    }
    std::string kept;
    for (const auto& [k, v] : metadata) kept += (kept.empty() ? "" : ", ") + k + ": " + v;
    policies.push_back(
        demo::ReplayPolicy(name, file + " (" + (kept.empty() ? "defaults" : kept) + ")", metadata, args.min_replicas));
    if (!dropped.empty()) {
      std::string d;
      for (const auto& k : dropped) d += (d.empty() ? "" : ", ") + k;
      std::cout << "note: " << file << ": the replay's pods are emulated NIM pods scraped every 2 s; not used: " << d
                << "\n";
    }
  }
  return policies;
}

void PrintReplayPlan(const demo::Scenario& scenario, const demo::RunOptions& ro,
                     const std::vector<demo::Policy>& policies) {
  double peak = 0;
  for (const auto& p : scenario.load) peak = std::max(peak, p.rate);
  std::cout << scenario.title << "\n"
            << "  arrivals: peak " << FormatDouble(std::round(peak * 10) / 10) << " req/s; requests of "
            << FormatDouble(std::round(scenario.shape.input_mean)) << " prompt + "
            << FormatDouble(std::round(scenario.shape.output_mean))
            << " output tokens; react time from t = " << FormatDouble(scenario.stress_at) << " s (half the peak)\n"
            << "  pods start in " << FormatDouble(ro.startup) << " s; " << ro.initial_replicas
            << " ready at the start; SLO p95 TTFT " << FormatDouble(ro.slo) << " s\n";
  for (const auto& p : policies) std::cout << "  " << p.name << ": " << p.title << "\n";
  std::cout << "\n";
}

// DIR/replay.md, replay.csv and replay.svg; false (said on stderr) when they cannot be written.
bool WriteReplayOutputs(const std::string& out_dir, const demo::Scenario& scenario,
                        const std::vector<demo::Result>& results, const DemandTrace& trace, double slo,
                        const std::string& table) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    std::cerr << "replay: cannot create \"" << out_dir << "\": " << ec.message() << "\n";
    return false;
  }
  const std::string md_path = out_dir + "/replay.md", csv_path = out_dir + "/replay.csv",
                    svg_path = out_dir + "/replay.svg";
  if (!WriteFile(md_path, "# " + scenario.title + "\n\n" + table) ||
      !WriteFile(csv_path, demo::ScenarioCsv(scenario, results)) ||
      !WriteFile(svg_path, demo::ReplaySvg(scenario, results, trace, slo))) {
    std::cerr << "replay: cannot write into \"" << out_dir << "\"\n";
    return false;
  }
  std::cout << "\nwrote " << md_path << ", " << csv_path << ", " << svg_path << "\n";
  return true;
}

}  // namespace

int RunReplay(const std::vector<std::string>& argv) {
  auto parsed = ParseReplayArgs(argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  ReplayArgs& args = std::get<ReplayArgs>(parsed);
  auto trace = ReadDemandFile(args.demand_path);
  auto policies = trace.ok() ? ReplayPolicies(args) : Result<std::vector<demo::Policy>>(trace.status());
  if (!policies.ok()) {
    std::cerr << "replay: " << policies.status().message() << "\n";
    return 2;
  }
  const DemandTrace& tr = *trace;
  demo::RunOptions& ro = args.ro;
  ro.initial_replicas = args.initial >= 0 ? args.initial : std::max(1, tr.samples.front().ready);
  demo::Scenario scenario = demo::ReplayScenario(
      tr, "replay of " + std::filesystem::path(args.demand_path).filename().string() + " (" +
              FormatDouble(std::round(tr.samples.back().t)) + " s, " + std::to_string(tr.samples.size()) +
              " samples, engine " + (tr.header.engine.empty() ? "?" : tr.header.engine) + ")");
  PrintReplayPlan(scenario, ro, *policies);
  std::vector<demo::Result> results;
  for (const auto& p : *policies) {
    results.push_back(demo::Run(scenario, p, ro));
    if (!results.back().ran) {
      std::cerr << "replay: " << p.name << ": " << results.back().error << "\n";
      return 2;
    }
  }
  std::string table = demo::MarkdownTable({scenario}, results);
  std::cout << table;
  return WriteReplayOutputs(args.out_dir, scenario, results, tr, ro.slo, table) ? 0 : 1;
}

}  // namespace nimscaler::app
