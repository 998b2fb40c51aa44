// Exports RunReplay(): `nim-scaler replay` (issue 13 item 4) replays a demand file written by
// `nim-scaler record` on the emulated cluster of the scaling bench, once per trigger
// configuration and once under the article's HPA configuration, through demo::Run
// (tools/demo/scaling.h: the real spec, scrape extraction and evaluator, the demo's KEDA/HPA
// rules). The simulation library is linked into this binary for it (tools/demo/replay.h).
#include "tools/demo/replay.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

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

}  // namespace

int RunReplay(const std::vector<std::string>& args) {
  std::string demand_path, out_dir = "replay-out";
  std::vector<std::string> metadata_files;
  demo::RunOptions ro;
  int min_replicas = 0, initial = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << kReplayUsage;
      return 0;
    }
    static const std::vector<std::string> kFlags = {
        "--metadata", "--out", "--startup-delay", "--slo", "--min-replicas", "--initial-replicas", "--seed"};
    if (a.rfind("--", 0) != 0) {
      if (!demand_path.empty()) {
        std::cerr << "replay: one demand file only (got \"" << Truncate(demand_path, 60) << "\" and \""
                  << Truncate(a, 60) << "\")\n";
        return 2;
      }
      demand_path = a;
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
    auto bad = [&](const std::string& what) {
      std::cerr << "replay: " << a << " \"" << Truncate(v, 40) << "\": " << what << "\n";
      return 2;
    };
    if (a == "--metadata")
      metadata_files.push_back(v);
    else if (a == "--out")
      out_dir = v;
    else if (a == "--startup-delay" || a == "--slo") {
      auto d = ParseDuration(v);
      if (!d || *d <= Duration::zero()) return bad("not a positive duration (e.g. 150s, 2m)");
      (a == "--slo" ? ro.slo : ro.startup) = ToSeconds(*d);
    } else {
      auto n = ParseDouble(v);
      if (!n || *n < 0 || *n != std::floor(*n) || *n > 1e9) return bad("not a whole number >= 0");
      if (a == "--min-replicas")
        min_replicas = static_cast<int>(*n);
      else if (a == "--initial-replicas")
        initial = static_cast<int>(*n);
      else
        ro.seed = static_cast<uint64_t>(*n);
    }
  }
  if (demand_path.empty() || metadata_files.empty()) {
    std::cerr << "replay: a demand file and at least one --metadata are required\n" << kReplayUsage;
    return 2;
  }
  if (min_replicas > 10) {
    std::cerr << "replay: --min-replicas " << min_replicas << " is above the emulated maxReplicaCount (10)\n";
    return 2;
  }
  auto trace = ReadDemandFile(demand_path);
  if (!trace.ok()) {
    std::cerr << "replay: " << trace.status().message() << "\n";
    return 2;
  }

  // The baseline, then one policy per metadata file (named after the file).
  std::vector<demo::Policy> policies;
  for (const auto& p : demo::Policies()) {
    if (p.article) policies.push_back(p);
  }
  for (const auto& file : metadata_files) {
    auto md = ReadMetadataFile(file);
    if (!md.ok()) {
      std::cerr << "replay: " << md.status().message() << "\n";
      return 2;
    }
    config::Metadata metadata = std::move(md).value();
    auto dropped = demo::StripDeploymentKeys(&metadata);
    if (auto st = ValidateAsRun(metadata, ro.startup); !st.ok()) {
      std::cerr << "replay: " << file << ": " << st.message() << "\n";
      return 2;
    }
    std::string name = std::filesystem::path(file).stem().string();
    if (name.empty() || name == "article") name = "trigger";
    for (int n = 2;
         std::any_of(policies.begin(), policies.end(), [&](const demo::Policy& p) { return p.name == name; }); ++n) {
      name = std::filesystem::path(file).stem().string() + "-" + std::to_string(n);
    }
    std::string kept;
    for (const auto& [k, v] : metadata) kept += (kept.empty() ? "" : ", ") + k + ": " + v;
    policies.push_back(
        demo::ReplayPolicy(name, file + " (" + (kept.empty() ? "defaults" : kept) + ")", metadata, min_replicas));
    if (!dropped.empty()) {
      std::string d;
      for (const auto& k : dropped) d += (d.empty() ? "" : ", ") + k;
      std::cout << "note: " << file << ": the replay's pods are emulated NIM pods scraped every 2 s; not used: " << d
                << "\n";
    }
  }

  const DemandTrace& tr = *trace;
  ro.initial_replicas = initial >= 0 ? initial : std::max(1, tr.samples.front().ready);
  demo::Scenario scenario = demo::ReplayScenario(
      tr, "replay of " + std::filesystem::path(demand_path).filename().string() + " (" +
              FormatDouble(std::round(tr.samples.back().t)) + " s, " + std::to_string(tr.samples.size()) +
              " samples, engine " + (tr.header.engine.empty() ? "?" : tr.header.engine) + ")");
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

  std::vector<demo::Result> results;
  for (const auto& p : policies) {
    results.push_back(demo::Run(scenario, p, ro));
    if (!results.back().ran) {
      std::cerr << "replay: " << p.name << ": " << results.back().error << "\n";
      return 2;
    }
  }
  std::string table = demo::MarkdownTable({scenario}, results);
  std::cout << table;

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    std::cerr << "replay: cannot create \"" << out_dir << "\": " << ec.message() << "\n";
    return 1;
  }
  const std::string md_path = out_dir + "/replay.md", csv_path = out_dir + "/replay.csv",
                    svg_path = out_dir + "/replay.svg";
  if (!WriteFile(md_path, "# " + scenario.title + "\n\n" + table) ||
      !WriteFile(csv_path, demo::ScenarioCsv(scenario, results)) ||
      !WriteFile(svg_path, demo::ReplaySvg(scenario, results, tr, ro.slo))) {
    std::cerr << "replay: cannot write into \"" << out_dir << "\"\n";
    return 1;
  }
  std::cout << "\nwrote " << md_path << ", " << csv_path << ", " << svg_path << "\n";
  return 0;
}

}  // namespace nimscaler::app
