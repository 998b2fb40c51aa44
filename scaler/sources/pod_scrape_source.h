#pragma once
// PodScrapeSource: fetches one pod's metrics endpoint and turns the exposition into the
// pod's signal values, using an engine preset (or auto-detection) and a model filter.

#include <memory>
#include <string>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/net/http_client.h"
#include "scaler/signals/snapshot.h"
#include "scaler/sources/engine_preset.h"

namespace nimscaler::sources {

struct PodScrapeConfig {
  std::string engine = "auto";  ///< a preset name or "auto"
  std::string model;            ///< keep only series whose model_name (or model) equals this
  std::vector<std::string> signals;  ///< builtin signals the spec uses
  net::HttpRequestOptions http;
};

/// What one scrape of one pod produced.
struct PodScrape {
  std::map<std::string, double> gauges;  ///< signal -> combined value; absent = not served
  std::string engine;                    ///< preset used (the detected one for "auto")
  std::vector<std::string> missing;      ///< signals whose metric the pod does not serve
  std::string missing_detail;            ///< "did you mean" text for the first missing signal
};

/// Stateless apart from its config; thread-safe.
class PodScrapeSource {
 public:
  PodScrapeSource(PodScrapeConfig config, std::shared_ptr<net::HttpClient> http);

  /// UNAVAILABLE on transport or HTTP errors, INVALID_ARGUMENT on unparsable bodies
  /// (the message has line and column), FAILED_PRECONDITION when the engine cannot be detected.
  Result<PodScrape> Scrape(const std::string& url) const;

  /// Scrapes every URL concurrently; results in the order of `urls`.
  std::vector<Result<PodScrape>> ScrapeAll(const std::vector<std::string>& urls) const;

  /// Pure part of Scrape(): body -> signals. Exposed for tests and `check`.
  Result<PodScrape> Extract(std::string_view body, std::string_view content_type) const;

  const PodScrapeConfig& config() const { return config_; }

 private:
  PodScrapeConfig config_;
  std::shared_ptr<net::HttpClient> http_;
};

}  // namespace nimscaler::sources
