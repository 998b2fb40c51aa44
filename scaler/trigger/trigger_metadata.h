#pragma once
// TriggerMetadata: one trigger's metadata map (all strings, as KEDA sends them) read into typed
// fields. Every key is declared once, as one row of the table in trigger_metadata.cc: its name,
// default, bounds, help line and the field it sets (the type follows from the field). The spec
// builder reads only this struct; `check --reference` and docs/trigger-reference.md read the rows.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "scaler/common/clock.h"
#include "scaler/config/metadata_reader.h"

namespace nimscaler::trigger {

/// A key without a default and not given is an empty optional; a key with a default always has a
/// value (its default when not given or when the given value was refused, with the problem reported).
struct TriggerMetadata {
  // Where the pods are: exactly one of service, dns_name, endpoints.
  std::optional<std::string> service;
  std::optional<std::string> dns_name;
  std::optional<std::string> endpoints;
  std::optional<std::string> port;
  std::string scheme;
  std::string engine;
  std::optional<std::string> model;
  std::optional<std::string> metrics_path;
  bool insecure_skip_verify = false;

  // What the trigger scales on.
  /// Built-in signal -> its per-replica target, from the target* key the signal's vocabulary
  /// row names (scaler/common/signal_vocabulary.h); latencies in seconds. Only keys given.
  std::map<std::string, double, std::less<>> targets;
  double latency_quantile = 0;
  std::optional<std::string> formula;
  std::string activation;
  std::map<std::string, std::string> signals;  ///< signal.<name>: <name> -> metric reference
  std::optional<Duration> startup_time;

  // When and how long.
  Duration scrape_interval{};
  Duration window{};
  std::optional<Duration> panic_window;
  double panic_threshold = 0;
  std::optional<std::string> metric_name;

  // Besides the pods: the front door and the wake query.
  std::optional<std::string> front_door;
  std::optional<std::string> front_door_preset;
  std::optional<std::string> front_door_labels;
  std::optional<std::string> wake_query;
  std::optional<std::string> prometheus_address;
  Duration wake_hold{};

  /// Every declared key the map holds, whether or not its value was accepted (a refused target
  /// still means the author chose targets over the defaults).
  std::set<std::string, std::less<>> given;

  bool Given(std::string_view key) const { return given.count(key) != 0; }
  /// Whether any target* key is in the map.
  bool AnyTargetGiven() const;
};

struct TriggerMetadataRead {
  TriggerMetadata metadata;
  std::vector<std::string> problems;  ///< unknown keys and refused values, each naming its key
};

/// Reads `metadata` against the table: every problem is collected, none stops the reading.
TriggerMetadataRead ReadTriggerMetadata(const config::Metadata& metadata);

/// The table of every metadata key (for validation, `check` and docs/trigger-reference.md).
const std::vector<config::FieldSpec>& MetadataFields();

}  // namespace nimscaler::trigger
