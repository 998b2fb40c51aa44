// Exports Evaluator. Every policy below has a why-comment and a test in
// tests/engine/evaluator_test.cc.
#include "scaler/engine/evaluator.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "scaler/common/text.h"

namespace nimscaler::engine {

/// Window history of one pod. Counters and histograms only: gauges are levels, read from the
/// latest snapshot.
struct Evaluator::PodWindows {
  std::map<std::string, signals::CounterWindow> counters;
  std::map<std::string, signals::HistogramWindow> histograms;
  TimePoint last_fed{};  ///< when a fresh scrape of the pod last fed the windows
};

/// formula::Bindings over one snapshot and the windows.
class Evaluator::SnapshotBindings final : public formula::Bindings {
 public:
  SnapshotBindings(const signals::Snapshot& snap, const Evaluator& ev, TimePoint now)
      : snap_(snap), ev_(ev), now_(now) {}

  std::span<const double> Gauge(std::string_view signal) const override {
    auto [it, inserted] = gauges_.try_emplace(std::string(signal));
    if (inserted) {
      const auto& readings = IsFrontDoorSignal(signal) ? snap_.front_door : snap_.pods;
      for (const auto& p : readings) {
        if (!p.answered && !p.stale) continue;
        auto g = p.gauges.find(it->first);
        // NaN or +-Inf is no level at all: the pod is missing this value, it is not zero demand.
        it->second.push_back(g == p.gauges.end() || !std::isfinite(g->second) ? NAN : g->second);
      }
    }
    return it->second;
  }
  double Rate(std::string_view signal) const override {
    std::vector<const signals::CounterWindow*> windows;
    for (const auto& [url, w] : ev_.pods_) {
      if (auto c = w->counters.find(std::string(signal)); c != w->counters.end()) windows.push_back(&c->second);
    }
    return signals::SumRates(windows, now_, ev_.spec_->window);
  }
  formula::Windowed Quantile(double q, std::string_view signal) const override {
    std::vector<const signals::HistogramWindow*> windows;
    for (const auto& [url, w] : ev_.pods_) {
      if (auto h = w->histograms.find(std::string(signal)); h != w->histograms.end()) windows.push_back(&h->second);
    }
    signals::WindowedQuantile got = signals::WindowQuantile(q, windows, now_, ev_.spec_->window);
    return got.no_observations ? formula::Windowed::Empty() : formula::Windowed::Of(got.value);
  }
  formula::Line Trend(size_t slot) const override {
    if (trends_ == nullptr || slot >= trends_->size()) return {};
    signals::GaugeWindow::Fit fit = (*trends_)[slot].LeastSquares(now_, ev_.spec_->window);
    // A line through the first few seconds of history extrapolates one step far ahead (a
    // start-up or a load step read as a steep ramp): no trend until half a window is seen.
    if (fit.span_seconds < ToSeconds(ev_.spec_->window) / 2) return {};
    return {.slope = fit.slope, .at_now = fit.at_now};
  }
  /// Which formula's trend histories Trend() reads.
  void UseTrends(const std::vector<signals::GaugeWindow>* trends) { trends_ = trends; }
  double Replicas() const override { return static_cast<double>(snap_.pods.size()); }
  double Pods() const override { return static_cast<double>(std::max(snap_.discovered, snap_.pods.size())); }

