// Scaling scenarios on a simulated clock: see scaling.h.
#include "tools/demo/scaling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>

#include "scaler/engine/evaluator.h"
#include "scaler/signals/snapshot.h"
#include "scaler/sources/pod_scrape_source.h"
#include "scaler/trigger/scaler_spec.h"
#include "tools/demo/control.h"
#include "tools/nim-emulator/exposition.h"

namespace demo {

std::string Num(double v, int decimals) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

double TtftAxis::Y(double seconds) const {
  return top + height - height * (std::log10(std::clamp(seconds, 0.01, 1000.0)) + 2) / 5;
}

void TtftAxis::Draw(std::ostream& o, double slo) const {
  for (double v : {0.01, 0.1, 1.0, 10.0, 100.0, 1000.0})
    o << "<text x=\"" << left - 6 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << (v < 1 ? Num(v, 2) : Num(v))
      << " s</text>\n";
  o << "<text x=\"14\" y=\"" << top + height / 2 << "\" transform=\"rotate(-90 14 " << top + height / 2
    << ")\" text-anchor=\"middle\">p95 TTFT (log)</text>\n";
  o << "<line x1=\"" << left << "\" x2=\"" << left + width << "\" y1=\"" << Y(slo) << "\" y2=\"" << Y(slo)
    << "\" stroke=\"#000\" stroke-dasharray=\"6 4\"/><text x=\"" << left + width - 4 << "\" y=\"" << Y(slo) - 4
    << "\" text-anchor=\"end\">SLO " << Num(slo) << " s</text>\n";
}

namespace {

// Simulated seconds as the scaler's time points (an hour after the clock's epoch, so that no
// time point is the default-constructed one).
nimscaler::TimePoint At(double t) {
  return nimscaler::TimePoint{} + std::chrono::hours(1) +
         std::chrono::duration_cast<nimscaler::Duration>(std::chrono::duration<double>(t));
}

// "40 % fewer" or "25 % more" breach-seconds than a reference.
std::string FewerOrMore(double breach, double reference) {
  double red = 1 - breach / reference;
  return red >= 0 ? Num(100 * red) + " % fewer" : Num(-100 * red) + " % more";
}

}  // namespace

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> out;
  {
    // The article's genai-perf steps (closed loop), as `make demo` replays them.
    Scenario s;
    s.name = "article";
    s.title = "the article's steps: concurrency 10, 100, 200, 300, 400 (2 min each), then idle";
    s.duration = 1080;
    s.stress_at = 60;
    s.load = {{0, 0, 0}, {60, 0, 10}, {180, 0, 100}, {300, 0, 200}, {420, 0, 300}, {540, 0, 400}, {660, 0, 0}};
    out.push_back(s);
  }
  {
    // 30 requests/s (about half a pod), then 10 minutes at 150/s (about 2.3 pods' worth).
    Scenario s;
    s.name = "burst";
    s.title = "burst: 30 req/s, then 150 req/s for 10 min (2.3 pods' capacity), then 30 req/s";
    s.duration = 1800;
    s.stress_at = 600;
    s.load = {{0, 30, 0}, {600, 150, 0}, {1200, 30, 0}};
    s.goal = true;
    out.push_back(s);
  }
  {
    // 10 -> 200 requests/s over 20 minutes in 30 s steps (one pod's capacity is crossed
    // about 6 minutes in), 5 minutes at 200/s, then back to 10/s.
    Scenario s;
    s.name = "ramp";
    s.title = "slow ramp: 10 -> 200 req/s over 20 min (3 pods' capacity), hold 5 min, drop";
    s.duration = 2100;
    s.stress_at = 300;
    s.load.push_back({0, 10, 0});
    for (double t = 300; t <= 1500; t += 30) s.load.push_back({t, 10 + (200 - 10) * (t - 300) / 1200, 0});
    s.load.push_back({1800, 10, 0});
    s.goal = true;
    out.push_back(s);
  }
  {
    // Long enough idle for a cooldown to zero, then 100 requests/s (1.5 pods' capacity).
    Scenario s;
    s.name = "idle-burst";
    s.title = "idle -> burst: idle 10 min, then 100 req/s for 10 min (1.5 pods), then idle";
    s.duration = 1800;
    s.stress_at = 600;
    s.load = {{0, 0, 0}, {600, 100, 0}, {1200, 0, 0}};
    out.push_back(s);
  }
  {
    // 4,000-token prompts: at 9/s one pod's KV cache is a third full with no queue; at 18/s
    // (1.6 pods' capacity) the cache fills and only then do requests wait.
    Scenario s;
    s.name = "long-context";
    s.title = "long context (ISL 4,000 +-200, OSL 200): 3 req/s, 9 req/s (5 min), 18 req/s (10 min), 3 req/s";
    s.duration = 2100;
    s.stress_at = 600;
    s.shape.input_mean = 4000;
    s.shape.input_stddev = 200;
    s.load = {{0, 3, 0}, {600, 9, 0}, {900, 18, 0}, {1500, 3, 0}};
    s.goal = true;
    out.push_back(s);
  }
  return out;
}

