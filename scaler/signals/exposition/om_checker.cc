// Exports detail::OmChecker and detail::HashSet: OpenMetrics 1.0 rules spanning lines.
// The rules mirror the reference parser the conformance suite was written against
// (client_python's openmetrics parser): a family's sample names may not clash with another
// family's, a series group may not reappear after another group started, timestamps in a
// group never go backwards, histograms end with a +Inf bucket whose value equals _count, and
// counter-like values are neither NaN nor negative.
//
// OnSample is a hot loop kept whole although over 80 lines (issue 17): it runs once per
// OpenMetrics sample and checks every cross-line rule in one pass over that sample's state.
#include "scaler/signals/exposition/om_checker.h"

#include <cmath>

#include "scaler/signals/exposition/number.h"
#include "scaler/signals/exposition/selector.h"

namespace nimscaler::exposition::detail {
namespace {

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 0xCBF29CE484222325ull;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

bool IsInteger(double v) { return std::isfinite(v) && std::trunc(v) == v; }

std::optional<std::string_view> Find(std::span<const Label> labels, std::string_view key) {
  for (const Label& l : labels) {
    if (l.name == key) return l.value;
  }
  return std::nullopt;
}

}  // namespace

bool HashSet::Insert(uint64_t h) {
  if (h == 0) h = 1;
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (slots_[i] == h) return false;
    if (slots_[i] == 0) {
      slots_[i] = h;
      ++size_;
      return true;
    }
  }
}

bool HashSet::Contains(uint64_t h) const {
  if (h == 0) h = 1;
  if (slots_.empty()) return false;
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (slots_[i] == h) return true;
    if (slots_[i] == 0) return false;
  }
}

void HashSet::Clear() {
  if (size_ == 0) return;
  std::fill(slots_.begin(), slots_.end(), 0);
  size_ = 0;
}

void HashSet::Grow() {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, 0);
  size_ = 0;
  for (uint64_t h : old) {
    if (h != 0) Insert(h);
  }
}

void OmChecker::Reset() {
  names_.Clear();
  groups_.Clear();
  has_group_ = false;
  group_ts_.reset();
  hist_ = Histogram{};
}

const char* OmChecker::CheckHistogramGroup() const {
  const Histogram& h = hist_;
  if (!h.last_le || !std::isinf(*h.last_le) || *h.last_le < 0) return "histogram has no +Inf bucket";
  if (h.count && *h.count != h.last_value) return "histogram _count differs from its +Inf bucket";
  if (h.has_sum && !h.count) return "histogram has _sum but no _count";
  if (h.has_gsum && !h.count) return "gaugehistogram has _gsum but no _gcount";
  if (!(h.has_sum || h.has_gsum) && h.count) return "histogram has _count but no _sum";
  if (h.negative_buckets && h.has_sum) return "histogram with negative buckets cannot have _sum";
  if (!h.negative_buckets && h.negative_gsum) {
    return "gaugehistogram without negative buckets cannot have a negative _gsum";
  }
  return nullptr;
}

