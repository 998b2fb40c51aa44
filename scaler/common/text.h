#pragma once
// Small string helpers shared by every module: durations, numbers, splitting,
// "did you mean" suggestions, and truncation of echoed user input.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/common/clock.h"

namespace nimscaler {

/// Parses "500ms", "2s", "1.5m", "1h", "1m30s" (Go-style units ns, us, ms, s, m, h).
/// A bare number is not a duration (ambiguous unit): returns nullopt.
std::optional<Duration> ParseDuration(std::string_view text);

/// Formats a duration compactly: "2s", "500ms", "1m30s".
std::string FormatDuration(Duration d);

/// Parses a finite decimal or exponent number ("0.1", "1e-3"); whole input must be consumed.
std::optional<double> ParseDouble(std::string_view text);

/// Parses "true"/"false" (case-insensitive, also "1"/"0").
std::optional<bool> ParseBool(std::string_view text);

/// Splits on `sep`, trims spaces from each piece, drops empty pieces.
std::vector<std::string> SplitTrimmed(std::string_view text, char sep);

std::string_view Trim(std::string_view text);
std::string ToLower(std::string_view text);

/// The candidate closest to `word` by edit distance (case-insensitive), if it is close
/// enough to be a plausible typo (distance <= max(1, len/3)). Ties go to the first listed.
std::optional<std::string> SuggestClosest(std::string_view word,
                                          const std::vector<std::string>& candidates);

/// Cuts user-controlled text to `max` bytes, marking the cut with "...".
std::string Truncate(std::string_view text, size_t max = 120);

/// Percent-encodes everything but unreserved characters (RFC 3986), for query strings.
std::string UrlEncode(std::string_view text);

/// Formats a double the shortest way that round-trips ("0.1", "2.08", "3").
std::string FormatDouble(double v);

}  // namespace nimscaler
