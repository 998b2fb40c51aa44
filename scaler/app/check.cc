// Exports RunCheck(): `nim-scaler check` validates trigger metadata offline (a metadata block
// or every nim-scaler trigger of a ScaledObject file, read with yaml-cpp), prints the compiled
// spec, and with --scrape evaluates it once against live endpoints or capture files,
// explaining every signal.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "scaler/app/app.h"
#include "scaler/common/text.h"
#include "scaler/engine/evaluator.h"
#include "scaler/engine/snapshot_builder.h"
#include "scaler/net/http_client.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::app {

namespace {

// A trigger's `metadata:` mapping as config::Metadata. Every value must be one scalar (KEDA
// passes metadata as a map of strings); `where` prefixes errors ("--metadata \"f\"", "document
// 2, spec.triggers[0]") and every error names the key.
Result<config::Metadata> CheckMetadataFromYaml(const YAML::Node& node, const std::string& where) {
  config::Metadata md;
  if (!node || node.IsNull()) return md;
  if (!node.IsMap()) return InvalidArgument(where + ": expected `key: value` lines (a YAML mapping)");
  for (const auto& kv : node) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    const YAML::Node& v = kv.second;
    if (v.IsNull()) {
      md[key] = "";
    } else if (v.IsScalar()) {
      md[key] = v.Scalar();
    } else {
      return InvalidArgument(where + ": key \"" + Truncate(key, 60) +
                             "\": expected one value (KEDA metadata are strings), got a " +
                             (v.IsSequence() ? "list" : "mapping"));
    }
  }
  return md;
}

std::string CheckYamlError(const YAML::Exception& e) {
  std::string out = e.msg;
  if (e.mark.line >= 0) out = "line " + std::to_string(e.mark.line + 1) + ": " + out;
  return out;
}

}  // namespace

// Reads a metadata file: a JSON object of strings, or YAML (the trigger's `metadata:` block
// as written in the ScaledObject, with or without the `metadata:` line; comments, quoted
// values and block scalars as YAML defines them).
Result<config::Metadata> ReadMetadataFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("--metadata: cannot read \"" + path + "\"");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  config::Metadata md;
  if (Trim(text).substr(0, 1) == "{") {
    try {
      auto doc = nlohmann::json::parse(text);
      for (const auto& [k, v] : doc.items()) md[k] = v.is_string() ? v.get<std::string>() : v.dump();
    } catch (const nlohmann::json::exception& e) {
      return InvalidArgument("--metadata \"" + path + "\": not valid JSON: " + e.what());
    }
    return md;
  }
  const std::string where = "--metadata \"" + path + "\"";
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where + ": not valid YAML: " + CheckYamlError(e));
  }
  if (doc.IsMap() && doc["kind"] && doc["spec"]) {
    return InvalidArgument(
        where + ": this is a whole Kubernetes object (kind: " + (doc["kind"].IsScalar() ? doc["kind"].Scalar() : "?") +
        "); check it with `nim-scaler check -f " + path + "`");
  }
  if (doc.IsMap() && doc.size() == 1 && doc["metadata"] && doc["metadata"].IsMap()) doc = doc["metadata"];
  if (!doc.IsNull() && !doc.IsMap()) {
    return InvalidArgument(where + ": expected `key: value` lines, got \"" + Truncate(Trim(text), 60) + "\"");
  }
  return CheckMetadataFromYaml(doc, where);
}

namespace {

std::string FieldType(const config::FieldSpec& f) {
  switch (f.type) {
    case config::FieldType::kString: return "string";
    case config::FieldType::kDouble:
      if (f.fraction) return "fraction 0-1";
      if (std::isinf(f.max)) return "number > " + FormatDouble(f.min);
      return "number in (" + FormatDouble(f.min) + ", " + FormatDouble(f.max) + "]";
    case config::FieldType::kDuration: return "duration";
    case config::FieldType::kEnum: {
      std::string out;
      for (const auto& e : f.enum_values) out += (out.empty() ? "" : " \\| ") + e;
      return out;
    }
    case config::FieldType::kBool: return "true \\| false";
  }
  return "";
}

}  // namespace