LoadPoint LoadAt(const Scenario& s, double t) {
  LoadPoint cur;
  for (const auto& p : s.load) {
    if (p.at > t) break;
    cur = p;
  }
  return cur;
}

std::vector<Policy> Policies() {
  // "startupTime: auto" becomes the run's pod start (or RunOptions::startup_time when set).
  return {
      {.name = "article",
       .title = "article: HPA on gpu_cache_usage_perc averageValue 100m, metrics every 30 s, min 1",
       .article = true,
       .min_replicas = 1},
      {.name = "bound",
       .title = "bound, not a policy: maxReplicas (10) from the stress's first second, min 1",
       .bound = true,
       .min_replicas = 1},
      {.name = "nim-default", .title = "nim-scaler defaults (targetKvCache 0.8 + targetWaiting 4), min 0"},
      {.name = "nim-kv",
       .title = "nim-scaler as in make demo: targetKvCache 0.1 (the article's target) + targetWaiting 4, min 0",
       .metadata = {{"targetKvCache", "0.1"}, {"targetWaiting", "4"}}},
      {.name = "nim-ttft",
       .title = "nim-scaler targetTtft 1s (p95, half the SLO), min 0",
       .metadata = {{"targetTtft", "1s"}}},
      {.name = "nim-startup",
       .title = "nim-scaler defaults + startupTime (the pod start), min 0",
       .metadata = {{"startupTime", "auto"}}},
      {.name = "nim-kv-startup",
       .title = "nim-scaler as in make demo + startupTime (the pod start), min 0",
       .metadata = {{"targetKvCache", "0.1"}, {"targetWaiting", "4"}, {"startupTime", "auto"}}},
      // Concurrency per pod: 100 is where NVIDIA's published throughput for this pod reaches 90 % of
      // its peak (docs/emulator-calibration.md, 12,215 of 13,348 tokens/s), chosen from that table
      // before any scenario ran with it. Running requests grow with the load up to the cliff, where
      // KV use (at 200 + 200 tokens) and TTFT stay flat.
      {.name = "nim-running",
       .title = "nim-scaler targetRunning 100 (the published 90 %-of-peak-throughput concurrency), min 0",
       .metadata = {{"targetRunning", "100"}}},
      {.name = "nim-running-startup",
       .title = "nim-scaler targetRunning 100 + startupTime (the pod start), min 0",
       .metadata = {{"targetRunning", "100"}, {"startupTime", "auto"}}},
      // Completed requests per second per pod: 61 is the same published 90 %-of-peak point as a
      // rate (12,215 output tokens/s at 200 tokens per request; by Little's law also 100 requests
      // over their 1.6 s end to end), chosen from that table before any scenario ran with it. The
      // rate grows with the load up to the cliff and, unlike a gauge that jumps there, has a slope
      // that predict() can extend; a saturated pod completes no more than its capacity, so alone
      // it cannot ask for much more than the pods it has.
      {.name = "nim-rate",
       .title = "nim-scaler targetRequestRate 61 (the published 90 %-of-peak-throughput rate), min 0",
       .metadata = {{"targetRequestRate", "61"}}},
      {.name = "nim-rate-startup",
       .title = "nim-scaler targetRequestRate 61 + startupTime (the pod start), min 0",
       .metadata = {{"targetRequestRate", "61"}, {"startupTime", "auto"}}},
  };
}

