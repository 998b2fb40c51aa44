#pragma once
// Internal: the cross-line rules of OpenMetrics 1.0 that a line lexer cannot see (family
// name clashes, series grouping, timestamp order, histogram consistency, value domains),
// as exercised by the OpenMetrics conformance suite. Used by Parser only.
//
// Thread-safety: none; one per Parser. Allocates only when a body has more families or
// series than any before it (tables keep their capacity across Reset()).

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition::detail {

/// Open-addressing set of non-zero 64-bit hashes; Clear() keeps capacity.
class HashSet {
 public:
  /// Inserts `h`; returns false when it was already present.
  bool Insert(uint64_t h);
  bool Contains(uint64_t h) const;
  void Clear();

 private:
  void Grow();
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
};

/// What the checker needs to know about one sample.
struct OmSample {
  std::string_view family;
  MetricType type;
  SampleRole role;
  std::span<const Label> labels;  // unescaped values
  double value;
  std::optional<double> timestamp;  // seconds
  bool has_exemplar;
};

class OmChecker {
 public:
  /// Forgets everything: call at the start of each body.
  void Reset();
  /// Checks one sample of the current family; returns an error message or nullptr.
  const char* OnSample(const OmSample& s);
  /// Closes a family run (with or without samples); returns an error message or nullptr.
  const char* EndFamily(std::string_view name, MetricType type, std::string_view unit);

 private:
  struct Histogram {
    bool active = false;
    uint64_t group = 0;
    std::optional<double> timestamp;
    std::optional<double> last_le;
    double last_value = 0;
    std::optional<double> count;
    bool has_sum = false;
    bool has_gsum = false;
    bool negative_buckets = false;
    bool negative_gsum = false;
  };
  const char* CheckHistogramGroup() const;

  HashSet names_;   // family names plus their type's sample suffixes, across the body
  HashSet groups_;  // series groups closed within the current family
  bool has_group_ = false;
  uint64_t group_ = 0;
  std::optional<double> group_ts_;
  Histogram hist_;
};

}  // namespace nimscaler::exposition::detail
