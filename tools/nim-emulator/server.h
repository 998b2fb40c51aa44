#pragma once
// The emulated cluster on loopback: a real-time driver for the simulation (with a
// time-compression factor), one HTTP server per pod on its own 127.0.0.1 port serving the
// engine's metrics, a control API, and a minimal Kubernetes API serving the emulated
// Service's EndpointSlices (list and watch), one slice per pod with the pod's own port.
// The control API also serves the Service's front door's queue as an HTTP add-on
// interceptor would (GET /frontdoor/metrics, exposition.h RenderFrontDoor).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tools/nim-emulator/endpoint_slice_store.h"
#include "tools/nim-emulator/sim.h"

struct mg_context;
struct mg_connection;

namespace nimemu {

struct EmulatorOptions {
  PodModel model;
  LoadShape shape;
  uint64_t seed = 1;
  int replicas = 1;
  double compression = 1;  ///< simulated seconds per wall second
  std::string namespace_ = "nim";
  std::string service = "meta-llama3-8b";
  std::string port_name = "http";
  bool manual_time = false;  ///< no ticker thread: the owner calls AdvanceTo()
  /// Address every listener binds (pods, control API, Kubernetes API). 0.0.0.0 when the
  /// emulator runs in a container and others must reach it (deploy/quickstart/).
  std::string listen_address = "127.0.0.1";
  /// Port of the first pod's server (0: any free port, like every other pod).
  int pod_port = 0;
  /// The initial pods start ready (true) or load their model for startup_delay_s first, as
  /// pods added later do (false: a container that is one pod, deploy/quickstart/).
  bool initial_ready = true;
};

/// One civetweb listener (127.0.0.1 unless told otherwise) with a single handler for every path.
class Listener {
 public:
  using Handler = std::function<int(mg_connection*)>;
  Listener() = default;
  ~Listener();
  /// port 0: any free port; host: the address to bind.
  bool Start(int port, int threads, Handler handler, const std::string& host = "127.0.0.1");
  void Stop();
  int port() const { return port_; }

 private:
  static int Dispatch(mg_connection* conn, void* self);
  mg_context* ctx_ = nullptr;
  Handler handler_;
  int port_ = 0;
};

/// Replies with a complete body.
void Reply(mg_connection* c, int status, const std::string& content_type, const std::string& body);

/// Path of the front door's metrics on the control API's port.
inline constexpr const char* kFrontDoorPath = "/frontdoor/metrics";

class Emulator {
 public:
  explicit Emulator(EmulatorOptions options);
  ~Emulator();

  /// Starts the pod servers, the control API and the Kubernetes API (ports 0: any free one).
  bool Start(int control_port = 0, int kube_port = 0);
  void Stop();

  int control_port() const { return control_.port(); }
  int kube_port() const { return kube_.port(); }
  std::string kube_url() const { return "http://127.0.0.1:" + std::to_string(kube_port()); }

  /// The front door's metrics URL (a `frontDoor:` for `frontDoorPreset: http-add-on`).
  std::string frontdoor_url() const { return "http://127.0.0.1:" + std::to_string(control_port()) + kFrontDoorPath; }
  /// What GET /frontdoor/metrics serves now.
  std::string FrontDoorMetrics();

  /// Manual mode, or to force a step: runs the simulation to simulated time t.
  void AdvanceTo(double t);
  /// Simulated seconds since the start.
  double SimNow();

  /// Runs `fn` with the cluster locked (read state, change load or replicas).
  void With(const std::function<void(Cluster&)>& fn);

  struct PodEndpoint {
    std::string name, url;
    bool ready = false;
  };
  /// Every pod with a listening server: name, metrics URL, readiness (as in its slice).
  std::vector<PodEndpoint> Endpoints();
  /// Metrics URLs of ready pods (for static-endpoint configurations).
  std::vector<std::string> ReadyPodUrls();
  /// The metrics text a pod serves now (for tests); empty when no such pod.
  std::string MetricsOf(const std::string& pod);

  const EmulatorOptions& options() const { return options_; }

 private:
  struct PodServer {
    std::unique_ptr<Listener> listener;
    int port = 0;
  };
  void Ticker();
  void Reap(std::unique_ptr<Listener> l);
  void Sync();  ///< pod servers and EndpointSlices follow the simulation
  int HandlePod(mg_connection* c, const std::string& pod);
  int HandleControl(mg_connection* c);
  int HandleKube(mg_connection* c);

  EmulatorOptions options_;
  std::mutex mu_;  ///< guards cluster_ and the slice table
  Cluster cluster_;
  double start_wall_ = 0;
  double process_start_ = 0;
  std::map<std::string, PodServer> servers_;  ///< touched only by Sync (under sync_mu_)
  std::mutex sync_mu_;
  EndpointSliceStore slices_;  ///< one slice per pod with a server, and the watch history; under mu_
  uint64_t last_generation_ = ~0ull;
  std::condition_variable events_cv_;
  Listener control_, kube_;
  std::atomic<bool> stop_{false};
  std::thread ticker_;
  std::vector<std::thread> reapers_;  ///< stop removed pod listeners off the clock (under sync_mu_)
};

}  // namespace nimemu
