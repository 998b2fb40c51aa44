// Exports BuildScalerSpec() (its parts: spec_parts.h), DefaultMetricName(), HashMetadata() and
// CanonicalMetadata().
#include "scaler/trigger/scaler_spec.h"

#include <algorithm>
#include <cstdio>

#include "scaler/common/text.h"
#include "scaler/trigger/spec_parts.h"

namespace nimscaler::trigger {

namespace {
uint64_t Fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
}  // namespace

uint64_t HashMetadata(const config::Metadata& metadata) {
  uint64_t h = 14695981039346656037ull;
  for (const auto& [k, v] : metadata) {  // std::map iterates in key order
    h = Fnv1a(h, k);
    h = Fnv1a(h, std::string_view("\0", 1));
    h = Fnv1a(h, v);
    h = Fnv1a(h, std::string_view("\1", 1));
  }
  return h;
}

std::string CanonicalMetadata(const config::Metadata& metadata) {
  size_t size = 0;
  for (const auto& [k, v] : metadata) size += k.size() + v.size() + 2 * (std::to_string(k.size()).size() + 1);
  std::string out;
  out.reserve(size);
  for (const auto& [k, v] : metadata) {  // std::map iterates in key order
    AppendKeyField(&out, k);
    AppendKeyField(&out, v);
  }
  return out;
}

std::string DefaultMetricName(const std::string& ns, const std::string& name) {
  std::string out = "nim-";
  for (char c : ToLower(ns + "-" + name)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    out += ok ? c : '-';
  }
  constexpr size_t kMax = 120;
  if (out.size() > kMax) {
    char suffix[20];
    std::snprintf(suffix, sizeof suffix, "-%08x",
                  static_cast<unsigned>(Fnv1a(14695981039346656037ull, ns + "/" + name)));
    out = out.substr(0, kMax - 9) + suffix;
  }
  return out;
}

namespace {

// [a-z0-9][a-z0-9.-]*, at most 120 characters, not starting with KEDA's prefix s<N>-.
bool IsValidMetricName(const std::string& n) {
  if (n.empty() || n.size() > 120) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '-'));
    if (!ok) return false;
  }
  size_t digits = 1;
  while (digits < n.size() && n[digits] >= '0' && n[digits] <= '9') ++digits;
  return !(n[0] == 's' && digits > 1 && digits < n.size() && n[digits] == '-');
}

void BuildMetricName(const std::string& ns, const std::string& name, const TriggerMetadata& m, ScalerSpec* spec,
                     parts::Problems* problems) {
  if (!m.metric_name) {
    spec->metric_name = DefaultMetricName(ns, name);
    return;
  }
  spec->metric_name = *m.metric_name;
  if (!IsValidMetricName(spec->metric_name)) {
    problems->push_back("metricName: \"" + Truncate(spec->metric_name, 80) +
                        "\" must match [a-z0-9][a-z0-9.-]*, "
                        "be at most 120 characters and not start with s<N>- (KEDA adds that prefix)");
  }
}

// scrapeInterval, window, panicWindow, panicThreshold.
void BuildTiming(const TriggerMetadata& m, const SpecOptions& options, ScalerSpec* spec, parts::Problems* problems) {
  spec->scrape_interval = m.scrape_interval;
  spec->window = m.window;
  // Knative's rule: the panic window is a tenth of the stable window, but never shorter than
  // one scrape (it would hold no sample) nor longer than the window.
  spec->panic_window =
      m.panic_window.value_or(std::min(spec->window, std::max(spec->window / 10, spec->scrape_interval)));
  if (spec->panic_window > spec->window) {
    problems->push_back("panicWindow: \"" + FormatDuration(spec->panic_window) + "\" must not be longer than window (" +
                        FormatDuration(spec->window) + ")");
  }
  spec->panic_threshold = m.panic_threshold;
  if (spec->scrape_interval < options.min_scrape_interval) {
    problems->push_back("scrapeInterval: \"" + FormatDuration(spec->scrape_interval) +
                        "\" is below this server's minimum of " + FormatDuration(options.min_scrape_interval));
  }
  spec->stale_keep = 3 * spec->scrape_interval;
  if (spec->window < spec->scrape_interval * 2) {
    problems->push_back("window: \"" + FormatDuration(spec->window) +
                        "\" must cover at least two scrapes (2 x scrapeInterval = " +
                        FormatDuration(spec->scrape_interval * 2) + "), or rates and quantiles have no data");
  }
}

// What is collected, and how, once the spec is known to be valid.
void FinishScrape(const TriggerMetadata& m, ScalerSpec* spec) {
  spec->scrape.engine = m.engine;
  spec->scrape.model = m.model.value_or("");
  spec->scrape.signals = parts::PodSignals(*spec);
  spec->scrape.http.insecure_skip_verify = m.insecure_skip_verify;
  auto timeout = std::min<Duration>(spec->scrape_interval, std::chrono::seconds(5));
  spec->scrape.http.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (spec->front_door) spec->front_door->scrape.http.timeout = spec->scrape.http.timeout;
}

}  // namespace

Result<ScalerSpecConstPtr> BuildScalerSpec(const std::string& ns, const std::string& name,
                                           const config::Metadata& metadata, const SpecOptions& options) {
  // Limits first: past them nothing else is read (issue 19 item 10).
  if (std::string over = config::CheckMetadataLimits(metadata); !over.empty()) {
    return InvalidArgument(config::JoinProblems({over}));
  }
  TriggerMetadataRead read = ReadTriggerMetadata(metadata);
  const TriggerMetadata& m = read.metadata;
  parts::Problems& problems = read.problems;

  auto spec = std::make_shared<ScalerSpec>();
  spec->key = {ns, name, HashMetadata(metadata)};
  if (name.empty()) problems.push_back("the ScaledObject reference has an empty name");
  parts::BuildDiscovery(ns, m, options, spec.get(), &problems);
  std::vector<sources::SignalSource> front_door_signals = parts::BuildFormulas(m, spec.get(), &problems);
  spec->front_door = parts::BuildFrontDoor(ns, m, std::move(front_door_signals), options, &problems);
  parts::CheckFrontDoorSignals(m, *spec, &problems);
  parts::BuildWake(m, options, spec.get(), &problems);
  BuildTiming(m, options, spec.get(), &problems);
  BuildMetricName(ns, name, m, spec.get(), &problems);
  if (!problems.empty()) return InvalidArgument(config::JoinProblems(problems));
  FinishScrape(m, spec.get());
  return ScalerSpecConstPtr(std::move(spec));
}

}  // namespace nimscaler::trigger