std::string MetadataReferenceMarkdown() {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& f : trigger::MetadataFields()) {
    out += "| `" + f.key + (f.prefix ? "<name>" : "") + "` | " + FieldType(f) + " | " +
           (f.default_value.empty() ? "-" : "`" + f.default_value + "`") + " | " + f.help + " |\n";
  }
  out +=
      "\nAccepted and ignored (KEDA's own): `scalerAddress`, `enableTLS`, `unsafeSsl`, any key ending in `FromEnv`.\n";
  return out;
}

namespace {

const char* kCheckUsage =
    "usage: nim-scaler check --metadata FILE [--scrape URL|FILE ...] [--namespace NS] [--name NAME]\n"
    "       nim-scaler check -f SCALEDOBJECT.yaml [--all-external] [--scrape URL|FILE ...]\n"
    "       nim-scaler check --reference\n"
    "  --metadata FILE  the trigger's metadata: the YAML block under `metadata:` in the ScaledObject\n"
    "                   (with or without that line) or a JSON object of strings; prints the compiled spec\n"
    "  -f FILE          a ScaledObject/ScaledJob file (several YAML documents allowed): checks every\n"
    "                   trigger of type external or external-push whose scalerAddress host contains\n"
    "                   \"nim-scaler\" and reports it by document and trigger index; other triggers and\n"
    "                   documents are skipped with a note. --all-external checks every external trigger.\n"
    "                   Namespace and name come from the object (--namespace/--name override them).\n"
    "  --scrape URL|FILE  evaluates the metadata once against a pod's metrics endpoint (http:// or\n"
    "                   https://) or a saved exposition file (a capture); repeatable, one per pod\n"
    "  --reference      prints the metadata reference table (markdown) and exits\n"
    "exit codes: 0 valid (and, with --scrape, evaluated; -f: also when no trigger is for nim-scaler);\n"
    "  1 invalid metadata or the evaluation failed; 2 usage error, unreadable or unparsable file\n";

// One --scrape argument: a URL to fetch, or a capture file read once.
struct CheckTarget {
  std::string shown;  // the URL or the file path
  bool is_file = false;
  std::string body;  // the file's contents
};

bool IsUrl(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

// --scrape targets stand in for the pods; static endpoints are allowed for this offline check.
// A capture file gets a placeholder endpoint that is never fetched.
void UseTargetsAsPods(const std::vector<CheckTarget>& targets, config::Metadata* md) {
  if (targets.empty()) return;
  std::string joined;
  for (size_t i = 0; i < targets.size(); ++i) {
    joined += (joined.empty() ? "" : ",") +
              (targets[i].is_file ? "http://127.0.0.1:9/capture-" + std::to_string(i) : targets[i].shown);
  }
  (*md)["endpoints"] = joined;
  md->erase("service");
  md->erase("dnsName");
}

void PrintSpec(const trigger::ScalerSpec& s, const std::vector<CheckTarget>& targets) {
  std::cout << "metadata OK\n"
            << "  metricName:     " << s.metric_name << " (KEDA shows it as s<N>-" << s.metric_name << ")\n"
            << "  engine:         " << s.scrape.engine << "\n"
            << "  formula:        " << s.FormulaText() << "\n"
            << "  compiled:       " << s.value->Dump() << "\n"
            << "  activation:     " << s.activation->text() << "\n"
            << "  scrapeInterval: " << FormatDuration(s.scrape_interval) << "\n";
  if (const auto& fd = s.front_door) {
    std::string reads;
    for (const auto& src : fd->scrape.custom) {
      for (const auto& m : src.metrics) reads += (reads.empty() ? "" : ", ") + src.signal + " <- " + m.ToString();
    }
    std::cout << "  front door:     " << fd->discovery.Describe() << ", path " << fd->discovery.path << " (preset "
              << fd->preset << ": " << reads << ")\n";
    // check reads the pods it is given only: the front door's signals are 0 in its evaluation.
    if (!targets.empty()) std::cout << "                  not scraped by check: its signals read as 0 below\n";
  }
  if (targets.empty()) {
    std::cout << "  pods from:      " << s.discovery.Describe() << ", path " << s.discovery.path << "\n";
    for (const auto& e : s.discovery.urls) std::cout << "  endpoint:       " << e << "\n";
    return;
  }
  for (const auto& t : targets) {
    std::cout << "  " << (t.is_file ? "capture file:   " : "endpoint:       ") << t.shown << "\n";
  }
}

// What one pod (or capture) served for each signal the trigger collects.
void PrintPodScrape(const trigger::ScalerSpec& s, const CheckTarget& t, const Result<sources::PodScrape>& got,
                    const std::string& error) {
  std::cout << "\npod " << t.shown << "\n";
  if (!got.ok()) {
    std::cout << "  " << (t.is_file ? "reading the capture" : "scrape") << " failed: " << error << "\n";
    return;
  }
  std::cout << "  engine: " << got->engine << (s.scrape.engine == "auto" ? " (detected)" : "") << "\n";
  for (const auto& sig : s.scrape.signals) {
    std::string from = got->metrics.count(sig) ? "  <- " + got->metrics.at(sig) : "";
    if (auto g = got->gauges.find(sig); g != got->gauges.end()) {
      std::cout << "  " << sig << " = " << FormatDouble(g->second) << from << "\n";
    } else if (auto c = got->counters.find(sig); c != got->counters.end()) {
      std::cout << "  " << sig << " = " << FormatDouble(c->second) << " (counter)" << from << "\n";
    } else if (auto h = got->histograms.find(sig); h != got->histograms.end()) {
      double count = h->second.empty() ? 0 : h->second.back().second;
      std::cout << "  " << sig << " = histogram, " << h->second.size() << " buckets, " << FormatDouble(count)
                << " observations" << from << "\n";
    } else {
      std::cout << "  " << sig << " = (not served)\n";
    }
  }
  if (!got->missing_detail.empty()) std::cout << "  missing: " << got->missing_detail << "\n";
}

// One cycle over the targets, as serve's collection fetches one: a capture file's body stands
// for a response (200, text format); a URL is fetched with the trigger's request options.
engine::CycleData FetchTargets(const trigger::ScalerSpec& s, const std::vector<CheckTarget>& targets,
                               net::HttpClient& http) {
  engine::CycleData data;
  data.started = SteadyClock::now();
  data.discovered = targets.size();
  for (const auto& t : targets) {
    data.urls.push_back(t.shown);
    data.responses.push_back(
        t.is_file ? Result<net::HttpResponse>(net::HttpResponse{200, "text/plain; version=0.0.4", t.body})
                  : http.Get(t.shown, s.scrape.http));
  }
  return data;
}

// Two cycles a moment apart give the windows two points, so rates and quantiles have a value (a
// single scrape cannot show a rate). The snapshots are built as serve builds them
// (engine::SnapshotBuilder); the second cycle's readings are printed.
engine::Evaluation EvaluateTargets(const trigger::ScalerSpecConstPtr& spec, const std::vector<CheckTarget>& targets) {
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  engine::SnapshotBuilder builder(spec, http);
  engine::Evaluator evaluator(spec);
  engine::Evaluation ev;
  signals::SnapshotConstPtr snapshot;
  for (int round = 0; round < 2; ++round) {
    engine::CycleData data = FetchTargets(*spec, targets, *http);
    snapshot = builder.Build(data, snapshot).snapshot;
    if (round == 1) {
      for (size_t i = 0; i < targets.size(); ++i) {
        auto got = builder.source().Interpret(data.urls[i], data.responses[i]);
        PrintPodScrape(*spec, targets[i], got, got.ok() ? std::string() : got.status().message());
      }
    }
    ev = evaluator.Update(snapshot, data.started);
    if (round == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
  return ev;
}

// Validates `md`, prints the compiled spec and, with targets, evaluates it once. 0, 1 as the
// usage text says.
int CheckOneTrigger(const std::string& ns, const std::string& name, config::Metadata md,
                    const std::vector<CheckTarget>& targets) {
  UseTargetsAsPods(targets, &md);
  auto spec = trigger::BuildScalerSpec(ns, name, md, {.allow_static_endpoints = true});
  if (!spec.ok()) {
    std::cout << "INVALID: " << spec.status().message() << "\n";
    return 1;
  }
  const trigger::ScalerSpec& s = **spec;
  PrintSpec(s, targets);
  if (targets.empty()) return 0;
  engine::Evaluation ev = EvaluateTargets(*spec, targets);
  std::cout << "\n";
  if (!ev.status.ok()) {
    std::cout << "result: " << CodeName(ev.status.code()) << ": " << ev.status.message() << "\n";
    return 1;
  }
  std::cout << "signals over all pods (window " << FormatDuration(s.window) << "):\n";
  for (const auto& [k, v] : ev.signals) std::cout << "  " << k << " = " << FormatDouble(v) << "\n";
  std::cout << "formula " << s.FormulaText() << " = " << FormatDouble(ev.raw) << "\n";
  std::cout << "result: value " << FormatDouble(ev.value) << " -> KEDA metricValue "
            << static_cast<long long>(std::ceil(ev.value)) << " (HPA with target 1 asks for "
            << static_cast<long long>(std::ceil(ev.value)) << " replicas), active " << (ev.active ? "true" : "false")
            << " (" << s.activation->text() << ")\n";
  return 0;
}

std::string CheckScalarAt(const YAML::Node& node, const char* key) {
  if (!node.IsMap()) return "";
  YAML::Node v = node[key];
  return v && v.IsScalar() ? v.Scalar() : "";
}

// True when a scalerAddress ("host:port", maybe with a scheme) names a nim-scaler Service:
// its host part contains "nim-scaler" (the chart's Service names all do).
bool PointsAtNimScaler(std::string address) {
  if (auto scheme = address.find("://"); scheme != std::string::npos) address = address.substr(scheme + 3);
  if (auto colon = address.rfind(':'); colon != std::string::npos) address = address.substr(0, colon);
  std::transform(address.begin(), address.end(), address.begin(), [](unsigned char c) { return std::tolower(c); });
  return address.find("nim-scaler") != std::string::npos;
}

// `check -f`: every nim-scaler trigger of every ScaledObject/ScaledJob document in the file.
int CheckObjectFile(const std::string& path, const std::string& ns_override, const std::string& name_override,
                    bool all_external, const std::vector<CheckTarget>& targets) {
  if (!std::filesystem::is_regular_file(path)) {
    std::cerr << "check -f: cannot read \"" << path << "\"\n";
    return 2;
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAllFromFile(path);
  } catch (const YAML::Exception& e) {
    std::cerr << "check -f \"" << path << "\": not valid YAML: " << CheckYamlError(e) << "\n";
    return 2;
  }
  int rc = 0, checked = 0;
  for (size_t d = 0; d < docs.size(); ++d) {
    const YAML::Node& doc = docs[d];
    if (!doc || doc.IsNull()) continue;
    const std::string doc_label = "document " + std::to_string(d + 1);
    std::string kind = CheckScalarAt(doc, "kind");
    if (kind != "ScaledObject" && kind != "ScaledJob") {
      std::cout << doc_label << ": kind " << (kind.empty() ? "(none)" : kind)
                << ", skipped (not a ScaledObject or ScaledJob)\n";
      continue;
    }
    YAML::Node meta = doc["metadata"];
    std::string ns = !ns_override.empty() ? ns_override : CheckScalarAt(meta, "namespace");
    std::string name = !name_override.empty() ? name_override : CheckScalarAt(meta, "name");
    if (ns.empty()) ns = "default";
    if (name.empty()) name = "check";
    YAML::Node spec = doc["spec"];
    YAML::Node triggers = spec.IsMap() ? spec["triggers"] : YAML::Node();
    if (!triggers || !triggers.IsSequence()) {
      std::cout << doc_label << " (" << kind << " " << ns << "/" << name << "): no spec.triggers list, skipped\n";
      continue;
    }
    for (size_t i = 0; i < triggers.size(); ++i) {
      const YAML::Node& t = triggers[i];
      std::string label =
          doc_label + " (" + kind + " " + ns + "/" + name + "), spec.triggers[" + std::to_string(i) + "]";
      std::string type = CheckScalarAt(t, "type");
      if (type != "external" && type != "external-push") {
        std::cout << label << ": type " << (type.empty() ? "(none)" : type) << ", skipped (not an external scaler)\n";
        continue;
      }
      std::string address = CheckScalarAt(t["metadata"], "scalerAddress");
      if (!all_external && !PointsAtNimScaler(address)) {
        std::cout << label << ": scalerAddress \"" << address
                  << "\" does not name nim-scaler, skipped (--all-external checks it anyway)\n";
        continue;
      }
      std::cout << label << " (" << type << "):\n";
      ++checked;
      auto md = CheckMetadataFromYaml(t["metadata"], label + " metadata");
      if (!md.ok()) {
        std::cout << "INVALID: " << md.status().message() << "\n";
        rc = std::max(rc, 1);
        continue;
      }
      rc = std::max(rc, CheckOneTrigger(ns, name, *md, targets));
    }
  }
  if (checked == 0)
    std::cout << "no trigger for nim-scaler in \"" << path << "\": nothing checked\n";
  else
    std::cout << "\n" << checked << " trigger(s) checked: " << (rc == 0 ? "all valid" : "see INVALID above") << "\n";
  return rc;
}

}  // namespace

int RunCheck(const std::vector<std::string>& args) {
  std::string file, object_file, ns, name;
  bool all_external = false;
  std::vector<std::string> scrapes;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kCheckUsage;
      return 0;
    }
    if (a == "--reference") {
      std::cout << MetadataReferenceMarkdown();
      return 0;
    }
    if (a == "--all-external") {
      all_external = true;
      continue;
    }
    std::string* dest = a == "--metadata"            ? &file
                        : a == "-f" || a == "--file" ? &object_file
                        : a == "--namespace"         ? &ns
                        : a == "--name"              ? &name
                                                     : nullptr;
    if (dest == nullptr && a != "--scrape") {
      std::cerr << "check: unknown argument \"" << Truncate(a, 60) << "\"\n" << kCheckUsage;
      return 2;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "check: " << a << " needs a value\n" << kCheckUsage;
      return 2;
    }
    if (dest != nullptr)
      *dest = args[++i];
    else
      scrapes.push_back(args[++i]);
  }
  if (file.empty() == object_file.empty()) {
    std::cerr << "check: give exactly one of --metadata FILE and -f FILE\n" << kCheckUsage;
    return 2;
  }
  std::vector<CheckTarget> targets;
  for (const auto& sc : scrapes) {
    CheckTarget t{sc, !IsUrl(sc), ""};
    if (t.is_file) {
      std::ifstream in(sc, std::ios::binary);
      if (!in || !std::filesystem::is_regular_file(sc)) {
        std::cerr << "check: --scrape \"" << Truncate(sc, 200)
                  << "\" is neither an http(s):// URL nor a readable capture file\n";
        return 2;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      t.body = ss.str();
    }
    targets.push_back(std::move(t));
  }
  if (!object_file.empty()) return CheckObjectFile(object_file, ns, name, all_external, targets);
  auto read = ReadMetadataFile(file);
  if (!read.ok()) {
    std::cerr << read.status().message() << "\n";
    return 2;
  }
  return CheckOneTrigger(ns.empty() ? "default" : ns, name.empty() ? "check" : name, std::move(read).value(), targets);
}

}  // namespace nimscaler::app
