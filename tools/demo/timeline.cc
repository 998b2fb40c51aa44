// CSV and a hand-written SVG plot of the demo timeline.
#include "tools/demo/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>

namespace demo {

namespace {
std::string F(const char* fmt, double v) {
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}
std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&')
      o += "&amp;";
    else if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else
      o += c;
  }
  return o;
}
}  // namespace

std::string ToCsv(const std::vector<Row>& rows) {
  std::string o =
      "time_s,load_concurrency,"
      "article_kv,article_waiting,article_running,article_p95_ttft_s,article_metric_replicas,"
      "article_spec_replicas,article_ready,article_pods,"
      "nimscaler_kv,nimscaler_waiting,nimscaler_running,nimscaler_p95_ttft_s,"
      "nimscaler_metric_replicas,nimscaler_spec_replicas,nimscaler_ready,nimscaler_pods,"
      "nimscaler_active\n";
  for (auto& r : rows) {
    o += F("%.1f", r.t) + "," + std::to_string(r.load);
    for (const Side* s : {&r.a, &r.b}) {
      o += "," + F("%.4f", s->kv) + "," + std::to_string(s->waiting) + "," + std::to_string(s->running) + "," +
           F("%.3f", s->p95_ttft) + "," + F("%.3f", s->value) + "," + std::to_string(s->spec) + "," +
           std::to_string(s->ready) + "," + std::to_string(s->pods);
    }
    o += "," + std::to_string(r.b.active) + "\n";
  }
  return o;
}

