#pragma once
// Internal to the exposition parser: the type rules. Which sample-name suffixes a family's
// type allows and what role each gives (RoleFor, per line), the `# TYPE` words of each format
// (TypeFromWord), and TypeTable, the declared type per family name of one 0.0.4 body (for
// families split by other lines).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "scaler/signals/exposition/scan.h"
#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition::detail {

// Role of a sample whose name is `family` + `suffix`, or nullopt if the type does not allow
// that suffix (then the sample starts a new, untyped family).
__attribute__((always_inline)) inline std::optional<SampleRole> RoleFor(std::string_view suffix, MetricType type,
                                                                        bool om) {
  // 0.0.4 has no _gsum/_gcount: a gauge histogram there is spelled like a histogram.
  if (!om && type == MetricType::kGaugeHistogram) type = MetricType::kHistogram;
  if (suffix.empty()) {
    switch (type) {
      case MetricType::kCounter:
        if (om) return std::nullopt;
        return SampleRole::kValue;
      case MetricType::kInfo:
      case MetricType::kGaugeHistogram: return std::nullopt;
      case MetricType::kHistogram:
        // 0.0.4 exporters sometimes drop `_bucket` (Triton's docs); expfmt reads them as
        // buckets. OpenMetrics does not allow it.
        if (om) return std::nullopt;
        return SampleRole::kValue;
      default: return SampleRole::kValue;
    }
  }
  switch (type) {
    case MetricType::kCounter:
      if (!om) return std::nullopt;
      if (Eq(suffix, "_total")) return SampleRole::kTotal;
      if (Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kSummary:
      if (Eq(suffix, "_sum")) return SampleRole::kSum;
      if (Eq(suffix, "_count")) return SampleRole::kCount;
      if (om && Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kHistogram:
      if (Eq(suffix, "_bucket")) return SampleRole::kBucket;
      if (Eq(suffix, "_sum")) return SampleRole::kSum;
      if (Eq(suffix, "_count")) return SampleRole::kCount;
      if (om && Eq(suffix, "_created")) return SampleRole::kCreated;
      return std::nullopt;
    case MetricType::kGaugeHistogram:
      if (Eq(suffix, "_bucket")) return SampleRole::kBucket;
      if (Eq(suffix, "_gsum")) return SampleRole::kGSum;
      if (Eq(suffix, "_gcount")) return SampleRole::kGCount;
      return std::nullopt;
    case MetricType::kInfo:
      if (Eq(suffix, "_info")) return SampleRole::kInfo;
      return std::nullopt;
    default: return std::nullopt;
  }
}

// The MetricType a `# TYPE` word names in this format, or nullopt.
std::optional<MetricType> TypeFromWord(std::string_view w, bool om);

// Declared TYPE per family name within one 0.0.4 body (open addressing on the name hash;
// keeps its capacity across bodies).
class TypeTable {
 public:
  void Clear() {
    if (size_ == 0) return;
    std::fill(keys_.begin(), keys_.end(), 0);
    size_ = 0;
  }
  void Put(uint64_t h, MetricType t) {
    if (h == 0) h = 1;
    if ((size_ + 1) * 2 > keys_.size()) Grow();
    const size_t mask = keys_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      if (keys_[i] == h || keys_[i] == 0) {
        if (keys_[i] == 0) ++size_;
        keys_[i] = h;
        types_[i] = t;
        return;
      }
    }
  }
  std::optional<MetricType> Get(uint64_t h) const {
    if (size_ == 0) return std::nullopt;
    if (h == 0) h = 1;
    const size_t mask = keys_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      if (keys_[i] == h) return types_[i];
      if (keys_[i] == 0) return std::nullopt;
    }
  }
  bool empty() const { return size_ == 0; }

 private:
  void Grow() {
    std::vector<uint64_t> old_keys = std::move(keys_);
    std::vector<MetricType> old_types = std::move(types_);
    const size_t cap = old_keys.empty() ? 256 : old_keys.size() * 2;
    keys_.assign(cap, 0);
    types_.assign(cap, MetricType::kUntyped);
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] != 0) Put(old_keys[i], old_types[i]);
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<MetricType> types_;
  size_t size_ = 0;
};

}  // namespace nimscaler::exposition::detail
