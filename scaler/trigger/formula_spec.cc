// What a trigger scales on: its targets or formula, its activation and its signal.<name>
// mappings, compiled into Programs that triggers with the same text share.
#include <algorithm>

#include "scaler/common/intern_table.h"
#include "scaler/common/text.h"
#include "scaler/trigger/spec_parts.h"

namespace nimscaler::trigger::parts {
namespace {

// Issue 16 item 3: the same formula over the same signals compiles to one Program that every
// trigger shares (a Program is immutable; each trigger's Evaluator keeps its own windows).
Result<formula::ProgramConstSharedPtr> CompileShared(const std::string& text,
                                                     const std::vector<formula::SignalInfo>& signals) {
  static InternTable<formula::Program> programs;
  std::string key;
  AppendKeyField(&key, text);
  for (const auto& s : signals) {
    AppendKeyField(&key, s.name);
    AppendKeyField(&key, std::to_string(static_cast<int>(s.kind)));
  }
  if (auto shared = programs.Find(key)) return shared;
  auto compiled = formula::Compile(text, signals);
  if (!compiled.ok()) return compiled.status();
  return programs.Intern(key, std::move(compiled).value());
}

// signal.<name>: metric{label="v"}: the pods' mappings go into the spec's scrape config, the
// front door's (frontdoor_*) are returned. Signals that are not built in join `infos` so the
// formulas may read them; their kind comes from the metric's # TYPE.
std::vector<sources::SignalSource> CustomSignals(const TriggerMetadata& m, ScalerSpec* spec,
                                                 std::vector<formula::SignalInfo>* infos, Problems* problems) {
  std::vector<sources::SignalSource> front_door;
  for (const auto& [signal_name, text] : m.signals) {
    auto ref = sources::ParseMetricRef(text);
    if (!ref.ok()) {
      problems->push_back("signal." + signal_name + ": " + ref.status().message());
      continue;
    }
    const BuiltinSignal* row = FindBuiltinSignal(signal_name);
    const bool builtin = row != nullptr;
    sources::SignalSource src;
    src.signal = signal_name;
    src.kind = SignalKind::kUnknown;
    src.metrics = {*ref};
    if (IsFrontDoorSignal(signal_name)) {
      // Read from the front door, as a level (docs/front-doors.md "Scraping the front door").
      src.kind = SignalKind::kGauge;
      front_door.push_back(src);
      if (!builtin) infos->push_back({signal_name, SignalKind::kGauge});
      continue;
    }
    // A built-in signal's series combine as its vocabulary row says (a fraction such as KV use
    // is averaged); a custom signal's are summed.
    src.combine = builtin ? row->combine : Combine::kSum;
    spec->scrape.custom.push_back(src);
    if (!builtin) infos->push_back({signal_name, SignalKind::kUnknown});
  }
  return front_door;
}

// The desired-replicas formula: `formula` as written, or the one the targets stand for
// (docs/formula.md "The formula"). "" when there is none (a problem is reported).
std::string FormulaText(const TriggerMetadata& m, Problems* problems) {
  if (m.formula) {
    if (m.AnyTargetGiven()) {
      problems->push_back(
          "formula and target* keys are alternatives: the targets only build the default formula; "
          "write them into the formula instead");
    }
    if (m.startup_time) {
      // The horizon that makes the reported window average show D one startup time ahead
      // (docs/formula.md "Slow cold starts").
      problems->push_back(
          "startupTime shapes the default formula only; with formula, predict in it yourself, e.g. "
          "max(D, predict(D, " +
          FormatDuration(*m.startup_time + m.window / 2) +
          ")) for a demand D read now (startupTime plus half the window, which the reported average trails by; "
          "half a window more when D is a rate or a quantile)");
    }
    return *m.formula;
  }
  formula::Targets targets;
  targets.per_replica = m.targets;
  targets.latency_quantile = m.latency_quantile;
  if (m.startup_time) targets.startup_time = ToSeconds(*m.startup_time);
  targets.window_seconds = ToSeconds(m.window);
  auto built = formula::DefaultFormula(targets);
  if (!built.ok()) {
    problems->push_back(built.status().message());
    return {};
  }
  return *built;
}

}  // namespace

std::vector<sources::SignalSource> BuildFormulas(const TriggerMetadata& m, ScalerSpec* spec, Problems* problems) {
  std::vector<formula::SignalInfo> infos = formula::BuiltinSignals();
  std::vector<sources::SignalSource> front_door = CustomSignals(m, spec, &infos, problems);
  if (std::string text = FormulaText(m, problems); !text.empty()) {
    auto program = CompileShared(text, infos);
    if (program.ok()) {
      spec->value = *program;
    } else {
      problems->push_back("formula: " + program.status().message());
    }
  }
  auto activation = CompileShared(m.activation, infos);
  if (activation.ok()) {
    spec->activation = *activation;
  } else {
    problems->push_back("activation: " + activation.status().message());
  }
  return front_door;
}

void CheckFrontDoorSignals(const TriggerMetadata& m, const ScalerSpec& spec, Problems* problems) {
  for (const auto* program : {spec.value.get(), spec.activation.get()}) {
    if (program == nullptr) continue;
    const std::string which = program == spec.value.get() ? "formula" : "activation";
    for (const auto& use : program->signals()) {
      if (!IsFrontDoorSignal(use.name)) continue;
      if (!spec.front_door) {
        if (m.front_door) continue;  // its problem is reported
        problems->push_back(which + " reads " + use.name +
                            ", which comes from a front door: set frontDoor (docs/front-doors.md)");
        continue;
      }
      const auto& provided = spec.front_door->scrape.signals;
      if (std::find(provided.begin(), provided.end(), use.name) != provided.end()) continue;
      problems->push_back(which + " reads " + use.name + ", which frontDoorPreset " + spec.front_door->preset +
                          " does not provide" +
                          (spec.front_door->preset == "http-add-on"
                               ? " (the interceptor counts held and proxied requests together: frontdoor_inflight)"
                               : "") +
                          "; map it with signal." + use.name + ": <metric>");
    }
  }
}

std::vector<std::string> PodSignals(const ScalerSpec& spec) {
  std::vector<std::string> wanted = {kWaiting, kRunning};
  for (const auto* program : {spec.value.get(), spec.activation.get()}) {
    for (const auto& use : program->signals()) {
      if (IsFrontDoorSignal(use.name)) continue;  // the front door's, not the pods'
      if (std::find(wanted.begin(), wanted.end(), use.name) == wanted.end()) wanted.push_back(use.name);
    }
  }
  return wanted;
}

}  // namespace nimscaler::trigger::parts