 private:
  const signals::Snapshot& snap_;
  const Evaluator& ev_;
  TimePoint now_;
  mutable std::map<std::string, std::vector<double>> gauges_;
  const std::vector<signals::GaugeWindow>* trends_ = nullptr;
};

Evaluator::Evaluator(trigger::ScalerSpecConstPtr spec)
    : spec_(std::move(spec)),
      policy_(signals::PolicyOptions{.stable_window = spec_->window,
                                     .panic_window = spec_->panic_window,
                                     .panic_threshold = spec_->panic_threshold}) {
  Duration retention = spec_->window + 2 * spec_->scrape_interval;
  value_trends_.assign(spec_->value->trend_count(), signals::GaugeWindow(retention));
  activation_trends_.assign(spec_->activation->trend_count(), signals::GaugeWindow(retention));
}

void Evaluator::RecordTrendInputs(const signals::Snapshot& snapshot) {
  if (value_trends_.empty() && activation_trends_.empty()) return;
  SnapshotBindings bindings(snapshot, *this, snapshot.taken_at);
  for (size_t i = 0; i < value_trends_.size(); ++i) {
    value_trends_[i].Add(snapshot.taken_at, spec_->value->EvaluateTrendInput(i, bindings));
  }
  for (size_t i = 0; i < activation_trends_.size(); ++i) {
    activation_trends_[i].Add(snapshot.taken_at, spec_->activation->EvaluateTrendInput(i, bindings));
  }
}

Evaluator::~Evaluator() = default;

Evaluation Evaluator::Pending(TimePoint now) const {
  Evaluation ev;
  ev.at = now;
  ev.pending = true;
  ev.status = Unavailable(spec_->key.ToString() + ": first collection has not finished yet");
  return ev;
}

Evaluation Evaluator::Hold(Evaluation ev, const std::string& why_if_none) const {
  // No data is not zero demand: keep the last answer rather than scale down (the last one
  // given, even across cycles that had no answer at all).
  if (last_ok_ != nullptr) {
    ev.value = last_ok_->value;
    ev.active = last_ok_->active;
    ev.held = true;
    if (ev.signals.empty()) ev.signals = last_ok_->signals;
    return ev;
  }
  ev.status = Unavailable(spec_->key.ToString() + ": " + why_if_none);
  return ev;
}

void Evaluator::FeedWindows(const signals::Snapshot& snap) {
  Duration retention = spec_->window + 2 * spec_->scrape_interval;
  std::map<std::string, std::unique_ptr<PodWindows>> kept;
  for (const auto& p : snap.pods) {
    if (kept.contains(p.endpoint)) continue;  // listed twice: its windows are fed once
    auto it = pods_.find(p.endpoint);
    std::unique_ptr<PodWindows> w = it != pods_.end() ? std::move(it->second) : std::make_unique<PodWindows>();
    // Only fresh scrapes feed the windows: a rate is never made up from kept (stale) data.
    if (p.answered) {
      w->last_fed = snap.taken_at;
      for (const auto& [name, v] : p.counters) {
        w->counters.try_emplace(name, retention).first->second.Add(snap.taken_at, v);
      }
      for (const auto& [name, buckets] : p.histograms) {
        std::vector<signals::Bucket> b;
        b.reserve(buckets.size());
        for (const auto& [le, count] : buckets) b.push_back({le, count});
        w->histograms.try_emplace(name, retention).first->second.Add(snap.taken_at, std::move(b));
      }
    }
    kept.emplace(p.endpoint, std::move(w));
  }
  // A pod that left served its share of the window until it left: its history stays until the
  // window has passed it, so a scale-down (or a pod replaced by another) does not read as a drop
  // in demand. Its gauges are gone with it (they come from the snapshot).
  for (auto& [endpoint, w] : pods_) {
    if (w != nullptr && w->last_fed > snap.taken_at - spec_->window) kept.emplace(endpoint, std::move(w));
  }
  pods_ = std::move(kept);
}

Evaluation Evaluator::Finish(Evaluation ev) {
  if (ev.status.ok()) last_ok_ = std::make_shared<Evaluation>(ev);
  return ev;
}

void Evaluator::AddFrontDoorSignals(const signals::Snapshot& snapshot, Evaluation* ev) const {
  // The front door's queue, for /debug and the self-metrics (its wake: TrackedObject).
  if (!spec_->front_door) return;
  for (const auto& signal : spec_->front_door->scrape.signals) {
    if (auto sum = snapshot.FrontDoorSum(signal)) ev->signals[signal] = *sum;
  }
}

std::optional<Evaluation> Evaluator::WithoutUsablePods(Evaluation ev, const signals::Snapshot& snapshot) {
  const trigger::ScalerSpec& spec = *spec_;
  if (snapshot.pods.empty()) {
    if (snapshot.discovered == 0 && snapshot.discovery_error.empty()) {
      // Scaled to zero: no pod, so no demand that pods could show (wake sources come on top).
      pods_.clear();
      RecordTrendInputs(snapshot);  // demand at zero is part of the trend
      ev.signals = {{"replicas", 0}, {"pods", 0}};
      AddFrontDoorSignals(snapshot, &ev);
      policy_.Update(snapshot.taken_at, 0, 0);
      return ev;
    }
    return Hold(ev, snapshot.discovery_error.empty()
                        ? std::to_string(snapshot.discovered) + " pod(s) discovered, none ready yet"
                        : "discovery failed: " + snapshot.discovery_error);
  }
  if (snapshot.UsablePods() > 0) return std::nullopt;
  // No usable pod at all: UNAVAILABLE with the cause, so KEDA's fallback can act, rather than a
  // zero that would scale the model down. Issue 15 item 2: pods that answer with metrics nobody
  // can read as configured are a configuration problem from the first cycle on.
  bool all_unreadable = std::all_of(snapshot.pods.begin(), snapshot.pods.end(),
                                    [](const signals::PodReading& p) { return p.unreadable_metrics; });
  const std::string count = std::to_string(snapshot.pods.size()) + " pods; first";
  if (all_unreadable) {
    ev.status = FailedPrecondition(spec.key.ToString() +
                                   ": every ready pod answers, but with metrics this trigger cannot read (" + count +
                                   ": " + snapshot.pods.front().error + ")");
  } else {
    ev.status =
        Unavailable(spec.key.ToString() + ": no ready pod answered for more than " + FormatDuration(spec.stale_keep) +
                    " (" + count + " error: " + snapshot.pods.front().error + ")");
  }
  return ev;
}

Status Evaluator::CheckSignalsServed(const signals::Snapshot& snapshot) const {
  const trigger::ScalerSpec& spec = *spec_;
  for (const auto* program : {spec.value.get(), spec.activation.get()}) {
    for (const auto& use : program->signals()) {
      if (IsFrontDoorSignal(use.name)) continue;  // a front door's missing series reads as 0
      bool served = false;
      std::string detail;
      for (const auto& p : snapshot.pods) {
        if (!p.answered && !p.stale) continue;
        served = served || p.gauges.count(use.name) || p.counters.count(use.name) || p.histograms.count(use.name);
        if (detail.empty() && !p.missing.empty()) detail = p.endpoint + ": " + p.missing;
        auto k = p.kinds.find(use.name);
        if (k == p.kinds.end()) continue;
        // A family of another type (a summary, say) is read like a gauge: its values are in the
        // pod's gauges.
        SignalKind actual = k->second == SignalKind::kUnknown ? SignalKind::kGauge : k->second;
        if (Status s = program->CheckSignalKind(use.name, actual); !s.ok()) {
          return FailedPrecondition(spec.key.ToString() + ": " + s.message() + " (pod " + p.endpoint + ")");
        }
      }
      if (!served) {
        return FailedPrecondition(spec.key.ToString() + ": no pod serves a metric for signal " + use.name +
                                  (detail.empty() ? "" : "; " + detail));
      }
    }
  }
  return Status::Ok();
}

std::string Evaluator::UnusableGauge(const SnapshotBindings& bindings) const {
  // A gauge that every answering pod serves only as NaN or +-Inf has no usable level: that is
  // missing data (hold), not a zero that would scale the model down.
  for (const auto* program : {spec_->value.get(), spec_->activation.get()}) {
    for (const auto& use : program->signals()) {
      if (use.kind != SignalKind::kGauge) continue;
      auto values = bindings.Gauge(use.name);
      if (!values.empty() && std::none_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); })) {
        return "every pod serves " + use.name + " as NaN or Inf (no usable level)";
      }
    }
  }
  return {};
}

