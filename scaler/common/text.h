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
std::optional<std::string> SuggestClosest(std::string_view word, const std::vector<std::string>& candidates);

/// Cuts user-controlled text to at most `max` bytes, marking the cut with "...". The cut
/// never splits a UTF-8 character: it moves back to the start of a multi-byte sequence the
/// limit falls inside (bytes that are not valid UTF-8 are cut anywhere).
std::string Truncate(std::string_view text, size_t max = 120);

/// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
/// above U+10FFFF). NUL and other control characters are valid UTF-8.
bool IsValidUtf8(std::string_view text);

/// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD;
/// with `replace_controls`, control characters (U+0000-U+001F, U+007F) are replaced too. Valid
/// input (without controls, when asked) comes back unchanged. Never throws but for bad_alloc.
std::string SanitizeUtf8(std::string_view text, bool replace_controls = false);

/// User-controlled text made safe to show in a message: invalid UTF-8 bytes and control
/// characters written as \xNN, then cut like Truncate(). Always valid UTF-8.
std::string Printable(std::string_view text, size_t max = 120);

/// Compares a secret with a presented value in time that depends only on the presented
/// value's length, not on where the two first differ.
bool ConstantTimeEquals(std::string_view secret, std::string_view presented);

/// Percent-encodes everything but unreserved characters (RFC 3986), for query strings.
std::string UrlEncode(std::string_view text);

/// Formats a double the shortest way that round-trips ("0.1", "2.08", "3").
std::string FormatDouble(double v);

/// Appends `value` to `key` as "<length>:<value>". A key made of such fields cannot be imitated by
/// values that contain separators: collection group keys, interned-value keys, canonical metadata.
void AppendKeyField(std::string* key, std::string_view value);

}  // namespace nimscaler
