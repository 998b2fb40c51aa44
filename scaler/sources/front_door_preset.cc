// Exports the front-door preset table. Every name below was read in the project's own source at
// the version given (docs/front-doors.md "Presets" has the files); newest names first, older
// ones after, as in engine_preset.cc.
#include "scaler/sources/front_door_preset.h"

namespace nimscaler::sources {
namespace {

// Named apart from engine_preset.cc's M(): the unity build compiles both files as one.
MetricRef Family(std::string family) { return {std::move(family), {}}; }

const std::vector<EnginePreset>& FrontDoorPresets() {
  static const auto* const kPresets = new std::vector<EnginePreset>{
      // KEDA HTTP add-on v0.15.0, interceptor: one gauge counts the requests it holds for a cold
      // start and the ones it proxies, so the preset has no frontdoor_waiting. Before v0.14 the
      // gauge was interceptor_pending_request_count.
      {"http-add-on",
       "/metrics",
       "2223",
       {BuiltinSource(kFrontDoorInflight,
                      {Family("interceptor_request_concurrency"), Family("interceptor_pending_request_count")})}},
      // Gateway API Inference Extension's endpoint picker (v1.5.0, the last release that has
      // it): requests held by flow control (opt-in feature gate), requests in flight.
      {"gie",
       "/metrics",
       "9090",
       {BuiltinSource(kFrontDoorWaiting, {Family("inference_extension_flow_control_queue_size")}),
        BuiltinSource(kFrontDoorInflight, {Family("inference_objective_running_requests")})}},
      // Envoy AI Gateway v1.1.0 on Envoy Gateway v1.8.1: the proxy's per-cluster requests waiting
      // for an upstream connection, and active upstream requests.
      {"envoy-ai-gateway",
       "/stats/prometheus",
       "19001",
       {BuiltinSource(kFrontDoorWaiting, {Family("envoy_cluster_upstream_rq_pending_active")}),
        BuiltinSource(kFrontDoorInflight, {Family("envoy_cluster_upstream_rq_active")})}},
      // llm-d-router v0.10.0's endpoint picker: its own names, then the GIE names it still writes.
      {"llm-d",
       "/metrics",
       "9090",
       {BuiltinSource(kFrontDoorWaiting, {Family("llm_d_epp_flow_control_queue_size"),
                                          Family("inference_extension_flow_control_queue_size")}),
        BuiltinSource(kFrontDoorInflight,
                      {Family("llm_d_epp_request_running"), Family("inference_objective_running_requests")})}},
  };
  return *kPresets;
}

}  // namespace

const std::vector<std::string>& FrontDoorPresetNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& p : FrontDoorPresets()) names.push_back(p.name);
    return names;
  }();
  return kNames;
}

const EnginePreset* FindFrontDoorPreset(std::string_view name) {
  for (const auto& p : FrontDoorPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace nimscaler::sources
