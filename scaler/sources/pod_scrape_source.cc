// Exports PodScrapeSource: HTTP GET -> one selective parse -> per-pod signal values.
#include "scaler/sources/pod_scrape_source.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <list>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "scaler/common/intern_table.h"
#include "scaler/common/text.h"
#include "scaler/signals/exposition/parser.h"
#include "scaler/signals/exposition/selector.h"

namespace nimscaler::sources {

namespace {

// One way a signal can be served: a preset's (or custom mapping's) alternative.
struct Candidate {
  const EnginePreset* preset;  // null for a custom mapping
  const SignalSource* source;
  size_t alternative;
};

std::string_view StripTotal(std::string_view family) {
  constexpr std::string_view kTotal = "_total";
  if (family.size() > kTotal.size() && family.substr(family.size() - kTotal.size()) == kTotal) {
    return family.substr(0, family.size() - kTotal.size());
  }
  return family;
}

// Looks names up by string_view: a family met in a scrape is not copied to find its entry.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

/// What to select and where each selected family goes; built once per source.
struct PodScrapeSource::Plan {
  std::vector<const EnginePreset*> presets;  // one when the engine is named; all for auto
  std::vector<SignalSource> custom;
  exposition::Selector selector;
  // Family name (counters: without "_total") -> candidates reading it.
  std::unordered_map<std::string, std::vector<Candidate>, NameHash, std::equal_to<>> by_family;
};

namespace {

// Everything a Plan is built from (engine, signals, custom mappings), length-prefixed so no value
// can imitate another split. The model filter is applied per parse, not in the plan.
std::string PlanKey(const PodScrapeConfig& c) {
  std::string key;
  auto field = [&key](std::string_view v) { AppendKeyField(&key, v); };
  field(c.engine);
  for (const auto& s : c.signals) field(s);
  key += '|';
  for (const auto& src : c.custom) {
    char scale[32];
    std::snprintf(scale, sizeof scale, "%.17g", src.scale);
    field(src.signal);
    field(std::to_string(static_cast<int>(src.kind)) + "/" + std::to_string(static_cast<int>(src.combine)) + "/" +
          scale);
    for (const auto& m : src.metrics) field(m.ToString());
    key += ';';
  }
  return key;
}

}  // namespace

PodScrapeSource::PodScrapeSource(PodScrapeConfig config, std::shared_ptr<net::HttpClient> http)
    : config_(std::move(config)), http_(std::move(http)) {
  // Issue 16 item 3: triggers that read pods the same way share one plan (its selector and
  // family index are a few KiB each), not a copy per trigger.
  static InternTable<Plan> plans;
  std::string key = PlanKey(config_);
  if ((plan_ = plans.Find(key)) != nullptr) return;
  auto plan = std::make_shared<Plan>();
  if (const EnginePreset* p = FindPreset(config_.engine)) {
    plan->presets.push_back(p);
  } else if (!config_.engine.empty()) {  // "": the custom mappings alone (a front door)
    for (const auto& name : EngineNames()) {
      if (const EnginePreset* q = FindPreset(name)) plan->presets.push_back(q);
    }
  }
  plan->custom = config_.custom;
  auto add = [&](const EnginePreset* preset, const SignalSource& src) {
    if (std::find(config_.signals.begin(), config_.signals.end(), src.signal) == config_.signals.end()) return;
    for (size_t i = 0; i < src.metrics.size(); ++i) {
      const std::string& fam = src.metrics[i].family;
      plan->selector.AddFamily(fam);
      plan->by_family[std::string(StripTotal(fam))].push_back({preset, &src, i});
    }
  };
  for (const auto& src : plan->custom) add(nullptr, src);
  for (const EnginePreset* p : plan->presets) {
    for (const auto& src : p->signals) add(p, src);
  }
  plan_ = plans.Intern(key, std::move(plan));
}

PodScrapeSource::~PodScrapeSource() = default;

namespace {

Result<PodScrape> FromResponse(const PodScrapeSource& source, const std::string& url,
                               const Result<net::HttpResponse>& resp) {
  if (!resp.ok()) return resp.status();
  if (resp->status != 200) {
    // Status and size only: echoing the body would hand the text of whatever the URL reaches
    // to the trigger's author (issue 19 item 4).
    std::string msg = "GET " + url + " returned HTTP " + std::to_string(resp->status) + " (" +
                      std::to_string(resp->body.size()) + " bytes)";
    if (resp->status == 404) msg += " (check metricsPath: NIM serves /v1/metrics, most engines /metrics)";
    return Unavailable(msg);
  }
  auto got = source.Extract(resp->body, resp->content_type);
  if (!got.ok() && got.status().code() == Code::kInvalidArgument) {
    // The parser's message ends with an excerpt of the offending line: an error shows where
    // and why, never the body's content (it reaches KEDA's log and /debug).
    std::string m = got.status().message();
    if (size_t a = m.rfind("line ", 0) == 0 ? m.find(": ") : std::string::npos; a != std::string::npos) {
      if (size_t b = m.find(": ", a + 2); b != std::string::npos) m.resize(b);
    }
    return Unavailable(url + " served unparsable metrics: " + m);
  }
  return got;
}

// A histogram with more distinct `le` bounds than this is refused: real engines expose tens,
// and each bound costs memory in every window of every trigger reading the pod.
constexpr size_t kMaxBuckets = 512;

// Per (signal source, alternative): what the pod's matching series add up to.
struct Accumulator {
  bool served = false;  // the family exists on the pod (even if no series matched the filters)
  exposition::MetricType type = exposition::MetricType::kUntyped;
  double sum = 0, max = -INFINITY;
  size_t n = 0;
  std::map<double, double> buckets;  // le -> cumulative count, summed over series
};

class Collect final : public exposition::SampleVisitor {
 public:
  using FamilyIndex = std::unordered_map<std::string, std::vector<Candidate>, NameHash, std::equal_to<>>;

