// Exports PodScrapeSource: HTTP GET -> exposition::ParseSelected -> per-pod signal values.
#include "scaler/sources/pod_scrape_source.h"

#include <algorithm>
#include <cmath>

#include "scaler/common/text.h"
#include "scaler/signals/exposition/parser.h"

namespace nimscaler::sources {

PodScrapeSource::PodScrapeSource(PodScrapeConfig config, std::shared_ptr<net::HttpClient> http)
    : config_(std::move(config)), http_(std::move(http)) {}

namespace {

Result<PodScrape> FromResponse(const PodScrapeSource& source, const std::string& url,
                               const Result<net::HttpResponse>& resp) {
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    std::string msg = "GET " + url + " returned HTTP " + std::to_string(resp->status) + ": " +
                      Truncate(Trim(resp->body), 100);
    if (resp->status == 404) msg += " (check metricsPath: NIM serves /v1/metrics, most engines /metrics)";
    return Unavailable(msg);
  }
  auto got = source.Extract(resp->body, resp->content_type);
  if (!got.ok() && got.status().code() == Code::kInvalidArgument) {
    return Unavailable(url + " served unparsable metrics: " + got.status().message());
  }
  return got;
}

}  // namespace

Result<PodScrape> PodScrapeSource::Scrape(const std::string& url) const {
  return FromResponse(*this, url, http_->Get(url, config_.http));
}

std::vector<Result<PodScrape>> PodScrapeSource::ScrapeAll(const std::vector<std::string>& urls) const {
  auto responses = http_->GetAll(urls, config_.http);
  std::vector<Result<PodScrape>> out;
  out.reserve(urls.size());
  for (size_t i = 0; i < urls.size(); ++i) out.push_back(FromResponse(*this, urls[i], responses[i]));
  return out;
}

namespace {

std::vector<std::string> WantedNames(const std::vector<const EnginePreset*>& presets) {
  std::vector<std::string> names;
  for (const auto* p : presets) {
    for (const auto& g : p->gauges) names.insert(names.end(), g.metrics.begin(), g.metrics.end());
  }
  return names;
}

}  // namespace

Result<PodScrape> PodScrapeSource::Extract(std::string_view body, std::string_view content_type) const {
  std::vector<const EnginePreset*> candidates;
  if (const EnginePreset* p = FindPreset(config_.engine)) {
    candidates.push_back(p);
  } else {
    for (const auto& name : EngineNames()) {
      if (const EnginePreset* q = FindPreset(name)) candidates.push_back(q);
    }
  }
  auto parsed = exposition::ParseSelected(body, content_type, WantedNames(candidates));
  if (!parsed.ok()) return parsed.status();
  const exposition::Selection& sel = *parsed;

  const EnginePreset* preset = candidates.size() == 1 ? candidates.front() : DetectPreset(sel.families);
  if (preset == nullptr) {
    return FailedPrecondition(
        "engine: auto could not recognise the metrics (none of the known KV-cache metrics is "
        "served); set `engine` to one of nim, vllm");
  }

  PodScrape out;
  out.engine = preset->name;
  for (const auto& wanted : config_.signals) {
    auto gm = std::find_if(preset->gauges.begin(), preset->gauges.end(),
                           [&](const SignalMetric& s) { return s.signal == wanted; });
    if (gm == preset->gauges.end()) continue;
    bool found = false;
    for (const auto& metric : gm->metrics) {  // first name the pod serves wins
      double sum = 0;
      size_t n = 0;
      bool metric_served = false;
      for (const auto& s : sel.series) {
        if (s.name != metric) continue;
        metric_served = true;
        if (!config_.model.empty()) {
          std::string_view m = s.Label("model_name");
          if (m.empty()) m = s.Label("model");
          if (m != config_.model) continue;
        }
        if (std::isnan(s.value)) continue;  // NaN carries no information; skip, never as 0
        sum += s.value;
        ++n;
      }
      if (!metric_served) continue;
      found = true;
      if (n > 0) out.gauges[wanted] = gm->combine == signals::Combine::kAverage ? sum / static_cast<double>(n) : sum;
      else if (config_.model.empty()) out.gauges[wanted] = std::numeric_limits<double>::quiet_NaN();
      break;
    }
    if (!found) {
      out.missing.push_back(gm->metrics.front());
      if (out.missing_detail.empty()) {
        std::string detail = "metric " + gm->metrics.front() + " (signal " + wanted + ", engine " +
                             preset->name + ") is not served";
        if (auto s = SuggestClosest(gm->metrics.front(), sel.families)) {
          detail += "; it serves " + *s + " (did you mean signal." + wanted + ": " + *s + "?)";
        }
        out.missing_detail = detail;
      }
    }
  }
  return out;
}

}  // namespace nimscaler::sources
