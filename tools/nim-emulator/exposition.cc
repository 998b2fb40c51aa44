// Exposition text per engine: see exposition.h.
#include "tools/nim-emulator/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace nimemu {

std::string PyFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e16) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
  }
  char b[64];
  auto r = std::to_chars(b, b + sizeof b, v);  // shortest round-trip, like Python's repr
  return std::string(b, r.ptr);
}

const char* MetricsPath(const std::string& engine) { return engine == "nim" ? "/v1/metrics" : "/metrics"; }

namespace {

struct Writer {
  std::string out;
  std::string labels;      // e.g. model_name="x" (no braces)
  bool sum_first = false;  // SGLang prints _sum before the buckets and _count last

  void Family(const std::string& name, const char* type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, double v, const std::string& extra = "") {
    out += name + "{" + (extra.empty() ? labels : extra + "," + labels) + "} " + PyFloat(v) + "\n";
  }
  void Gauge(const std::string& name, const std::string& help, double v) {
    Family(name, "gauge", help);
    Sample(name, v);
  }
  void Counter(const std::string& name, const std::string& help, double v, const std::string& extra = "") {
    Family(name, "counter", help);
    Sample(name, v, extra);
  }
  void Hist(const std::string& name, const std::string& help, const Histogram& h) {
    Family(name, "histogram", help);
    if (sum_first) Sample(name + "_sum", h.sum);
    uint64_t cum = 0;
    for (size_t i = 0; i <= h.bounds.size(); ++i) {
      cum += h.counts[i];
      std::string le = i < h.bounds.size() ? PyFloat(h.bounds[i]) : "+Inf";
      Sample(name + "_bucket", double(cum), "le=\"" + le + "\"");
    }
    if (!sum_first) {
      Sample(name + "_count", double(h.count));
      Sample(name + "_sum", h.sum);
    } else {
      Sample(name + "_count", double(h.count));
    }
  }
};

// The Python process families every prometheus_client exporter starts with (NIM and vLLM).
void ProcessFamilies(Writer& w, double process_start, const Pod& pod) {
  std::string& o = w.out;
  o += "# HELP python_gc_objects_collected_total Objects collected during gc\n"
       "# TYPE python_gc_objects_collected_total counter\n";
  for (int g = 0; g < 3; ++g)
    o += "python_gc_objects_collected_total{generation=\"" + std::to_string(g) + "\"} " +
         PyFloat(double(1000 * (3 - g) + pod.metrics.success)) + "\n";
  o += "# HELP python_info Python platform information\n# TYPE python_info gauge\n"
       "python_info{implementation=\"CPython\",major=\"3\",minor=\"10\",patchlevel=\"12\","
       "version=\"3.10.12\"} 1.0\n";
  o += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
       "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes " +
       PyFloat(1.0463768576e10) + "\n";
  o += "# HELP process_start_time_seconds Start time of the process since unix epoch in "
       "seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds " +
       PyFloat(std::floor(process_start * 100) / 100) + "\n";
}

void RenderNim(Writer& w, const Pod& p, const PodModel& m) {
  const PodCounters& c = p.metrics;
  w.labels = "model_name=\"" + m.model_name + "\"";
  bool ren = p.faults.renamed;
  w.Gauge("num_requests_running", "Number of requests currently running on GPU.", double(p.running.size()));
  w.Gauge(ren ? "num_requests_pending" : "num_requests_waiting", "Number of requests waiting to be processed.",
          double(p.waiting.size()));
  w.Gauge("num_request_max", "Max number of concurrently running requests.", m.max_running);
  w.Gauge(ren ? "kv_cache_usage_perc" : "gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.",
          p.KvUse());
  w.Counter("prompt_tokens_total", "Number of prefill tokens processed.", c.prompt_tokens);
  w.Counter("generation_tokens_total", "Number of generation tokens processed.", c.generation_tokens);
  w.Hist("time_to_first_token_seconds", "Histogram of time to first token in seconds.", c.ttft);
  w.Hist("time_per_output_token_seconds", "Histogram of time per output token in seconds.", c.itl);
  w.Hist("e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", c.e2e);
  w.Hist("request_prompt_tokens", "Number of prefill tokens processed.", c.prompt_len);
  w.Hist("request_generation_tokens", "Number of generation tokens processed.", c.gen_len);
  w.Counter("request_finish_total", "Count of finished requests, differentiated by finish reason as label.", c.success,
            "finished_reason=\"length\"");
  w.Counter("request_success_total", "Count of successful requests.", c.success);
  w.Counter("request_failure_total", "Count of failed requests.", c.failure);
}

void RenderVllm(Writer& w, const Pod& p, const PodModel& m) {
  const PodCounters& c = p.metrics;
  // vLLM V1 labels every engine series with model_name and the data-parallel engine index.
  w.labels = "engine=\"0\",model_name=\"" + m.model_name + "\"";
  bool ren = p.faults.renamed;
  w.out +=
      "# HELP vllm:cache_config_info information of cache_config\n"
      "# TYPE vllm:cache_config_info gauge\n"
      "vllm:cache_config_info{block_size=\"" +
      std::to_string(m.block_size) +
      "\",cache_dtype=\"auto\",enable_prefix_caching=\"True\",engine=\"0\","
      "gpu_memory_utilization=\"0.9\",num_gpu_blocks=\"" +
      std::to_string(m.kv_capacity_tokens / m.block_size) + "\"} 1.0\n";
  w.Gauge("vllm:num_requests_running", "Number of requests currently running on GPU.", double(p.running.size()));
  w.Gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", double(p.waiting.size()));
  // The renamed fault serves the pre-0.9.2 name, as an engine downgrade would.
  w.Gauge(ren ? "vllm:gpu_cache_usage_perc" : "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
          p.KvUse());
  w.Counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", c.prompt_tokens);
  w.Counter("vllm:generation_tokens_total", "Number of generation tokens processed.", c.generation_tokens);
  w.Counter("vllm:request_success_total", "Count of successfully processed requests.", c.success,
            "finished_reason=\"length\"");
  w.Hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", c.ttft);
  w.Hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", c.itl);
  w.Hist("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", c.e2e);
  w.Hist("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", c.queue);
  w.Hist("vllm:request_prompt_tokens", "Number of prefill tokens processed.", c.prompt_len);
  w.Hist("vllm:request_generation_tokens", "Number of generation tokens processed.", c.gen_len);
}

void RenderSglang(Writer& w, const Pod& p, const PodModel& m) {
  const PodCounters& c = p.metrics;
  w.labels = "model_name=\"" + m.model_name + "\"";
  w.sum_first = true;
  bool ren = p.faults.renamed;
  w.Counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.", c.prompt_tokens);
  w.Counter("sglang:generation_tokens_total", "Number of generation tokens processed.", c.generation_tokens);
  w.Gauge(ren ? "sglang:kv_usage" : "sglang:token_usage", "The token usage", p.KvUse());
  w.Gauge("sglang:cache_hit_rate", "The cache hit rate", 0.0);
  w.Hist("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.", c.ttft);
  w.Hist("sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds", c.e2e);
  w.Hist("sglang:time_per_output_token_seconds", "Histogram of time per output token in seconds.", c.itl);
  w.Gauge("sglang:num_running_reqs", "The number of running requests", double(p.running.size()));
  w.Gauge("sglang:num_used_tokens", "The number of used tokens", double(p.used_blocks * m.block_size));
  w.Gauge("sglang:gen_throughput", "The generate throughput (token/s)", 0.0);
  w.Gauge(ren ? "sglang:num_waiting_reqs" : "sglang:num_queue_reqs", "The number of requests in the waiting queue",
          double(p.waiting.size()));
}

}  // namespace