  // `body`: the text being parsed, which outlives this visitor.
  Collect(const FamilyIndex& by_family, const std::string& model, std::string_view body)
      : by_family_(by_family), model_(model), body_(body) {}

  void OnFamily(const exposition::Family& f) override {
    // A name is a view into the body unless the parser had to unescape it (a quoted name):
    // only those are copied, so a scrape lists its families without allocating per family.
    if (f.name.data() >= body_.data() && f.name.data() + f.name.size() <= body_.data() + body_.size()) {
      families.push_back(f.name);
    } else {
      families.push_back(unescaped_names_.emplace_back(f.name));
    }
    if (auto it = by_family_.find(StripTotal(f.name)); it != by_family_.end()) {
      for (const auto& c : it->second) {
        auto& acc = acc_[{c.source, c.alternative}];
        acc.served = true;
        acc.type = f.type;
      }
    }
  }

  void OnSample(const exposition::Sample& s) override {
    auto it = by_family_.find(StripTotal(s.family));
    if (it == by_family_.end()) return;
    if (!error.empty()) return;
    // The same series twice in one scrape is an error (Prometheus refuses such a scrape):
    // summing the copies would multiply the demand.
    if (!seen_.insert(SeriesKey(s)).second) {
      error = "duplicate series " + Truncate(std::string(s.series), 200) + " (line " + std::to_string(s.line) +
              "): each series may appear once per scrape";
      return;
    }
    if (!model_.empty()) {
      auto m = s.Find("model_name");
      if (!m) m = s.Find("model");
      if (!m || *m != model_) return;
    }
    for (const auto& c : it->second) {
      const MetricRef& ref = c.source->metrics[c.alternative];
      bool match = std::all_of(ref.labels.begin(), ref.labels.end(), [&](const auto& kv) {
        auto v = s.Find(kv.first);
        return v && *v == kv.second;
      });
      if (!match) continue;
      auto& acc = acc_[{c.source, c.alternative}];
      acc.served = true;
      if (s.role == exposition::SampleRole::kBucket) {
        auto le = s.Find("le");
        if (!le) continue;
        double bound = *le == "+Inf" ? INFINITY : ParseDouble(*le).value_or(NAN);
        if (std::isnan(bound) || !std::isfinite(s.value)) continue;
        auto [b, added] = acc.buckets.try_emplace(bound, 0.0);
        b->second += s.value;
        if (added && acc.buckets.size() > kMaxBuckets) {
          error = "histogram " + std::string(s.family) + " has more than " + std::to_string(kMaxBuckets) +
                  " distinct le bounds; nim-scaler refuses histograms that large";
          return;
        }
      } else if (s.role == exposition::SampleRole::kValue || s.role == exposition::SampleRole::kTotal) {
        // NaN and +-Inf carry no usable level: skipped (never a zero, never an infinite sum).
        if (!std::isfinite(s.value)) continue;
        acc.sum += s.value;
        acc.max = std::max(acc.max, s.value);
        ++acc.n;
      }
    }
  }

