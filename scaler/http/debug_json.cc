// Exports the /debug JSON helpers declared in debug_json.h.
#include "scaler/http/debug_json.h"

#include <cmath>

#include "scaler/common/text.h"

namespace nimscaler::http {

nlohmann::json JsonString(std::string_view text) { return nlohmann::json(SanitizeUtf8(text)); }

nlohmann::json JsonNumber(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json PodRecordJson(const signals::PodReading& pod) {
  nlohmann::json pj = nlohmann::json::object();
  pj["endpoint"] = JsonString(pod.endpoint);
  pj["answered"] = pod.answered;
  pj["stale"] = pod.stale;
  pj["engine"] = JsonString(pod.engine);
  if (!pod.error.empty()) pj["error"] = JsonString(pod.error);
  if (!pod.missing.empty()) pj["missing"] = JsonString(pod.missing);
  nlohmann::json g = nlohmann::json::object();
  for (const auto& [k, v] : pod.gauges) g[SanitizeUtf8(k)] = JsonNumber(v);
  pj["signals"] = std::move(g);
  return pj;
}

std::string DumpJson(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace nimscaler::http
