// Exports GaugeWindow, CounterWindow, HistogramWindow, SumRates, MergeBuckets,
// HistogramQuantile, WindowQuantile and DecisionPolicy (see window.h). TimeRing is header-only.
#include "scaler/signals/window/window.h"

#include <algorithm>
#include <cmath>

namespace nimscaler::signals {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The increase from `prev` to `cur` of a counter: a drop means the counter restarted from 0,
// so everything it now shows happened since the previous sample.
double CounterDelta(double prev, double cur) { return cur >= prev ? cur - prev : cur; }

bool SameLayout(const std::vector<Bucket>& a, const std::vector<Bucket>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].upper_bound != b[i].upper_bound) return false;
  }
  return true;
}

bool ByBound(const Bucket& a, const Bucket& b) { return a.upper_bound < b.upper_bound; }

}  // namespace

// ---- GaugeWindow ----------------------------------------------------------------------------

void GaugeWindow::Add(TimePoint now, double value) {
  if (std::isnan(value)) return;
  ring_.Push(now, value);
  ring_.DropThrough(now - retention_);
}

double GaugeWindow::Average(TimePoint now, Duration window) const {
  double sum = 0;
  size_t n = 0;
  for (size_t i = ring_.FirstAfter(now - window); i < ring_.size(); ++i) {
    if (ring_[i].time > now) break;
    sum += ring_[i].value;
    ++n;
  }
  return n == 0 ? kNaN : sum / static_cast<double>(n);
}

std::optional<std::pair<TimePoint, double>> GaugeWindow::Latest() const {
  if (ring_.empty()) return std::nullopt;
  const auto& e = ring_[ring_.size() - 1];
  return std::make_pair(e.time, e.value);
}

GaugeWindow::Fit GaugeWindow::LeastSquares(TimePoint now, Duration window) const {
  // Times as seconds before `now` keep the sums small and the intercept is the value at now.
  double n = 0, sx = 0, sy = 0;
  size_t first = ring_.FirstAfter(now - window);
  TimePoint last_time = now;
  for (size_t i = first; i < ring_.size() && ring_[i].time <= now; ++i) {
    n += 1;
    last_time = ring_[i].time;
    sx += std::chrono::duration<double>(ring_[i].time - now).count();
    sy += ring_[i].value;
  }
  if (n < 2) return {};
  double mx = sx / n, my = sy / n, sxx = 0, sxy = 0;
  for (size_t i = first; i < ring_.size() && ring_[i].time <= now; ++i) {
    double dx = std::chrono::duration<double>(ring_[i].time - now).count() - mx;
    sxx += dx * dx;
    sxy += dx * (ring_[i].value - my);
  }
  if (!(sxx > 0)) return {};
  double slope = sxy / sxx;
  double span = std::chrono::duration<double>(last_time - ring_[first].time).count();
  return {.slope = slope, .at_now = my - slope * mx, .span_seconds = span};
}

// ---- CounterWindow --------------------------------------------------------------------------

void CounterWindow::Add(TimePoint now, double value) {
  if (!std::isfinite(value) || value < 0) return;
  if (!ring_.empty()) {
    const auto& newest = ring_[ring_.size() - 1];
    if (now > newest.time && value < newest.value) ++resets_;
  }
  ring_.Push(now, value);
  ring_.DropThrough(now - retention_);
}

double CounterWindow::Increase(TimePoint now, Duration window) const {
  size_t first = ring_.FirstAfter(now - window);
  size_t end = ring_.FirstAfter(now);
  if (end < first + 2) return kNaN;  // a rate is never made up from a single sample
  double total = 0;
  for (size_t i = first + 1; i < end; ++i) total += CounterDelta(ring_[i - 1].value, ring_[i].value);
  return total;
}

double CounterWindow::SpanSeconds(TimePoint now, Duration window) const {
  size_t first = ring_.FirstAfter(now - window);
  size_t end = ring_.FirstAfter(now);
  if (end < first + 2) return kNaN;
  return ToSeconds(ring_[end - 1].time - ring_[first].time);
}

