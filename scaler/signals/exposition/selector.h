#pragma once
// Selector: which families and samples a parse hands to the visitor, with optional label
// matchers. Built once, then immutable: concurrent lookups from many parsers are safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition {

/// One label condition: the label's (unescaped) value equals `value` (or differs from it when
/// `equal` is false). A missing label has the value "" (Prometheus semantics).
struct LabelMatcher {
  std::string name;
  std::string value;
  bool equal = true;
};

/// The caller's wish list. Lookups hash the name once per sample line (or once per family),
/// so selecting 5 of 200 families costs no more than selecting 1.
///
/// Thread-safety: const methods may be called concurrently; building is single-threaded.
class Selector {
 public:
  /// Selects nothing: a parse only validates and reports families.
  Selector() = default;
  /// Selects every sample.
  static Selector All();

  /// Selects every sample of family `name` (its TYPE name: `_bucket`, `_sum`, `_count`,
  /// `_total`, `_created`... follow the family). For a counter, `foo` and `foo_total` are the
  /// same family, since 0.0.4 prometheus_client writes TYPE with `_total` and OpenMetrics
  /// without. Several calls for one name mean "any of these matcher sets".
  Selector& AddFamily(std::string_view name, std::vector<LabelMatcher> matchers = {});
  /// Selects samples named exactly `name`, whatever their family.
  Selector& AddSample(std::string_view name, std::vector<LabelMatcher> matchers = {});

  bool selects_all() const { return all_; }
  bool empty() const { return !all_ && entries_.empty(); }
  bool has_sample_entries() const { return sample_entries_ > 0; }

  /// Index of the first entry for family `name` of type `type`, or -1.
  int FindFamily(std::string_view name, MetricType type) const;
  /// Index of the first entry for sample name `name`, or -1.
  int FindSample(std::string_view name) const;
  /// True when entry `index` or an alternative for the same name accepts `labels`.
  bool Accepts(int index, std::span<const Label> labels) const;
  /// True when entry `index` (or an alternative) has label matchers at all.
  bool HasMatchers(int index) const;

  /// The hash used for lookups (exposed for the parser's own tables).
  static uint64_t Hash(std::string_view s);

 private:
  struct Entry {
    std::string name;
    uint64_t hash = 0;
    bool is_sample = false;
    bool counter_only = false;  // a `_total` alias that only applies to counter families
    std::vector<LabelMatcher> matchers;
    int next = -1;  // next alternative with the same name and kind
  };
  void Add(std::string_view name, bool is_sample, bool counter_only, std::vector<LabelMatcher> matchers);
  int Find(std::string_view name, bool is_sample) const;
  void Rehash();

  bool all_ = false;
  int sample_entries_ = 0;
  std::vector<Entry> entries_;
  std::vector<int32_t> slots_;  // open addressing; -1 empty; first entry of each name+kind
};

}  // namespace nimscaler::exposition
