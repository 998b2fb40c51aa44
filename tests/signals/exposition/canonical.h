#pragma once
// Test helper: renders what our parser read as the canonical rows that
// tests/differential/expfmt_dump prints for Go's expfmt, so the two can be compared line by
// line (see that program's header for the row format).

#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/result.h"
#include "scaler/signals/exposition/types.h"

namespace nimscaler::exposition::testing {

/// Sorted canonical rows of `body`, flattened the way expfmt structures samples: histogram
/// and summary parts keyed by their family, `le`/`quantile` as float bits, counts as uint64,
/// samples that expfmt drops (a summary sample without `quantile`, a histogram sample that is
/// neither bucket, sum nor count) left out, and timestamps kept for simple types only.
Result<std::vector<std::string>> CanonicalRows(std::string_view body, Format format, Options options = {});

/// Reads a whole file; fails the calling test (returns "") when it cannot.
std::string ReadFile(const std::string& path);

}  // namespace nimscaler::exposition::testing
