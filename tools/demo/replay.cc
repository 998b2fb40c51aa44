// Replay of recorded demand: see replay.h.
#include "tools/demo/replay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace demo {
namespace {

const char* PolicyColor(size_t i, bool article) {
  static const char* kPalette[] = {"#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e",
                                   "#17becf", "#8c564b", "#e377c2", "#bcbd22"};
  return article ? "#d62728" : kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
}

}  // namespace

Scenario ReplayScenario(const nimscaler::app::DemandTrace& trace, const std::string& title) {
  Scenario s;
  s.name = "replay";
  s.title = title;
  const auto& samples = trace.samples;
  const double end = samples.empty() ? 0 : samples.back().t;
  const int seconds = std::max(1, static_cast<int>(std::ceil(end)));
  // Time-weighted mean of the piecewise-constant recorded rate over each second [k, k+1).
  std::vector<double> weighted(static_cast<size_t>(seconds), 0), covered(static_cast<size_t>(seconds), 0);
  double from = 0, prompt = 0, output = 0, prompt_req = 0, output_req = 0;
  for (const auto& sm : samples) {
    const double to = sm.t;
    for (int k = static_cast<int>(std::floor(from)); k < seconds && k < to; ++k) {
      double overlap = std::min(to, k + 1.0) - std::max(from, double(k));
      if (overlap <= 0) continue;
      weighted[size_t(k)] += sm.arrivals_per_s * overlap;
      covered[size_t(k)] += overlap;
    }
    const double dt = to - from;
    if (sm.prompt_tokens_per_s && sm.completions_per_s > 0) {
      prompt += *sm.prompt_tokens_per_s * dt;
      prompt_req += sm.completions_per_s * dt;
    }
    if (sm.generation_tokens_per_s && sm.completions_per_s > 0) {
      output += *sm.generation_tokens_per_s * dt;
      output_req += sm.completions_per_s * dt;
    }
    from = to;
  }
  double peak = 0;
  for (int k = 0; k < seconds; ++k) {
    double rate = covered[size_t(k)] > 0 ? weighted[size_t(k)] / covered[size_t(k)] : 0;
    peak = std::max(peak, rate);
    if (s.load.empty() || s.load.back().rate != rate) s.load.push_back({double(k), rate, 0});
  }
  s.stress_at = 0;
  for (const auto& p : s.load) {
    if (peak > 0 && p.rate >= 0.5 * peak) {
      s.stress_at = p.at;
      break;
    }
  }
  s.duration = std::floor(end);
  if (prompt > 0 && prompt_req > 0) {
    s.shape.input_mean = prompt / prompt_req;
    s.shape.input_stddev = 0.05 * s.shape.input_mean;
  }
  if (output > 0 && output_req > 0) {
    s.shape.output_mean = output / output_req;
    s.shape.output_stddev = 0;
  }
  return s;
}

const std::vector<std::string>& DeploymentKeys() {
  static const std::vector<std::string> keys = {"endpoints",   "service", "dnsName", "port",          "scheme",
                                                "metricsPath", "engine",  "model",   "scrapeInterval"};
  return keys;
}

std::vector<std::string> StripDeploymentKeys(std::map<std::string, std::string>* metadata) {
  std::vector<std::string> dropped;
  for (const auto& k : DeploymentKeys()) {
    auto it = metadata->find(k);
    if (it == metadata->end()) continue;
    dropped.push_back(k + ": " + it->second);
    metadata->erase(it);
  }
  return dropped;
}

Policy ReplayPolicy(const std::string& name, const std::string& title, std::map<std::string, std::string> metadata,
                    int min_replicas) {
  Policy p;
  p.name = name;
  p.title = title;
  p.metadata = std::move(metadata);
  p.min_replicas = min_replicas;
  return p;
}