std::string ToSvg(const std::vector<Row>& rows, const PlotInfo& info) {
  const double W = 1000, left = 70, right = 150, top = 60, ph = 150, gap = 45;
  const int panels = 4;
  const double H = top + panels * (ph + gap) + 46;  // room for the two legend lines
  const double tmax = rows.empty() ? 1 : std::max(1.0, rows.back().t);
  const double pw = W - left - right;
  auto X = [&](double t) { return left + pw * t / tmax; };
  const char* ca = "#1f77b4";  // article: blue
  const char* cb = "#e4572e";  // nim-scaler: orange-red
  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + F("%.0f", W) + "\" height=\"" + F("%.0f", H) +
       "\" viewBox=\"0 0 " + F("%.0f", W) + " " + F("%.0f", H) +
       "\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + F("%.0f", left) + "\" y=\"24\" font-size=\"17\" font-weight=\"bold\">" +
       Esc("Emulated NIM (llama-3.1-8b-instruct): the NVIDIA article's HPA vs nim-scaler") + "</text>\n";
  o += "<text x=\"" + F("%.0f", left) + "\" y=\"44\" fill=\"#555\">" +
       Esc("simulated time (" + F("%g", info.compression) +
           "x compressed); concurrency 10, 100, 200, 300, 400, then idle") +
       "</text>\n";

  struct Series {
    std::function<double(const Row&)> f;
    const char* color;
    const char* dash;
    std::string label;
    bool step;
  };
  auto panel = [&](int i, const std::string& title, double ymax, const std::string& unit,
                   const std::vector<Series>& series, std::optional<double> hline, const std::string& hlabel,
                   bool integer_ticks) {
    double y0 = top + i * (ph + gap) + 20;
    auto Y = [&](double v) { return y0 + ph - ph * std::clamp(v / ymax, 0.0, 1.0); };
    o += "<text x=\"" + F("%.0f", left) + "\" y=\"" + F("%.0f", y0 - 6) + "\" font-weight=\"bold\">" + Esc(title) +
         "</text>\n";
    o += "<rect x=\"" + F("%.1f", left) + "\" y=\"" + F("%.1f", y0) + "\" width=\"" + F("%.1f", pw) + "\" height=\"" +
         F("%.1f", ph) + "\" fill=\"#fafafa\" stroke=\"#bbb\"/>\n";
    for (int k = 0; k <= 4; ++k) {
      double v = ymax * k / 4;
      if (integer_ticks && std::fabs(v - std::round(v)) > 1e-9) continue;
      o += "<line x1=\"" + F("%.1f", left) + "\" x2=\"" + F("%.1f", left + pw) + "\" y1=\"" + F("%.1f", Y(v)) +
           "\" y2=\"" + F("%.1f", Y(v)) + "\" stroke=\"#e5e5e5\"/>\n";
      o += "<text x=\"" + F("%.1f", left - 6) + "\" y=\"" + F("%.1f", Y(v) + 4) +
           "\" text-anchor=\"end\" fill=\"#444\">" + F(ymax < 2 ? "%.2f" : "%.0f", v) + unit + "</text>\n";
    }
    for (double t = 0; t <= tmax + 1e-9; t += 120) {
      o += "<line x1=\"" + F("%.1f", X(t)) + "\" x2=\"" + F("%.1f", X(t)) + "\" y1=\"" + F("%.1f", y0 + ph) +
           "\" y2=\"" + F("%.1f", y0 + ph + 4) + "\" stroke=\"#888\"/>\n";
      o += "<text x=\"" + F("%.1f", X(t)) + "\" y=\"" + F("%.1f", y0 + ph + 16) +
           "\" text-anchor=\"middle\" fill=\"#444\">" + F("%.0f", t / 60) + " min</text>\n";
    }
    if (hline) {
      o += "<line x1=\"" + F("%.1f", left) + "\" x2=\"" + F("%.1f", left + pw) + "\" y1=\"" + F("%.1f", Y(*hline)) +
           "\" y2=\"" + F("%.1f", Y(*hline)) + "\" stroke=\"#2a2\" stroke-dasharray=\"2,3\"/>\n";
      o += "<text x=\"" + F("%.1f", left + pw + 6) + "\" y=\"" + F("%.1f", Y(*hline) + 4) + "\" fill=\"#2a2\">" +
           Esc(hlabel) + "</text>\n";
    }
    int li = 0;
    for (auto& s : series) {
      std::string pts;
      double prev_y = -1;
      for (auto& r : rows) {
        double y = Y(s.f(r));
        if (s.step && prev_y >= 0) pts += F("%.1f", X(r.t)) + "," + F("%.1f", prev_y) + " ";
        pts += F("%.1f", X(r.t)) + "," + F("%.1f", y) + " ";
        prev_y = y;
      }
      o += "<polyline fill=\"none\" stroke=\"" + std::string(s.color) + "\" stroke-width=\"" +
           (s.dash[0] ? "1.5" : "2.2") + "\"" + (s.dash[0] ? " stroke-dasharray=\"" + std::string(s.dash) + "\"" : "") +
           " points=\"" + pts + "\"/>\n";
      double ly = y0 + 14 + 16 * li++;
      o += "<line x1=\"" + F("%.1f", left + pw + 8) + "\" x2=\"" + F("%.1f", left + pw + 28) + "\" y1=\"" +
           F("%.1f", ly - 4) + "\" y2=\"" + F("%.1f", ly - 4) + "\" stroke=\"" + s.color + "\" stroke-width=\"2\"" +
           (s.dash[0] ? " stroke-dasharray=\"" + std::string(s.dash) + "\"" : "") + "/>\n";
      o += "<text x=\"" + F("%.1f", left + pw + 32) + "\" y=\"" + F("%.1f", ly) + "\">" + Esc(s.label) + "</text>\n";
    }
  };

  double max_load = 1, max_rep = 1, max_kv = 0.05, max_ttft = info.slo_ttft * 2;
  for (auto& r : rows) {
    max_load = std::max(max_load, double(r.load));
    max_rep = std::max({max_rep, double(r.a.spec), double(r.b.spec), double(r.a.pods), double(r.b.pods),
                        std::ceil(r.a.value), std::ceil(r.b.value)});
    max_kv = std::max({max_kv, r.a.kv, r.b.kv});
    max_ttft = std::max({max_ttft, r.a.p95_ttft, r.b.p95_ttft});
  }
  max_load = std::ceil(max_load / 100) * 100;
  max_rep = std::ceil(max_rep / 4) * 4;
  max_kv = std::ceil(max_kv * 20) / 20;
  max_ttft = std::min(60.0, std::ceil(max_ttft / 4) * 4);

  panel(0, "Load: concurrent requests (genai-perf style closed loop)", max_load, "",
        {{[](const Row& r) { return double(r.load); }, "#555", "", "concurrency", true}}, std::nullopt, "", true);
  panel(1, "Replicas: ready pods (solid) and spec.replicas (dashed)", max_rep, "",
        {{[](const Row& r) { return double(r.a.ready); }, ca, "", "article: ready", true},
         {[](const Row& r) { return double(r.a.spec); }, ca, "6,4", "article: spec", true},
         {[](const Row& r) { return double(r.b.ready); }, cb, "", "nim-scaler: ready", true},
         {[](const Row& r) { return double(r.b.spec); }, cb, "6,4", "nim-scaler: spec", true}},
        std::nullopt, "", true);
  panel(2, "KV-cache use per ready pod (gpu_cache_usage_perc, mean)", max_kv, "",
        {{[](const Row& r) { return r.a.kv; }, ca, "", "article", false},
         {[](const Row& r) { return r.b.kv; }, cb, "", "nim-scaler", false}},
        info.kv_target, "target " + F("%.2f", info.kv_target), false);
  panel(3, "p95 time to first token, client side (s, trailing 30 s)", max_ttft, "s",
        {{[](const Row& r) { return r.a.p95_ttft; }, ca, "", "article", false},
         {[](const Row& r) { return r.b.p95_ttft; }, cb, "", "nim-scaler", false}},
        info.slo_ttft, "SLO " + F("%g", info.slo_ttft) + " s", false);
  // One legend line per scenario: side by side they overlap.
  o += "<text x=\"" + F("%.0f", left) + "\" y=\"" + F("%.0f", H - 28) + "\" fill=\"" + ca + "\">" +
       Esc("blue: " + info.title_a) + "</text>\n";
  o += "<text x=\"" + F("%.0f", left) + "\" y=\"" + F("%.0f", H - 10) + "\" fill=\"" + cb + "\">" +
       Esc("red: " + info.title_b) + "</text>\n";
  o += "</svg>\n";
  return o;
}

}  // namespace demo
