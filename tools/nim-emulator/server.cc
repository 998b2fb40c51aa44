// Loopback front ends of the emulated cluster: see server.h.
#include "tools/nim-emulator/server.h"

#include <civetweb.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/nim-emulator/exposition.h"

namespace nimemu {

namespace {

double WallNow() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string QueryParam(const mg_request_info* ri, const char* key) {
  if (!ri->query_string) return "";
  char buf[512];
  int n = mg_get_var(ri->query_string, std::strlen(ri->query_string), key, buf, sizeof buf);
  return n >= 0 ? std::string(buf, size_t(n)) : "";
}

std::string ReadBody(mg_connection* c) {
  std::string body;
  char buf[4096];
  int n;
  while (body.size() < (64u << 10) && (n = mg_read(c, buf, sizeof buf)) > 0) body.append(buf, size_t(n));
  return body;
}

// Deterministic 5-character suffix, like the EndpointSlice controller's generateName.
std::string Suffix(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char ch : s) h = (h ^ uint8_t(ch)) * 1099511628211ull;
  const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) {
    out += alphabet[h % 27];
    h /= 27;
  }
  return out;
}

}  // namespace

void Reply(mg_connection* c, int status, const std::string& content_type, const std::string& body) {
  const char* reason = status == 200   ? "OK"
                       : status == 404 ? "Not Found"
                       : status == 400 ? "Bad Request"
                       : status == 410 ? "Gone"
                       : status == 503 ? "Service Unavailable"
                                       : "Error";
  mg_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status, reason,
            content_type.c_str(), body.size());
  mg_write(c, body.data(), body.size());
}

Listener::~Listener() { Stop(); }

int Listener::Dispatch(mg_connection* conn, void* self) { return static_cast<Listener*>(self)->handler_(conn); }

bool Listener::Start(int port, int threads, Handler handler, const std::string& host) {
  handler_ = std::move(handler);
  std::string ports = host + ":" + std::to_string(port);
  std::string nthreads = std::to_string(threads);
  const char* opts[] = {
      "listening_ports",   ports.c_str(), "num_threads", nthreads.c_str(), "request_timeout_ms", "2000",
      "enable_keep_alive", "no",          nullptr};
  mg_callbacks cb;
  std::memset(&cb, 0, sizeof cb);
  cb.log_message = [](const mg_connection*, const char*) { return 1; };  // quiet
  ctx_ = mg_start(&cb, nullptr, opts);
  if (!ctx_) return false;
  mg_set_request_handler(ctx_, "/", &Listener::Dispatch, this);
  mg_server_port sp[4];
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : 0;
  return port_ > 0;
}

void Listener::Stop() {
  if (ctx_) mg_stop(ctx_);
  ctx_ = nullptr;
}

Emulator::Emulator(EmulatorOptions options)
    : options_(options),
      cluster_(options.model, options.shape, options.seed, options.replicas, options.initial_ready),
      slices_({.ns = options.namespace_, .service = options.service, .port_name = options.port_name}) {}

Emulator::~Emulator() { Stop(); }

bool Emulator::Start(int control_port, int kube_port) {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
  start_wall_ = WallNow();
  process_start_ = double(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string& host = options_.listen_address;
  if (!control_.Start(
          control_port, 4, [this](mg_connection* c) { return HandleControl(c); }, host))
    return false;
  if (!kube_.Start(
          kube_port, 16, [this](mg_connection* c) { return HandleKube(c); }, host))
    return false;
  Sync();
  if (!options_.manual_time) ticker_ = std::thread([this] { Ticker(); });
  return true;
}

void Emulator::Stop() {
  if (stop_.exchange(true)) return;
  events_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  kube_.Stop();
  control_.Stop();
  std::lock_guard<std::mutex> g(sync_mu_);
  for (auto& [name, ps] : servers_) {
    if (ps.listener) {
      reapers_.emplace_back([l = std::shared_ptr<Listener>(std::move(ps.listener))] { l->Stop(); });
    }
  }
  servers_.clear();
  for (auto& t : reapers_) t.join();
  reapers_.clear();
}

void Emulator::Ticker() {
  // Bounded by stop_: one iteration per 10 ms of wall time.
  while (!stop_) {
    double sim = (WallNow() - start_wall_) * options_.compression;
    {
      std::lock_guard<std::mutex> g(mu_);
      cluster_.AdvanceTo(sim);
    }
    Sync();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Emulator::AdvanceTo(double t) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cluster_.AdvanceTo(t);
  }
  Sync();
}

double Emulator::SimNow() {
  std::lock_guard<std::mutex> g(mu_);
  return cluster_.now();
}

void Emulator::With(const std::function<void(Cluster&)>& fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    fn(cluster_);
  }
  Sync();
}

