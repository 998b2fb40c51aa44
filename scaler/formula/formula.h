#pragma once
// The formula language of docs/formula.md "The language": a small expression language that turns per-pod LLM
// signals into a desired replica count. Modelled on re2: text is lexed, parsed into an AST,
// checked against the declared signals, and compiled once into an immutable Program that many
// threads evaluate concurrently.
//
//   auto program = formula::Compile("max(sum(kv_cache)/0.8, sum(waiting)/4)",
//                                   formula::BuiltinSignals());
//   if (!program.ok()) return program.status();   // INVALID_ARGUMENT with column and caret
//   double desired = (*program)->Evaluate(bindings);
//
// Language summary (precedence from loosest to tightest):
//   c ? a : b        conditional (right-associative)
//   a || b, a && b   logic; a value is true when it is neither 0 nor NaN; results are 1 or 0
//   == != < <= > >=  comparisons (not chainable); NaN compares false (except !=, which is true)
//   + -  then  * /   arithmetic
//   -a, !a           unary
//   2, 0.5, 1e3      numbers;  500ms, 2s, 1m30s  durations, in seconds
//   replicas, pods   ready pods and all discovered pods
//   sum(s) avg(s) max(s) min(s) count(s)   aggregate a per-pod gauge s across pods
//   rate(c)          per-second increase of counter c over the window, summed over pods
//   quantile(q, h)   q-quantile (a literal in [0, 1]) of histogram h over the window
//   min(a, ...) max(a, ...) ceil(a) floor(a) round(a) abs(a) clamp(x, lo, hi)
//   trend(x)         per-second slope of x over the window (least squares over the values x
//                    had at each collection); x is any expression without trend() or predict()
//   predict(x, h)    x's fitted value h (a duration literal) from now, as PromQL's
//                    predict_linear: the least-squares line at now plus h times its slope
//
// Value rules (each has a test in tests/formula/):
//   - A pod whose value is NaN is missing: aggregations skip it, and count() counts the pods
//     that have a value. sum() and count() of no values are 0 (no pods, no load); avg(), max(),
//     min() of no values are NaN.
//   - Division by zero gives NaN (undefined), never Inf: a replica count must not jump to
//     "infinite" because a denominator such as replicas is 0. NaN then propagates through
//     arithmetic, is skipped by the scalar min() and max() (so one undefined term of the default
//     max(...) formula does not hide the others), and makes comparisons false.
//   - Evaluate() returns a finite number or NaN ("no answer": the caller keeps its previous
//     decision and never scales down on it). It does not clamp negatives: that is policy.
//   - round() rounds halves away from zero; clamp(x, lo, hi) is min(max(x, lo), hi).
//   - trend() and predict() are NaN (unknown) until the caller has a line; the engine draws one
//     once x's values span half the window, so a start-up or a single step is not extrapolated.
//   - A quantile over a window in which the pods answered but nobody sent a request is *empty*:
//     no latency demand, which is not the same as no data (NaN). An empty value is skipped by
//     the scalar min() and max() like NaN; + and - count it as 0 (empty + empty is empty); *, /,
//     -, ceil, floor, round and abs of it are empty; comparisons, && || ! and ?: read it as 0;
//     clamp() needs a number and reads it as 0; dividing by it is a division by zero (NaN). A
//     formula whose result is empty evaluates to 0, so a latency-only target scales an idle
//     model to its minimum instead of holding its last value.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/common/signal_vocabulary.h"

namespace nimscaler::formula {

namespace detail {
struct Node;
}  // namespace detail

/// What a signal is, as the metric's # TYPE says (kUnknown: a custom signal whose # TYPE is not
/// known yet; any use compiles, and the caller checks it with Program::CheckSignalKind() once
/// the type is seen). The one kind vocabulary, scaler/common/signal_vocabulary.h.
using Kind = SignalKind;

/// A signal the formula may name.
struct SignalInfo {
  std::string name;  ///< an identifier: [A-Za-z_][A-Za-z0-9_]*, not "replicas" or "pods"
  Kind kind = Kind::kUnknown;
};

/// The built-in signals with their kinds (docs/formula.md "The formula"), as the vocabulary
/// table kBuiltinSignals (scaler/common/signal_vocabulary.h) lists them.
const std::vector<SignalInfo>& BuiltinSignals();

/// Caps on what a user may type (they write formulas into YAML). Each breach is an
/// INVALID_ARGUMENT error that names the limit.
struct Options {
  size_t max_length = 4096;   ///< bytes of formula text
  int max_depth = 64;         ///< nesting of the syntax tree (and of parentheses)
  int max_identifiers = 256;  ///< signal and variable references (function names not counted)
};

/// A number read over a window: `value` (NaN when unknown: too little history), or `empty`
/// when the window was seen and held no observations (see the value rules above).
struct Windowed {
  double value = std::numeric_limits<double>::quiet_NaN();
  bool empty = false;
  static Windowed Of(double v) { return {v, false}; }
  static Windowed Empty() { return {0, true}; }
  static Windowed Unknown() { return {}; }
};

/// A fitted line: per-second slope and its value at the evaluation time; NaN when unknown.
struct Line {
  double slope = std::numeric_limits<double>::quiet_NaN();
  double at_now = std::numeric_limits<double>::quiet_NaN();
};

/// What the evaluating engine supplies for one evaluation. Implementations are short-lived
/// views over one signal snapshot; Evaluate() calls them only from the calling thread.
class Bindings {
 public:
  virtual ~Bindings() = default;
  /// Current per-pod values of a gauge, one entry per pod; NaN marks a pod without a value.
  /// The span must stay valid until Evaluate() returns.
  virtual std::span<const double> Gauge(std::string_view signal) const = 0;
  /// Per-second increase of a counter over the window, summed over pods; NaN when unknown
  /// (no pod has two samples yet).
  virtual double Rate(std::string_view signal) const = 0;
  /// q-quantile of a histogram over the window from the bucket deltas of all pods: a number,
  /// unknown (NaN: no pod has two snapshots yet) or empty (the window held no observations).
  virtual Windowed Quantile(double q, std::string_view signal) const = 0;
  /// The least-squares line through the values the `slot`-th trend()/predict() input had over
  /// the window (Program::EvaluateTrendInput at each collection). Unknown (NaN) by default.
  virtual Line Trend(size_t slot) const {
    (void)slot;
    return {};
  }
  /// Ready pods.
  virtual double Replicas() const = 0;
  /// All discovered pods, including those still starting.
  virtual double Pods() const = 0;
};

/// How a compiled formula uses one signal; tells the collector what to keep.
struct SignalUse {
  std::string name;
  /// The kind the formula needs: kGauge means per-pod values (Bindings::Gauge), kCounter means
  /// Bindings::Rate, kHistogram means Bindings::Quantile at `quantiles`.
  Kind kind = Kind::kGauge;
  Kind declared = Kind::kUnknown;  ///< the kind given to Compile()
  std::vector<double> quantiles;   ///< sorted, distinct levels; only for histograms
};

/// A checked, compiled formula. Immutable after Compile(), so it is thread-safe: any number of
/// threads may call any method concurrently. Neither copyable nor movable (it owns its tree);
/// share it as std::shared_ptr<const Program>.
class Program {
 public:
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  /// The formula's value for one snapshot: a finite number or NaN (see the value rules above).
  double Evaluate(const Bindings& bindings) const;

