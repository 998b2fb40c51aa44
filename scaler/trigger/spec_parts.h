#pragma once
// The parts of BuildScalerSpec (scaler_spec.cc), one per concern, internal to scaler/trigger/.
// Each reads the typed metadata, fills in its part of the spec and appends a sentence naming the
// key for every problem it finds; none stops at the first problem.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scaler/trigger/scaler_spec.h"
#include "scaler/trigger/trigger_metadata.h"

namespace nimscaler::trigger::parts {

using Problems = std::vector<std::string>;

// discovery_spec.cc: service, dnsName or endpoints; port, scheme, metricsPath.
void BuildDiscovery(const std::string& ns, const TriggerMetadata& m, const SpecOptions& options, ScalerSpec* spec,
                    Problems* problems);

// formula_spec.cc: targets or formula, activation, signal.<name>. The front door's own
// signal.frontdoor_* mappings are returned for BuildFrontDoor.
std::vector<sources::SignalSource> BuildFormulas(const TriggerMetadata& m, ScalerSpec* spec, Problems* problems);
// The front-door signals the formulas read must come from the front door the trigger has.
void CheckFrontDoorSignals(const TriggerMetadata& m, const ScalerSpec& spec, Problems* problems);
// The pods' signals to collect: what the formulas read, and waiting and running always.
std::vector<std::string> PodSignals(const ScalerSpec& spec);

// front_door_spec.cc: frontDoor, frontDoorPreset, frontDoorLabels.
std::optional<FrontDoorSpec> BuildFrontDoor(const std::string& ns, const TriggerMetadata& m,
                                            std::vector<sources::SignalSource> custom, const SpecOptions& options,
                                            Problems* problems);

// wake_spec.cc: wakeQuery, prometheusAddress (under the server's allow-list), wakeHold.
void BuildWake(const TriggerMetadata& m, const SpecOptions& options, ScalerSpec* spec, Problems* problems);

// Shared checks (discovery_spec.cc).
/// Checks one endpoint URL (without userinfo) and fills in `default_path` when it has none; ""
/// when good, else the problem.
std::string NormalizeEndpoint(std::string* url, const std::string& default_path);
/// A DNS name or an IP literal: letters, digits, '.', '-', '_' and (IPv6) ':'.
bool IsValidDnsName(const std::string& name);
/// A DNS-1123 label: what Kubernetes accepts as a namespace or Service name.
bool IsDnsLabel(std::string_view name);
/// Whether `ns` may be read under the server's --namespaces allow-list.
bool NamespaceAllowed(const std::string& ns, const SpecOptions& options);

}  // namespace nimscaler::trigger::parts