  const Accumulator* Find(const SignalSource* src, size_t alt) const {
    auto it = acc_.find({src, alt});
    return it == acc_.end() ? nullptr : &it->second;
  }

  std::vector<std::string_view> families;  // every family the pod serves, in body order
  std::string error;                       // set when the scrape must be refused (duplicate series, too many buckets)

 private:
  // Sample name and its labels in name order: `{a="1",b="2"}` and `{b="2",a="1"}` are one series.
  // Built in scratch space that keeps its capacity from sample to sample.
  const std::string& SeriesKey(const exposition::Sample& s) {
    sorted_labels_.clear();
    for (const auto& l : s.labels) sorted_labels_.push_back(&l);
    std::sort(sorted_labels_.begin(), sorted_labels_.end(),
              [](const auto* a, const auto* b) { return a->name < b->name; });
    key_.assign(s.name);
    for (const auto* l : sorted_labels_) {
      key_ += '\xff';
      key_.append(l->name);
      key_ += '\xfe';
      key_.append(l->value);
    }
    return key_;
  }
  std::vector<const exposition::Label*> sorted_labels_;
  std::string key_;
  std::unordered_set<std::string> seen_;

  const FamilyIndex& by_family_;
  const std::string& model_;
  std::string_view body_;
  std::list<std::string> unescaped_names_;  // stable storage for the names `families` views (empty: no allocation)
  std::map<std::pair<const SignalSource*, size_t>, Accumulator> acc_;
};

SignalKind KindOf(exposition::MetricType t) {
  switch (t) {
    case exposition::MetricType::kCounter: return SignalKind::kCounter;
    case exposition::MetricType::kHistogram: return SignalKind::kHistogram;
    case exposition::MetricType::kGauge:
    case exposition::MetricType::kUntyped: return SignalKind::kGauge;
    default: return SignalKind::kUnknown;
  }
}

}  // namespace

signals::PodReading ReadingFromScrape(const std::string& url, const PodScrape& scrape, TimePoint now) {
  signals::PodReading r;
  r.endpoint = url;
  r.answered = true;
  r.last_success = now;
  r.gauges = scrape.gauges;
  r.counters = scrape.counters;
  r.histograms = scrape.histograms;
  r.kinds = scrape.kinds;
  r.engine = scrape.engine;
  r.missing = scrape.missing_detail;
  return r;
}

Result<PodScrape> PodScrapeSource::Interpret(const std::string& url, const Result<net::HttpResponse>& response) const {
  return FromResponse(*this, url, response);
}

std::vector<Result<PodScrape>> PodScrapeSource::ScrapeAll(const std::vector<std::string>& urls) const {
  auto responses = http_->GetAll(urls, config_.http);
  std::vector<Result<PodScrape>> out;
  out.reserve(urls.size());
  for (size_t i = 0; i < urls.size(); ++i) out.push_back(FromResponse(*this, urls[i], responses[i]));
  return out;
}

namespace {

// Levenshtein distance for ranking the families a pod serves against a wanted one.
size_t ScrapeFamilyDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Issue 15 item 2: the (at most three) families the pod serves that are closest to `wanted`.
// Names are compared after their engine prefix ("vllm:", "sglang:"), and a name in the same
// style as `wanted` (with or without such a prefix) ranks first, so that a pod of another
// engine shows its own metrics rather than process or runtime ones.
std::vector<std::string> ClosestServedFamilies(const std::string& wanted, const std::vector<std::string>& served) {
  auto tail = [](std::string_view n) {
    auto c = n.rfind(':');
    return c == std::string_view::npos ? n : n.substr(c + 1);
  };
  const bool wanted_prefixed = wanted.find(':') != std::string::npos;
  std::vector<std::tuple<bool, size_t, size_t, std::string>> ranked;
  ranked.reserve(served.size());
  for (const auto& f : served) {
    if (f == wanted) continue;
    bool other_style = (f.find(':') != std::string::npos) != wanted_prefixed;
    ranked.emplace_back(other_style, ScrapeFamilyDistance(tail(wanted), tail(f)), ScrapeFamilyDistance(wanted, f), f);
  }
  size_t n = std::min<size_t>(3, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(std::get<3>(ranked[i]));
  return out;
}

}  // namespace

Result<PodScrape> PodScrapeSource::Extract(std::string_view body, std::string_view content_type) const {
  thread_local exposition::Parser parser;  // reusable scratch space: no allocation per sample
  Collect collect(plan_->by_family, config_.model, body);
  auto stats = parser.Parse(body, exposition::DetectFormat(content_type, body), plan_->selector, collect);
  if (!stats.ok()) return InvalidArgument(stats.status().message());
  if (!collect.error.empty()) return InvalidArgument(collect.error);

  const EnginePreset* preset = plan_->presets.size() == 1 ? plan_->presets.front()
                               : plan_->presets.empty()   ? nullptr
                                                          : DetectPreset(collect.families);
  if (preset == nullptr && plan_->custom.empty()) {
    return FailedPrecondition(
        "engine: auto could not recognise the metrics (no known engine's metric names are served); set "
        "`engine` to one of nim, vllm, sglang, tgi, triton, trtllm, or map signals with signal.<name>");
  }
  PodScrape out;
  out.engine = preset ? preset->name : "custom";
  for (const auto& wanted : config_.signals) {
    const SignalSource* src = nullptr;
    for (const auto& c : plan_->custom) {
      if (c.signal == wanted) src = &c;
    }
    if (src == nullptr && preset != nullptr) src = preset->Find(wanted);
    if (src == nullptr) {
      out.missing.push_back(wanted);
      if (out.missing_detail.empty()) {
        out.missing_detail = "engine " + (preset ? preset->name : std::string("custom")) +
                             " has no metric for signal " + wanted + "; map one with signal." + wanted + ": <metric>";
      }
      continue;
    }
    bool found = false;
    for (size_t i = 0; i < src->metrics.size() && !found; ++i) {  // first alternative served wins
      const Accumulator* acc = collect.Find(src, i);
      if (acc == nullptr || !acc->served) continue;
      found = true;
      SignalKind kind = src->kind == SignalKind::kUnknown ? KindOf(acc->type) : src->kind;
      out.kinds[wanted] = kind;
      out.metrics[wanted] = src->metrics[i].ToString();
      if (kind == SignalKind::kHistogram) {
        auto& b = out.histograms[wanted];
        for (const auto& [le, count] : acc->buckets) b.emplace_back(std::isinf(le) ? le : le * src->scale, count);
      } else if (acc->n > 0) {
        double v = src->combine == Combine::kAverage ? acc->sum / static_cast<double>(acc->n)
                   : src->combine == Combine::kMax   ? acc->max
                                                     : acc->sum;
        (kind == SignalKind::kCounter ? out.counters : out.gauges)[wanted] = v * src->scale;
      } else if (kind == SignalKind::kGauge) {
        // Served, but only NaN/Inf samples (or none matching the model): the pod has the
        // metric and no usable level now. NaN marks that: aggregations skip it.
        out.gauges[wanted] = std::numeric_limits<double>::quiet_NaN();
      }
    }
    if (!found) {
      out.missing.push_back(wanted);
      if (out.missing_detail.empty()) {
        std::string first = src->metrics.empty() ? wanted : src->metrics.front().family;
        std::string detail = "metric " + (src->metrics.empty() ? wanted : src->metrics.front().ToString()) +
                             " (signal " + wanted + ", engine " + out.engine + ") is not served";
        const std::vector<std::string> served(collect.families.begin(), collect.families.end());
        if (auto s = SuggestClosest(first, served)) {
          detail += "; it serves " + *s + " (did you mean signal." + wanted + ": " + *s + "?)";
        } else if (auto near = ClosestServedFamilies(first, served); !near.empty()) {
          std::string names;
          for (const auto& f : near) names += (names.empty() ? "" : ", ") + f;
          detail += "; the closest names the pod serves: " + names +
                    " (another engine? set `engine`, or map with signal." + wanted + ": <metric>)";
        }
        out.missing_detail = detail;
      }
    }
  }
  return out;
}

}  // namespace nimscaler::sources
