// Exports the preset table and its lookups. Names, units and rank semantics come from
// the engines' own metric definitions (captures and sources: tests/testdata/engines/); each
// preset lists newest names first and legacy ones after.
#include "scaler/sources/engine_preset.h"

#include <algorithm>

#include "scaler/common/text.h"

namespace nimscaler::sources {

std::string MetricRef::ToString() const {
  std::string out = family;
  if (labels.empty()) return out;
  out += "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return out + "}";
}

const SignalSource* EnginePreset::Find(std::string_view signal) const {
  for (const auto& s : signals) {
    if (s.signal == signal) return &s;
  }
  return nullptr;
}

SignalSource BuiltinSource(const char* signal, std::vector<MetricRef> metrics, std::optional<Combine> combine,
                           double scale) {
  const BuiltinSignal* row = FindBuiltinSignal(signal);
  SignalSource s;
  s.signal = signal;
  s.kind = row != nullptr ? row->kind : SignalKind::kUnknown;
  s.metrics = std::move(metrics);
  s.combine = combine.value_or(row != nullptr ? row->combine : Combine::kSum);
  s.scale = scale;
  return s;
}

namespace {

MetricRef M(std::string family, std::map<std::string, std::string> labels = {}) {
  return {std::move(family), std::move(labels)};
}

// The vLLM signal set with a prefix ("vllm:" for vLLM itself).
std::vector<SignalSource> VllmSignals() {
  return {
      BuiltinSource(kKvCache, {M("vllm:kv_cache_usage_perc"), M("vllm:gpu_cache_usage_perc")}),
      BuiltinSource(kWaiting, {M("vllm:num_requests_waiting")}),
      BuiltinSource(kRunning, {M("vllm:num_requests_running")}),
      BuiltinSource(kTtft, {M("vllm:time_to_first_token_seconds")}),
      BuiltinSource(kItl, {M("vllm:inter_token_latency_seconds"), M("vllm:time_per_output_token_seconds")}),
      BuiltinSource(kE2e, {M("vllm:e2e_request_latency_seconds")}),
      BuiltinSource(kQueueTime, {M("vllm:request_queue_time_seconds")}),
      BuiltinSource(kPromptTokens, {M("vllm:prompt_tokens_total"), M("vllm:prompt_tokens")}),
      BuiltinSource(kGenerationTokens, {M("vllm:generation_tokens_total"), M("vllm:generation_tokens")}),
      BuiltinSource(kRequests, {M("vllm:request_success_total"), M("vllm:request_success")}),
  };
}

// SGLang repeats scheduler gauges per tp/pp rank: a fraction is averaged, a count is the
// largest rank's (summing ranks would count the same requests several times).
std::vector<SignalSource> SglangSignals() {
  return {
      BuiltinSource(kKvCache, {M("sglang:token_usage")}),
      BuiltinSource(kWaiting, {M("sglang:num_queue_reqs")}, Combine::kMax),
      BuiltinSource(kRunning, {M("sglang:num_running_reqs")}, Combine::kMax),
      BuiltinSource(kTtft, {M("sglang:time_to_first_token_seconds")}),
      BuiltinSource(kItl, {M("sglang:inter_token_latency_seconds"), M("sglang:time_per_output_token_seconds")}),
      BuiltinSource(kE2e, {M("sglang:e2e_request_latency_seconds")}),
      BuiltinSource(kQueueTime, {M("sglang:queue_time_seconds")}),
      BuiltinSource(kPromptTokens, {M("sglang:prompt_tokens_total"), M("sglang:prompt_tokens")}),
      BuiltinSource(kGenerationTokens, {M("sglang:generation_tokens_total"), M("sglang:generation_tokens")}),
      BuiltinSource(kRequests, {M("sglang:num_requests_total"), M("sglang:num_requests")}),
  };
}

std::vector<EnginePreset> BuildPresets() {
  std::vector<EnginePreset> p;
  // NIM for LLMs 1.x: unprefixed names on /v1/metrics. NIM 2.x passes its backend's own
  // (vllm: or sglang:) names through, so those follow as alternatives.
  {
    std::vector<SignalSource> nim = {
        BuiltinSource(kKvCache, {M("gpu_cache_usage_perc")}),
        BuiltinSource(kWaiting, {M("num_requests_waiting")}),
        BuiltinSource(kRunning, {M("num_requests_running")}),
        BuiltinSource(kTtft, {M("time_to_first_token_seconds")}),
        BuiltinSource(kItl, {M("time_per_output_token_seconds")}),
        BuiltinSource(kE2e, {M("e2e_request_latency_seconds")}),
        BuiltinSource(kQueueTime, {}),
        BuiltinSource(kPromptTokens, {M("prompt_tokens_total"), M("prompt_tokens")}),
        BuiltinSource(kGenerationTokens, {M("generation_tokens_total"), M("generation_tokens")}),
        BuiltinSource(kRequests, {M("request_success_total"), M("request_success")}),
    };
    for (const auto& backend : {VllmSignals(), SglangSignals()}) {
      for (auto& s : nim) {
        for (const auto& b : backend) {
          if (b.signal == s.signal) s.metrics.insert(s.metrics.end(), b.metrics.begin(), b.metrics.end());
        }
      }
    }
    p.push_back({"nim", "/v1/metrics", "8000", nim});
  }
  p.push_back({"vllm", "/metrics", "8000", VllmSignals()});
  p.push_back({"sglang", "/metrics", "30000", SglangSignals()});
  // TGI has no KV fraction and no TTFT histogram; its per-token histogram includes prefill.
  p.push_back(
      {"tgi",
       "/metrics",
       "80",
       {BuiltinSource(kWaiting, {M("tgi_queue_size")}), BuiltinSource(kRunning, {M("tgi_batch_current_size")}),
        BuiltinSource(kItl, {M("tgi_request_mean_time_per_token_duration")}),
        BuiltinSource(kE2e, {M("tgi_request_duration")}), BuiltinSource(kQueueTime, {M("tgi_request_queue_duration")}),
        BuiltinSource(kRequests, {M("tgi_request_success")})}});
  // Triton with the TensorRT-LLM backend: labelled request and KV gauges; the first-response
  // histogram is in milliseconds (opt-in on the server).
  p.push_back(
      {"triton",
       "/metrics",
       "8002",
       {BuiltinSource(kKvCache, {M("nv_trt_llm_kv_cache_block_metrics", {{"kv_cache_block_type", "fraction"}})}),
        BuiltinSource(kWaiting, {M("nv_trt_llm_request_metrics", {{"request_type", "waiting"}}),
                                 M("nv_inference_pending_request_count")}),
        BuiltinSource(kRunning, {M("nv_trt_llm_request_metrics", {{"request_type", "scheduled"}})}),
        BuiltinSource(kTtft, {M("nv_inference_first_response_histogram_ms")}, std::nullopt, 0.001),
        BuiltinSource(kRequests, {M("nv_inference_request_success")})}});
  p.push_back({"trtllm",
               "/prometheus/metrics",
               "8000",
               {BuiltinSource(kKvCache, {M("trtllm_kv_cache_utilization")}),
                BuiltinSource(kWaiting, {M("trtllm_num_requests_waiting")}),
                BuiltinSource(kRunning, {M("trtllm_num_requests_running")}),
                BuiltinSource(kTtft, {M("trtllm_time_to_first_token_seconds")}),
                BuiltinSource(kItl, {M("trtllm_time_per_output_token_seconds")}),
                BuiltinSource(kE2e, {M("trtllm_e2e_request_latency_seconds")}),
                BuiltinSource(kQueueTime, {M("trtllm_request_queue_time_seconds")}),
                BuiltinSource(kPromptTokens, {M("trtllm_prompt_tokens_total")}),
                BuiltinSource(kGenerationTokens, {M("trtllm_generation_tokens_total")}),
                BuiltinSource(kRequests, {M("trtllm_request_success_total")})}});
  return p;
}

const std::vector<EnginePreset>& Presets() {
  static const std::vector<EnginePreset> kPresets = BuildPresets();
  return kPresets;
}

bool Serves(const std::vector<std::string_view>& families, std::string_view prefix_or_name, bool prefix) {
  return std::any_of(families.begin(), families.end(), [&](std::string_view f) {
    return prefix ? f.rfind(prefix_or_name, 0) == 0 : f == prefix_or_name;
  });
}

}  // namespace

