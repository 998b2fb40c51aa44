// Exports TrackedObject: the per-ScaledObject collection loop.
#include "scaler/engine/tracked_object.h"

#include <algorithm>
#include <cmath>

#include "scaler/common/text.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::engine {

TrackedObject::TrackedObject(trigger::ScalerSpecConstPtr spec, EngineDeps deps)
    : spec_(std::move(spec)),
      deps_(std::move(deps)),
      builder_(spec_, deps_.http),
      evaluator_(spec_),
      log_(telemetry::Logger("engine")) {
  if (!spec_->wake_query.empty()) {
    // The query must end before the next one is due: at most half the interval (and 5 s).
    net::HttpRequestOptions options = spec_->wake_http;
    auto half = std::chrono::duration_cast<std::chrono::milliseconds>(spec_->scrape_interval / 2);
    options.timeout =
        std::clamp(half, std::chrono::milliseconds(100), std::min(options.timeout, std::chrono::milliseconds(5000)));
    wake_query_.emplace(spec_->prometheus_address, spec_->wake_query, deps_.http, std::move(options));
  }
  TimePoint now = deps_.clock->Now();
  Touch(now);
  last_cycle_end_ns_.store(now.time_since_epoch().count());
  auto pending = std::make_shared<Evaluation>(evaluator_.Pending(now));
  latest_ = std::move(pending);
  telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: tracking {} every {}, formula {}", spec_->key.ToString(),
                 spec_->discovery.Describe(), FormatDuration(spec_->scrape_interval), spec_->FormulaText());
}

TrackedObject::~TrackedObject() { Stop(); }

telemetry::LogFields TrackedObject::PodContext(const CycleData& data, size_t i) const {
  telemetry::LogFields fields = LogContext();
  // The pod's name when discovery knows it; a static endpoint's name is its URL: host:port then.
  std::string_view name = i < data.pods.size() ? data.pods[i] : std::string_view();
  if (name.empty() || name.find("://") != std::string_view::npos) name = telemetry::PodOfUrl(data.urls[i]);
  fields.pod = name;
  return fields;
}

void TrackedObject::Stop() {
  stopped_.store(true);
  ReleaseFirstCycleWaiters();  // waiters get the "pending" answer rather than hanging
}

void TrackedObject::OnFirstCycle(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!first_cycle_done_) {
      first_cycle_waiters_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void TrackedObject::ReleaseFirstCycleWaiters() {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mu_);
    first_cycle_done_ = true;
    waiters.swap(first_cycle_waiters_);
  }
  for (auto& fn : waiters) fn();
}

EvaluationConstPtr TrackedObject::Latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

uint64_t TrackedObject::Subscribe(ActivatedFn fn) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  subscribers_.emplace(id, std::move(fn));
  return id;
}

void TrackedObject::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  subscribers_.erase(id);
}

bool TrackedObject::HasSubscribers() const {
  std::lock_guard lock(mu_);
  return !subscribers_.empty();
}

void TrackedObject::Ingest(const CycleData& data) {
  if (stopped_.load()) return;
  EvaluationConstPtr previous = Latest();
  BuiltSnapshot built = builder_.Build(data, snapshot_);
  snapshot_ = std::move(built.snapshot);
  LogCycle(data, built);
  TimePoint now = deps_.clock->Now();
  auto ev = std::make_shared<Evaluation>(evaluator_.Update(snapshot_, now));
  WakeOnFrontDoorDemand(*ev, now);
  ApplyWake(ev.get(), now);
  if (!ev->status.ok() && ev->status.code() != previous->status.code()) {
    telemetry::LogFields fields = LogContext();
    fields.code = CodeName(ev->status.code());  // what GetMetrics and IsActive now answer
    telemetry::Log(log_, spdlog::level::warn, fields, "{}", ev->status.message());
  } else if (ev->status.ok() && !previous->status.ok() && cycles_.load() > 0) {
    telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: value available again ({})", spec_->key.ToString(),
                   FormatDouble(ev->value));
  }
  Publish(std::move(ev), now);
  last_cycle_end_ns_.store(deps_.clock->Now().time_since_epoch().count());
  cycles_.fetch_add(1);
}

