#pragma once
// The emulated cluster's load model: a pure, deterministic simulation with time passed in.
//
// Pods run a continuous-batching engine in discrete steps (like vLLM/NIM): each step admits
// waiting requests while concurrency and KV blocks allow, prefills prompt tokens up to a
// per-step token budget (chunked prefill), and decodes one token for every request whose
// prefill is done. The step time grows with the batch, so decode speed depends on load.
// KV use is the fraction of the pod's KV blocks held by running requests (prompt plus
// generated tokens, rounded up to blocks).
//
// A closed-loop client (genai-perf's concurrency mode: N users, each sends its next request
// when the previous one ends) or an open-loop Poisson rate drives the Service; the Service
// spreads requests round-robin over ready pods and holds them (like an ingress) while none
// is ready. Replica changes create pods that become ready after a startup delay, or drain and
// remove pods (Kubernetes deletes not-ready pods first, then the newest).
//
// No I/O, no clocks, no threads: callers serialise access. Same seed, same calls -> same
// numbers.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace nimemu {

/// One engine's cumulative histogram with fixed upper bounds (Prometheus semantics).
struct Histogram {
  std::vector<double> bounds;    ///< finite upper bounds, ascending; +Inf is implicit
  std::vector<uint64_t> counts;  ///< per bound (non-cumulative), plus one for +Inf
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> b = {});
  void Observe(double v);
  /// Cumulative count for bucket i (i == bounds.size() is +Inf).
  uint64_t Cumulative(size_t i) const;
};

/// Everything that shapes a pod's behaviour. Defaults: meta/llama-3.1-8b-instruct on one
/// H100-class GPU, calibrated to the NVIDIA NIM HPA article (KV use about 9.4% at concurrency
/// 100 and 40.9% at 400 with 200 +-10 input / 200 output tokens).
struct PodModel {
  std::string engine = "nim";  ///< nim | vllm | sglang: metric names and histogram buckets
  std::string model_name = "meta/llama-3.1-8b-instruct";
  int64_t kv_capacity_tokens = 283'000;  ///< KV cache size in tokens (docs/emulator-calibration.md "KV-cache use")
  int block_size = 16;                   ///< KV block size in tokens
  int max_running = 512;                 ///< num_request_max: concurrent sequences per pod
  int max_batched_tokens = 8192;         ///< tokens per step (prefill chunks + decodes)
  // Step time = base + per_seq * n + per_seq2 * n^2 + per_prefill_token * prefilled tokens
  // + per_kv_token * context tokens of the n decoding sequences. Calibrated against NVIDIA's
  // published NIM 1.8.0 llama-3.1-8b-instruct measurements (docs/emulator-calibration.md):
  // inter-token latency 4.6 ms at concurrency 1, 7.6 ms at 100, 12.7 ms at 200, 16.1 ms at
  // 250, so one pod's output throughput peaks near 13-16k tokens/s around concurrency 200.
  double step_base_s = 0.0044;                 ///< fixed cost of one engine step (weights read)
  double step_per_seq_s = 0;                   ///< added per decoding sequence in the step
  double step_per_seq2_s = 1.5e-7;             ///< added per decoding sequence squared (fit)
  double step_per_prefill_token_s = 0.000016;  ///< per prompt token prefilled in the step
  double step_per_kv_token_s = 1e-8;           ///< per context token read by the decoding sequences
  /// A request admitted beside n running ones starts its prefill this much later: sched * n^2
  /// seconds (fit of the published TTFT: 120 ms at concurrency 100, 465 ms at 200, 606 ms at
  /// 250, where inter-token latency alone explains only 10-20 ms). Its prompt's KV blocks are
  /// held from admission.
  double sched_delay_per_seq_s = 0.001;
  double sched_delay_per_seq2_s = 2e-6;
  double startup_delay_s = 150;  ///< pod creation -> ready (8B NIM, cached weights)
  double drain_grace_s = 30;     ///< terminating pod finishes work for at most this long
};

/// Request sizes. Defaults follow the article's genai-perf runs.
struct LoadShape {
  double input_mean = 200, input_stddev = 10;
  double output_mean = 200, output_stddev = 0;
  /// New closed-loop users start at uniformly spread times over this many seconds (as a
  /// benchmark client's workers do), so that their requests are not in lockstep.
  double ramp_s = 4;
  /// A request still waiting to be scheduled (held by the Service or queued in a pod) this
  /// long after it was sent is abandoned by its client, as behind an ingress whose proxy
  /// timeout ends the call (0: clients wait forever, as genai-perf does). A closed-loop user
  /// sends its next request at once.
  double client_timeout_s = 0;
};

enum class PodPhase { kStarting, kReady, kTerminating };

/// Faults a test or the demo can inject into one pod.
struct Faults {
  double slow_factor = 1;  ///< every step takes this many times longer
  bool dead = false;       ///< stops stepping and stops answering scrapes
  bool garbage = false;    ///< metrics endpoint answers with unparsable text
  bool renamed = false;    ///< metrics served under renamed names (as after an upgrade)
};

struct Request {
  uint64_t id = 0;
  int user = -1;  ///< closed-loop user, or -1 for open-loop arrivals
  int input_tokens = 0, output_tokens = 0;
  double sent_at = 0;       ///< client sent it (Service arrival)
  double pod_arrival = 0;   ///< reached the pod
  double admitted_at = -1;  ///< left the waiting queue
  double prefill_from = 0;  ///< prefill may start at this engine time (scheduling delay)
  int prefilled = 0, generated = 0;
  double last_token_at = -1;
  int64_t blocks = 0;  ///< KV blocks held
  bool held = false;   ///< the Service held it at least once (no ready pod when it came)
};