const char* OmChecker::OnSample(const OmSample& s) {
  const bool histogram = s.type == MetricType::kHistogram || s.type == MetricType::kGaugeHistogram;
  // Series group: the labels that identify one MetricPoint, order-insensitive.
  std::string_view ignored;
  if (s.type == MetricType::kSummary && s.role == SampleRole::kValue) ignored = "quantile";
  if (s.type == MetricType::kStateset) ignored = s.family;
  if (histogram && s.role == SampleRole::kBucket) ignored = "le";
  uint64_t g = 0x5151;
  if (s.type != MetricType::kInfo) {
    for (const Label& l : s.labels) {
      if (!ignored.empty() && l.name == ignored) continue;
      g += Mix(Fnv(kFnvBasis, l.name) ^ Mix(Fnv(kFnvBasis, l.value)));
    }
  }
  if (has_group_ && g != group_ && groups_.Contains(g)) {
    return "series of a family must not be interleaved";
  }
  if (has_group_ && g == group_) {
    if (s.timestamp.has_value() != group_ts_.has_value()) {
      return "a series mixes samples with and without timestamps";
    }
    if (group_ts_ && *group_ts_ > *s.timestamp && s.type != MetricType::kInfo) {
      return "timestamps went backwards within a series";
    }
  }
  // Histogram consistency, per group and timestamp (samples named like the family skip it).
  if (histogram && s.role != SampleRole::kValue) {
    if (!hist_.active || hist_.group != g || hist_.timestamp != s.timestamp) {
      if (hist_.active) {
        if (const char* err = CheckHistogramGroup()) return err;
      }
      hist_ = Histogram{};
      hist_.active = true;
      hist_.group = g;
      hist_.timestamp = s.timestamp;
    }
    switch (s.role) {
      case SampleRole::kBucket: {
        auto le = Find(s.labels, "le");
        if (!le) return "histogram bucket without le label";
        auto b = ParseFloat(*le);
        if (!b || std::isnan(*b)) return "histogram bucket le is not a number";
        if (std::isinf(*b) && *le != "+Inf" && *le != "-Inf") return "le infinity must be spelled +Inf";
        if (*b < 0) hist_.negative_buckets = true;
        if (hist_.last_le && *b <= *hist_.last_le) return "histogram buckets out of order";
        if (s.value < hist_.last_value) return "histogram bucket values decrease";
        hist_.last_le = *b;
        hist_.last_value = s.value;
        break;
      }
      case SampleRole::kCount:
      case SampleRole::kGCount: hist_.count = s.value; break;
      case SampleRole::kSum: hist_.has_sum = true; break;
      case SampleRole::kGSum:
        hist_.has_gsum = true;
        if (s.value < 0) hist_.negative_gsum = true;
        break;
      default: break;
    }
  }
  if (!has_group_ || g != group_) groups_.Insert(g);
  has_group_ = true;
  group_ = g;
  group_ts_ = s.timestamp;

  // Value domains.
  if ((s.role == SampleRole::kBucket || s.role == SampleRole::kCount || s.role == SampleRole::kGCount) &&
      !IsInteger(s.value) && !std::isnan(s.value) && !(s.value < 0)) {
    return "bucket and count values must be integers";
  }
  if (s.type == MetricType::kSummary && s.role == SampleRole::kValue) {
    auto q = Find(s.labels, "quantile");
    auto qv = q ? ParseFloat(*q) : std::optional<double>();
    if (!qv || !(*qv >= 0 && *qv <= 1)) return "summary quantile must be a number in [0, 1]";
    if (s.value < 0) return "summary quantile values cannot be negative";
  }
  if (s.type == MetricType::kStateset) {
    if (!Find(s.labels, s.family)) return "stateset sample lacks the label named after its family";
    if (s.value != 0 && s.value != 1) return "stateset values must be 0 or 1";
  }
  if (s.type == MetricType::kInfo && s.value != 1) return "info values must be 1";
  switch (s.role) {
    case SampleRole::kTotal:
    case SampleRole::kSum:
    case SampleRole::kCount:
    case SampleRole::kBucket:
    case SampleRole::kGCount:
      if (std::isnan(s.value)) return "counter-like values cannot be NaN";
      if (s.value < 0) return "counter-like values cannot be negative";
      break;
    case SampleRole::kGSum:
      if (std::isnan(s.value)) return "counter-like values cannot be NaN";
      break;
    default: break;
  }
  if (s.has_exemplar && !((histogram && s.role == SampleRole::kBucket) ||
                          (s.type == MetricType::kCounter && s.role == SampleRole::kTotal))) {
    return "exemplars are only allowed on counter _total and histogram _bucket samples";
  }
  return nullptr;
}

const char* OmChecker::EndFamily(std::string_view name, MetricType type, std::string_view unit) {
  const char* err = nullptr;
  if (hist_.active) err = CheckHistogramGroup();
  hist_ = Histogram{};
  groups_.Clear();
  has_group_ = false;
  group_ts_.reset();
  if (err) return err;

  static constexpr std::string_view kNone[] = {""};
  static constexpr std::string_view kCounter[] = {"", "_total", "_created"};
  static constexpr std::string_view kSummary[] = {"", "_count", "_sum", "_created"};
  static constexpr std::string_view kHistogram[] = {"", "_count", "_sum", "_bucket", "_created"};
  static constexpr std::string_view kGaugeHistogram[] = {"", "_gcount", "_gsum", "_bucket"};
  static constexpr std::string_view kInfo[] = {"", "_info"};
  std::span<const std::string_view> suffixes = kNone;
  switch (type) {
    case MetricType::kCounter: suffixes = kCounter; break;
    case MetricType::kSummary: suffixes = kSummary; break;
    case MetricType::kHistogram: suffixes = kHistogram; break;
    case MetricType::kGaugeHistogram: suffixes = kGaugeHistogram; break;
    case MetricType::kInfo: suffixes = kInfo; break;
    default: break;
  }
  const uint64_t base = Fnv(kFnvBasis, name);
  for (std::string_view suffix : suffixes) {
    if (!names_.Insert(Mix(Fnv(base, suffix)))) return "family name clashes with an earlier family";
  }
  if (!unit.empty()) {
    if (type == MetricType::kInfo || type == MetricType::kStateset) {
      return "info and stateset families cannot have a unit";
    }
    if (name.size() <= unit.size() || name.substr(name.size() - unit.size()) != unit ||
        name[name.size() - unit.size() - 1] != '_') {
      return "unit is not a suffix of the family name";
    }
  }
  return nullptr;
}

}  // namespace nimscaler::exposition::detail