double CounterWindow::Rate(TimePoint now, Duration window) const {
  double seconds = SpanSeconds(now, window);
  if (!(seconds > 0)) return kNaN;
  return Increase(now, window) / seconds;
}

double SumRates(std::span<const CounterWindow* const> pods, TimePoint now, Duration window) {
  // The pods' increases over the longest span any of them was seen, not the sum of each pod's
  // own rate: a pod that joined 2 s ago served nothing before, and its 2 s rate added to the
  // others' window averages would count the load it took over from them twice (a scale-up would
  // read as a jump in demand). This is what PromQL's sum(rate(x[w])) gives for a series that
  // starts inside the range.
  double increase = 0, seconds = 0;
  bool any = false;
  for (const CounterWindow* pod : pods) {
    double span = pod->SpanSeconds(now, window);
    if (!(span > 0)) continue;  // a pod without two samples yet has no rate, not rate 0
    increase += pod->Increase(now, window);
    seconds = std::max(seconds, span);
    any = true;
  }
  return any ? increase / seconds : kNaN;
}

// ---- HistogramWindow ------------------------------------------------------------------------

void HistogramWindow::Add(TimePoint now, std::vector<Bucket> buckets) {
  if (buckets.empty()) return;
  for (const Bucket& b : buckets) {
    if (std::isnan(b.count) || std::isnan(b.upper_bound)) return;
  }
  std::sort(buckets.begin(), buckets.end(), ByBound);
  ring_.Push(now, std::move(buckets));
  ring_.DropThrough(now - retention_);
}

std::vector<Bucket> HistogramWindow::Increase(TimePoint now, Duration window) const {
  size_t first = ring_.FirstAfter(now - window);
  size_t end = ring_.FirstAfter(now);
  std::vector<Bucket> total;
  if (end < first + 2) return total;
  for (size_t i = first + 1; i < end; ++i) {
    const auto& prev = ring_[i - 1].value;
    const auto& cur = ring_[i].value;
    bool reset = !SameLayout(prev, cur);
    for (size_t j = 0; !reset && j < cur.size(); ++j) reset = cur[j].count < prev[j].count;
    if (reset) {
      MergeBuckets(&total, cur);
      continue;
    }
    std::vector<Bucket> delta = cur;
    for (size_t j = 0; j < cur.size(); ++j) delta[j].count = cur[j].count - prev[j].count;
    MergeBuckets(&total, delta);
  }
  return total;
}

void MergeBuckets(std::vector<Bucket>* total, std::span<const Bucket> more) {
  // One linear merge of two sorted runs: pods whose bounds interleave cost |total| + |more|,
  // not an insertion into the middle of `total` per bucket.
  std::vector<Bucket> sorted_more;
  if (!std::is_sorted(more.begin(), more.end(), ByBound)) {
    sorted_more.assign(more.begin(), more.end());
    std::sort(sorted_more.begin(), sorted_more.end(), ByBound);
    more = sorted_more;
  }
  std::vector<Bucket> merged;
  merged.reserve(total->size() + more.size());
  auto a = total->begin();
  auto b = more.begin();
  while (a != total->end() || b != more.end()) {
    Bucket next;
    if (b == more.end() || (a != total->end() && a->upper_bound < b->upper_bound)) {
      next = *a++;
    } else if (a == total->end() || b->upper_bound < a->upper_bound) {
      next = *b++;
    } else {
      next = {a->upper_bound, a->count + b->count};
      ++a;
      ++b;
    }
    if (!merged.empty() && merged.back().upper_bound == next.upper_bound) {
      merged.back().count += next.count;  // equal bounds within one run
    } else {
      merged.push_back(next);
    }
  }
  total->swap(merged);
}

