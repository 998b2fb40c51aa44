#pragma once
// MetadataReader: turns a ScaledObject trigger's metadata map (all strings, as KEDA sends
// them) into typed values, driven by a table of FieldSpec rows. It collects every problem
// instead of stopping at the first one. It knows nothing about sources or formulas.

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scaler/common/clock.h"

namespace nimscaler::config {

using Metadata = std::map<std::string, std::string>;

enum class FieldType { kString, kDouble, kDuration, kEnum, kBool };

/// One metadata key: its type, default, allowed values and documentation.
struct FieldSpec {
  std::string key;
  FieldType type = FieldType::kString;
  std::string default_value;  ///< empty: no default (the key is optional unless `required`)
  std::string help;           ///< one line for the docs/trigger-reference.md table and errors
  std::vector<std::string> enum_values;
  double min = -std::numeric_limits<double>::infinity();  ///< exclusive lower bound
  double max = std::numeric_limits<double>::infinity();   ///< inclusive upper bound
  bool fraction = false;                                  ///< a 0-1 value; "50" gets "did you mean 0.5?"
  bool required = false;
  bool prefix = false;  ///< `key` is a prefix ("signal."): every key starting with it is accepted
};

/// Typed values of the known keys that were present (or defaulted). Plain value type.
class MetadataValues {
 public:
  bool Has(const std::string& key) const { return strings_.count(key) != 0; }
  std::string String(const std::string& key) const;
  std::optional<double> Double(const std::string& key) const;
  std::optional<Duration> DurationOf(const std::string& key) const;
  std::optional<bool> Bool(const std::string& key) const;
  /// For a prefix field: suffix -> raw value of every key that starts with `prefix`.
  const std::map<std::string, std::string>& Prefixed(const std::string& prefix) const;

 private:
  friend struct MetadataRead ReadMetadata(const Metadata&, const std::vector<FieldSpec>&);
  std::map<std::string, std::string> strings_;
  std::map<std::string, double> doubles_;
  std::map<std::string, Duration> durations_;
  std::map<std::string, bool> bools_;
  std::map<std::string, std::map<std::string, std::string>> prefixed_;
};

/// Values plus every problem found, each a self-contained sentence naming the key.
struct MetadataRead {
  MetadataValues values;
  std::vector<std::string> problems;
};

/// Keys KEDA itself reads from trigger metadata; accepted and ignored.
bool IsKedaOwnKey(const std::string& key);

/// Size limits of one metadata map (issue 19 item 10): far above any real trigger, low enough
/// that one caller cannot make the server hold or scan megabytes per request.
struct MetadataLimits {
  static constexpr size_t kMaxKeys = 256;
  static constexpr size_t kMaxKeyBytes = 256;
  static constexpr size_t kMaxValueBytes = 64u << 10;
  static constexpr size_t kMaxTotalBytes = 256u << 10;  ///< keys and values together
};

/// The first limit `metadata` breaks, as a sentence naming the key and the limit, e.g.
/// `value of key "formula" is 70000 bytes; at most 65536 are accepted`; empty when within.
/// Runs in time linear in the number of keys (sizes only; nothing is copied).
std::string CheckMetadataLimits(const Metadata& metadata);

/// Reads `metadata` against `fields`: unknown keys (with "did you mean" for the first
/// kMaxSuggestions of them, so the work stays linear in the number of keys), bad values
/// (naming the key, the value and what is expected), missing required keys.
MetadataRead ReadMetadata(const Metadata& metadata, const std::vector<FieldSpec>& fields);
inline constexpr size_t kMaxSuggestions = 10;

/// Joins problems into one message whose first line stands alone, e.g.
/// `invalid trigger metadata (2 problems): ...; ...`. Bounded (issue 19 item 9): at most
/// kMaxListedProblems are listed, then "and N more"; each is cut to a few hundred bytes and the
/// whole message stays under kMaxProblemsBytes.
std::string JoinProblems(const std::vector<std::string>& problems);
inline constexpr size_t kMaxListedProblems = 10;
inline constexpr size_t kMaxProblemsBytes = 4000;

}  // namespace nimscaler::config