void Evaluator::ShowSignals(const signals::Snapshot& snapshot, const SnapshotBindings& bindings, Evaluation* ev) const {
  for (const auto& use : spec_->value->signals()) {
    if (use.kind == SignalKind::kCounter) {
      ev->signals[use.name + "_rate"] = bindings.Rate(use.name);
    } else if (use.kind == SignalKind::kHistogram) {
      for (double q : use.quantiles) {
        // No requests in the window reads as 0 here as in the formula; NaN only when unknown.
        ev->signals[use.name + "_p" + FormatDouble(q * 100)] = bindings.Quantile(q, use.name).value;
      }
    }
  }
  // The pods' built-in levels, whether or not the formula reads them.
  for (const BuiltinSignal& b : kBuiltinSignals) {
    if (b.kind != SignalKind::kGauge || b.front_door) continue;
    const std::string name(b.name);
    if (auto sum = snapshot.Sum(name)) ev->signals[name] = *sum;
  }
  ev->signals["replicas"] = bindings.Replicas();
  ev->signals["pods"] = bindings.Pods();
  AddFrontDoorSignals(snapshot, ev);
}

bool Evaluator::InputMissing(const signals::Snapshot& snapshot) const {
  if (std::any_of(snapshot.pods.begin(), snapshot.pods.end(),
                  [](const signals::PodReading& p) { return !p.answered; })) {
    return true;
  }
  // A formula that reads the front door while none of its endpoints answers is missing data too.
  if (!spec_->front_door || std::any_of(snapshot.front_door.begin(), snapshot.front_door.end(),
                                        [](const signals::PodReading& p) { return p.answered; })) {
    return false;
  }
  for (const auto* program : {spec_->value.get(), spec_->activation.get()}) {
    for (const auto& use : program->signals()) {
      if (IsFrontDoorSignal(use.name)) return true;
    }
  }
  return false;
}

