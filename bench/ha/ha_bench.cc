// HA benchmark (issue 12, "Acceptance", benchmark bullet), in one run on loopback:
//  1. CPU seconds and RSS per replica: three `nim-scaler serve` replicas sharing --triggers
//     triggers (--peers-service, a fake Kubernetes API listing them) and, at the same time and
//     over the same wall-clock window, one replica without --peers-service carrying all of
//     them. Same pods server, same pod bodies, same scrape interval; each trigger scrapes its
//     own pod path, so collection is per trigger. A light KEDA-like load runs throughout
//     (every trigger's GetMetrics once per --keda-period; round-robin over the three replicas,
//     all to the single one). CPU from /proc/<pid>/stat (utime+stime), RSS from
//     /proc/<pid>/status (VmRSS at the end of the window, VmHWM).
//     An idle replica (no trigger) runs alongside: the fixed cost of a process.
//  2. GetMetrics latency, direct vs forwarded: the single and idle replicas are stopped; for triggers
//     owned by replica A (rendezvous hashing as in scaler/cluster/rendezvous.h, the key as in
//     tests/integration/ha_test.cc), one client thread calls A (direct) and B (forwarded by
//     B to A) alternately, same triggers, --calls calls each after a warm-up; the order of the
//     pair alternates per call. p50/p99/p99.9 of each and the p99 difference.
// Prints Markdown for BENCHMARKS.md ("HA"). scripts/bench-ha.sh builds and runs it.
// Every loop is bounded; every child gets SIGKILL when this process dies (PR_SET_PDEATHSIG)
// and is stopped (SIGTERM, then SIGKILL) on the way out.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "externalscaler.grpc.pb.h"
#include "scaler/cluster/rendezvous.h"
#include "scaler/cluster/router.h"
#include "scaler/net/http_server.h"
#include "scaler/trigger/scaler_spec.h"
#include "tests/fakes/fake_kube_api.h"
#include "tools/keda_client/keda_client.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string binary;
  std::string body_file;
  std::string log_dir = "/tmp";
  int triggers = 1000;
  int calls = 20000;
  int warmup_calls = 1000;
  std::string interval = "2s";
  int warmup_s = 40;
  int measure_s = 60;
  int keda_period_s = 15;
};