std::string ReplaySvg(const Scenario& s, const std::vector<Result>& results, const nimscaler::app::DemandTrace& trace,
                      double slo) {
  const double W = 960, left = 60, right = 70, panel = 230, gap = 50, top = 50;
  const double pw = W - left - right;
  std::vector<const Result*> rs;
  for (const auto& r : results)
    if (r.ran) rs.push_back(&r);
  const double H = top + 2 * panel + gap + 40 + 18 * double((rs.size() + 2) / 2);
  int max_n = 1;
  double max_load = 1;
  for (const Result* r : rs)
    for (const auto& sm : r->samples) max_n = std::max(max_n, sm.spec);
  for (const auto& sm : trace.samples) {
    max_n = std::max(max_n, sm.ready);
    max_load = std::max(max_load, sm.arrivals_per_s);
  }
  const double dur = std::max(1.0, s.duration);
  auto X = [&](double t) { return left + pw * std::clamp(t, 0.0, dur) / dur; };
  const double y1 = top, y2 = top + panel + gap;
  auto YR = [&](double n) { return y1 + panel - panel * n / (max_n + 1); };
  auto YL = [&](double l) { return y1 + panel - panel * l / (max_load * 1.1); };
  const TtftAxis ttft{left, pw, y2, panel};
  auto YT = [&](double v) { return ttft.Y(v); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" << s.title << "</text>\n";
  o << "<text x=\"" << left
    << "\" y=\"38\">recorded arrivals (grey, right axis), recorded ready pods (black dashes), "
       "spec.replicas per configuration</text>\n";
  for (double y : {y1, y2})
    o << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << pw << "\" height=\"" << panel
      << "\" fill=\"none\" stroke=\"#999\"/>\n";
  const double step = dur > 1800 ? 600 : dur > 600 ? 300 : dur > 120 ? 60 : 10;
  for (double t = 0; t <= dur; t += step)
    o << "<text x=\"" << X(t) << "\" y=\"" << y2 + panel + 16 << "\" text-anchor=\"middle\">"
      << (step >= 60 ? Num(t / 60) + " min" : Num(t) + " s") << "</text>\n";
  for (int n = 0; n <= max_n + 1; n += std::max(1, (max_n + 1) / 6))
    o << "<text x=\"" << left - 6 << "\" y=\"" << YR(n) + 4 << "\" text-anchor=\"end\">" << n << "</text>\n";
  o << "<text x=\"" << W - right + 6 << "\" y=\"" << YL(max_load) + 4 << "\" fill=\"#888\">" << Num(max_load, 1)
    << " req/s</text>\n";
  ttft.Draw(o, slo);
  // Recorded arrivals and ready pods.
  o << "<polygon fill=\"#ddd\" points=\"" << X(0) << "," << YL(0);
  double from = 0;
  for (const auto& sm : trace.samples) {
    o << " " << X(from) << "," << YL(sm.arrivals_per_s) << " " << X(sm.t) << "," << YL(sm.arrivals_per_s);
    from = sm.t;
  }
  o << " " << X(from) << "," << YL(0) << "\"/>\n";
  o << "<polyline fill=\"none\" stroke=\"#000\" stroke-dasharray=\"3 3\" points=\"";
  for (const auto& sm : trace.samples) o << X(sm.t) << "," << YR(sm.ready) << " ";
  o << "\"/>\n";
  size_t ci = 0;
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result* r = rs[i];
    const bool article = r->policy == "article";
    const char* col = PolicyColor(article ? 0 : ci++, article);
    o << "<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\" points=\"";
    int prev = -1;
    for (const auto& sm : r->samples) {
      if (sm.spec != prev && prev >= 0) o << X(sm.t) << "," << YR(prev) << " ";
      if (sm.spec != prev || &sm == &r->samples.back()) o << X(sm.t) << "," << YR(sm.spec) << " ";
      prev = sm.spec;
    }
    o << "\"/>\n<polyline fill=\"none\" stroke=\"" << col << "\" stroke-width=\"1.5\" points=\"";
    const size_t stride = std::max<size_t>(1, r->samples.size() / 400);
    for (size_t k = 0; k < r->samples.size(); k += stride)
      o << X(r->samples[k].t) << "," << YT(r->samples[k].p95) << " ";
    o << "\"/>\n";
    double lx = left + (pw / 2) * double(i % 2), ly = y2 + panel + 40 + 18 * double(i / 2);
    o << "<rect x=\"" << lx << "\" y=\"" << ly - 5 << "\" width=\"14\" height=\"4\" fill=\"" << col << "\"/>"
      << "<text x=\"" << lx + 18 << "\" y=\"" << ly << "\">" << r->policy << ": " << Num(r->breach_s) << " s breach, "
      << Num(r->replica_min, 1) << " replica-min, max " << r->max_spec << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace demo
