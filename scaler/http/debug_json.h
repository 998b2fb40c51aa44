#pragma once
// The pieces of GET /debug/scaledobjects that turn collected data into JSON. Pure functions
// with no engine dependency, so the fuzz target (tests/fuzz/debug_json_fuzzer.cc) can feed
// them arbitrary bytes. Every string is made valid UTF-8 before it enters the document (pod
// error texts, endpoints and signal names come from outside), so dumping cannot throw.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "scaler/signals/snapshot.h"

namespace nimscaler::http {

/// A JSON string holding `text` with invalid UTF-8 replaced by U+FFFD.
nlohmann::json JsonString(std::string_view text);

/// A number, or null when not finite (JSON has no NaN or Inf).
nlohmann::json JsonNumber(double v);

/// One pod's record: endpoint, answered, stale, engine, error, missing, signals.
nlohmann::json PodRecordJson(const signals::PodReading& pod);

/// Serializes `doc`; invalid UTF-8 that reached it anyway is replaced, never thrown on.
std::string DumpJson(const nlohmann::json& doc, int indent = 2);

}  // namespace nimscaler::http