void TrackedObject::LogCycle(const CycleData& data, const BuiltSnapshot& built) {
  if (deps_.metrics) {
    for (size_t i = 0; i < built.scrapes_ok; ++i) deps_.metrics->RecordScrape(true, data.fetch_seconds);
    for (size_t i = 0; i < built.scrapes_failed; ++i) deps_.metrics->RecordScrape(false, data.fetch_seconds);
  }
  for (const SnapshotEvent& e : built.events) {
    telemetry::Log(log_, e.warning ? spdlog::level::warn : spdlog::level::info,
                   e.pod ? PodContext(data, *e.pod) : LogContext(), "{}", e.message);
  }
}

void TrackedObject::WakeOnFrontDoorDemand(const Evaluation& ev, TimePoint now) {
  if (!spec_->front_door || ev.snapshot == nullptr) return;
  double waiting = ev.snapshot->FrontDoorSum(kFrontDoorWaiting).value_or(0);
  double inflight = ev.snapshot->FrontDoorSum(kFrontDoorInflight).value_or(0);
  if (!(waiting + inflight > 0)) return;
  // Ready pods that show demand speak for it themselves (as for the wake hook, ApplyWake).
  if (ev.status.ok() && ev.active && !ev.snapshot->pods.empty()) return;
  bool arming = false;
  {
    std::lock_guard lock(mu_);
    arming = wake_until_ == TimePoint{};
    wake_until_ = now + spec_->wake_hold;
  }
  if (arming) {
    telemetry::Log(log_, spdlog::level::info, LogContext(),
                   "{}: woken by the front door ({} waiting, {} in flight; "
                   "held for {})",
                   spec_->key.ToString(), FormatDouble(waiting), FormatDouble(inflight),
                   FormatDuration(spec_->wake_hold));
  }
}

void TrackedObject::Wake(TimePoint now, const std::string& reason) {
  EvaluationConstPtr woken;
  {
    std::lock_guard lock(mu_);
    bool was_active = latest_->status.ok() && latest_->active;
    wake_until_ = now + spec_->wake_hold;
    if (!was_active) {
      auto copy = std::make_shared<Evaluation>(*latest_);
      copy->active = true;
      copy->woken = true;
      if (copy->status.ok()) copy->value = std::max(copy->value, 1.0);
      woken = copy;
    }
  }
  telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: woken by {} (held for {})", spec_->key.ToString(),
                 reason, FormatDuration(spec_->wake_hold));
  if (woken) Publish(std::move(woken), now);  // streams hear `true` now, not at the next scrape
}

void TrackedObject::PollWakeQuery(TimePoint now) {
  if (!wake_query_ || stopped_.load()) return;
  auto demand = wake_query_->Evaluate();  // network I/O on the WakePoller's thread, no lock held
  std::string error = demand.ok() ? std::string() : demand.status().message();
  // Logged when it changes; numbers ignored ("timed out after 101 ms" is the same error).
  auto shape = [](std::string s) {
    std::erase_if(s, [](char c) { return c >= '0' && c <= '9'; });
    return s;
  };
  if (shape(error) != shape(last_wake_error_)) {
    if (!error.empty()) {
      telemetry::Log(log_, spdlog::level::warn, LogContext(), "{}: {}", spec_->key.ToString(), error);
    } else {
      telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: wakeQuery answers again", spec_->key.ToString());
    }
    last_wake_error_ = error;
  }
  bool wake_now = false;
  {
    std::lock_guard lock(mu_);
    wake_error_ = error;
    if (demand.ok() && *demand > 0) {
      wake_now = !(latest_->status.ok() && latest_->active);
      // Already active through a wake: the demand keeps it. Active through the pods: they
      // speak for the demand themselves (see ApplyWake).
      if (!wake_now && latest_->woken) wake_until_ = now + spec_->wake_hold;
    }
  }
  if (wake_now) Wake(now, "wakeQuery (value " + FormatDouble(*demand) + ")");  // streams hear `true` now
}

