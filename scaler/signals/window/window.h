#pragma once
// Time windows over scraped signals (pure: time is passed in, nothing reads a clock).
//
//   GaugeWindow       per-pod gauge history -> average over a window
//   CounterWindow     per-pod counter history -> increase / rate over a window, across resets
//   HistogramWindow   per-pod cumulative buckets -> bucket increases over a window
//   HistogramQuantile PromQL's histogram_quantile() over summed bucket increases
//   DecisionPolicy    Knative-style stable / panic windows over the formula's value
//
// Windows are half-open: a window of length w at time `now` holds the samples taken in
// (now - w, now]. Every class keeps at most `retention` of history and at most `max_points`
// samples (the oldest are dropped first), so memory is bounded whatever the caller does.
//
// Thread-safety: none of these classes is thread-safe; each is owned by one collector and
// mutated from one thread at a time. Const methods may run concurrently with each other.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "scaler/common/clock.h"

namespace nimscaler::signals {

inline constexpr size_t kDefaultMaxPoints = 1024;

/// A ring of (time, value) entries in time order with a fixed capacity; the oldest entry is
/// overwritten when it is full. Internal building block, public for tests.
template <typename T>
class TimeRing {
 public:
  struct Entry {
    TimePoint time;
    T value;
  };

  explicit TimeRing(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// Appends an entry. An entry older than the newest is refused (returns false); one at the
  /// same time as the newest replaces it.
  bool Push(TimePoint time, T value) {
    if (size_ > 0) {
      Entry& newest = At(size_ - 1);
      if (time < newest.time) return false;
      if (time == newest.time) {
        newest.value = std::move(value);
        return true;
      }
    }
    if (size_ < buf_.size()) {
      At(size_) = {time, std::move(value)};
      ++size_;
    } else if (buf_.size() < capacity_) {
      // Grow: make the live entries contiguous from index 0, then append.
      std::rotate(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_), buf_.end());
      head_ = 0;
      buf_.push_back({time, std::move(value)});
      ++size_;
    } else {
      // Full: the oldest entry makes room.
      buf_[head_] = {time, std::move(value)};
      head_ = (head_ + 1) % buf_.size();
    }
    return true;
  }

