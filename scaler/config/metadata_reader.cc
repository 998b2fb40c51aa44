// Exports ReadMetadata(), JoinProblems() and IsKedaOwnKey().
#include "scaler/config/metadata_reader.h"

#include <algorithm>

#include "scaler/common/text.h"

namespace nimscaler::config {

std::string MetadataValues::String(const std::string& key) const {
  auto it = strings_.find(key);
  return it == strings_.end() ? std::string() : it->second;
}
std::optional<double> MetadataValues::Double(const std::string& key) const {
  auto it = doubles_.find(key);
  return it == doubles_.end() ? std::nullopt : std::optional<double>(it->second);
}
std::optional<Duration> MetadataValues::DurationOf(const std::string& key) const {
  auto it = durations_.find(key);
  return it == durations_.end() ? std::nullopt : std::optional<Duration>(it->second);
}
std::optional<bool> MetadataValues::Bool(const std::string& key) const {
  auto it = bools_.find(key);
  return it == bools_.end() ? std::nullopt : std::optional<bool>(it->second);
}

const std::map<std::string, std::string>& MetadataValues::Prefixed(const std::string& prefix) const {
  static const std::map<std::string, std::string> kEmpty;
  auto it = prefixed_.find(prefix);
  return it == prefixed_.end() ? kEmpty : it->second;
}

bool IsKedaOwnKey(const std::string& key) {
  static const char* kKeda[] = {"scalerAddress", "enableTLS", "unsafeSsl"};
  for (const char* k : kKeda) {
    if (key == k) return true;
  }
  // KEDA resolves `xFromEnv` from the target's container env and forwards the key as is.
  constexpr std::string_view kSuffix = "FromEnv";
  return key.size() > kSuffix.size() && key.compare(key.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

namespace {

std::string Quote(std::string_view s) { return "\"" + Truncate(s, 80) + "\""; }

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// Checks one value; returns a problem sentence, or empty when the value is good.
std::string CheckValue(const FieldSpec& f, const std::string& raw, std::string* canonical, double* number,
                       Duration* duration, bool* flag) {
  const std::string where = f.key + ": " + Quote(raw);
  switch (f.type) {
    case FieldType::kString:
      if (Trim(raw).empty()) return where + " is empty; expected " + f.help;
      *canonical = std::string(Trim(raw));
      return {};
    case FieldType::kEnum: {
      std::string v = ToLower(Trim(raw));
      if (std::find(f.enum_values.begin(), f.enum_values.end(), v) != f.enum_values.end()) {
        *canonical = v;
        return {};
      }
      std::string msg = where + " must be one of " + Join(f.enum_values, ", ");
      if (auto s = SuggestClosest(v, f.enum_values)) msg += " (did you mean \"" + *s + "\"?)";
      return msg;
    }
    case FieldType::kBool: {
      auto b = ParseBool(raw);
      if (!b) return where + " must be true or false";
      *flag = *b;
      return {};
    }
    case FieldType::kDouble: {
      auto d = ParseDouble(raw);
      if (!d) {
        // A duration where a number is expected is a common slip; say so.
        return where + " is not a number; expected " + f.help;
      }
      if (f.fraction && *d > 1 && *d <= 100) {
        return where +
               " must be a fraction between 0 and 1 (KV-cache use is reported as 0-1 "
               "even when the engine's metric name says _perc); did you mean \"" +
               FormatDouble(*d / 100) + "\"?";
      }
      if (!(*d > f.min) || *d > f.max) {
        std::string range = "greater than " + FormatDouble(f.min);
        if (f.max != std::numeric_limits<double>::infinity()) range += " and at most " + FormatDouble(f.max);
        return where + " is out of range; expected a number " + range;
      }
      *number = *d;
      return {};
    }
    case FieldType::kDuration: {
      auto d = ParseDuration(raw);
      if (!d) {
        std::string msg = where +
                          " is not a duration; expected a number with a unit such as "
                          "\"500ms\", \"2s\" or \"1m\"";
        if (ParseDouble(raw)) msg += " (a bare number has no unit; did you mean \"" + std::string(Trim(raw)) + "s\"?)";
        return msg;
      }
      double secs = ToSeconds(*d);
      if (!(secs > f.min) || secs > f.max) {
        return where + " is out of range; expected a duration above " +
               FormatDuration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(f.min))) +
               (f.max != std::numeric_limits<double>::infinity()
                    ? " and at most " +
                          FormatDuration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(f.max)))
                    : std::string());
      }
      *duration = *d;
      return {};
    }
  }
  return {};
}

}  // namespace

