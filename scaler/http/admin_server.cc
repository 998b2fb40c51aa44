// Exports AdminServer and DebugScaledObjectsJson().
#include "scaler/http/admin_server.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "scaler/common/text.h"
#include "scaler/http/debug_json.h"
#include "scaler/telemetry/logging.h"

namespace nimscaler::http {

namespace {

bool IsLabelChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// RFC 1123 label as Kubernetes checks it: lower-case alphanumerics and '-', starting and
// ending with an alphanumeric.
bool IsDns1123Label(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), IsLabelChar);
}

// Kubernetes' DNS-1123 subdomain: labels as above joined by '.', at most 253 bytes in all.
bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  while (true) {
    size_t dot = s.find('.');
    if (!IsDns1123Label(s.substr(0, dot), 253)) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// The token of an `Authorization: Bearer <token>` header; the scheme name is case-insensitive
// (RFC 7235 section 2.1). nullopt for another scheme or no token.
std::optional<std::string_view> BearerToken(std::string_view header) {
  header = Trim(header);
  size_t space = header.find_first_of(" \t");
  if (space == std::string_view::npos || ToLower(header.substr(0, space)) != "bearer") return std::nullopt;
  std::string_view token = Trim(header.substr(space + 1));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

std::string DebugScaledObjectsJson(const engine::ScalerEngine& engine, TimePoint now, const OwnershipFn& ownership) {
  nlohmann::json doc = nlohmann::json::array();
  for (const auto& obj : engine.List()) {
    const auto& spec = obj->spec();
    auto ev = obj->Latest();
    nlohmann::json o;
    if (ownership) {
      Ownership own = ownership(*obj);
      o["owner"] = JsonString(own.owner);
      o["successor"] = JsonString(own.successor);
      o["collectsHere"] = own.collects_here;
    }
    o["namespace"] = JsonString(spec.key.ns);
    o["name"] = JsonString(spec.key.name);
    o["metricName"] = JsonString(spec.metric_name);
    o["formula"] = JsonString(spec.FormulaText());
    o["scrapeInterval"] = FormatDuration(spec.scrape_interval);
    o["status"] = CodeName(ev->status.code());
    if (!ev->status.ok()) o["error"] = JsonString(ev->status.message());
    o["value"] = ev->status.ok() ? JsonNumber(ev->value) : nlohmann::json(nullptr);
    o["active"] = ev->status.ok() && ev->active;
    o["held"] = ev->held;
    o["panicking"] = ev->panicking;
    o["woken"] = ev->woken;
    if (!ev->wake_error.empty()) o["wakeError"] = JsonString(ev->wake_error);
    o["formulaRaw"] = JsonNumber(ev->raw);
    o["ageSeconds"] = JsonNumber(ToSeconds(now - ev->at));
    nlohmann::json sig = nlohmann::json::object();
    for (const auto& [k, v] : ev->signals) sig[SanitizeUtf8(k)] = JsonNumber(v);
    o["signals"] = std::move(sig);
    nlohmann::json pods = nlohmann::json::array();
    if (ev->snapshot) {
      for (const auto& p : ev->snapshot->pods) pods.push_back(PodRecordJson(p));
    }
    o["pods"] = std::move(pods);
    if (ev->snapshot && (!ev->snapshot->front_door.empty() || !ev->snapshot->front_door_error.empty())) {
      nlohmann::json doors = nlohmann::json::array();
      for (const auto& d : ev->snapshot->front_door) doors.push_back(PodRecordJson(d));
      nlohmann::json fd = {{"endpoints", std::move(doors)}};
      if (!ev->snapshot->front_door_error.empty()) fd["error"] = JsonString(ev->snapshot->front_door_error);
      o["frontDoor"] = std::move(fd);
    }
    doc.push_back(std::move(o));
  }
  return DumpJson(doc, 2) + "\n";
}

net::HttpServerResponse Text(int status, std::string body) {
  return net::HttpServerResponse{status, "text/plain; charset=utf-8", std::move(body) + "\n"};
}

// With a token file configured, a 401 for a request without `Authorization: Bearer <token>`
// (compared in constant time); nullopt when the request may go on. The file is re-read per
// request, so a rotated Secret takes effect at once.
std::optional<net::HttpServerResponse> RequireToken(const std::string& token_file, const net::HttpServerRequest& req,
                                                    const char* what) {
  if (token_file.empty()) return std::nullopt;
  std::ifstream in(token_file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token(Trim(ss.str()));
  auto it = req.headers.find("authorization");
  std::optional<std::string_view> presented;
  if (it != req.headers.end()) presented = BearerToken(it->second);
  // An unreadable or empty token file refuses everyone rather than letting everyone in.
  if (token.empty() || !presented || !ConstantTimeEquals(token, *presented)) {
    return Text(401, std::string(what) + ": missing or wrong bearer token");
  }
  return std::nullopt;
}

namespace {

constexpr char kWakeUsage[] = "POST /v1/wake/<namespace>/<scaledobject> or /v1/wake/<namespace>/service/<service>";

// The ScaledObjects a wake by Service woke, for a body or a log line: at most 20 named.
std::string NameList(const std::vector<std::string>& names) {
  constexpr size_t kShown = 20;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

// POST /v1/wake/<ns>/service/<service>, names checked (issue 18 item 2).
net::HttpServerResponse WakeService(engine::ScalerEngine& engine, const Clock& clock, const std::string& ns,
                                    const std::string& service, const WakeBroadcastFn& broadcast,
                                    const ServiceLookupFn& service_lookup) {
  TimePoint now = clock.Now();
  std::string target = "Service " + ns + "/" + service;
  std::string reason = "the wake hook (" + target + ")";
  engine::ServiceWake woke = engine.WakeService(ns, service, now, reason);
  // Kept whatever was woken here: a trigger that reads the Service and is first tracked within
  // the hold (KEDA's first call, or a move of its owner) starts woken too. Calling again re-arms it.
  engine.RecordPendingServiceWake(ns, service, now + kPendingWakeHold, reason);
  size_t peers = broadcast ? broadcast(ns, std::string(engine::kServiceWakePrefix) + service) : 0;
  std::string sent = peers == 0 ? "" : "; sent to " + std::to_string(peers) + " other replica(s)";
  auto log = telemetry::Logger("http");
  if (woke.triggers > 0) {
    std::string names = NameList(woke.scaled_objects);
    telemetry::Log(log, spdlog::level::info, {.ns = ns}, "wake hook: {} woke {} trigger(s): {}{}", target,
                   woke.triggers, names, sent);
    return Text(200, "woke " + std::to_string(woke.triggers) + " trigger(s) of " +
                         std::to_string(woke.scaled_objects.size()) + " ScaledObject(s) reading " + target + ": " +
                         names + sent);
  }
  std::string kept = "the wake is kept for " + FormatDuration(kPendingWakeHold) +
                     " and applied to a trigger that reads it when KEDA first asks";
  telemetry::Log(log, spdlog::level::info, {.ns = ns}, "wake hook: {}: no trigger here reads it{}", target, sent);
  std::string unchecked;
  if (service_lookup) {
    Result<bool> exists = service_lookup(ns, service);
    if (exists.ok() && !*exists) {
      return Text(404, "wake hook: no " + target +
                           " in the cluster (the Kubernetes API has none) and no trigger tracked by this replica "
                           "reads it" +
                           sent + ": check the namespace and the Service's name; " + kept +
                           " in case it is being created");
    }
    if (!exists.ok()) unchecked = " (could not check that the Service exists: " + exists.status().message() + ")";
  }
  if (peers > 0) sent += ", which wake the triggers they track that read it";
  return Text(202, "wake hook: no trigger tracked by this replica reads " + target + unchecked + sent + "; " + kept +
                       " (if none ever does, check the namespace and the Service's name, and that a trigger names "
                       "it in service, dnsName or endpoints)");
}

}  // namespace

net::HttpServerResponse HandleWake(engine::ScalerEngine& engine, const Clock& clock, const std::string& token_file,
                                   const net::HttpServerRequest& req, const WakeBroadcastFn& broadcast,
                                   const ScaledObjectLookupFn& lookup, const ServiceLookupFn& service_lookup) {
  auto text = Text;
  if (req.method != "POST") return text(405, std::string("use ") + kWakeUsage);
  if (auto refused = RequireToken(token_file, req, "wake hook")) return *refused;
  constexpr std::string_view kPrefix = "/v1/wake/";
  std::string rest = req.path.substr(kPrefix.size());
  // <ns>/<scaledobject> or <ns>/service/<service>: every part non-empty.
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t slash = rest.find('/', start);
    parts.push_back(rest.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos || parts.size() > 3) break;
    start = slash + 1;
  }
  bool by_service = parts.size() == 3 && parts[1] == "service";
  if ((parts.size() != 2 && !by_service) ||
      std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
    return text(400, std::string("wake hook: expected ") + kWakeUsage + ", got " + Printable(req.path, 100));
  }
  std::string ns = parts[0], name = parts.back();
  // The names are checked whole (a %00 in the URL arrives as a NUL byte here), so a name is
  // never matched by a prefix of what was sent.
  if (!IsDns1123Label(ns, 63)) {
    return text(400, "wake hook: namespace \"" + Printable(ns, 80) +
                         "\" is not a Kubernetes namespace name (a DNS-1123 label: at most 63 lower-case letters, "
                         "digits and '-', starting and ending with a letter or digit)");
  }
  if (by_service) {
    if (!IsDns1123Label(name, 63)) {
      return text(400, "wake hook: Service name \"" + Printable(name, 80) +
                           "\" is not a Kubernetes Service name (a DNS-1123 label: at most 63 lower-case letters, "
                           "digits and '-', starting and ending with a letter or digit)");
    }
    return WakeService(engine, clock, ns, name, broadcast, service_lookup);
  }
  if (!IsDns1123Subdomain(name)) {
    return text(400, "wake hook: ScaledObject name \"" + Printable(name, 80) +
                         "\" is not a Kubernetes object name (a DNS-1123 subdomain: at most 253 lower-case letters, "
                         "digits, '-' and '.', each dot-separated part starting and ending with a letter or digit)");
  }
  TimePoint now = clock.Now();
  size_t n = engine.Wake(ns, name, now, "the wake hook");
  size_t peers = broadcast ? broadcast(ns, name) : 0;
  std::string sent = peers == 0 ? "" : "; sent to " + std::to_string(peers) + " other replica(s)";
  if (n == 0) {
    // Not tracked here (yet): KEDA may not have asked since this replica started, or another
    // replica owns it. Remembered, so KEDA's first call within the hold is answered active.
    engine.RecordPendingWake(ns, name, now + kPendingWakeHold, "the wake hook");
    std::string kept =
        "; the wake is kept for " + FormatDuration(kPendingWakeHold) + " and applied when KEDA first asks";
    std::string unchecked;
    if (lookup) {
      Result<bool> exists = lookup(ns, name);
      if (exists.ok() && !*exists) {
        // Issue 12 item 4: a clear 404 for a name that exists nowhere (typically a typo).
        return text(404, "wake hook: no ScaledObject " + ns + "/" + name +
                             " in the cluster (the Kubernetes API has none) and this replica does not track it" + sent +
                             ": check the namespace and the ScaledObject's name" + kept +
                             " in case it is being created");
      }
      if (!exists.ok()) unchecked = " (could not check that it exists: " + exists.status().message() + ")";
    }
    return text(202, "wake hook: " + ns + "/" + name + " is not tracked by this replica yet" + unchecked + sent + kept +
                         " (if it never does, check the ScaledObject's namespace and name)");
  }
  return text(200, "woke " + std::to_string(n) + " trigger(s) of " + ns + "/" + name + sent);
}

net::HttpServerOptions AdminHttpOptions() {
  net::HttpServerOptions o;
  // Enough workers that a few dozen slow or idle clients (each holds one until a deadline cuts
  // it off) leave most free for the probes and Prometheus.
  o.threads = 64;
  o.request_timeout = std::chrono::milliseconds(2000);
  o.body_timeout = std::chrono::milliseconds(2000);
  o.keep_alive_timeout = std::chrono::milliseconds(1000);
  o.max_body_bytes = 16 * 1024;  // no route needs a body; the wake hook ignores one
  o.connection_queue = 64;
  o.listen_backlog = 256;
  return o;
}

AdminServer::AdminServer(engine::ScalerEngine* engine, telemetry::ScalerMetrics* metrics, const Clock* clock,
                         ReadyFn ready, std::string wake_token_file) {
  server_.SetErrorLog([](const std::string& message) { telemetry::Logger("http")->error("{}", message); });
  server_.Route("/v1/wake/", [engine, clock, wake_token_file, broadcast = broadcast_, lookup = lookup_,
                              service_lookup = service_lookup_](const net::HttpServerRequest& req) {
    return HandleWake(*engine, *clock, wake_token_file, req, *broadcast, *lookup, *service_lookup);
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
  // The debug view shows every trigger's pods and formula: behind the same token as the hook.
  server_.Route("/debug/scaledobjects", [engine, clock, ownership = ownership_,
                                         wake_token_file](const net::HttpServerRequest& req) {
    if (auto refused = RequireToken(wake_token_file, req, "debug")) return *refused;
    return net::HttpServerResponse{200, "application/json", DebugScaledObjectsJson(*engine, clock->Now(), *ownership)};
  });
}

}  // namespace nimscaler::http