const std::vector<std::string>& EngineNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names{"auto"};
    for (const auto& p : Presets()) names.push_back(p.name);
    return names;
  }();
  return kNames;
}

const EnginePreset* FindPreset(std::string_view name) {
  for (const auto& p : Presets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const EnginePreset* DetectPreset(const std::vector<std::string_view>& families) {
  // Distinctive names first; NIM 1.x is recognised by its unprefixed KV gauge. A NIM 2.x pod
  // is detected as its backend, which reads the same names.
  if (Serves(families, "vllm:", true)) return FindPreset("vllm");
  if (Serves(families, "sglang:", true)) return FindPreset("sglang");
  if (Serves(families, "trtllm_", true)) return FindPreset("trtllm");
  if (Serves(families, "nv_trt_llm_", true) || Serves(families, "nv_inference_", true)) return FindPreset("triton");
  if (Serves(families, "tgi_", true)) return FindPreset("tgi");
  if (Serves(families, "gpu_cache_usage_perc", false) || Serves(families, "num_requests_running", false)) {
    return FindPreset("nim");
  }
  return nullptr;
}

Result<MetricRef> ParseMetricRef(std::string_view text) {
  text = Trim(text);
  MetricRef ref;
  size_t brace = text.find('{');
  ref.family = std::string(Trim(text.substr(0, brace)));
  auto bad = [&](const std::string& why) {
    return InvalidArgument("\"" + Truncate(text, 80) + "\" " + why +
                           "; expected a metric name, optionally with label matchers: name{label=\"value\"}");
  };
  if (ref.family.empty()) return bad("has no metric name");
  for (char c : ref.family) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return bad("is not a metric name");
  }
  if (brace == std::string_view::npos) return ref;
  if (text.back() != '}') return bad("has no closing '}'");
  std::string_view body = text.substr(brace + 1, text.size() - brace - 2);
  for (const auto& part : SplitTrimmed(body, ',')) {
    size_t eq = part.find('=');
    if (eq == std::string::npos) return bad("has a label matcher without '='");
    std::string key(Trim(std::string_view(part).substr(0, eq)));
    std::string value(Trim(std::string_view(part).substr(eq + 1)));
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') return bad("has a label value without quotes");
    ref.labels[key] = value.substr(1, value.size() - 2);
  }
  return ref;
}

}  // namespace nimscaler::sources
