#pragma once
// The demand file of `nim-scaler record` / `nim-scaler replay` (issue 13 item 4): JSON Lines,
// a header object first, then one object per sampling interval.
//
//   {"format":"nim-scaler-demand","version":1,"interval":2,"engine":"nim","started":"...",...}
//   {"t":2.0,"arrivals_per_s":31.5,"completions_per_s":30.0,"prompt_tokens_per_s":6300,...}
//
// Times and rates are in the recorded deployment's seconds. Every line ends with '\n'; a last
// line without one was cut while being written (the reader names it as truncated).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"

namespace nimscaler::app {

inline constexpr const char* kDemandFormat = "nim-scaler-demand";
inline constexpr int kDemandVersion = 1;

struct DemandHeader {
  int version = kDemandVersion;
  double interval = 0;     ///< seconds between samples (the trigger's scrapeInterval); > 0
  std::string engine;      ///< engine preset the pods were read with ("nim", "vllm", ...)
  std::string started;     ///< UTC wall time of the first scrape, ISO 8601
  std::string discovery;   ///< where the pods came from ("service nim/llama port http")
  double compression = 1;  ///< deployment seconds per wall second (1 for a real deployment)
};

/// One interval (t - interval, t]. Rates are per second over the pods scraped in both scrapes
/// bounding the interval (a pod first seen later counts from zero: it started meanwhile).
struct DemandSample {
  double t = 0;                  ///< seconds since the first scrape (end of the interval)
  double arrivals_per_s = 0;     ///< completions + growth of running + waiting
  double completions_per_s = 0;  ///< increase of the request-success counters
  std::optional<double> prompt_tokens_per_s, generation_tokens_per_s;
  std::optional<double> prompt_tokens_per_request, generation_tokens_per_request;
  double running = 0, waiting = 0;  ///< at the end of the interval, summed over pods
  int pods = 0;                     ///< pods discovered (ready or not)
  int ready = 0;                    ///< ready pods (the deployment's replicas that serve)
  int errors = 0;                   ///< ready pods whose scrape failed (their increase is unknown, counted as 0)
};

struct DemandTrace {
  DemandHeader header;
  std::vector<DemandSample> samples;  ///< t strictly increasing; at least one
};

/// One line each, without the trailing newline.
std::string DemandHeaderLine(const DemandHeader& header);
std::string DemandSampleLine(const DemandSample& sample);

/// Parses a whole file's text. Errors (INVALID_ARGUMENT) name `name` and the line number:
/// empty file, a line that is not JSON, not a demand file, an unknown version, a missing or
/// mistyped field, a negative rate, a time that does not increase, a truncated last line, no
/// samples.
Result<DemandTrace> ParseDemand(std::string_view text, const std::string& name);
Result<DemandTrace> ReadDemandFile(const std::string& path);

}  // namespace nimscaler::app

namespace nimscaler::app {

/// One pod's reading at one scrape, as DemandMeter needs it.
struct PodDemandReading {
  std::string pod;                                         ///< endpoint URL (the key across scrapes)
  bool ok = false;                                         ///< scraped; false: the pod's counters are unknown this time
  std::optional<double> requests;                          ///< request-success counter (cumulative)
  std::optional<double> prompt_tokens, generation_tokens;  ///< counters (cumulative)
  double running = 0, waiting = 0;
};

/// Turns successive scrapes into samples: counter increases per pod (a counter that went down
/// was reset: its new value is the increase; a pod first seen after the first scrape counts
/// from zero; one whose scrapes failed until now takes this scrape as its baseline),
/// arrivals = completions + growth of the pods' running + waiting. When every ready pod fails
/// there is no sample (the next one covers the gap). Pure.
class DemandMeter {
 public:
  /// `t`: seconds since the first scrape (deployment seconds). The first call is the baseline
  /// (the first call where a pod answers, or no pod is ready) and returns nothing; later calls
  /// return the sample of (time of the previous sample, t].
  std::optional<DemandSample> Add(double t, int pods_discovered, const std::vector<PodDemandReading>& pods);

 private:
  struct Last {
    double requests = 0, prompt = 0, generation = 0, concurrency = 0;
    bool has_prompt = false, has_generation = false;
    bool has_counters = false;  ///< false: listed, never scraped successfully
  };
  bool started_ = false;
  double last_t_ = 0;
  std::map<std::string, Last> last_;
};

}  // namespace nimscaler::app