double HistogramQuantile(double q, std::vector<Bucket> buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  std::sort(buckets.begin(), buckets.end(), ByBound);
  // Merge equal bounds (two series with the same le).
  std::vector<Bucket> b;
  for (const Bucket& x : buckets) {
    if (!b.empty() && b.back().upper_bound == x.upper_bound) {
      b.back().count += x.count;
    } else {
      b.push_back(x);
    }
  }
  if (b.size() < 2 || b.back().upper_bound != kInf) return kNaN;
  // Cumulative counts must not go down; scrapes of different buckets are not atomic.
  for (size_t i = 1; i < b.size(); ++i) b[i].count = std::max(b[i].count, b[i - 1].count);
  double observations = b.back().count;
  if (!(observations > 0)) return kNaN;
  double rank = q * observations;
  size_t i = 0;
  while (i < b.size() && b[i].count < rank) ++i;
  if (i >= b.size() - 1) return b[b.size() - 2].upper_bound;  // in the +Inf bucket
  if (i == 0 && b[0].upper_bound <= 0) return b[0].upper_bound;
  double start = i == 0 ? 0 : b[i - 1].upper_bound;
  double below = i == 0 ? 0 : b[i - 1].count;
  double end = b[i].upper_bound;
  double in_bucket = b[i].count - below;
  if (!(in_bucket > 0)) return start;  // q = 0 with an empty lowest bucket
  return start + (end - start) * ((rank - below) / in_bucket);
}

WindowedQuantile WindowQuantile(double q, std::span<const HistogramWindow* const> pods, TimePoint now,
                                Duration window) {
  std::vector<Bucket> total;
  for (const HistogramWindow* pod : pods) MergeBuckets(&total, pod->Increase(now, window));
  if (total.empty()) return {};
  bool has_inf = total.back().upper_bound == kInf;  // MergeBuckets keeps `total` sorted
  bool none = std::all_of(total.begin(), total.end(), [](const Bucket& b) { return !(b.count > 0); });
  if (has_inf && total.size() >= 2 && none) return {.value = kNaN, .no_observations = true};
  return {.value = HistogramQuantile(q, std::move(total))};
}

// ---- DecisionPolicy -------------------------------------------------------------------------

double DecisionPolicy::Average(TimePoint now, Duration window) const {
  double sum = 0;
  size_t n = 0;
  for (size_t i = samples_.FirstAfter(now - window); i < samples_.size(); ++i) {
    if (samples_[i].time > now) break;
    sum += samples_[i].value;
    ++n;
  }
  return n == 0 ? kNaN : sum / static_cast<double>(n);
}

Decision DecisionPolicy::Update(TimePoint now, double value, double ready_replicas) {
  if (std::isfinite(value)) {
    samples_.Push(now, std::max(0.0, value));
    samples_.DropThrough(now - std::max(options_.stable_window, options_.panic_window));
  }
  Decision d;
  d.stable = Average(now, options_.stable_window);
  d.panic = Average(now, options_.panic_window);
  // As Knative: at zero ready pods, compare against one so a burst from zero still panics.
  double ready = std::max(1.0, std::isnan(ready_replicas) ? 0.0 : ready_replicas);
  if (!std::isnan(d.panic) && d.panic >= options_.panic_threshold * ready) {
    if (!panicking_) panic_peak_ = 0;
    panicking_ = true;
    last_over_ = now;
  } else if (panicking_ && now - last_over_ >= options_.stable_window) {
    panicking_ = false;
  }
  d.panicking = panicking_;
  if (!panicking_) {
    d.value = d.stable;
    return d;
  }
  double v = std::isnan(d.panic) ? d.stable : std::isnan(d.stable) ? d.panic : std::max(d.stable, d.panic);
  // The ratchet: while panicking the answer never goes down.
  if (std::isnan(v) || v < panic_peak_) v = panic_peak_;
  panic_peak_ = v;
  d.value = v;
  return d;
}

}  // namespace nimscaler::signals