Result Run(const Scenario& s, const Policy& p, const RunOptions& o) {
  namespace ns = nimscaler;
  Result r;
  r.scenario = s.name;
  r.policy = p.name;

  ns::trigger::ScalerSpecConstPtr spec;
  std::unique_ptr<ns::engine::Evaluator> evaluator;
  std::unique_ptr<ns::sources::PodScrapeSource> source;
  if (!p.article && !p.bound) {
    ns::config::Metadata md = p.metadata;
    md["endpoints"] = "http://127.0.0.1:9/v1/metrics";  // required by validation; pods come from the emulator
    md["engine"] = "nim";
    md["scrapeInterval"] = "2s";
    auto st = md.find("startupTime");
    if (st != md.end() && st->second == "auto") st->second = Num(o.startup_time.value_or(o.startup)) + "s";
    ns::trigger::SpecOptions so;
    so.allow_static_endpoints = true;
    so.kube_enabled = false;
    so.min_scrape_interval = std::chrono::milliseconds(100);
    auto built = ns::trigger::BuildScalerSpec("nim", "meta-llama3-8b", md, so);
    if (!built.ok()) {
      r.error = built.status().message();
      return r;
    }
    spec = built.value();
    evaluator = std::make_unique<ns::engine::Evaluator>(spec);
    source = std::make_unique<ns::sources::PodScrapeSource>(spec->scrape, nullptr);
  }
  r.ran = true;

  nimemu::PodModel model;
  model.startup_delay_s = o.startup;
  nimemu::LoadShape shape = s.shape;
  shape.client_timeout_s = o.client_timeout;
  nimemu::Cluster c(model, shape, o.seed, o.initial_replicas, true);
  HpaConfig hc;
  hc.min_replicas = std::max(p.min_replicas, 1);
  Hpa hpa(hc);
  KedaConfig kc;
  kc.min_replicas = p.min_replicas;
  Keda keda(kc, 0);
  int replicas = o.initial_replicas;
  auto apply = [&](int n) {
    if (n == replicas) return;
    replicas = n;
    c.SetReplicas(n);
  };

  std::optional<ns::engine::Evaluation> last;
  bool was_active = false;
  double woken_until = -1;
  const double wake_hold = spec ? ns::ToSeconds(spec->wake_hold) : 0;
  std::map<std::string, double> prom;  // the article's metrics pipeline: pod -> last value
  size_t next_load = 0;
  int spec_at_stress = -1;
  double replica_s = 0;

  // Bounded: one iteration per simulated second.
  for (int sec = 0; sec <= int(s.duration); ++sec) {
    const double t = sec;
    c.AdvanceTo(t);
    while (next_load < s.load.size() && s.load[next_load].at <= t) {
      const LoadPoint& lp = s.load[next_load++];
      if (lp.rate > 0)
        c.SetRate(lp.rate);
      else
        c.SetConcurrency(lp.concurrency);
    }
    if (spec_at_stress < 0 && t >= s.stress_at) spec_at_stress = replicas;

    if (p.bound) {
      if (t >= s.stress_at) apply(hc.max_replicas);
    } else if (!p.article) {
      // The gateway's wake hook: requests held at the Service with no pod wake the trigger,
      // and its StreamIsActive push makes KEDA scale from zero at once.
      if (c.View().held > 0 && replicas == 0 && woken_until < t) {
        woken_until = t + wake_hold;
        apply(keda.Push(t, true, replicas));
      }
      if (sec % 2 == 0) {  // collection cycle every scrapeInterval
        auto snap = std::make_shared<ns::signals::Snapshot>();
        snap->taken_at = At(t);
        snap->cycle = uint64_t(sec / 2 + 1);
        for (const auto& pod : c.pods()) {
          if (pod->phase == nimemu::PodPhase::kTerminating) continue;
          ++snap->discovered;
          if (!pod->Ready() || pod->faults.dead) continue;
          std::string url = "http://" + pod->name + ":8000/v1/metrics";
          auto scraped =
              source->Extract(nimemu::RenderMetrics(*pod, model, 0), "text/plain; version=0.0.4; charset=utf-8");
          ns::signals::PodReading reading;
          reading.endpoint = url;
          if (scraped.ok())
            reading = ns::sources::ReadingFromScrape(url, scraped.value(), At(t));
          else
            reading.error = scraped.status().message();
          snap->pods.push_back(std::move(reading));
        }
        last = evaluator->Update(snap, At(t));
        bool active = (last->status.ok() && last->active) || t < woken_until;
        if (active && !was_active) apply(keda.Push(t, true, replicas));  // StreamIsActive
        was_active = active;
      }
      if (sec >= 13 && (sec - 13) % 30 == 0) {  // KEDA pollingInterval
        bool active = (last && last->status.ok() && last->active) || t < woken_until;
        apply(keda.Poll(t, active, replicas));
      }
      if (sec >= 7 && (sec - 7) % 15 == 0 && replicas >= 1 && last && last->status.ok()) {  // HPA sync
        double value = last->value;
        if (t < woken_until) value = std::max(value, 1.0);
        apply(hpa.Normalize(t, replicas, hpa.ExternalAverageValue(value, 1.0, replicas)));
      }
    } else {
      if (sec % 30 == 0) {  // Prometheus scrape + adapter refresh
        prom.clear();
        for (const auto& pod : c.pods())
          if (pod->Ready()) prom[pod->name] = pod->KvUse();
      }
      if (sec >= 7 && (sec - 7) % 15 == 0) {
        std::vector<PodSample> pods;
        for (const auto& pod : c.pods()) {
          if (pod->phase == nimemu::PodPhase::kTerminating) continue;
          PodSample ps;
          ps.ready = pod->Ready();
          auto it = prom.find(pod->name);
          if (it != prom.end()) ps.value = it->second;
          pods.push_back(ps);
        }
        apply(hpa.Normalize(t, replicas, hpa.PodsAverageValue(pods, 0.1, replicas)));
      }
    }

    auto v = c.View();
    Sample sm;
    sm.t = t;
    LoadPoint lp = LoadAt(s, t);
    sm.load = lp.rate > 0 ? lp.rate : lp.concurrency;
    sm.p95 = c.TtftQuantile(0.95, 30);
    sm.kv = v.kv_avg_ready;
    sm.spec = replicas;
    sm.ready = v.ready;
    sm.pods = v.pods;
    sm.waiting = v.waiting + v.held;
    if (sec > 0) {
      replica_s += v.pods;
      if (sm.p95 > o.slo) r.breach_s += 1;
    }
    // React: the first scale-up at or after the stress begins (a policy may have scaled up
    // before, e.g. on start-up, and come down again).
    int before = r.samples.empty() ? replicas : r.samples.back().spec;
    if (spec_at_stress >= 0 && r.react_s < 0 && replicas > before) r.react_s = t - s.stress_at;
    r.max_spec = std::max(r.max_spec, replicas);
    r.samples.push_back(sm);
  }
  r.replica_min = replica_s / 60;
  for (const auto& ev : c.first_tokens()) {
    ++r.requests;
    if (ev.waited > 1.0) ++r.waited;
    if (ev.abandoned) ++r.abandoned;
  }
  for (double age : c.PendingAges())
    if (age > 1.0) ++r.waited;
  return r;
}