void Emulator::Reap(std::unique_ptr<Listener> l) {
  // mg_stop waits for busy workers; do it off the simulation clock.
  reapers_.emplace_back([p = std::shared_ptr<Listener>(std::move(l))] { p->Stop(); });
}

void Emulator::Sync() {
  std::lock_guard<std::mutex> sg(sync_mu_);
  // 1. Which pods exist, and do they want a server (dead pods refuse connections)?
  struct Want {
    std::string name;
    bool ready, terminating, dead;
  };
  std::vector<Want> want;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (cluster_.generation() == last_generation_) return;
    last_generation_ = cluster_.generation();
    for (auto& p : cluster_.pods())
      want.push_back({p->name, p->Ready() && !p->faults.dead, p->phase == PodPhase::kTerminating, p->faults.dead});
  }
  // 2. Start and stop listeners outside the cluster lock (mg_stop waits for handlers).
  std::map<std::string, int> ports;
  for (auto& w : want) {
    auto it = servers_.find(w.name);
    if (w.dead) {
      if (it != servers_.end() && it->second.listener) Reap(std::move(it->second.listener));
      ports[w.name] = it != servers_.end() ? it->second.port : 0;
      continue;
    }
    if (it == servers_.end() || !it->second.listener) {
      PodServer ps;
      int old = it != servers_.end() ? it->second.port : 0;
      // --pod-port: the first pod that starts while no server holds that port gets it.
      if (!old && options_.pod_port > 0) {
        bool taken = false;
        for (auto& [n, s] : servers_) taken |= s.port == options_.pod_port;
        if (!taken) old = options_.pod_port;
      }
      ps.listener = std::make_unique<Listener>();
      std::string name = w.name;
      auto h = [this, name](mg_connection* c) { return HandlePod(c, name); };
      const std::string& host = options_.listen_address;
      if (!(old && ps.listener->Start(old, 2, h, host))) {
        ps.listener = std::make_unique<Listener>();
        if (!ps.listener->Start(0, 2, h, host)) continue;
      }
      ps.port = ps.listener->port();
      servers_[w.name] = std::move(ps);
    }
    ports[w.name] = servers_[w.name].port;
  }
  for (auto it = servers_.begin(); it != servers_.end();) {
    bool alive = false;
    for (auto& w : want) alive |= w.name == it->first;
    if (!alive && it->second.listener) Reap(std::move(it->second.listener));
    it = alive ? std::next(it) : servers_.erase(it);
  }
  // 3. EndpointSlices follow, one per pod; every change is a watch event.
  std::lock_guard<std::mutex> g(mu_);
  for (auto& w : want) {
    if (!ports[w.name]) continue;
    EndpointSliceStore::Endpoint e;
    e.slice = options_.service + "-" + Suffix(w.name);
    e.port = ports[w.name];
    e.ready = w.ready && !w.terminating;
    e.terminating = w.terminating;
    slices_.Set(w.name, e, /*only_on_change=*/true);
  }
  for (const std::string& pod : slices_.Pods()) {
    bool alive = false;
    for (auto& w : want) alive |= w.name == pod;
    if (!alive) slices_.Delete(pod);
  }
  events_cv_.notify_all();
}

