// nim-emulator: N emulated LLM model-server pods on 127.0.0.1, a control API and a minimal
// Kubernetes API (EndpointSlices of the emulated Service). See docs/demo.md "nim-emulator".
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "tools/nim-emulator/server.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

const char* kUsage =
    "usage: nim-emulator [flags]\n"
    "  --pods N               initial ready pods (default 1)\n"
    "  --engine nim|vllm|sglang  metric names (default nim: NIM 1.x /v1/metrics)\n"
    "  --model NAME           model_name label (default meta/llama-3.1-8b-instruct)\n"
    "  --concurrency N        closed-loop users (default 0)\n"
    "  --rate R               open-loop requests per second instead\n"
    "  --input-tokens M:SD    prompt length (default 200:10)\n"
    "  --output-tokens M:SD   output length (default 200:0)\n"
    "  --kv-capacity TOKENS   KV cache per pod in tokens (default 283000)\n"
    "  --max-running N        concurrent sequences per pod (default 512)\n"
    "  --startup-delay S      simulated seconds from pod creation to ready (default 150)\n"
    "  --cold-start           the initial pods wait --startup-delay too (default: ready at once)\n"
    "  --compression X        simulated seconds per wall second (default 1)\n"
    "  --seed N               random seed (default 1)\n"
    "  --control-port P       control API port (default 0: any)\n"
    "  --kube-port P          Kubernetes API port (default 0: any)\n"
    "  --listen ADDR          address every server binds (default 127.0.0.1; 0.0.0.0 in a container)\n"
    "  --pod-port P           port of the first pod's metrics server (default 0: any)\n"
    "  --namespace NS --service NAME --port-name NAME   emulated Service (nim, meta-llama3-8b, http)\n"
    "  --duration S           exit after S wall seconds (default: run until SIGINT/SIGTERM)\n"
    "Control API: GET /state; POST /load?concurrency=N|rate=R; POST /replicas?replicas=N;\n"
    "  POST /faults?pod=NAME&slow=3&dead=true&garbage=true&renamed=true (JSON bodies work too)\n";

bool Pair(const char* s, double* a, double* b) { return std::sscanf(s, "%lf:%lf", a, b) == 2; }
}  // namespace

int main(int argc, char** argv) {
  nimemu::EmulatorOptions o;
  int control_port = 0, kube_port = 0, concurrency = 0;
  double rate = 0, duration = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "nim-emulator: %s needs a value\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--pods")
      o.replicas = std::atoi(next());
    else if (a == "--engine")
      o.model.engine = next();
    else if (a == "--model")
      o.model.model_name = next();
    else if (a == "--concurrency")
      concurrency = std::atoi(next());
    else if (a == "--rate")
      rate = std::atof(next());
    else if (a == "--input-tokens") {
      if (!Pair(next(), &o.shape.input_mean, &o.shape.input_stddev)) return 2;
    } else if (a == "--output-tokens") {
      if (!Pair(next(), &o.shape.output_mean, &o.shape.output_stddev)) return 2;
    } else if (a == "--kv-capacity")
      o.model.kv_capacity_tokens = std::atoll(next());
    else if (a == "--max-running")
      o.model.max_running = std::atoi(next());
    else if (a == "--startup-delay")
      o.model.startup_delay_s = std::atof(next());
    else if (a == "--cold-start")
      o.initial_ready = false;
    else if (a == "--compression")
      o.compression = std::atof(next());
    else if (a == "--seed")
      o.seed = std::strtoull(next(), nullptr, 10);
    else if (a == "--control-port")
      control_port = std::atoi(next());
    else if (a == "--kube-port")
      kube_port = std::atoi(next());
    else if (a == "--listen")
      o.listen_address = next();
    else if (a == "--pod-port")
      o.pod_port = std::atoi(next());
    else if (a == "--namespace")
      o.namespace_ = next();
    else if (a == "--service")
      o.service = next();
    else if (a == "--port-name")
      o.port_name = next();
    else if (a == "--duration")
      duration = std::atof(next());
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "nim-emulator: unknown flag %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (o.model.engine != "nim" && o.model.engine != "vllm" && o.model.engine != "sglang") {
    std::fprintf(stderr, "nim-emulator: --engine must be nim, vllm or sglang\n");
    return 2;
  }
  if (o.compression <= 0 || o.model.kv_capacity_tokens < o.model.block_size) {
    std::fprintf(stderr, "nim-emulator: --compression and --kv-capacity must be positive\n");
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  nimemu::Emulator emu(o);
  if (!emu.Start(control_port, kube_port)) {
    std::fprintf(stderr, "nim-emulator: cannot bind the control or Kubernetes API port\n");
    return 1;
  }
  if (o.pod_port > 0) {  // a container's probes and Service expect this very port
    bool bound = false;
    for (auto& e : emu.Endpoints()) bound |= e.url.find(":" + std::to_string(o.pod_port) + "/") != std::string::npos;
    if (!bound) {
      std::fprintf(stderr, "nim-emulator: cannot bind --pod-port %d on %s\n", o.pod_port, o.listen_address.c_str());
      emu.Stop();
      return 1;
    }
  }
  emu.With([&](nimemu::Cluster& c) {
    if (rate > 0)
      c.SetRate(rate);
    else
      c.SetConcurrency(concurrency);
  });
  std::printf(
      "nim-emulator: control=http://127.0.0.1:%d kube=%s frontdoor=%s namespace=%s service=%s engine=%s "
      "compression=%g\n",
      emu.control_port(), emu.kube_url().c_str(), emu.frontdoor_url().c_str(), o.namespace_.c_str(), o.service.c_str(),
      o.model.engine.c_str(), o.compression);
  for (auto& u : emu.ReadyPodUrls()) std::printf("pod %s\n", u.c_str());
  std::fflush(stdout);
  // Bounded by --duration or a signal.
  for (double waited = 0; !g_stop && (duration <= 0 || waited < duration); waited += 0.1)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  emu.Stop();
  return 0;
}