std::string GoalVerdict(const Scenario& s, const std::vector<Result>& results) {
  const Result* art = nullptr;
  const Result* bound = nullptr;
  for (const auto& r : results) {
    if (r.scenario != s.name || !r.ran) continue;
    if (r.policy == "article") art = &r;
    if (r.policy == "bound") bound = &r;
  }
  if (!art) return s.name + ": no article run";
  // The best nim-scaler policy within 110 % of the article's replica-minutes, and at any cost;
  // the same among the startupTime policies for the ramp's second goal.
  struct Best {
    const Result* r = nullptr;
    void Offer(const Result& c) {  // fewer breach-seconds, then fewer replica-minutes
      if (!r || c.breach_s < r->breach_s || (c.breach_s == r->breach_s && c.replica_min < r->replica_min)) r = &c;
    }
  };
  Best ok, any, startup_ok, startup_any;
  auto share = [&](const Result& r) { return art->replica_min > 0 ? r.replica_min / art->replica_min : 0; };
  for (const auto& r : results) {
    if (r.scenario != s.name || r.policy == "article" || r.policy == "bound" || !r.ran) continue;
    bool with_startup = r.policy.size() > 8 && r.policy.compare(r.policy.size() - 8, 8, "-startup") == 0;
    any.Offer(r);
    if (with_startup) startup_any.Offer(r);
    if (share(r) <= 1.10) {
      ok.Offer(r);
      if (with_startup) startup_ok.Offer(r);
    }
  }
  auto desc = [&](const Result* r) {
    return r->policy + " " + Num(r->breach_s) + " s at " + Num(100 * share(*r)) + " % of its replica-minutes";
  };
  std::string out = s.name + (s.goal ? "" : " (the goal is not set for this scenario)") + ": article " +
                    Num(art->breach_s) + " SLO-breach s, " + Num(art->replica_min, 1) + " replica-min; ";
  if (art->breach_s <= 0) {
    out += "the article never breaches, so no policy can breach 50 % less";
    if (ok.r && ok.r->breach_s <= 0) {
      out += "; " + desc(ok.r) + " does not breach either";
    } else if (any.r) {
      out += "; best nim-scaler: " + desc(any.r);
    }
  } else if (ok.r && ok.r->breach_s <= 0.5 * art->breach_s) {
    out += "goal MET by " + desc(ok.r) + " (" + FewerOrMore(ok.r->breach_s, art->breach_s) + ")";
  } else {
    out += "goal NOT met: ";
    out += !ok.r ? std::string("no nim-scaler policy within 110 % of the replica-minutes")
                 : "best within 110 % of the replica-minutes: " + desc(ok.r) + " (" +
                       FewerOrMore(ok.r->breach_s, art->breach_s) + ")";
    if (any.r && any.r != ok.r) out += "; fewest breach-seconds at any cost: " + desc(any.r);
  }
  if (bound && art->breach_s > 0) {
    out += "; the bound (maxReplicas from the stress's first second) breaches " + Num(bound->breach_s) + " s";
    if (bound->breach_s > 0.5 * art->breach_s) out += ", more than the goal allows: out of reach from the same pods";
  }
  if (s.name == "ramp") {
    if (!startup_any.r) {
      out += "; startupTime (goal 90 % fewer on the ramp): not in this build";
    } else if (art->breach_s > 0) {
      const Result* best = startup_ok.r ? startup_ok.r : startup_any.r;
      bool met = startup_ok.r && startup_ok.r->breach_s <= 0.1 * art->breach_s;
      out += "; best with startupTime" + std::string(startup_ok.r ? " within 110 %" : "") + ": " + desc(best) + ", " +
             FewerOrMore(best->breach_s, art->breach_s) +
             " breach-seconds than the article (goal 90 % fewer: " + (met ? "MET" : "NOT met") + ")";
    }
  }
  return out;
}

