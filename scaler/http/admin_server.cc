// Exports AdminServer and DebugScaledObjectsJson().
#include "scaler/http/admin_server.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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
    o["held"] = ev->held;
    o["panicking"] = ev->panicking;
    o["woken"] = ev->woken;
    if (!ev->wake_error.empty()) o["wakeError"] = ev->wake_error;
    o["formulaRaw"] = Number(ev->raw);
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

net::HttpServerResponse HandleWake(engine::ScalerEngine& engine, const Clock& clock, const std::string& token_file,
                                   const net::HttpServerRequest& req) {
  auto text = [](int status, std::string body) {
    return net::HttpServerResponse{status, "text/plain; charset=utf-8", std::move(body) + "\n"};
  };
  if (req.method != "POST") return text(405, "use POST /v1/wake/<namespace>/<scaledobject>");
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string token(Trim(ss.str()));
    auto it = req.headers.find("authorization");
    // An unreadable or empty token file refuses everyone rather than letting everyone in.
    if (token.empty() || it == req.headers.end() || it->second != "Bearer " + token) {
      return text(401, "wake hook: missing or wrong bearer token");
    }
  }
  constexpr std::string_view kPrefix = "/v1/wake/";
  std::string rest = req.path.substr(kPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size() ||
      rest.find('/', slash + 1) != std::string::npos) {
    return text(400, "wake hook: expected POST /v1/wake/<namespace>/<scaledobject>, got " + Truncate(req.path, 100));
  }
  std::string ns = rest.substr(0, slash), name = rest.substr(slash + 1);
  size_t n = engine.Wake(ns, name, clock.Now(), "the wake hook");
  if (n == 0) {
    return text(404, "wake hook: " + ns + "/" + name +
                         " is not tracked by this replica (KEDA has not asked about it since it started)");
  }
  return text(200, "woke " + std::to_string(n) + " trigger(s) of " + ns + "/" + name);
}

AdminServer::AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock,
                         ReadyFn ready, std::string wake_token_file) {
  server_.Route("/v1/wake/", [engine, clock, wake_token_file](const net::HttpServerRequest& req) {
    return HandleWake(*engine, *clock, wake_token_file, req);
  });
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