std::string RenderMetrics(const Pod& pod, const PodModel& model, double process_start) {
  if (pod.faults.garbage) {
    return "<html><body>502 Bad Gateway</body></html>\n"
           "gpu_cache_usage_perc{model_name=\"" +
           model.model_name +
           "\" 0.5 oops\n"
           "\x01\x02 not prometheus\n";
  }
  Writer w;
  w.out.reserve(16384);
  if (model.engine != "sglang") ProcessFamilies(w, process_start, pod);
  if (model.engine == "vllm") {
    RenderVllm(w, pod, model);
  } else if (model.engine == "sglang") {
    RenderSglang(w, pod, model);
  } else {
    RenderNim(w, pod, model);
  }
  return w.out;
}

std::string RenderFrontDoor(const ClusterView& view, const std::string& namespace_, const std::string& service) {
  auto label = [](const std::string& v) {  // Prometheus label-value escaping
    std::string o;
    for (char ch : v) {
      if (ch == '\\' || ch == '"') o += '\\';
      if (ch == '\n') {
        o += "\\n";
        continue;
      }
      o += ch;
    }
    return o;
  };
  long n = long(view.held) + long(view.waiting) + long(view.running);
  return "# HELP interceptor_request_concurrency Concurrent requests at the interceptor proxy\n"
         "# TYPE interceptor_request_concurrency gauge\n"
         "interceptor_request_concurrency{route_name=\"" +
         label(service) + "\",route_namespace=\"" + label(namespace_) + "\"} " + std::to_string(n) + "\n";
}

}  // namespace nimemu