std::string MarkdownTable(const std::vector<Scenario>& scenarios, const std::vector<Result>& results) {
  std::ostringstream o;
  o << "| scenario | policy | react (s) | SLO-breach s | replica-min | requests that waited > 1 s | max replicas |\n";
  o << "|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& s : scenarios) {
    for (const auto& r : results) {
      if (r.scenario != s.name) continue;
      o << "| " << s.name << " | " << r.policy << " | ";
      if (!r.ran) {
        o << "not run: " << r.error.substr(0, 100) << " | | | | |\n";
        continue;
      }
      o << (r.react_s < 0 ? std::string("-") : Num(r.react_s)) << " | " << Num(r.breach_s) << " | "
        << Num(r.replica_min, 1) << " | " << r.waited << " of " << r.requests;
      if (r.abandoned) o << " (" << r.abandoned << " abandoned)";
      o << " | " << r.max_spec << " |\n";
    }
  }
  return o.str();
}

namespace {

const char* Color(const std::string& policy) {
  if (policy == "article") return "#d62728";
  if (policy == "bound") return "#000000";
  if (policy == "nim-default") return "#1f77b4";
  if (policy == "nim-ttft") return "#2ca02c";
  if (policy == "nim-kv") return "#ff7f0e";
  if (policy == "nim-kv-startup") return "#8c564b";
  if (policy == "nim-running") return "#17becf";
  if (policy == "nim-running-startup") return "#e377c2";
  if (policy == "nim-rate") return "#bcbd22";
  if (policy == "nim-rate-startup") return "#7f7f7f";
  return "#9467bd";
}

}  // namespace