int Emulator::HandleKube(mg_connection* c) {
  const mg_request_info* ri = mg_get_request_info(c);
  std::string uri = ri->local_uri ? ri->local_uri : "";
  std::string want_path = "/apis/discovery.k8s.io/v1/namespaces/" + options_.namespace_ + "/endpointslices";
  auto status = [&](int code, const std::string& reason, const std::string& msg) {
    nlohmann::json st = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                         {"status", "Failure"}, {"message", msg},     {"reason", reason},
                         {"code", code}};
    Reply(c, code, "application/json", st.dump());
    return 1;
  };
  if (uri != want_path) {
    if (uri.rfind("/apis/discovery.k8s.io/v1/namespaces/", 0) == 0 && uri.size() > 15 &&
        uri.substr(uri.size() - 15) == "/endpointslices") {
      // Another namespace: an empty list, as the real API gives for a namespace with no slices.
      if (QueryParam(ri, "watch") != "1" && QueryParam(ri, "watch") != "true") {
        std::string empty;
        {
          std::lock_guard<std::mutex> g(mu_);
          empty = slices_.ListJson(/*empty=*/true);
        }
        Reply(c, 200, "application/json", empty);
        return 1;
      }
    } else {
      return status(404, "NotFound", "the server could not find the requested resource");
    }
  }
  std::string selector = QueryParam(ri, "labelSelector");
  bool match = selector.empty() || selector == "kubernetes.io/service-name=" + options_.service;
  bool watch = QueryParam(ri, "watch") == "1" || QueryParam(ri, "watch") == "true";
  if (!watch) {
    std::string body;
    {
      std::lock_guard<std::mutex> g(mu_);
      body = slices_.ListJson(/*empty=*/!match || uri != want_path);
    }
    Reply(c, 200, "application/json", body);
    return 1;
  }
  uint64_t from = 0;
  std::string rv_param = QueryParam(ri, "resourceVersion");
  if (!rv_param.empty()) from = std::strtoull(rv_param.c_str(), nullptr, 10);
  bool bookmarks = QueryParam(ri, "allowWatchBookmarks") == "true" || QueryParam(ri, "allowWatchBookmarks") == "1";
  double timeout = 300;
  std::string ts = QueryParam(ri, "timeoutSeconds");
  if (!ts.empty()) timeout = std::max(1.0, std::strtod(ts.c_str(), nullptr));
  mg_printf(c,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n");
  auto send = [&](const std::string& s) { return mg_send_chunk(c, s.data(), unsigned(s.size())) > 0; };
  double deadline = WallNow() + timeout;
  double next_bookmark = WallNow() + 1;
  std::unique_lock<std::mutex> lk(mu_);
  if (match && uri == want_path && slices_.Expired(from)) {
    std::string gone = slices_.ExpiredLine(from);
    lk.unlock();
    send(gone);
    mg_send_chunk(c, "", 0);
    return 1;
  }
  if (from == 0) {
    // No resourceVersion: the current state as ADDED events, then changes.
    std::vector<std::string> lines;
    if (match && uri == want_path) lines = slices_.AddedLines();
    from = slices_.version();
    lk.unlock();
    for (auto& l : lines)
      if (!send(l)) return 1;
    lk.lock();
  }
  // Bounded by the watch timeout, Stop() and the first failed write.
  while (!stop_ && WallNow() < deadline) {
    std::vector<std::string> out;
    uint64_t last = from;
    if (match && uri == want_path) out = slices_.EventsAfter(from, &last);
    from = std::max(last, slices_.version());
    if (out.empty() && bookmarks && WallNow() >= next_bookmark) {
      out.push_back(slices_.BookmarkLine());
      next_bookmark = WallNow() + 1;
    }
    if (!out.empty()) {
      lk.unlock();
      for (auto& l : out)
        if (!send(l)) return 1;
      lk.lock();
      continue;
    }
    events_cv_.wait_for(lk, std::chrono::milliseconds(200));
  }
  lk.unlock();
  mg_send_chunk(c, "", 0);
  return 1;
}

