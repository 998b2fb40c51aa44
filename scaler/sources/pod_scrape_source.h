#pragma once
// PodScrapeSource: fetches pods' metrics endpoints and turns each exposition into the pod's
// signal values (gauges, counters, histogram buckets), using an engine preset (or
// auto-detection), custom `signal.<name>` mappings and a model filter.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/signals/snapshot.h"
#include "scaler/sources/engine_preset.h"

namespace nimscaler::sources {

struct PodScrapeConfig {
  std::string engine = "auto";       ///< a preset name, "auto", or "" for the custom mappings alone
  std::string model;                 ///< keep only series whose model_name (or model) equals this
  std::vector<std::string> signals;  ///< signals the spec uses (builtin or custom)
  std::vector<SignalSource> custom;  ///< `signal.<name>` mappings; they override presets
  net::HttpRequestOptions http;
};

/// What one scrape of one pod produced.
struct PodScrape {
  FlatMap<std::string, double> gauges;
  FlatMap<std::string, double> counters;
  FlatMap<std::string, std::vector<std::pair<double, double>>> histograms;  ///< (le, cumulative count)
  FlatMap<std::string, SignalKind> kinds;      ///< kind of every signal found (custom ones from # TYPE)
  std::map<std::string, std::string> metrics;  ///< signal -> the metric that served it
  std::string engine;                          ///< preset used (the detected one for "auto")
  std::vector<std::string> missing;            ///< signals the pod does not serve
  std::string missing_detail;                  ///< "did you mean" text for the first missing signal
};

/// A successful scrape as the pod's reading at `now` (answered, with every signal).
signals::PodReading ReadingFromScrape(const std::string& url, const PodScrape& scrape, TimePoint now);

/// Immutable after construction; thread-safe.
class PodScrapeSource {
 public:
  PodScrapeSource(PodScrapeConfig config, std::shared_ptr<net::HttpClient> http);
  ~PodScrapeSource();

  /// Fetches every URL concurrently (HttpClient::GetAll, as collection does) and reads each
  /// response with Interpret(); results in the order of `urls`. For `record` and tests;
  /// collection fetches once per group and calls Interpret() per trigger.
  std::vector<Result<PodScrape>> ScrapeAll(const std::vector<std::string>& urls) const;

  /// Judges a fetched response (status, body): UNAVAILABLE on transport or HTTP errors and on
  /// unparsable bodies (the message has line and column), FAILED_PRECONDITION when the engine
  /// cannot be detected. Lets one fetch of a pod serve several ScaledObjects that read it.
  Result<PodScrape> Interpret(const std::string& url, const Result<net::HttpResponse>& response) const;

  /// Pure part of Interpret(): body -> signals. INVALID_ARGUMENT for an unparsable body.
  Result<PodScrape> Extract(std::string_view body, std::string_view content_type) const;

  const PodScrapeConfig& config() const { return config_; }

 private:
  struct Plan;
  PodScrapeConfig config_;
  std::shared_ptr<net::HttpClient> http_;
  std::shared_ptr<const Plan> plan_;  // shared by every source with the same configuration
};

}  // namespace nimscaler::sources