std::string ScenarioSvg(const Scenario& s, const std::vector<Result>& results, double slo) {
  const double W = 960, left = 60, right = 60, panel = 230, gap = 50, top = 50;
  const double pw = W - left - right;
  const double H = top + 2 * panel + gap + 80;
  std::vector<const Result*> rs;
  int max_spec = 1;
  double max_load = 1;
  for (const auto& r : results) {
    if (r.scenario != s.name || !r.ran) continue;
    rs.push_back(&r);
    for (const auto& sm : r.samples) {
      max_spec = std::max(max_spec, sm.spec);
      max_load = std::max(max_load, sm.load);
    }
  }
  auto X = [&](double t) { return left + pw * t / std::max(1.0, s.duration); };
  const double y1 = top, y2 = top + panel + gap;
  auto YR = [&](double n) { return y1 + panel - panel * n / (max_spec + 1); };
  auto YL = [&](double l) { return y1 + panel - panel * l / (max_load * 1.1); };
  const TtftAxis ttft{left, pw, y2, panel};
  auto YT = [&](double v) { return ttft.Y(v); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" << s.title << "</text>\n";
  o << "<text x=\"" << left << "\" y=\"38\">simulated time; every policy sees the same arrivals</text>\n";
  // Frames, axes.
  for (double y : {y1, y2})
    o << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << pw << "\" height=\"" << panel
      << "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (double t = 0; t <= s.duration; t += 300) {
    o << "<text x=\"" << X(t) << "\" y=\"" << y2 + panel + 16 << "\" text-anchor=\"middle\">" << int(t) / 60
      << " min</text>\n";
    o << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"" << y1 << "\" y2=\"" << y2 + panel
      << "\" stroke=\"#eee\"/>\n";
  }
  for (int n = 0; n <= max_spec + 1; n += std::max(1, (max_spec + 1) / 6))
    o << "<text x=\"" << left - 6 << "\" y=\"" << YR(n) + 4 << "\" text-anchor=\"end\">" << n << "</text>\n";
  o << "<text x=\"14\" y=\"" << y1 + panel / 2 << "\" transform=\"rotate(-90 14 " << y1 + panel / 2
    << ")\" text-anchor=\"middle\">spec.replicas</text>\n";
  o << "<text x=\"" << W - 10 << "\" y=\"" << y1 + panel / 2 << "\" transform=\"rotate(90 " << W - 10 << " "
    << y1 + panel / 2 << ")\" text-anchor=\"middle\" fill=\"#888\">load (grey): "
    << (s.load.size() && s.load.back().rate == 0 && s.name == "article" ? "concurrency" : "requests/s") << ", max "
    << Num(max_load) << "</text>\n";
  ttft.Draw(o, slo);
  // Load (from the first run's samples).
  if (!rs.empty()) {
    o << "<polygon fill=\"#ddd\" points=\"" << X(0) << "," << YL(0);
    for (const auto& sm : rs[0]->samples) o << " " << X(sm.t) << "," << YL(sm.load);
    o << " " << X(s.duration) << "," << YL(0) << "\"/>\n";
  }
  int li = 0;
  for (const Result* r : rs) {
    const char* col = Color(r->policy);
    o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\" points=\"";
    int prev = -1;
    for (const auto& sm : r->samples) {
      if (sm.spec != prev && prev >= 0) o << X(sm.t) << "," << YR(prev) << " ";
      if (sm.spec != prev || sm.t == r->samples.back().t) o << X(sm.t) << "," << YR(sm.spec) << " ";
      prev = sm.spec;
    }
    o << "\"/>\n<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"1.5\" points=\"";
    for (size_t i = 0; i < r->samples.size(); i += 5) o << X(r->samples[i].t) << "," << YT(r->samples[i].p95) << " ";
    o << "\"/>\n";
    double lx = left + (pw / 2) * (li % 2), ly = H - 44 + 18 * (li / 2);
    ++li;
    o << "<rect x=\"" << lx << "\" y=\"" << ly - 5 << "\" width=\"14\" height=\"4\" fill=\"" << col << "\"/>"
      << "<text x=\"" << lx + 18 << "\" y=\"" << ly << "\">" << r->policy << ": " << Num(r->breach_s) << " s breach, "
      << Num(r->replica_min, 1) << " replica-min</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string ScenarioCsv(const Scenario& s, const std::vector<Result>& results) {
  std::vector<const Result*> rs;
  for (const auto& r : results)
    if (r.scenario == s.name && r.ran) rs.push_back(&r);
  std::ostringstream o;
  o << "t,load";
  for (const Result* r : rs) o << "," << r->policy << "_spec," << r->policy << "_ready," << r->policy << "_p95_ttft";
  o << "\n";
  if (rs.empty()) return o.str();
  for (size_t i = 0; i < rs[0]->samples.size(); ++i) {
    o << rs[0]->samples[i].t << "," << rs[0]->samples[i].load;
    for (const Result* r : rs) {
      const Sample& sm = r->samples[std::min(i, r->samples.size() - 1)];
      o << "," << sm.spec << "," << sm.ready << "," << Num(sm.p95, 3);
    }
    o << "\n";
  }
  return o.str();
}

}  // namespace demo