std::string CheckMetadataLimits(const Metadata& metadata) {
  using L = MetadataLimits;
  if (metadata.size() > L::kMaxKeys) {
    return "the trigger metadata has " + std::to_string(metadata.size()) + " keys; at most " +
           std::to_string(L::kMaxKeys) + " are accepted";
  }
  size_t total = 0;
  for (const auto& [key, value] : metadata) {
    if (key.size() > L::kMaxKeyBytes) {
      return "key " + Quote(key) + " is " + std::to_string(key.size()) + " bytes long; keys may be at most " +
             std::to_string(L::kMaxKeyBytes) + " bytes";
    }
    if (value.size() > L::kMaxValueBytes) {
      return "the value of key " + Quote(key) + " is " + std::to_string(value.size()) +
             " bytes long; values may be at most " + std::to_string(L::kMaxValueBytes) + " bytes";
    }
    total += key.size() + value.size();
  }
  if (total > L::kMaxTotalBytes) {
    return "the trigger metadata has " + std::to_string(total) + " bytes of keys and values; at most " +
           std::to_string(L::kMaxTotalBytes) + " are accepted";
  }
  return {};
}

MetadataRead ReadMetadata(const Metadata& metadata, const std::vector<FieldSpec>& fields) {
  MetadataRead out;
  std::vector<std::string> known;
  known.reserve(fields.size());
  for (const auto& f : fields) known.push_back(f.key);
  size_t unknown = 0;

  // Unknown keys first: a misspelt key usually explains a "missing" one reported below.
  for (const auto& [key, value] : metadata) {
    if (IsKedaOwnKey(key)) continue;
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const FieldSpec* prefix = nullptr;
    for (const auto& f : fields) {
      if (f.prefix && key.size() > f.key.size() && key.rfind(f.key, 0) == 0) prefix = &f;
    }
    if (prefix != nullptr) {
      out.values.prefixed_[prefix->key][key.substr(prefix->key.size())] = value;
      continue;
    }
    std::string msg = "unknown key " + Quote(key);
    // Suggestions cost an edit distance per known key: only the first few get one (a map of
    // thousands of unknown keys is not a typo, and its error lists only ten anyway).
    if (++unknown <= kMaxSuggestions) {
      if (auto s = SuggestClosest(key, known)) msg += " (did you mean \"" + *s + "\"?)";
    }
    out.problems.push_back(msg);
  }

  for (const auto& f : fields) {
    if (f.prefix) continue;
    auto it = metadata.find(f.key);
    bool present = it != metadata.end();
    if (!present && f.default_value.empty()) {
      if (f.required) out.problems.push_back("missing required key \"" + f.key + "\": " + f.help);
      continue;
    }
    const std::string& raw = present ? it->second : f.default_value;
    std::string canonical = raw;
    double number = 0;
    Duration duration{};
    bool flag = false;
    std::string problem = CheckValue(f, raw, &canonical, &number, &duration, &flag);
    if (!problem.empty()) {
      out.problems.push_back(problem);
      continue;
    }
    out.values.strings_[f.key] = canonical;
    if (f.type == FieldType::kDouble) out.values.doubles_[f.key] = number;
    if (f.type == FieldType::kDuration) out.values.durations_[f.key] = duration;
    if (f.type == FieldType::kBool) out.values.bools_[f.key] = flag;
  }
  return out;
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  // The first line stands alone (KEDA shows it as an event); details that span lines (a
  // formula with its caret) follow it. Only the first kMaxListedProblems are listed, each cut
  // to kMaxHead bytes, and the whole text to kMaxProblemsBytes: one request cannot make a
  // large error (issue 19 item 9).
  constexpr size_t kMaxHead = 300;
  const size_t listed = std::min(problems.size(), kMaxListedProblems);
  std::string first = problems.size() <= 1
                          ? "invalid trigger metadata: "
                          : "invalid trigger metadata (" + std::to_string(problems.size()) + " problems): ";
  std::string details;
  for (size_t i = 0; i < listed; ++i) {
    const std::string& p = problems[i];
    size_t nl = p.find('\n');
    if (i > 0) first += "; ";
    first += Truncate(std::string_view(p).substr(0, nl), kMaxHead);
    // The caret block, under the summary (bounded below with the rest).
    if (nl != std::string::npos && details.size() < kMaxProblemsBytes) {
      details += std::string_view(p).substr(nl, kMaxProblemsBytes);
    }
  }
  if (problems.size() > listed) first += "; and " + std::to_string(problems.size() - listed) + " more";
  if (first.size() + details.size() > kMaxProblemsBytes) {
    details = first.size() < kMaxProblemsBytes ? Truncate(details, kMaxProblemsBytes - first.size()) : std::string();
  }
  return first + details;
}

}  // namespace nimscaler::config
