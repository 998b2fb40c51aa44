// The load model: see sim.h.
#include "tools/nim-emulator/sim.h"

#include <algorithm>
#include <cmath>

namespace nimemu {

Histogram::Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
  ++counts[i];
  sum += v;
  ++count;
}

uint64_t Histogram::Cumulative(size_t i) const {
  uint64_t c = 0;
  for (size_t k = 0; k <= i && k < counts.size(); ++k) c += counts[k];
  return c;
}

// Bucket bounds are the engines' own; the exposition front end re-reads them from here so
// that the counts always line up with the `le` labels it prints.
// NIM 1.x: tests/testdata/engines/nim-llm-1.x-llama3.1-8b-datadog-fixture.prom.
static const std::vector<double> kTtft = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                          0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
static const std::vector<double> kItl = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5};
static const std::vector<double> kE2e = {1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0};
static const std::vector<double> kTokens = {1,   2,    5,    10,   20,    50,    100,   200,
                                            500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};
// vLLM's request-phase buckets (request_latency_buckets in vllm/v1/metrics/loggers.py); used
// for the queue-time histogram, which NIM 1.x does not expose but vLLM V1 does.
static const std::vector<double> kQueue = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                           30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

// vLLM V1 (vllm/v1/metrics/loggers.py): TTFT 1 ms - 2560 s, inter-token 10 ms - 80 s.
static const std::vector<double> kVllmTtft = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
                                              1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
static const std::vector<double> kVllmItl = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                             0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
// SGLang: tests/testdata/emulator/sglang-v0.4-docs-llama3.1-8b.prom.
static const std::vector<double> kSglTtft = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
                                             0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 15.0, 20.0, 25.0, 30.0};
static const std::vector<double> kSglE2e = {0.3,  0.5,  0.8,  1.0,  1.5,  2.0,  2.5, 5.0,
                                            10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0};
static const std::vector<double> kSglTpot = {0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
                                             0.1,   0.15, 0.2,   0.3,  0.4,   0.5,  0.75, 1.0,  2.5};

PodCounters::PodCounters(const std::string& engine)
    : ttft(engine == "vllm"     ? kVllmTtft
           : engine == "sglang" ? kSglTtft
                                : kTtft),
      itl(engine == "vllm"     ? kVllmItl
          : engine == "sglang" ? kSglTpot
                               : kItl),
      e2e(engine == "vllm"     ? kQueue
          : engine == "sglang" ? kSglE2e
                               : kE2e),
      queue(kQueue),
      prompt_len(kTokens),
      gen_len(kTokens) {}

Cluster::Cluster(PodModel model, LoadShape shape, uint64_t seed, int initial_replicas, bool initial_ready)
    : model_(std::move(model)), shape_(shape), rng_(seed) {
  desired_replicas_ = initial_replicas;
  for (int i = 0; i < initial_replicas; ++i) {
    Spawn();
    if (initial_ready) {
      pods_.back()->phase = PodPhase::kReady;
      pods_.back()->ready_at = 0;
    }
  }
}