/// Per-pod metric state (what /v1/metrics shows).
struct PodCounters {
  double prompt_tokens = 0, generation_tokens = 0, success = 0, failure = 0;
  Histogram ttft, itl, e2e, queue, prompt_len, gen_len;
  explicit PodCounters(const std::string& engine = "nim");
};

struct Pod {
  int index = 0;  ///< stable ordinal for naming (pod-<index>)
  std::string name;
  PodPhase phase = PodPhase::kStarting;
  double created_at = 0, ready_at = 0, terminating_since = -1;
  Faults faults;
  double clock = 0;  ///< engine time; may run ahead of cluster time by < one step
  std::deque<Request> waiting;
  std::vector<Request> running;
  int64_t used_blocks = 0, total_blocks = 0;
  PodCounters metrics;
  explicit Pod(const std::string& engine) : metrics(engine) {}

  double KvUse() const { return total_blocks ? double(used_blocks) / double(total_blocks) : 0; }
  bool Ready() const { return phase == PodPhase::kReady; }
};

/// A finished first token or a finished request, as the client saw it.
struct ClientEvent {
  double at = 0;
  double ttft = 0;         ///< client-side time to first token (includes time held by the Service)
  double waited = 0;       ///< Service hold + pod queue time before the request was scheduled
  bool abandoned = false;  ///< no first token: the client gave up (ttft = waited = its wait)
};

/// What the Service did with requests that found no ready pod: the scale-from-zero path
/// (issue 18 item 4). A request counts once however long it is held.
struct HeldStats {
  uint64_t held = 0;       ///< requests the Service held at least once
  uint64_t dropped = 0;    ///< of those, given up by their client before being scheduled
  double first_sent = -1;  ///< when the first held request was sent (-1: none held yet)
  double first_wait = -1;  ///< its wait, sent -> scheduled in a pod (-1: not scheduled yet)
  double max_wait = 0;     ///< the longest such wait among held requests scheduled so far
};

/// Aggregates over the cluster at one instant (for tables and tests).
struct ClusterView {
  double now = 0;
  int pods = 0, ready = 0, starting = 0, terminating = 0;
  double kv_avg_ready = 0;  ///< mean KV use over ready pods
  double kv_sum = 0;
  int running = 0, waiting = 0, held = 0;  ///< held: at the Service with no ready pod
  int load_concurrency = 0;
  double load_rate = 0;
};

class Cluster {
 public:
  Cluster(PodModel model, LoadShape shape, uint64_t seed, int initial_replicas, bool initial_ready = true);

  /// Runs the simulation up to `t` (seconds since start). t must not go backwards.
  void AdvanceTo(double t);
  double now() const { return now_; }

  /// Closed loop: N users, zero think time. Setting a rate switches to open loop.
  void SetConcurrency(int n);
  void SetRate(double requests_per_s);
  /// Desired pod count (like a Deployment's spec.replicas).
  void SetReplicas(int n);
  int replicas() const { return desired_replicas_; }

  /// Faults by pod name; false when no such pod.
  bool SetFaults(const std::string& pod, const Faults& f);

  const std::vector<std::unique_ptr<Pod>>& pods() const { return pods_; }
  const Pod* FindPod(const std::string& name) const;
  ClusterView View() const;

  /// Client-side events (first tokens) since the start; callers keep their own cursor.
  const std::vector<ClientEvent>& first_tokens() const { return first_tokens_; }
  /// Ages (now - sent_at) of requests still waiting for their first token.
  std::vector<double> PendingAges() const;
  /// p-quantile of client TTFT over [now - window, now], counting pending requests by age.
  double TtftQuantile(double q, double window) const;
  uint64_t completed() const { return completed_; }
  /// Requests abandoned by their clients (LoadShape::client_timeout_s).
  uint64_t abandoned() const { return abandoned_; }
  /// Requests the Service held for want of a ready pod, and what became of them.
  const HeldStats& held_stats() const { return held_stats_; }

  /// Pods ever created and removed, in order (for discovery tests).
  uint64_t generation() const { return generation_; }
  const PodModel& model() const { return model_; }

 private:
  void Spawn();
  void Dispatch(Request r);
  void IssueForUser(int user);
  void StepPod(Pod& p, double until);
  bool Admit(Pod& p, double slack = 0);
  void Finish(Pod& p, Request& r, double at);
  int SampleLen(double mean, double sd);
  double Uniform();
  void Reconcile();
  void AbandonStale();

  PodModel model_;
  LoadShape shape_;
  std::mt19937_64 rng_;
  double now_ = 0;
  int desired_replicas_ = 0;
  int next_index_ = 0;
  uint64_t next_id_ = 1;
  uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Pod>> pods_;
  size_t rr_ = 0;
  std::deque<Request> held_;
  int concurrency_ = 0;
  int active_users_ = 0;                       ///< users with a request in flight
  std::deque<std::pair<double, int>> starts_;  ///< (time, user) first requests not yet sent
  int next_user_ = 0;
  double rate_ = 0;
  double next_arrival_ = -1;
  std::vector<ClientEvent> first_tokens_;
  uint64_t completed_ = 0;
  uint64_t abandoned_ = 0;
  double next_abandon_check_ = 0;
  HeldStats held_stats_;
  uint64_t first_held_id_ = 0;
};

}  // namespace nimemu