void TrackedObject::ApplyWake(Evaluation* ev, TimePoint now) {
  std::lock_guard lock(mu_);
  ev->wake_error = wake_error_;
  if (wake_until_ == TimePoint{}) return;
  if (now >= wake_until_) {
    telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: wake expired after {}", spec_->key.ToString(),
                   FormatDuration(spec_->wake_hold));
    wake_until_ = TimePoint{};
    return;
  }
  // Released once ready pods show the demand themselves: from then on they speak for it.
  bool pods_show_demand = ev->status.ok() && ev->active && ev->snapshot && !ev->snapshot->pods.empty();
  if (pods_show_demand) {
    telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: wake released: ready pods show the demand",
                   spec_->key.ToString());
    wake_until_ = TimePoint{};
    return;
  }
  ev->active = true;
  ev->woken = true;
  if (ev->status.ok()) ev->value = std::max(ev->value, 1.0);
}

void TrackedObject::Publish(EvaluationConstPtr ev, TimePoint now) {
  bool notify = false;
  bool rose = false;
  {
    std::lock_guard lock(mu_);
    bool active = ev->status.ok() && ev->active;
    rose = active && !(latest_->status.ok() && latest_->active);
    // A slow heartbeat re-sends `true` while active, in case KEDA dropped an event.
    bool heartbeat = active && deps_.stream_heartbeat > Duration::zero() && now - last_push_ >= deps_.stream_heartbeat;
    notify = rose || heartbeat;
    if (notify) last_push_ = now;
    latest_ = ev;
  }
  if (deps_.metrics) {
    telemetry::ScaledObjectGauges g;
    g.value = ev->status.ok() ? ev->value : std::numeric_limits<double>::quiet_NaN();
    g.ready_pods = ev->snapshot ? static_cast<double>(ev->snapshot->UsablePods()) : 0;
    g.active = ev->status.ok() && ev->active;
    g.panicking = ev->status.ok() && ev->panicking;
    g.held = ev->status.ok() && ev->held;
    for (const auto& [k, v] : ev->signals) {
      if (std::isfinite(v)) g.signals[k] = v;
    }
    if (const auto& snap = ev->snapshot) {
      size_t failed = 0;
      for (const auto& p : snap->pods) failed += p.answered ? 0 : 1;
      g.collected = failed < snap->pods.size();
      g.errors["scrape"] = static_cast<double>(failed);
      g.errors["discovery"] = snap->discovery_error.empty() ? 0 : 1;
      g.errors["no_pods"] = !snap->pods.empty() && snap->UsablePods() == 0 ? 1 : 0;
    }
    g.errors["metric"] = ev->status.code() == Code::kFailedPrecondition ? 1 : 0;
    if (spec_->front_door && ev->snapshot) {
      const auto& doors = ev->snapshot->front_door;
      bool none_answered = std::none_of(doors.begin(), doors.end(), [](const auto& d) { return d.answered; });
      g.errors["front_door"] = none_answered ? 1 : 0;
    }
    deps_.metrics->SetScaledObject(MetricLabels(), g);
  }
  ReleaseFirstCycleWaiters();
  if (rose) {
    telemetry::Log(log_, spdlog::level::info, LogContext(), "{}: became active (value {})", spec_->key.ToString(),
                   FormatDouble(ev->value));
  }
  if (notify) {
    // Subscribers are called under the lock so none is destroyed mid-call; they only
    // queue a write and return.
    std::lock_guard lock(mu_);
    for (auto& [id, fn] : subscribers_) fn();
  }
}

}  // namespace nimscaler::engine