[[noreturn]] void Die(const std::string& msg) {
  std::cerr << "ha_bench: " << msg << "\n";
  std::exit(1);
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) Die("bind");
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A nim-scaler process whose output goes to a log file (a file never blocks its logging).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log) : log_(log) {
    pid_ = ::fork();
    if (pid_ < 0) Die("fork");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() { Stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool LogHas(const std::string& needle) const { return ReadFile(log_).find(needle) != std::string::npos; }
  bool Running() {
    if (done_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) done_ = true;
    return !done_;
  }
  // SIGTERM, up to 10 s for a clean exit, then SIGKILL.
  void Stop() {
    if (pid_ <= 0 || done_) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200 && Running(); ++i) std::this_thread::sleep_for(50ms);
    if (Running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      done_ = true;
    }
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool done_ = false;
};

struct ProcStats {
  double cpu_s = 0;
  double rss_mib = 0, hwm_mib = 0;
  double anon_mib = 0;  // RssAnon: the process's own memory (RSS also counts mapped library pages)
  int threads = 0;
};

ProcStats ReadStats(pid_t pid) {
  ProcStats p;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream in(stat.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (in >> tok) f.push_back(tok);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> indexes 11, 12.
  if (f.size() > 12) p.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::istringstream st(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(st, line)) {
    auto kib = [&](const char* key) { return std::stod(line.substr(std::string(key).size())) / 1024.0; };
    if (line.rfind("VmRSS:", 0) == 0) p.rss_mib = kib("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) p.hwm_mib = kib("VmHWM:");
    if (line.rfind("RssAnon:", 0) == 0) p.anon_mib = kib("RssAnon:");
    if (line.rfind("Threads:", 0) == 0) p.threads = std::stoi(line.substr(8));
  }
  return p;
}

std::string LoadAvg() {
  std::string s = ReadFile("/proc/loadavg");
  std::istringstream in(s);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// The model pods: one loopback server, GET /<setup>/pod/<i>/metrics serves the NIM capture.
// Requests are counted per setup so the scrapes per trigger and interval can be checked.
class Pods {
 public:
  explicit Pods(std::string body) : body_(std::move(body)) {
    for (const char* setup : {"ha", "one"}) {
      std::atomic<long>* counter = std::string(setup) == "ha" ? &ha_ : &one_;
      server_.Route(std::string("/") + setup + "/", [this, counter](const net::HttpServerRequest&) {
        counter->fetch_add(1, std::memory_order_relaxed);
        return net::HttpServerResponse{200, "text/plain; version=0.0.4", body_};
      });
    }
    // civetweb pins a worker per open connection: kept-alive idle connections (one per
    // trigger and collecting replica) must close at once or they hold every worker.
    net::HttpServerOptions o;
    o.threads = 64;
    o.keep_alive_timeout = 5ms;
    o.connection_queue = 1024;
    o.listen_backlog = 2048;
    Status s = server_.Start("127.0.0.1:0", o);
    if (!s.ok()) Die("pods server: " + s.message());
  }
  std::string Url(const std::string& setup, int i) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/" + setup + "/pod/" + std::to_string(i) +
           "/metrics";
  }
  long ha() const { return ha_.load(); }
  long one() const { return one_.load(); }

 private:
  std::string body_;
  std::atomic<long> ha_{0}, one_{0};
  net::HttpServer server_;
};

struct Replica {
  std::unique_ptr<Child> child;
  std::string addr;
  std::unique_ptr<keda::KedaClient> keda;  // tools/keda_client/keda_client.h
};

externalscaler::ScaledObjectRef Ref(const Pods& pods, const std::string& setup, int i, const std::string& interval) {
  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_("nim");
  ref.set_name("so-" + std::to_string(i));
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = pods.Url(setup, i);
  md["engine"] = "nim";
  md["targetKvCache"] = "0.5";
  md["scrapeInterval"] = interval;
  md["window"] = "30s";
  md["panicWindow"] = "6s";
  return ref;
}

// What KEDA's poll asks, under the metric name GetMetricSpec gives (nim-<namespace>-<name>).
grpc::Status GetMetrics(keda::KedaClient* client, const externalscaler::ScaledObjectRef& ref, double* value,
                        std::chrono::milliseconds deadline = 5000ms) {
  return client->GetMetrics(ref, "nim-" + ref.namespace_() + "-" + ref.name(), value, deadline);
}

grpc::Status GetMetricSpec(keda::KedaClient* client, const externalscaler::ScaledObjectRef& ref) {
  externalscaler::GetMetricSpecResponse resp;
  return client->GetMetricSpec(ref, &resp, 10s);
}

std::unique_ptr<Child> Launch(const Options& opt, const std::string& addr, const std::string& name,
                              const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {opt.binary,
                                   "serve",
                                   "--grpc-addr",
                                   addr,
                                   "--http-addr",
                                   "127.0.0.1:0",
                                   "--allow-static-endpoints",
                                   "--stream-heartbeat",
                                   "0s",
                                   "--min-scrape-interval",
                                   "100ms"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto c = std::make_unique<Child>(argv, opt.log_dir + "/" + name + ".log");
  for (int i = 0; i < 200 && !c->LogHas("serving grpc_port="); ++i) {
    if (!c->Running()) Die(name + " exited; see " + opt.log_dir + "/" + name + ".log");
    std::this_thread::sleep_for(50ms);
  }
  if (!c->LogHas("serving grpc_port=")) Die(name + " did not start; see " + opt.log_dir + "/" + name + ".log");
  return c;
}

// Tracks every trigger on the given replicas (GetMetricSpec round-robin, then GetMetrics until
// each answers). Bounded: gives up after 120 s.
void Track(std::vector<Replica*> at, const std::vector<externalscaler::ScaledObjectRef>& refs, const char* what) {
  auto deadline = Clock::now() + 120s;
  for (size_t i = 0; i < refs.size(); ++i) {
    while (true) {
      grpc::Status s = GetMetricSpec(at[i % at.size()]->keda.get(), refs[i]);
      if (s.ok()) break;
      if (Clock::now() > deadline) Die(std::string(what) + ": GetMetricSpec failed: " + s.error_message());
      std::this_thread::sleep_for(50ms);  // UNAVAILABLE while the builders are busy
    }
  }
  std::vector<size_t> pending;
  for (size_t i = 0; i < refs.size(); ++i) pending.push_back(i);
  int turn = 0;
  while (!pending.empty()) {
    std::vector<size_t> still;
    for (size_t i : pending) {
      double v = 0;
      if (!GetMetrics(at[turn++ % at.size()]->keda.get(), refs[i], &v).ok()) still.push_back(i);
    }
    pending.swap(still);
    if (pending.empty()) break;
    if (Clock::now() > deadline)
      Die(std::string(what) + ": " + std::to_string(pending.size()) + " triggers never answered");
    std::this_thread::sleep_for(200ms);
  }
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  return v[std::min(idx, v.size() - 1)];
}

int Run(const Options& opt) {
  Pods pods(ReadFile(opt.body_file));
  if (ReadFile(opt.body_file).empty()) Die("empty body file " + opt.body_file);
  testing::FakeKubeApi api("nim-system", "nim-scaler");

  std::vector<Replica> ha(3);
  for (int i = 0; i < 3; ++i) {
    ha[i].addr = "127.0.0.1:" + std::to_string(FreePort());
    api.SetPod("scaler-" + std::to_string(i), "127.0.0.1", std::stoi(ha[i].addr.substr(10)), true);
  }
  for (int i = 0; i < 3; ++i) {
    ha[i].child = Launch(opt, ha[i].addr, "ha-" + std::to_string(i),
                         {"--kube-api", api.url(), "--peers-service", "nim-scaler", "--peers-namespace", "nim-system",
                          "--peers-port-name", "http", "--advertise-addr", ha[i].addr});
    ha[i].keda = std::make_unique<keda::KedaClient>(ha[i].addr);
  }
  Replica one;
  one.addr = "127.0.0.1:" + std::to_string(FreePort());
  one.child = Launch(opt, one.addr, "single", {"--kube-api", "off"});
  one.keda = std::make_unique<keda::KedaClient>(one.addr);
  // A replica with no trigger at all: the fixed cost of a process, which no sharing divides.
  auto idle = Launch(opt, "127.0.0.1:" + std::to_string(FreePort()), "idle", {"--kube-api", "off"});

  std::vector<externalscaler::ScaledObjectRef> ha_refs, one_refs;
  for (int i = 0; i < opt.triggers; ++i) {
    ha_refs.push_back(Ref(pods, "ha", i, opt.interval));
    one_refs.push_back(Ref(pods, "one", i, opt.interval));
  }
  // Every replica sees all three peers before the triggers arrive (peers are read lazily:
  // the first call starts the watch).
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 200 && !ha[i].child->LogHas("HA: 3 peer(s)"); ++k) {
      GetMetricSpec(ha[i].keda.get(), ha_refs[0]);
      std::this_thread::sleep_for(50ms);
    }
    if (!ha[i].child->LogHas("HA: 3 peer(s)")) Die("replica " + std::to_string(i) + " never saw 3 peers");
  }
  std::vector<std::string> peers = {ha[0].addr, ha[1].addr, ha[2].addr};
  auto owner_of = [&](const externalscaler::ScaledObjectRef& ref) {
    config::Metadata md(ref.scalermetadata().begin(), ref.scalermetadata().end());
    return cluster::OwnersOf(cluster::TriggerKey(ref.namespace_(), ref.name(), trigger::HashMetadata(md)), peers);
  };

  auto t0 = Clock::now();
  Track({&ha[0], &ha[1], &ha[2]}, ha_refs, "three replicas");
  Track({&one}, one_refs, "single replica");
  double track_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // KEDA-like load during warm-up and measurement, bounded by `stop` and by its own count.
  std::atomic<bool> stop{false};
  std::atomic<long> keda_calls{0}, keda_errors{0};
  std::thread keda([&] {
    if (opt.keda_period_s <= 0) return;  // no KEDA-like load: collection only
    const auto pace = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(opt.keda_period_s)) /
                      std::max(1, opt.triggers);
    const long max_rounds = (opt.warmup_s + opt.measure_s) / std::max(1, opt.keda_period_s) + 2;
    auto next = Clock::now();
    for (long k = 0; k < max_rounds * opt.triggers && !stop.load(); ++k) {
      int i = static_cast<int>(k % opt.triggers);
      double v = 0;
      if (!GetMetrics(ha[k % 3].keda.get(), ha_refs[i], &v).ok()) ++keda_errors;
      if (!GetMetrics(one.keda.get(), one_refs[i], &v).ok()) ++keda_errors;
      keda_calls += 2;
      next += pace;
      std::this_thread::sleep_until(next);
    }
  });

  std::cerr << "tracked " << opt.triggers << " triggers on both setups in " << track_s << " s; warm-up " << opt.warmup_s
            << " s\n";
  std::this_thread::sleep_for(std::chrono::seconds(opt.warmup_s));
  std::string load_before = LoadAvg();
  std::vector<pid_t> pids = {ha[0].child->pid(), ha[1].child->pid(), ha[2].child->pid(), one.child->pid(), idle->pid()};
  std::vector<ProcStats> before, after;
  for (pid_t p : pids) before.push_back(ReadStats(p));
  long ha_scrapes0 = pods.ha(), one_scrapes0 = pods.one();
  auto m0 = Clock::now();
  std::cerr << "measuring " << opt.measure_s << " s (load " << load_before << ")\n";
  std::this_thread::sleep_for(std::chrono::seconds(opt.measure_s));
  for (pid_t p : pids) after.push_back(ReadStats(p));
  double wall = std::chrono::duration<double>(Clock::now() - m0).count();
  long ha_scrapes = pods.ha() - ha_scrapes0, one_scrapes = pods.one() - one_scrapes0;
  std::string load_after = LoadAvg();
  stop = true;
  keda.join();
  for (int i = 0; i < 3; ++i) {
    if (!ha[i].child->Running()) Die("replica " + std::to_string(i) + " died during the measurement");
  }
  if (!one.child->Running()) Die("the single replica died during the measurement");
  one.child->Stop();
  idle->Stop();

  // --- latency: direct (A) vs forwarded (B -> A), same triggers, one client thread ---
  std::vector<size_t> owned;
  int b_is_successor = 0;
  for (int i = 0; i < opt.triggers; ++i) {
    auto o = owner_of(ha_refs[i]);
    if (o.owner == ha[0].addr) {
      owned.push_back(i);
      if (o.successor == ha[1].addr) ++b_is_successor;
    }
  }
  if (owned.empty()) Die("replica A owns no trigger");
  std::vector<double> direct, forwarded;
  direct.reserve(opt.calls);
  forwarded.reserve(opt.calls);
  long lat_errors = 0, differ = 0;
  std::string load_lat_before = LoadAvg();
  auto l0 = Clock::now();
  for (int k = 0; k < opt.warmup_calls + opt.calls; ++k) {
    const auto& ref = ha_refs[owned[k % owned.size()]];
    double vd = -1, vf = -2, us[2] = {0, 0};
    for (int j = 0; j < 2; ++j) {
      bool fwd = (j == 0) == (k % 2 == 1);  // alternate which goes first
      auto s = Clock::now();
      grpc::Status st = GetMetrics(ha[fwd ? 1 : 0].keda.get(), ref, fwd ? &vf : &vd, 3000ms);
      us[fwd ? 1 : 0] = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
      if (!st.ok()) ++lat_errors;
    }
    if (k < opt.warmup_calls) continue;
    direct.push_back(us[0]);
    forwarded.push_back(us[1]);
    if (vd != vf) ++differ;  // a new scrape can land between the two calls
  }
  double lat_wall = std::chrono::duration<double>(Clock::now() - l0).count();
  std::string load_lat_after = LoadAvg();
  for (auto& r : ha) r.child->Stop();

  // --- report ---
  auto ms = [](double us) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", us / 1000.0);
    return std::string(b);
  };
  auto f1 = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return std::string(b);
  };
  auto f2 = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return std::string(b);
  };
  std::cout << "### Forwarded vs direct GetMetrics (one client thread, loopback)\n\n"
            << opt.calls << " calls each after " << opt.warmup_calls << " warm-up pairs, over " << owned.size()
            << " triggers owned by A (B is their successor for " << b_is_successor << "), interleaved, " << f1(lat_wall)
            << " s; load average " << load_lat_before << " -> " << load_lat_after << "; " << lat_errors << " errors; "
            << differ << " pairs with different values.\n\n"
            << "| call | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|\n";
  double d99 = Quantile(direct, 0.99), f99 = Quantile(forwarded, 0.99);
  std::cout << "| direct (A, the owner) | " << ms(Quantile(direct, 0.5)) << " | " << ms(d99) << " | "
            << ms(Quantile(direct, 0.999)) << " | " << ms(Quantile(direct, 1.0)) << " |\n";
  std::cout << "| forwarded (B -> A) | " << ms(Quantile(forwarded, 0.5)) << " | " << ms(f99) << " | "
            << ms(Quantile(forwarded, 0.999)) << " | " << ms(Quantile(forwarded, 1.0)) << " |\n\n";
  std::cout << "Forwarding adds " << ms(Quantile(forwarded, 0.5) - Quantile(direct, 0.5)) << " ms at p50 and "
            << ms(f99 - d99) << " ms at p99 (goal: < 0.5 ms at p99: " << (f99 - d99 < 500 ? "met" : "NOT met")
            << ").\n\n";

  std::cout << "### CPU and RSS per replica, " << opt.triggers << " triggers, scrapeInterval " << opt.interval << "\n\n"
            << "Both setups (and an idle replica) ran at the same time over the same " << f1(wall)
            << " s window (after " << track_s << " s of tracking and " << opt.warmup_s << " s warm-up); load average "
            << load_before << " -> " << load_after << ". KEDA-like load: "
            << (opt.keda_period_s > 0 ? "each trigger's GetMetrics once per " + std::to_string(opt.keda_period_s) + " s"
                                      : std::string("none (collection only)"))
            << " (" << keda_calls.load() << " calls, " << keda_errors.load() << " errors).\n\n"
            << "| process | CPU s | CPU (cores) | RSS MiB | RssAnon MiB | peak RSS MiB | threads |\n"
            << "|---|---:|---:|---:|---:|---:|---:|\n";
  const char* names[5] = {"HA replica A", "HA replica B", "HA replica C", "single replica (all triggers)",
                          "idle replica (no trigger)"};
  double cpu[5], rss[5], anon[5];
  for (int i = 0; i < 5; ++i) {
    cpu[i] = after[i].cpu_s - before[i].cpu_s;
    rss[i] = after[i].rss_mib;
    anon[i] = after[i].anon_mib;
    std::cout << "| " << names[i] << " | " << f2(cpu[i]) << " | " << f2(cpu[i] / wall) << " | " << f1(rss[i]) << " | "
              << f1(anon[i]) << " | " << f1(after[i].hwm_mib) << " | " << after[i].threads << " |\n";
  }
  double cpu_mean = (cpu[0] + cpu[1] + cpu[2]) / 3, cpu_max = std::max({cpu[0], cpu[1], cpu[2]});
  double rss_mean = (rss[0] + rss[1] + rss[2]) / 3, rss_max = std::max({rss[0], rss[1], rss[2]});
  double intervals = wall / std::stod(opt.interval.substr(0, opt.interval.size() - 1));
  std::cout << "\nPer HA replica / single replica: CPU " << f2(cpu_mean / cpu[3]) << " (mean), " << f2(cpu_max / cpu[3])
            << " (max); RSS " << f2(rss_mean / rss[3]) << " (mean), " << f2(rss_max / rss[3])
            << " (max). Without the idle replica's fixed cost ((x - idle) / (single - idle)): CPU "
            << f2((cpu_mean - cpu[4]) / (cpu[3] - cpu[4])) << ", RSS " << f2((rss_mean - rss[4]) / (rss[3] - rss[4]))
            << " (mean). RssAnon (RSS without the pages of the binary and shared libraries): "
            << f2((anon[0] + anon[1] + anon[2]) / 3 / anon[3]) << " (mean), "
            << f2(std::max({anon[0], anon[1], anon[2]}) / anon[3]) << " (max). Goal <= 0.70 (CPU and RSS, max): CPU "
            << (cpu_max / cpu[3] <= 0.70 ? "met" : "NOT met") << ", RSS "
            << (rss_max / rss[3] <= 0.70 ? "met" : "NOT met") << ".\n"
            << "Scrapes per trigger per interval during the window: three replicas "
            << f2(static_cast<double>(ha_scrapes) / opt.triggers / intervals) << " (owner and successor: 2), single "
            << f2(static_cast<double>(one_scrapes) / opt.triggers / intervals) << ".\n";
  return 0;
}

}  // namespace
}  // namespace nimscaler

