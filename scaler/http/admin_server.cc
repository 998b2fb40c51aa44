// Exports AdminServer and DebugScaledObjectsJson().
#include "scaler/http/admin_server.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "scaler/common/text.h"

namespace nimscaler::http {

namespace {
nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now) {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& obj : engine.List()) {
    const auto& spec = obj->spec();
    auto ev = obj->Latest();
    nlohmann::json o;
    o["namespace"] = spec.key.ns;
    o["name"] = spec.key.name;
    o["metricName"] = spec.metric_name;
    o["formula"] = spec.FormulaText();
    o["scrapeInterval"] = FormatDuration(spec.scrape_interval);
    o["status"] = CodeName(ev->status.code());
    if (!ev->status.ok()) o["error"] = ev->status.message();
    o["value"] = ev->status.ok() ? Number(ev->value) : nlohmann::json(nullptr);
    o["active"] = ev->status.ok() && ev->active;
    o["heldForMissingPods"] = ev->held;
    o["ageSeconds"] = ToSeconds(now - ev->at);
    nlohmann::json sig = nlohmann::json::object();
    for (const auto& [k, v] : ev->signals) sig[k] = Number(v);
    o["signals"] = sig;
    nlohmann::json pods = nlohmann::json::array();
    if (ev->snapshot) {
      for (const auto& p : ev->snapshot->pods) {
        nlohmann::json pj;
        pj["endpoint"] = p.endpoint;
        pj["answered"] = p.answered;
        pj["stale"] = p.stale;
        pj["engine"] = p.engine;
        if (!p.error.empty()) pj["error"] = p.error;
        if (!p.missing.empty()) pj["missing"] = p.missing;
        nlohmann::json g = nlohmann::json::object();
        for (const auto& [k, v] : p.gauges) g[k] = Number(v);
        pj["signals"] = g;
        pods.push_back(pj);
      }
    }
    o["pods"] = pods;
    doc.push_back(o);
  }
  return doc.dump(2) + "\n";
}

AdminServer::AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock,
                         ReadyFn ready) {
  server_.Route("/metrics", [metrics](const net::HttpServerRequest&) {
    return net::HttpServerResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics->SerializeText()};
  });
  server_.Route("/healthz", [](const net::HttpServerRequest&) {
    return net::HttpServerResponse{200, "text/plain; charset=utf-8", "ok\n"};
  });
  server_.Route("/readyz", [ready](const net::HttpServerRequest&) {
    std::string why;
    if (ready(&why)) return net::HttpServerResponse{200, "text/plain; charset=utf-8", "ready\n"};
    return net::HttpServerResponse{503, "text/plain; charset=utf-8", "not ready: " + why + "\n"};
  });
  server_.Route("/debug/scaledobjects", [engine, clock](const net::HttpServerRequest&) {
    return net::HttpServerResponse{200, "application/json", DebugScaledObjectsJson(*engine, clock->Now())};
  });
}

}  // namespace nimscaler::http