double Cluster::Uniform() {
  // 53 random bits -> [0, 1); independent of the standard library's distributions, so the
  // numbers are the same with every toolchain.
  return double(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

int Cluster::SampleLen(double mean, double sd) {
  double v = mean;
  if (sd > 0) {
    double u1 = std::max(Uniform(), 1e-12), u2 = Uniform();
    v = mean + sd * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  return std::max(1, int(std::lround(v)));
}

void Cluster::Spawn() {
  auto p = std::make_unique<Pod>(model_.engine);
  p->index = next_index_++;
  p->name = "meta-llama3-8b-" + std::to_string(p->index);
  p->created_at = now_;
  p->ready_at = now_ + model_.startup_delay_s;
  p->clock = now_;
  p->total_blocks = model_.kv_capacity_tokens / model_.block_size;
  pods_.push_back(std::move(p));
  ++generation_;
}

void Cluster::SetReplicas(int n) {
  desired_replicas_ = std::max(0, n);
  Reconcile();
}

void Cluster::Reconcile() {
  int active = 0;
  for (auto& p : pods_) active += p->phase != PodPhase::kTerminating;
  while (active < desired_replicas_) {
    Spawn();
    ++active;
  }
  while (active > desired_replicas_) {
    // ReplicaSet victim order: not-ready before ready, then the newest first.
    Pod* victim = nullptr;
    for (auto& p : pods_) {
      if (p->phase == PodPhase::kTerminating) continue;
      if (!victim || (p->Ready() < victim->Ready()) ||
          (p->Ready() == victim->Ready() && p->created_at >= victim->created_at)) {
        victim = p.get();
      }
    }
    victim->phase = PodPhase::kTerminating;
    victim->terminating_since = now_;
    ++generation_;
    --active;
  }
}

bool Cluster::SetFaults(const std::string& pod, const Faults& f) {
  for (auto& p : pods_) {
    if (p->name == pod) {
      p->faults = f;
      ++generation_;  // readiness may change (dead pods fail their probe)
      return true;
    }
  }
  return false;
}

const Pod* Cluster::FindPod(const std::string& name) const {
  for (auto& p : pods_)
    if (p->name == name) return p.get();
  return nullptr;
}

void Cluster::SetConcurrency(int n) {
  rate_ = 0;
  next_arrival_ = -1;
  concurrency_ = std::max(0, n);
  int pending = int(starts_.size());
  if (active_users_ + pending > concurrency_) {
    // Fewer users: drop starts not yet made; running users retire when their request ends.
    while (!starts_.empty() && active_users_ + int(starts_.size()) > concurrency_) starts_.pop_back();
    return;
  }
  std::vector<double> at;
  for (int k = active_users_ + pending; k < concurrency_; ++k) at.push_back(now_ + Uniform() * shape_.ramp_s);
  std::sort(at.begin(), at.end());
  for (double t : at) starts_.push_back({t, next_user_++});
  std::sort(starts_.begin(), starts_.end());
}

void Cluster::SetRate(double r) {
  concurrency_ = 0;
  starts_.clear();
  rate_ = std::max(0.0, r);
  next_arrival_ = rate_ > 0 ? now_ - std::log(std::max(Uniform(), 1e-12)) / rate_ : -1;
}

void Cluster::IssueForUser(int user) {
  Request r;
  r.id = next_id_++;
  r.user = user;
  r.input_tokens = SampleLen(shape_.input_mean, shape_.input_stddev);
  r.output_tokens = SampleLen(shape_.output_mean, shape_.output_stddev);
  r.sent_at = now_;
  if (user >= 0) ++active_users_;
  Dispatch(std::move(r));
}

void Cluster::Dispatch(Request r) {
  std::vector<Pod*> routable;
  for (auto& p : pods_)
    if (p->Ready() && !p->faults.dead) routable.push_back(p.get());
  if (routable.empty()) {
    if (!r.held) {
      r.held = true;
      ++held_stats_.held;
      if (first_held_id_ == 0) {
        first_held_id_ = r.id;
        held_stats_.first_sent = r.sent_at;
      }
    }
    held_.push_back(std::move(r));
    return;
  }
  Pod* p = routable[rr_++ % routable.size()];
  r.pod_arrival = std::max(now_, r.sent_at);
  p->waiting.push_back(std::move(r));
}

bool Cluster::Admit(Pod& p, double slack) {
  if (p.waiting.empty() || int(p.running.size()) >= model_.max_running) return false;
  Request& r = p.waiting.front();
  if (r.pod_arrival > p.clock + slack) return false;
  // Admission reserves the request's final size so that decode never runs out of blocks
  // (no preemption); the gauge reports the blocks actually filled.
  int64_t reserved = 0;
  for (auto& q : p.running) reserved += (q.input_tokens + q.output_tokens + model_.block_size - 1) / model_.block_size;
  int64_t need = (r.input_tokens + r.output_tokens + model_.block_size - 1) / model_.block_size;
  if (reserved + need > p.total_blocks) return false;
  r.admitted_at = std::max(p.clock, r.pod_arrival);
  if (r.held) {
    double w = r.admitted_at - r.sent_at;
    held_stats_.max_wait = std::max(held_stats_.max_wait, w);
    if (r.id == first_held_id_ && held_stats_.first_wait < 0) held_stats_.first_wait = w;
  }
  double n = double(p.running.size());
  r.prefill_from = r.admitted_at + model_.sched_delay_per_seq_s * n + model_.sched_delay_per_seq2_s * n * n;
  r.blocks = (r.input_tokens + model_.block_size - 1) / model_.block_size;  // the prompt's blocks
  p.used_blocks += r.blocks;
  p.metrics.queue.Observe(r.admitted_at - r.pod_arrival);
  p.running.push_back(std::move(r));
  p.waiting.pop_front();
  return true;
}

void Cluster::Finish(Pod& p, Request& r, double at) {
  p.metrics.e2e.Observe(at - r.pod_arrival);
  p.metrics.success += 1;
  p.metrics.prompt_len.Observe(r.input_tokens);
  p.metrics.gen_len.Observe(r.generated);
  p.used_blocks -= r.blocks;
  r.blocks = 0;
  ++completed_;
}

void Cluster::StepPod(Pod& p, double until) {
  if (p.faults.dead) {
    p.clock = std::max(p.clock, until);
    return;
  }
  const int bs = model_.block_size;
  // Bounded: every iteration advances p.clock by at least step_base_s > 0.
  while (p.clock < until) {
    if (p.running.empty()) {
      if (p.waiting.empty()) {
        p.clock = until;
        return;
      }
      p.clock = std::max(p.clock, p.waiting.front().pod_arrival);
      if (p.clock >= until) return;
    }
    while (Admit(p)) {
    }
    if (p.running.empty()) {  // KV full with nothing running cannot happen; guard anyway
      p.clock = until;
      return;
    }
    int decode = 0;
    int64_t context = 0;  // tokens the decoding sequences attend to
    for (auto& r : p.running) {
      if (r.prefilled != r.input_tokens) continue;
      ++decode;
      context += r.input_tokens + r.generated;
    }
    int budget = std::max(0, model_.max_batched_tokens - decode);
    int prefill_tokens = 0;
    std::vector<size_t> first_token;
    for (size_t i = 0; i < p.running.size() && budget > 0; ++i) {
      Request& r = p.running[i];
      if (r.prefilled == r.input_tokens || r.prefill_from > p.clock) continue;
      int chunk = std::min(budget, r.input_tokens - r.prefilled);
      r.prefilled += chunk;
      budget -= chunk;
      prefill_tokens += chunk;
      if (r.prefilled == r.input_tokens) first_token.push_back(i);
    }
    double dt = (model_.step_base_s + model_.step_per_seq_s * decode +
                 model_.step_per_seq2_s * double(decode) * double(decode) +
                 model_.step_per_prefill_token_s * prefill_tokens + model_.step_per_kv_token_s * double(context)) *
                std::max(0.01, p.faults.slow_factor);
    double end = p.clock + dt;
    p.metrics.prompt_tokens += prefill_tokens;
    std::vector<Request> done;
    for (size_t i = 0; i < p.running.size(); ++i) {
      Request& r = p.running[i];
      bool is_first = std::find(first_token.begin(), first_token.end(), i) != first_token.end();
      if (is_first) {
        // Admission at tick granularity may place an arrival up to one tick after the
        // step's start: never report less than the step itself.
        p.metrics.ttft.Observe(std::max(dt, end - r.pod_arrival));
        first_tokens_.push_back({end, std::max(dt, end - r.sent_at), r.admitted_at - r.sent_at});
      } else if (r.prefilled == r.input_tokens) {
        p.metrics.itl.Observe(end - r.last_token_at);
      } else {
        continue;  // still prefilling
      }
      ++r.generated;
      p.metrics.generation_tokens += 1;
      r.last_token_at = end;
      int64_t want = (r.input_tokens + r.generated + bs - 1) / bs;
      p.used_blocks += want - r.blocks;
      r.blocks = want;
      if (r.generated >= r.output_tokens) {
        Finish(p, r, end);
        done.push_back(std::move(r));
        r.id = 0;  // marks the slot for removal
      }
    }
    p.running.erase(std::remove_if(p.running.begin(), p.running.end(), [](const Request& r) { return r.id == 0; }),
                    p.running.end());
    p.clock = end;
    for (auto& r : done) {
      if (r.user < 0) continue;
      --active_users_;
      if (active_users_ + int(starts_.size()) < concurrency_) {
        double saved = now_;
        now_ = std::max(now_, end);  // the user sends its next request when this one ends
        IssueForUser(r.user);
        now_ = saved;
      }
    }
  }
}

void Cluster::AbandonStale() {
  const double limit = shape_.client_timeout_s;
  std::vector<Request> gone;
  auto stale = [&](const Request& r) { return now_ - r.sent_at >= limit; };
  auto sweep = [&](std::deque<Request>& q) {
    for (auto& r : q)
      if (stale(r)) gone.push_back(r);
    q.erase(std::remove_if(q.begin(), q.end(), stale), q.end());
  };
  sweep(held_);
  for (auto& p : pods_) sweep(p->waiting);
  for (auto& r : gone) {
    double w = now_ - r.sent_at;
    first_tokens_.push_back({now_, w, w, true});
    ++abandoned_;
    if (r.held) ++held_stats_.dropped;
    if (r.user < 0) continue;
    --active_users_;
    if (active_users_ + int(starts_.size()) < concurrency_) IssueForUser(r.user);
  }
}

void Cluster::AdvanceTo(double t) {
  constexpr double kTick = 0.01;
  // Bounded: each iteration advances now_ by kTick or to t.
  while (now_ < t) {
    double next = std::min(t, now_ + kTick);
    for (auto& p : pods_) {
      if (p->phase == PodPhase::kStarting && next >= p->ready_at) {
        p->phase = PodPhase::kReady;
        p->clock = std::max(p->clock, p->ready_at);
        ++generation_;
      }
    }
    while (!starts_.empty() && starts_.front().first <= next) {
      double saved = now_;
      now_ = starts_.front().first;
      int user = starts_.front().second;
      starts_.pop_front();
      IssueForUser(user);
      now_ = saved;
    }
    while (rate_ > 0 && next_arrival_ >= 0 && next_arrival_ <= next) {
      double saved = now_;
      now_ = next_arrival_;
      IssueForUser(-1);
      now_ = saved;
      next_arrival_ += -std::log(std::max(Uniform(), 1e-12)) / rate_;
    }
    if (!held_.empty()) {
      std::deque<Request> h;
      h.swap(held_);
      for (auto& r : h) Dispatch(std::move(r));  // back into held_ if still no ready pod
    }
    for (size_t i = 0; i < pods_.size(); ++i) StepPod(*pods_[i], next);
    // Engines report their queue after each step's scheduling: requests that arrived during
    // this tick and fit are already running (num_requests_waiting counts only those that
    // cannot be scheduled), so admit them before anyone looks at the gauges.
    for (auto& p : pods_)
      if (!p->faults.dead)
        while (Admit(*p, kTick + 0.05)) {
        }
    now_ = next;
    // Clients give up on requests not scheduled within their timeout (checked every second).
    if (shape_.client_timeout_s > 0 && now_ >= next_abandon_check_) {
      AbandonStale();
      next_abandon_check_ = now_ + 1;
    }
    // Terminating pods leave once drained or when their grace period ends (requests still
    // on them fail; closed-loop users retry through the Service).
    for (size_t i = 0; i < pods_.size();) {
      Pod& p = *pods_[i];
      bool expired = now_ - p.terminating_since >= model_.drain_grace_s;
      bool starting = p.ready_at > p.terminating_since;
      if (p.phase == PodPhase::kTerminating && (starting || (p.running.empty() && p.waiting.empty()) || expired)) {
        std::vector<Request> orphans(p.running.begin(), p.running.end());
        orphans.insert(orphans.end(), p.waiting.begin(), p.waiting.end());
        for (auto& r : p.running) p.used_blocks -= r.blocks;
        pods_.erase(pods_.begin() + long(i));
        ++generation_;
        for (auto& r : orphans) {
          r.prefilled = r.generated = 0;
          r.blocks = 0;
          r.admitted_at = -1;
          Dispatch(std::move(r));
        }
        continue;
      }
      ++i;
    }
  }
}

std::vector<double> Cluster::PendingAges() const {
  std::vector<double> ages;
  for (auto& r : held_) ages.push_back(now_ - r.sent_at);
  for (auto& p : pods_) {
    for (auto& r : p->waiting) ages.push_back(now_ - r.sent_at);
    for (auto& r : p->running)
      if (r.generated == 0) ages.push_back(now_ - r.sent_at);
  }
  return ages;
}

double Cluster::TtftQuantile(double q, double window) const {
  std::vector<double> v;
  for (auto it = first_tokens_.rbegin(); it != first_tokens_.rend(); ++it) {
    if (it->at < now_ - window - 1) break;  // events are ordered to within one step
    if (it->at >= now_ - window) v.push_back(it->ttft);
  }
  for (double a : PendingAges()) v.push_back(a);
  if (v.empty()) return 0;
  size_t k = size_t(std::ceil(q * double(v.size()))) - 1;
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

ClusterView Cluster::View() const {
  ClusterView v;
  v.now = now_;
  for (auto& p : pods_) {
    ++v.pods;
    if (p->phase == PodPhase::kStarting) ++v.starting;
    if (p->phase == PodPhase::kTerminating) ++v.terminating;
    if (p->Ready()) {
      ++v.ready;
      v.kv_avg_ready += p->KvUse();
    }
    v.kv_sum += p->KvUse();
    v.running += int(p->running.size());
    v.waiting += int(p->waiting.size());
  }
  if (v.ready) v.kv_avg_ready /= v.ready;
  v.held = int(held_.size());
  v.load_concurrency = concurrency_;
  v.load_rate = rate_;
  return v;
}

}  // namespace nimemu