int Emulator::HandlePod(mg_connection* c, const std::string& name) {
  const mg_request_info* ri = mg_get_request_info(c);
  std::string uri = ri->local_uri ? ri->local_uri : "";
  std::string body;
  int code = 200;
  {
    std::lock_guard<std::mutex> g(mu_);
    const Pod* p = cluster_.FindPod(name);
    if (!p) {
      code = 503;
      body = "pod is gone\n";
    } else if (uri == "/v1/health/ready") {
      code = p->Ready() ? 200 : 503;
      body = p->Ready() ? "ready\n" : "starting\n";
    } else if (uri == MetricsPath(options_.model.engine) || uri == "/metrics" || uri == "/v1/metrics") {
      if (p->phase == PodPhase::kStarting) {
        code = 503;
        body = "model is loading\n";
      } else {
        body = RenderMetrics(*p, options_.model, process_start_);
      }
    } else {
      code = 404;
      body = "not found\n";
    }
  }
  Reply(c, code, code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain", body);
  return 1;
}

int Emulator::HandleControl(mg_connection* c) {
  const mg_request_info* ri = mg_get_request_info(c);
  std::string uri = ri->local_uri ? ri->local_uri : "";
  std::string method = ri->request_method ? ri->request_method : "";
  if (uri == kFrontDoorPath && method == "GET") {
    Reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", FrontDoorMetrics());
    return 1;
  }
  nlohmann::json in = nlohmann::json::object();
  if (method == "POST" || method == "PUT") {
    std::string b = ReadBody(c);
    if (!b.empty()) {
      in = nlohmann::json::parse(b, nullptr, false);
      if (in.is_discarded() || !in.is_object()) {
        Reply(c, 400, "application/json", R"({"error":"body must be a JSON object"})");
        return 1;
      }
    }
  }
  // Query parameters work too: POST /load?concurrency=100
  for (const char* k : {"concurrency", "rate", "replicas", "slow", "dead", "garbage", "renamed", "pod"}) {
    std::string v = QueryParam(ri, k);
    if (v.empty()) continue;
    if (std::string(k) == "pod")
      in[k] = v;
    else if (v == "true" || v == "false")
      in[k] = v == "true";
    else
      in[k] = std::strtod(v.c_str(), nullptr);
  }
  nlohmann::json out;
  int code = 200;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (uri == "/load" && method == "POST") {
      if (in.contains("rate"))
        cluster_.SetRate(in["rate"].get<double>());
      else if (in.contains("concurrency"))
        cluster_.SetConcurrency(in["concurrency"].get<int>());
      else
        code = 400;
    } else if (uri == "/replicas" && method == "POST") {
      if (in.contains("replicas"))
        cluster_.SetReplicas(in["replicas"].get<int>());
      else
        code = 400;
    } else if (uri == "/faults" && method == "POST") {
      Faults f;
      f.slow_factor = in.value("slow", 1.0);
      f.dead = in.value("dead", false);
      f.garbage = in.value("garbage", false);
      f.renamed = in.value("renamed", false);
      if (!in.contains("pod") || !cluster_.SetFaults(in["pod"].get<std::string>(), f)) code = 404;
    } else if (uri != "/state" || method != "GET") {
      code = 404;
    }
    ClusterView v = cluster_.View();
    out = {{"time", v.now},
           {"replicas", cluster_.replicas()},
           {"pods", v.pods},
           {"ready", v.ready},
           {"starting", v.starting},
           {"terminating", v.terminating},
           {"running", v.running},
           {"waiting", v.waiting},
           {"held", v.held},
           {"kv_avg", v.kv_avg_ready},
           {"concurrency", v.load_concurrency},
           {"rate", v.load_rate},
           {"p95_ttft_30s", cluster_.TtftQuantile(0.95, 30)}};
    nlohmann::json pods = nlohmann::json::array();
    for (auto& p : cluster_.pods()) {
      const EndpointSliceStore::Endpoint* slice = slices_.Find(p->name);
      int port = slice ? slice->port : 0;
      const char* phase = p->phase == PodPhase::kStarting ? "Starting"
                          : p->phase == PodPhase::kReady  ? "Ready"
                                                          : "Terminating";
      pods.push_back({{"name", p->name},
                      {"phase", phase},
                      {"port", port},
                      {"kv", p->KvUse()},
                      {"running", p->running.size()},
                      {"waiting", p->waiting.size()},
                      {"dead", p->faults.dead},
                      {"slow", p->faults.slow_factor},
                      {"garbage", p->faults.garbage},
                      {"renamed", p->faults.renamed}});
    }
    out["pod_list"] = pods;
    if (code != 200) out["error"] = code == 404 ? "no such route or pod" : "missing parameter";
  }
  Sync();
  Reply(c, code, "application/json", out.dump() + "\n");
  return 1;
}

std::vector<Emulator::PodEndpoint> Emulator::Endpoints() {
  std::vector<PodEndpoint> out;
  std::lock_guard<std::mutex> g(mu_);
  for (auto& p : cluster_.pods()) {
    const EndpointSliceStore::Endpoint* slice = slices_.Find(p->name);
    if (slice == nullptr) continue;
    out.push_back({p->name, "http://127.0.0.1:" + std::to_string(slice->port) + MetricsPath(options_.model.engine),
                   slice->ready});
  }
  return out;
}

std::vector<std::string> Emulator::ReadyPodUrls() {
  std::vector<std::string> urls;
  std::lock_guard<std::mutex> g(mu_);
  for (auto& p : cluster_.pods()) {
    const EndpointSliceStore::Endpoint* slice = slices_.Find(p->name);
    if (p->Ready() && slice != nullptr && slice->ready) {
      urls.push_back("http://127.0.0.1:" + std::to_string(slice->port) + MetricsPath(options_.model.engine));
    }
  }
  return urls;
}

std::string Emulator::FrontDoorMetrics() {
  std::lock_guard<std::mutex> g(mu_);
  return RenderFrontDoor(cluster_.View(), options_.namespace_, options_.service);
}

std::string Emulator::MetricsOf(const std::string& pod) {
  std::lock_guard<std::mutex> g(mu_);
  const Pod* p = cluster_.FindPod(pod);
  return p ? RenderMetrics(*p, options_.model, process_start_) : "";
}

}  // namespace nimemu
