// Exports RunRecord(): `nim-scaler record` samples a live deployment's demand (issue 13 item 4)
// through the trigger's own discovery and scrape path (the spec serve would build, its
// DiscoveryRegistry and PodScrapeSource) and writes the demand file of demand_file.h.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <variant>

#include "scaler/app/app.h"
#include "scaler/app/demand_file.h"
#include "scaler/common/text.h"
#include "scaler/net/http_client.h"
#include "scaler/sources/discovery/discovery_registry.h"
#include "scaler/sources/discovery/kube_api.h"
#include "scaler/trigger/scaler_spec.h"

namespace nimscaler::app {
namespace {

volatile sig_atomic_t g_record_stop = 0;
void OnRecordSignal(int) { g_record_stop = 1; }

const char* kRecordUsage =
    "usage: nim-scaler record --metadata FILE --out FILE [--duration 10m] [--kube-api auto|off|URL]\n"
    "                         [--namespace NS] [--name NAME] [--compression X]\n"
    "  samples the demand of the trigger's pods every scrapeInterval until --duration (wall time)\n"
    "  or SIGINT/SIGTERM; --compression: the deployment's clock runs X times wall time (nim-emulator)\n"
    "exit codes: 0 samples written; 1 the pods could not be read, nothing was recorded or a write\n"
    "  failed; 2 usage error, invalid metadata or an --out file that cannot be created\n";

std::string UtcNow() {
  auto now = std::chrono::system_clock::now();
  std::time_t tt = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// Sleeps until `until`, waking every 50 ms to notice a stop signal. False when stopped.
bool SleepUntil(SteadyClock::time_point until) {
  while (!g_record_stop) {
    auto left = until - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return true;
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(left, std::chrono::milliseconds(50)));
  }
  return false;
}

struct Scraped {
  int discovered = 0;
  std::vector<PodDemandReading> pods;
  std::string engine;       ///< first engine a pod was read with
  std::string no_requests;  ///< why the request counter is missing (when every pod lacks it)
  std::vector<std::pair<std::string, std::string>> failures;  ///< (pod, why) of failed scrapes
};

// Reports a pod's failure when it starts failing, not on every scrape.
void ReportFailures(const Scraped& s, std::map<std::string, std::string>* reported) {
  std::map<std::string, std::string> now(s.failures.begin(), s.failures.end());
  for (const auto& [pod, why] : now) {
    auto it = reported->find(pod);
    if (it == reported->end()) std::cerr << "record: pod " << pod << ": " << why << "\n";
  }
  for (const auto& [pod, why] : *reported) {
    if (!now.count(pod)) std::cerr << "record: pod " << pod << " answers again\n";
  }
  *reported = std::move(now);
}

Result<Scraped> ScrapeOnce(sources::PodDiscovery& discovery, const sources::PodScrapeSource& source) {
  auto listed = discovery.List();
  if (!listed.ok()) return listed.status();
  Scraped out;
  std::vector<std::string> urls;
  for (const auto& e : *listed) {
    if (e.terminating) continue;
    ++out.discovered;
    if (e.ready) urls.push_back(e.url);
  }
  auto results = source.ScrapeAll(urls);
  bool any_requests = false;
  for (size_t i = 0; i < urls.size(); ++i) {
    PodDemandReading r;
    r.pod = urls[i];
    if (results[i].ok()) {
      const auto& s = results[i].value();
      r.ok = true;
      if (out.engine.empty()) out.engine = s.engine;
      auto counter = [&](const char* name) -> std::optional<double> {
        auto it = s.counters.find(name);
        if (it == s.counters.end() || !std::isfinite(it->second)) return std::nullopt;
        return it->second;
      };
      auto gauge = [&](const char* name) {
        auto it = s.gauges.find(name);
        return it == s.gauges.end() || !std::isfinite(it->second) ? 0.0 : it->second;
      };
      r.requests = counter(kRequests);
      r.prompt_tokens = counter(kPromptTokens);
      r.generation_tokens = counter(kGenerationTokens);
      r.running = gauge(kRunning);
      r.waiting = gauge(kWaiting);
      if (r.requests)
        any_requests = true;
      else if (out.no_requests.empty()) {
        out.no_requests = "pod " + urls[i] + " (engine " + s.engine + ") serves no request counter";
        if (!s.missing_detail.empty() && s.missing.size() && s.missing.front() == "requests") {
          out.no_requests += ": " + s.missing_detail;
        }
      }
    } else {
      out.failures.emplace_back(urls[i], results[i].status().message());
    }
    out.pods.push_back(std::move(r));
  }
  if (any_requests) out.no_requests.clear();
  return out;
}

struct RecordArgs {
  std::string file, out_path, kube_flag = "auto", ns = "default", name = "record";
  Duration duration = std::chrono::minutes(10);
  double compression = 1;
};

// The arguments, or the exit code (0 after --help, 2 for a usage error, said on stderr).
std::variant<RecordArgs, int> ParseRecordArgs(const std::vector<std::string>& args) {
  static const std::vector<std::string> kFlags = {"--metadata",  "--out",  "--duration",   "--kube-api",
                                                  "--namespace", "--name", "--compression"};
  RecordArgs r;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << kRecordUsage;
      return 0;
    }
    if (std::find(kFlags.begin(), kFlags.end(), a) == kFlags.end()) {
      std::string msg = "record: unknown argument \"" + Truncate(a, 40) + "\"";
      if (auto s = SuggestClosest(a, kFlags)) msg += " (did you mean \"" + *s + "\"?)";
      std::cerr << msg << "\n" << kRecordUsage;
      return 2;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "record: " << a << " needs a value\n" << kRecordUsage;
      return 2;
    }
    const std::string v = args[++i];
    if (a == "--metadata") {
      r.file = v;
    } else if (a == "--out") {
      r.out_path = v;
    } else if (a == "--kube-api") {
      r.kube_flag = v;
    } else if (a == "--namespace") {
      r.ns = v;
    } else if (a == "--name") {
      r.name = v;
    } else if (a == "--duration") {
      auto d = ParseDuration(v);
      if (!d || *d <= Duration::zero()) {
        std::cerr << "record: --duration \"" << Truncate(v, 40) << "\" is not a positive duration (e.g. 10m, 90s)\n";
        return 2;
      }
      r.duration = *d;
    } else if (a == "--compression") {
      auto x = ParseDouble(v);
      if (!x || *x <= 0) {
        std::cerr << "record: --compression \"" << Truncate(v, 40) << "\" must be a number > 0\n";
        return 2;
      }
      r.compression = *x;
    }
  }
  if (r.file.empty() || r.out_path.empty()) {
    std::cerr << "record: --metadata and --out are required\n" << kRecordUsage;
    return 2;
  }
  return r;
}