int main(int argc, char** argv) {
  nimscaler::Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) nimscaler::Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--binary")
      opt.binary = next();
    else if (a == "--body")
      opt.body_file = next();
    else if (a == "--log-dir")
      opt.log_dir = next();
    else if (a == "--triggers")
      opt.triggers = std::stoi(next());
    else if (a == "--calls")
      opt.calls = std::stoi(next());
    else if (a == "--warmup-calls")
      opt.warmup_calls = std::stoi(next());
    else if (a == "--interval")
      opt.interval = next();
    else if (a == "--warmup")
      opt.warmup_s = std::stoi(next());
    else if (a == "--measure")
      opt.measure_s = std::stoi(next());
    else if (a == "--keda-period")
      opt.keda_period_s = std::stoi(next());
    else
      nimscaler::Die("unknown flag " + a);
  }
  if (opt.binary.empty() || opt.body_file.empty()) nimscaler::Die("--binary and --body are required");
  if (opt.interval.empty() || opt.interval.back() != 's' || opt.interval.find("ms") != std::string::npos) {
    nimscaler::Die("--interval must be whole or decimal seconds, e.g. 2s");
  }
  if (opt.triggers < 3 || opt.calls < 1 || opt.measure_s < 1 || opt.keda_period_s < 0) nimscaler::Die("bad sizes");
  ::signal(SIGPIPE, SIG_IGN);
  return nimscaler::Run(opt);
}