  /// Canonical text of the checked syntax tree, e.g.
  /// "max(div(sum_pods(gauge(kv_cache)), num(0.8)), div(sum_pods(gauge(waiting)), num(4)))".
  std::string Dump() const;

  /// The text it was compiled from.
  const std::string& text() const { return text_; }
  /// Signals the formula reads, sorted by name.
  const std::vector<SignalUse>& signals() const { return signals_; }
  bool uses_replicas() const { return uses_replicas_; }
  bool uses_pods() const { return uses_pods_; }
  /// True when some signal is read through rate() or quantile() (needs window history).
  bool uses_window() const;
  /// How many trend() and predict() calls the formula has; each is a slot whose input values
  /// the caller keeps over the window and serves back through Bindings::Trend(slot).
  size_t trend_count() const { return trend_inputs_.size(); }
  /// The value of the `slot`-th trend()/predict() input now: a finite number, or NaN (no
  /// value: not recorded). An input empty for want of requests is 0.
  double EvaluateTrendInput(size_t slot, const Bindings& bindings) const;

  /// Checks a signal's kind once its # TYPE is known (for signals compiled as kUnknown).
  /// FAILED_PRECONDITION naming the signal, its kind and the use that does not fit; OK when the
  /// signal is unused or fits.
  Status CheckSignalKind(std::string_view signal, Kind actual) const;

 private:
  friend Result<std::shared_ptr<const Program>> Compile(std::string_view, const std::vector<SignalInfo>&,
                                                        const Options&);
  Program() = default;

  std::string text_;
  std::unique_ptr<detail::Node> root_;
  std::vector<SignalUse> signals_;
  bool uses_replicas_ = false;
  bool uses_pods_ = false;
  std::vector<const detail::Node*> trend_inputs_;  // subtrees of root_, by slot
};

using ProgramConstSharedPtr = std::shared_ptr<const Program>;

/// Compiles `text` against `signals` (the complete list of names it may use; builtins are not
/// added implicitly). Errors are INVALID_ARGUMENT; a syntax or type error reads
///   formula:1:14: unknown signal 'kv_cahce', did you mean 'kv_cache'?
///   max(sum(kv_cahce)/0.8, 1)
///            ^ near here
/// with a first line that stands alone (KEDA shows it as an event). Columns count bytes.
Result<ProgramConstSharedPtr> Compile(std::string_view text, const std::vector<SignalInfo>& signals = BuiltinSignals(),
                                      const Options& options = {});

/// Per-replica targets from the trigger metadata (docs/trigger-reference.md "Keys").
struct Targets {
  /// Built-in signal -> what one replica should carry (latencies in seconds); only signals
  /// whose vocabulary row has a target key.
  std::map<std::string, double, std::less<>> per_replica;
  double latency_quantile = 0.95;
  /// How long a new pod takes to serve (startupTime), seconds: the default formula then scales
  /// on the demand predicted that far ahead, never below the current demand.
  std::optional<double> startup_time;
  /// The trigger's window (seconds): the reported value is the formula's average over it, and
  /// rate() and quantile() are averages over it, so each trails a trend by half of it.
  double window_seconds = 60;
};

/// The formula the targets stand for (docs/formula.md "The formula" and "Slow cold starts"), e.g.
///   max(sum(kv_cache)/0.7, sum(waiting)/4, replicas*quantile(0.95, ttft)/2)
/// and with a startup time S: max(L, predict(L, S + w/2), R, predict(R, S + w)) for the level
/// terms L (sum of a gauge) and the windowed terms R (rate, quantile) over a window w, so that
/// the reported average shows the demand S ahead; a group without terms is left out.
/// With no target at all: the vocabulary's default targets (targetKvCache 0.8, targetWaiting 4). A single term is
/// returned without max(). INVALID_ARGUMENT when a target is not a finite number > 0 or the quantile is outside (0, 1].
Result<std::string> DefaultFormula(const Targets& targets);

}  // namespace nimscaler::formula