Evaluation Evaluator::Update(const signals::SnapshotConstPtr& snapshot, TimePoint now) {
  if (snapshot == nullptr) return Pending(now);
  Evaluation ev;
  ev.at = now;
  ev.snapshot = snapshot;
  if (std::optional<Evaluation> early = WithoutUsablePods(ev, *snapshot)) return Finish(std::move(*early));
  FeedWindows(*snapshot);
  if (Status served = CheckSignalsServed(*snapshot); !served.ok()) {
    ev.status = served;
    return Finish(ev);
  }
  RecordTrendInputs(*snapshot);
  SnapshotBindings bindings(*snapshot, *this, snapshot->taken_at);
  if (std::string why = UnusableGauge(bindings); !why.empty()) return Finish(Hold(ev, why));
  ShowSignals(*snapshot, bindings, &ev);

  bindings.UseTrends(&value_trends_);
  ev.raw = spec_->value->Evaluate(bindings);
  // A negative desired count means nothing; it is recorded as 0. NaN (no data: e.g. a latency
  // quantile before a pod has two snapshots) is not recorded at all. A quantile over a window
  // without requests is not NaN but 0 demand (formula.h), so an idle model scales down.
  double raw = std::isfinite(ev.raw) ? std::max(0.0, ev.raw) : NAN;
  signals::Decision decision = policy_.Update(snapshot->taken_at, raw, bindings.Replicas());
  ev.panicking = decision.panicking;
  bindings.UseTrends(&activation_trends_);
  double active_raw = spec_->activation->Evaluate(bindings);
  ev.active = std::isfinite(active_raw) && active_raw != 0;
  if (!std::isfinite(decision.value)) {
    return Finish(
        Hold(ev, "the formula has no value yet (" + spec_->FormulaText() + " is NaN: no data in the window)"));
  }
  // Ratios like 0.208 / 0.1 carry binary noise (2.0799999999999996); a billionth of a replica
  // means nothing, so report the decimal the user expects (2.08).
  ev.value = std::round(std::max(0.0, decision.value) * 1e9) / 1e9;

  // No scale-down on missing data: while any pod is not answering, the answer may rise but never
  // fall below the last one given, and activity does not drop. "The last one given" reaches
  // across cycles without an answer (every pod down: UNAVAILABLE), so the first pod back cannot
  // decide alone while the others are still missing.
  if (InputMissing(*snapshot) && last_ok_ != nullptr) {
    if (last_ok_->value > ev.value) {
      ev.value = last_ok_->value;
      ev.held = true;
    }
    ev.active = ev.active || last_ok_->active;
  }
  return Finish(ev);
}

}  // namespace nimscaler::engine