// The trigger's spec, built as serve would but with a command-line tool's policy (like check:
// static endpoints allowed, scrape intervals down to 100 ms). Problems are said on stderr.
Result<trigger::ScalerSpecConstPtr> RecordedTrigger(const RecordArgs& args, bool kube_enabled) {
  auto md = ReadMetadataFile(args.file);
  if (!md.ok()) return md.status();
  trigger::SpecOptions options;
  options.allow_static_endpoints = true;
  options.min_scrape_interval = std::chrono::milliseconds(100);
  options.kube_enabled = kube_enabled;
  auto built = trigger::BuildScalerSpec(args.ns, args.name, *md, options);
  if (!built.ok()) return InvalidArgument(args.file + ": " + built.status().message());
  return built;
}

// SIGINT and SIGTERM stop the recording (g_record_stop) while this lives.
class StopOnSignals {
 public:
  StopOnSignals() {
    struct sigaction sa {};
    sa.sa_handler = OnRecordSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    g_record_stop = 0;
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// The baseline: the first scrape that lists the pods and finds one answering (or none ready: a
// deployment at zero). A Service's watch needs a moment for its first list: bounded by 10 s or
// `stop_at`.
Result<Scraped> ScrapeBaseline(sources::PodDiscovery& discovery, const sources::PodScrapeSource& source,
                               SteadyClock::time_point stop_at, std::map<std::string, std::string>* reported) {
  const auto begin = SteadyClock::now();
  Result<Scraped> first = Unavailable("not scraped");
  while (true) {
    first = ScrapeOnce(discovery, source);
    if (first.ok()) {
      ReportFailures(*first, reported);
      if (first->failures.size() < first->pods.size() || first->pods.empty()) return first;
      first = Unavailable("no ready pod answered");
    }
    if (g_record_stop) return first;
    auto now = SteadyClock::now();
    if (now - begin > std::chrono::seconds(10) || now >= stop_at) return first;
    SleepUntil(now + std::chrono::milliseconds(100));
  }
}

// One line per sample on stdout.
void PrintSample(double t, const DemandSample& sample) {
  char line[160];
  std::snprintf(line, sizeof line, "t=%.1fs arrivals %.2f/s concurrency %.0f ready %d%s", t, sample.arrivals_per_s,
                sample.running + sample.waiting, sample.ready,
                sample.errors ? (" (" + std::to_string(sample.errors) + " failed)").c_str() : "");
  std::cout << line << "\n";
}

// Samples every `interval` from t0 until `stop_at` or a signal, appending to `out`. Returns the
// number of samples, or the exit code 1 as an error when a write fails.
Result<size_t> RecordSamples(sources::PodDiscovery& discovery, const sources::PodScrapeSource& source,
                             const RecordArgs& args, Duration interval, SteadyClock::time_point stop_at,
                             DemandMeter* meter, std::map<std::string, std::string>* reported, std::ofstream* out) {
  const auto t0 = SteadyClock::now();
  size_t samples = 0;
  double last_t = 0;
  for (size_t k = 1; !g_record_stop; ++k) {  // bounded by --duration and the signals
    auto due = t0 + k * interval;
    if (due > stop_at || !SleepUntil(due)) break;
    auto scraped = ScrapeOnce(discovery, source);
    double t = Seconds(SteadyClock::now() - t0) * args.compression;
    if (!scraped.ok()) {
      std::cerr << "record: t=" << FormatDouble(t) << " s: cannot list the pods: " << scraped.status().message()
                << " (no sample; the next covers the gap)\n";
      continue;
    }
    ReportFailures(*scraped, reported);
    auto sample = meter->Add(t, scraped->discovered, scraped->pods);
    if (!sample) {
      if (!scraped->pods.empty() && scraped->failures.size() == scraped->pods.size()) {
        std::cerr << "record: t=" << FormatDouble(std::round(t * 10) / 10)
                  << " s: no ready pod answered (no sample; the next covers the gap)\n";
      }
      continue;
    }
    *out << DemandSampleLine(*sample) << "\n" << std::flush;
    if (!*out) return Unavailable("writing \"" + args.out_path + "\" failed");
    ++samples;
    last_t = t;
    PrintSample(t, *sample);
  }
  std::cout << "wrote " << samples << " samples (" << FormatDouble(std::round(last_t)) << " s) to " << args.out_path
            << (g_record_stop ? " (stopped by signal)" : "") << std::endl;
  return samples;
}

}  // namespace

int RunRecord(const std::vector<std::string>& argv) {
  auto parsed = ParseRecordArgs(argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const RecordArgs& args = std::get<RecordArgs>(parsed);
  std::map<std::string, std::string> env;
  for (const char* var : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
    if (const char* val = std::getenv(var)) env[var] = val;
  }
  auto kube = sources::ResolveKubeApi(args.kube_flag, env);
  auto built =
      kube.ok() ? RecordedTrigger(args, kube->has_value()) : Result<trigger::ScalerSpecConstPtr>(kube.status());
  if (!built.ok()) {
    std::cerr << "record: " << built.status().message() << "\n";
    return 2;
  }
  const trigger::ScalerSpec& spec = **built;
  auto http = std::shared_ptr<net::HttpClient>(net::MakeCurlHttpClient());
  sources::DiscoveryRegistry registry(*kube, http);
  auto discovery = registry.Make(spec.discovery);
  if (!discovery.ok()) {
    std::cerr << "record: " << discovery.status().message() << "\n";
    return 2;
  }
  // The trigger's scrape settings (engine, model filter, custom mappings, TLS, auth) with the
  // signals demand needs instead of the ones its formula reads.
  sources::PodScrapeConfig scrape = spec.scrape;
  scrape.signals = {kRequests, kPromptTokens, kGenerationTokens, kRunning, kWaiting};
  sources::PodScrapeSource source(scrape, http);
  StopOnSignals stop_on_signals;

  const auto interval = spec.scrape_interval;
  std::cout << "recording the demand of " << spec.discovery.Describe() << " every " << FormatDuration(interval)
            << " for " << FormatDuration(args.duration) << " to " << args.out_path << " (SIGINT stops)" << std::endl;
  const auto stop_at = SteadyClock::now() + args.duration;
  std::map<std::string, std::string> reported;
  Result<Scraped> first = ScrapeBaseline(**discovery, source, stop_at, &reported);
  if (!first.ok()) {
    std::cerr << "record: cannot read the pods (" << spec.discovery.Describe() << "): " << first.status().message()
              << "\n";
    return 1;
  }
  if (!first->no_requests.empty()) {
    std::cerr << "record: " << first->no_requests << "; arrivals are read from it (map one with signal.requests)\n";
    return 1;
  }
  std::ofstream out(args.out_path, std::ios::trunc);
  if (!out) {
    std::cerr << "record: cannot write \"" << args.out_path << "\"\n";
    return 2;
  }
  DemandMeter meter;
  meter.Add(0, first->discovered, first->pods);
  DemandHeader header;
  header.interval = ToSeconds(interval) * args.compression;
  header.engine = first->engine.empty() ? spec.scrape.engine : first->engine;
  header.started = UtcNow();
  header.discovery = spec.discovery.Describe();
  header.compression = args.compression;
  out << DemandHeaderLine(header) << "\n" << std::flush;
  auto samples = RecordSamples(**discovery, source, args, interval, stop_at, &meter, &reported, &out);
  if (!samples.ok()) {
    std::cerr << "record: " << samples.status().message() << "\n";
    return 1;
  }
  if (*samples == 0) {
    std::cerr << "record: no sample recorded (stopped before the second scrape)\n";
    return 1;
  }
  return 0;
}

}  // namespace nimscaler::app
