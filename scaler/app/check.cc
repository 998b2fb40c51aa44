// Exports RunCheck(): `nim-scaler check` validates trigger metadata offline, prints the
// compiled spec, and with --scrape evaluates it once against live endpoints, explaining
// every signal.
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "scaler/app/app.h"
#include "scaler/common/text.h"
#include "scaler/engine/evaluator.h"
#include "scaler/net/http_client.h"
#include "scaler/spec/scaler_spec.h"

namespace nimscaler::app {

// Reads a metadata file: a JSON object of strings, or "key: value" lines (the trigger's
// `metadata:` block pasted from YAML; quotes around values are removed).
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
  size_t line_no = 0;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    ++line_no;
    std::string_view l = Trim(line);
    if (l.empty() || l.front() == '#' || l == "metadata:") continue;
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument("--metadata \"" + path + "\" line " + std::to_string(line_no) +
                             ": expected `key: value`, got \"" + Truncate(l, 60) + "\"");
    }
    std::string key(Trim(l.substr(0, colon)));
    std::string value(Trim(l.substr(colon + 1)));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    md[key] = value;
  }
  return md;
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
  std::string planned;
  for (const auto& f : spec::MetadataFields()) {
    if (f.planned) {
      planned += (planned.empty() ? "" : ", ") + ("`" + f.key + "`");
      continue;
    }
    out += "| `" + f.key + (f.prefix ? "<name>" : "") + "` | " + FieldType(f) + " | " + (f.default_value.empty() ? "-" : "`" + f.default_value + "`") +
           " | " + f.help + " |\n";
  }
  out += "\nAccepted and ignored (KEDA's own): `scalerAddress`, `enableTLS`, `unsafeSsl`, any key ending in `FromEnv`.\n";
  out += "Documented in the product specification but not in this build yet (using one is an error that says so): " +
         planned + ".\n";
  return out;
}

namespace {

const char* kCheckUsage =
    "usage: nim-scaler check --metadata FILE [--scrape URL ...] [--namespace NS] [--name NAME]\n"
    "       nim-scaler check --reference\n"
    "  --metadata FILE  the trigger's metadata: a YAML `key: value` block (as under `metadata:` in the\n"
    "                   ScaledObject) or a JSON object of strings; prints the compiled spec\n"
    "  --scrape URL     evaluates the metadata once against this pod's metrics endpoint (repeatable)\n"
    "  --reference      prints the metadata reference table (markdown) and exits\n"
    "exit codes: 0 valid (and, with --scrape, evaluated); 1 invalid metadata or the evaluation failed;\n"
    "  2 usage error or unreadable file\n";

}  // namespace

int RunCheck(const std::vector<std::string>& args) {
  std::string file, ns = "default", name = "check";
  std::vector<std::string> scrapes;
  for (size_t i = 0; i < args.size(); ++i) {
    auto next = [&](const char* flag) -> std::string {
      if (i + 1 >= args.size()) {
        std::cerr << "check: " << flag << " needs a value\n";
        std::exit(2);
      }
      return args[++i];
    };
    if (args[i] == "--metadata") file = next("--metadata");
    else if (args[i] == "--scrape") scrapes.push_back(next("--scrape"));
    else if (args[i] == "--namespace") ns = next("--namespace");
    else if (args[i] == "--name") name = next("--name");
    else if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kCheckUsage;
      return 0;
    }
    else if (args[i] == "--reference") {
      std::cout << MetadataReferenceMarkdown();
      return 0;
    }
    else {
      std::cerr << "check: unknown argument \"" << args[i] << "\"\n" << kCheckUsage;
      return 2;
    }
  }
  if (file.empty()) {
    std::cerr << "check: --metadata is required\n" << kCheckUsage;
    return 2;
  }
  auto read = ReadMetadataFile(file);
  if (!read.ok()) {
    std::cerr << read.status().message() << "\n";
    return 2;
  }
  config::Metadata md = std::move(read).value();
  // --scrape URLs stand in for the pods; static endpoints are allowed for this offline check.
  if (!scrapes.empty()) {
    std::string joined;
    for (const auto& u : scrapes) joined += (joined.empty() ? "" : ",") + u;
    md["endpoints"] = joined;
  }
  if (!scrapes.empty()) {
    md.erase("service");
    md.erase("dnsName");
  }
  auto spec = spec::BuildScalerSpec(ns, name, md, {.allow_static_endpoints = true});
  if (!spec.ok()) {
    std::cout << "INVALID: " << spec.status().message() << "\n";
    return 1;
  }
  const spec::ScalerSpec& s = **spec;
  std::cout << "metadata OK\n"
            << "  metricName:     " << s.metric_name << " (KEDA shows it as s<N>-" << s.metric_name << ")\n"
            << "  engine:         " << s.scrape.engine << "\n"
            << "  formula:        " << s.FormulaText() << "\n"
            << "  compiled:       " << s.value->Dump() << "\n"
            << "  activation:     " << s.activation->text() << "\n"
            << "  scrapeInterval: " << FormatDuration(s.scrape_interval) << "\n";
  std::cout << "  pods from:      " << s.discovery.Describe() << ", path " << s.discovery.path << "\n";
  for (const auto& e : s.discovery.urls) std::cout << "  endpoint:       " << e << "\n";
  if (scrapes.empty()) return 0;

  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  sources::PodScrapeSource source(s.scrape, http);
  // Two scrapes a moment apart give the windows two points, so rates and quantiles have
  // a value (a single scrape cannot show a rate).
  engine::Evaluator evaluator(*spec);
  engine::Evaluation ev;
  for (int round = 0; round < 2; ++round) {
    auto snap = std::make_shared<signals::Snapshot>();
    TimePoint now = SteadyClock::now();
    snap->taken_at = now;
    snap->discovered = s.discovery.urls.size();
    for (const auto& url : s.discovery.urls) {
      signals::PodReading r;
      r.endpoint = url;
      auto got = source.Scrape(url);
      if (!got.ok()) {
        r.error = got.status().message();
      } else {
        r = sources::ReadingFromScrape(url, *got, now);
      }
      if (round == 1) {
        std::cout << "\npod " << url << "\n";
        if (!got.ok()) {
          std::cout << "  scrape failed: " << r.error << "\n";
        } else {
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
      }
      snap->pods.push_back(std::move(r));
    }
    ev = evaluator.Update(snap, now);
    if (round == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
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

}  // namespace nimscaler::app