  /// Drops entries taken at or before `time`.
  void DropThrough(TimePoint time) {
    while (size_ > 0 && buf_[head_].time <= time) {
      buf_[head_] = Entry{};
      head_ = (head_ + 1) % buf_.size();
      --size_;
    }
    if (size_ == 0) head_ = 0;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// i = 0 is the oldest entry.
  const Entry& operator[](size_t i) const { return buf_[(head_ + i) % buf_.size()]; }
  /// Index of the first entry taken after `time` (size() when none).
  size_t FirstAfter(TimePoint time) const {
    size_t lo = 0, hi = size_;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if ((*this)[mid].time <= time) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

 private:
  Entry& At(size_t i) { return buf_[(head_ + i) % buf_.size()]; }

  size_t capacity_;
  std::vector<Entry> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
};

/// History of one pod's gauge.
class GaugeWindow {
 public:
  explicit GaugeWindow(Duration retention, size_t max_points = kDefaultMaxPoints)
      : retention_(retention), ring_(max_points) {}

  /// Records a sample. NaN (the pod reported no value) is not recorded; a sample older than the
  /// newest is ignored; one at the newest time replaces it.
  void Add(TimePoint now, double value);
  /// Mean of the samples in (now - window, now]; NaN when there are none.
  double Average(TimePoint now, Duration window) const;
  /// The newest sample, if any.
  std::optional<std::pair<TimePoint, double>> Latest() const;
  /// The least-squares line through the samples in (now - window, now] (PromQL's deriv() and
  /// predict_linear()): its slope per second and its value at `now`; both NaN with samples at
  /// fewer than two distinct times.
  struct Fit {
    double slope = std::numeric_limits<double>::quiet_NaN();
    double at_now = std::numeric_limits<double>::quiet_NaN();
    double span_seconds = 0;  ///< from the first to the last sample used
  };
  Fit LeastSquares(TimePoint now, Duration window) const;
  size_t size() const { return ring_.size(); }

 private:
  Duration retention_;
  TimeRing<double> ring_;
};

/// History of one pod's counter. A value lower than the previous one means the counter was
/// reset (the pod restarted): the new value itself is taken as the increase since the previous
/// sample, as PromQL's rate() does. A rate is never made up from a single sample.
class CounterWindow {
 public:
  explicit CounterWindow(Duration retention, size_t max_points = kDefaultMaxPoints)
      : retention_(retention), ring_(max_points) {}

  /// Records a sample. NaN, infinite and negative values are not recorded.
  void Add(TimePoint now, double value);
  /// Total increase between the first and last samples in (now - window, now], counting
  /// resets; NaN with fewer than two samples.
  double Increase(TimePoint now, Duration window) const;
  /// Seconds between those two samples; NaN with fewer than two samples.
  double SpanSeconds(TimePoint now, Duration window) const;
  /// Increase() divided by SpanSeconds() (no extrapolation to the window's edges); NaN with
  /// fewer than two samples.
  double Rate(TimePoint now, Duration window) const;
  /// Resets seen since construction (for telemetry).
  uint64_t resets() const { return resets_; }
  size_t size() const { return ring_.size(); }

 private:
  Duration retention_;
  TimeRing<double> ring_;
  uint64_t resets_ = 0;
};

/// The pods' total rate: the sum of their increases divided by the longest span any of them
/// covers, so a pod seen for part of the window counts by what it served in it. Pods without
/// two samples are skipped; NaN when no pod has two.
double SumRates(std::span<const CounterWindow* const> pods, TimePoint now, Duration window);

/// One cumulative histogram bucket: observations <= upper_bound (the `le` label).
struct Bucket {
  double upper_bound = 0;
  double count = 0;
  bool operator==(const Bucket&) const = default;
};

/// History of one pod's histogram (its cumulative buckets, +Inf included).
class HistogramWindow {
 public:
  explicit HistogramWindow(Duration retention, size_t max_points = 256) : retention_(retention), ring_(max_points) {}

  /// Records a snapshot of cumulative buckets (sorted here by upper bound; NaN counts and an
  /// empty snapshot are ignored).
  void Add(TimePoint now, std::vector<Bucket> buckets);
  /// Cumulative bucket increases between the first and last snapshots in (now - window, now].
  /// Between two consecutive snapshots, a count that went down or a changed bucket layout means
  /// a reset: the newer snapshot is the increase. Empty with fewer than two snapshots.
  std::vector<Bucket> Increase(TimePoint now, Duration window) const;
  size_t size() const { return ring_.size(); }

 private:
  Duration retention_;
  TimeRing<std::vector<Bucket>> ring_;
};

/// Adds `more` into `total`, bucket by bucket with equal upper bounds (PromQL's sum by (le));
/// keeps `total` sorted by upper bound.
void MergeBuckets(std::vector<Bucket>* total, std::span<const Bucket> more);

/// PromQL's histogram_quantile(q, buckets) over cumulative buckets:
///  - q < 0 gives -Inf, q > 1 gives +Inf, NaN q gives NaN;
///  - buckets are sorted and equal bounds merged; fewer than two buckets, or no +Inf bucket,
///    gives NaN; counts are made monotonic (a count below an earlier one is raised to it);
///  - no observations (+Inf count 0) gives NaN;
///  - the rank q * observations falls in the first bucket whose count reaches it, and the
///    answer is interpolated linearly within it; the lowest bucket starts at 0 unless its upper
///    bound is <= 0 (then that bound is the answer); a rank in the +Inf bucket gives the
///    largest finite upper bound.
double HistogramQuantile(double q, std::vector<Bucket> buckets);

/// What WindowQuantile found: a value; or NaN with `no_observations` when the window was seen
/// (some pod has two snapshots, with a +Inf bucket) and nothing was observed in it, which means
/// "no requests", not "no data"; or NaN alone when unknown.
struct WindowedQuantile {
  double value = std::numeric_limits<double>::quiet_NaN();
  bool no_observations = false;
};

/// The q-quantile over a window from the bucket increases of all pods (PromQL's
/// histogram_quantile(q, sum(rate(x_bucket[w])) by (le))); NaN when no pod has two snapshots or
/// there were no observations (then `no_observations`). Increases are summed rather than
/// per-second rates: the answer is the same when the pods' snapshots span the same time, and a
/// pod seen for a shorter span weighs by what it actually served.
WindowedQuantile WindowQuantile(double q, std::span<const HistogramWindow* const> pods, TimePoint now, Duration window);

/// Settings of the decision policy (docs/trigger-reference.md "Keys": `window`, `panicWindow`).
struct PolicyOptions {
  Duration stable_window = std::chrono::seconds(60);
  Duration panic_window = std::chrono::seconds(6);
  /// Panic when the panic-window average reaches this multiple of the ready replicas.
  double panic_threshold = 2.0;
  size_t max_points = kDefaultMaxPoints;
};

/// One decision: what to report and why.
struct Decision {
  /// The value to report; NaN when the stable window holds no sample (no answer yet).
  double value = std::numeric_limits<double>::quiet_NaN();
  double stable = std::numeric_limits<double>::quiet_NaN();  ///< stable-window average
  double panic = std::numeric_limits<double>::quiet_NaN();   ///< panic-window average
  bool panicking = false;
};

/// Knative's KPA decision over the formula's value (docs/formula.md "The decision"):
///  - the answer is the stable-window average of the formula's value;
///  - when the panic-window average is at least panic_threshold x max(1, ready replicas), the
///    policy panics; every such tick restarts the panic timer;
///  - while panicking the answer is the larger of both averages, and it never goes down;
///  - panic ends once a full stable window has passed since the last over-threshold tick.
/// Negative values are recorded as 0 (a replica count); NaN and infinite values are not
/// recorded (no data must not look like zero load).
class DecisionPolicy {
 public:
  explicit DecisionPolicy(PolicyOptions options = {}) : options_(options), samples_(options.max_points) {}

  /// Records the formula's value at `now` (NaN: none this tick) and decides.
  Decision Update(TimePoint now, double value, double ready_replicas);
  bool panicking() const { return panicking_; }
  const PolicyOptions& options() const { return options_; }

 private:
  double Average(TimePoint now, Duration window) const;

  PolicyOptions options_;
  TimeRing<double> samples_;
  bool panicking_ = false;
  TimePoint last_over_{};  // last tick whose panic average was over the threshold
  double panic_peak_ = 0;  // highest answer given during the current panic
};

}  // namespace nimscaler::signals
