// collect_bench: the goal of BENCHMARKS.md "Collection": 1,000 pod endpoints per cycle in under 1 s
// wall and under one core. One helper process (collect_server) serves N loopback ports; this program
// scrapes all of them per cycle through the real collection path, PodScrapeSource::ScrapeAll
// (curl multi + exposition parse + extraction), and, in the same run, through a naive baseline:
// a sequential loop of HttpClient::Get + PodScrapeSource::Interpret, one connection at a time. Each mode runs in
// its own forked child, so CPU time and RSS are that mode's alone. Per cycle it reports wall
// ms, CPU ms of the measuring process (getrusage), CPU ms of the server process (/proc), and
// RSS. Cycle 1 includes connection set-up; later cycles reuse keep-alive connections where
// the client keeps them. A third mode, the floor, fetches the same endpoints with the least code an
// HTTP/1.1 scraper can have (bench/collect/floor_client.h) and parses the three families a NIM
// trigger reads: what a cycle must cost on this machine whatever the client.
//
//   collect_bench --server build/bench/collect/collect_server --body FILE
//                 [--endpoints 1000] [--cycles 5] [--naive-cycles 3] [--delay-ms 0] [--tsv out.tsv]
//
// Per-scrape mode (issue 16 item 1): CPU per scrape of one pod serving FILE, by stage, in one
// forked child: the exposition parse alone (all families), the HTTP fetch alone (GetAll of the
// one URL, as the collector does), parse + extraction of the fetched body (Interpret, what
// each trigger of a group does), and the whole scrape end to end (ScrapeAll). With
// --go-scraper, the Go net/http + expfmt scraper (bench/collect/go_scraper) fetches the same
// body from the same server in the same run.
//
//   collect_bench --server ... --body FILE --per-scrape 2000 [--go-scraper PATH]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bench/collect/floor_client.h"
#include "scaler/net/http_client.h"
#include "scaler/signals/exposition/parser.h"
#include "scaler/sources/pod_scrape_source.h"

extern char** environ;

namespace {

using namespace nimscaler;
using Steady = std::chrono::steady_clock;

struct Cycle {
  int n = 0;
  double wall_ms = 0;
  double cpu_ms = 0;         // this process, user + system
  double server_cpu_ms = 0;  // collect_server, user + system
  double rss_mib = 0;        // this process after the cycle
  long new_connections = 0;  // connections the server accepted during the cycle
  int ok = 0;
  int failed = 0;
  std::string first_error;
};

double CpuMs(const rusage& r) {
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

double SelfCpuMs() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return CpuMs(r);
}

// utime + stime of another process, from /proc/<pid>/stat (clock ticks).
double ProcessCpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t p = s.rfind(')');
  if (p == std::string::npos) return NAN;
  std::istringstream fields(s.substr(p + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = std::atof(f.c_str());
    if (i == 15) {
      stime = std::atof(f.c_str());
      break;
    }
  }
  return (utime + stime) * 1e3 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double KbField(const char* name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0) return std::atof(line.c_str() + std::strlen(name)) / 1024.0;
  }
  return NAN;
}

struct Server {
  pid_t pid = -1;
  int stdin_fd = -1;   // closing it stops the server
  int stdout_fd = -1;  // "accepted N" lines after SIGUSR1
  std::vector<int> ports;
};

// Reads one '\n'-terminated line from `fd` (bounded: 4 KiB, 2 s).
std::string ReadLine(int fd) {
  std::string line;
  auto deadline = Steady::now() + std::chrono::seconds(2);
  char c;
  while (line.size() < 4096 && Steady::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::read(fd, &c, 1) != 1 || c == '\n') break;
    line += c;
  }
  return line;
}

// Total connections the server has accepted so far, or -1.
long Accepted(const Server& s) {
  ::kill(s.pid, SIGUSR1);
  std::string line = ReadLine(s.stdout_fd);
  return line.rfind("accepted ", 0) == 0 ? std::atol(line.c_str() + 9) : -1;
}

Server StartServer(const std::string& exe, const std::string& body, int n, int delay_ms) {
  int to_child[2], from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) std::exit(1);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
  std::string ports = std::to_string(n), delay = std::to_string(delay_ms);
  std::vector<char*> argv = {
      const_cast<char*>(exe.c_str()),  const_cast<char*>("--ports"),    ports.data(), const_cast<char*>("--body"),
      const_cast<char*>(body.c_str()), const_cast<char*>("--delay-ms"), delay.data(), nullptr};
  Server s;
  if (posix_spawn(&s.pid, exe.c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", exe.c_str());
    std::exit(1);
  }
  posix_spawn_file_actions_destroy(&fa);
  ::close(to_child[0]);
  ::close(from_child[1]);
  s.stdin_fd = to_child[1];
  std::string line;
  char c;
  while (::read(from_child[0], &c, 1) == 1 && c != '\n' && line.size() < (1u << 20)) line += c;
  s.stdout_fd = from_child[0];
  std::stringstream ss(line);
  for (std::string p; std::getline(ss, p, ',');) s.ports.push_back(std::atoi(p.c_str()));
  if (static_cast<int>(s.ports.size()) != n) {
    std::fprintf(stderr, "collect_server gave %zu ports, wanted %d\n", s.ports.size(), n);
    std::exit(1);
  }
  return s;
}

void StopServer(Server& s) {
  ::close(s.stdin_fd);
  ::close(s.stdout_fd);
  int status = 0;
  for (int i = 0; i < 100 && ::waitpid(s.pid, &status, WNOHANG) == 0; ++i) ::usleep(20000);  // <= 2 s
  if (::waitpid(s.pid, &status, WNOHANG) == 0) {
    ::kill(s.pid, SIGTERM);
    ::waitpid(s.pid, &status, 0);
  }
}

enum class Mode {
  kScrapeAll,   // the real collection path
  kNaive,       // one Get() + Interpret() after another
  kFloor,       // FloorClient + a selective parse of the three families: the least a scrape costs
  kFloorFetch,  // FloorClient alone: the least the fetch costs
};

bool IsFloor(Mode m) { return m == Mode::kFloor || m == Mode::kFloorFetch; }

struct CountSamples final : exposition::SampleVisitor {
  size_t n = 0;
  void OnSample(const exposition::Sample&) override { ++n; }
};

// The floor: bench/collect/floor_client.h fetches, the exposition parser reads the three families
// the NIM preset maps to kv_cache, waiting and running; a pod is ok when all three are there.
void FloorCycle(bench::FloorClient& client, bool parse, Cycle& c) {
  static const exposition::Selector three = [] {
    exposition::Selector s;
    for (const char* f : {"gpu_cache_usage_perc", "num_requests_waiting", "num_requests_running"}) s.AddFamily(f);
    return s;
  }();
  exposition::Parser parser;
  int parsed = 0;
  int fetched = client.Cycle(10000, [&](size_t, std::string_view body) {
    if (!parse) return;
    CountSamples samples;
    if (parser.Parse(body, exposition::Format::kPrometheusText, three, samples).ok() && samples.n >= 3) ++parsed;
  });
  c.ok = parse ? parsed : fetched;
}

// Runs in a forked child: `cycles` collection cycles in one mode; writes one line per cycle.
void RunMode(Mode mode, const std::vector<std::string>& urls, int cycles, const Server& server, int out_fd) {
  sources::PodScrapeConfig cfg;
  cfg.engine = "nim";
  cfg.signals = {"kv_cache", "waiting", "running"};
  cfg.http.timeout = std::chrono::seconds(10);
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  sources::PodScrapeSource source(cfg, http);
  std::optional<bench::FloorClient> floor;  // only the floor modes connect with it
  if (IsFloor(mode)) floor.emplace(server.ports, "/v1/metrics");
  for (int i = 1; i <= cycles; ++i) {
    Cycle c;
    c.n = i;
    long acc0 = Accepted(server);
    double cpu0 = SelfCpuMs(), srv0 = ProcessCpuMs(server.pid);
    auto t0 = Steady::now();
    std::vector<Result<sources::PodScrape>> got;
    if (IsFloor(mode)) {
      FloorCycle(*floor, mode == Mode::kFloor, c);
    } else if (mode == Mode::kScrapeAll) {
      got = source.ScrapeAll(urls);
    } else {
      got.reserve(urls.size());
      for (const auto& u : urls) got.push_back(source.Interpret(u, http->Get(u, cfg.http)));
    }
    c.wall_ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
    c.cpu_ms = SelfCpuMs() - cpu0;
    c.server_cpu_ms = ProcessCpuMs(server.pid) - srv0;
    c.rss_mib = KbField("VmRSS:");
    long acc1 = Accepted(server);
    c.new_connections = acc0 < 0 || acc1 < 0 ? -1 : acc1 - acc0;
    for (const auto& r : got) {
      // Every pod must give the capture's real values, or the cycle does not count.
      if (r.ok() && r->gauges.count("kv_cache") && r->gauges.count("running")) {
        ++c.ok;
      } else {
        ++c.failed;
        if (c.first_error.empty()) c.first_error = r.ok() ? "missing gauges" : r.status().message();
      }
    }
    if (IsFloor(mode)) {
      c.failed = static_cast<int>(urls.size()) - c.ok;
      if (c.failed > 0) {
        c.first_error = mode == Mode::kFloor ? "floor client: no complete 200 with the three families"
                                             : "floor client: no complete 200";
      }
    }
    char line[512];
    std::snprintf(line, sizeof line, "%d\t%.1f\t%.1f\t%.1f\t%.1f\t%ld\t%d\t%d\t%.200s\n", c.n, c.wall_ms, c.cpu_ms,
                  c.server_cpu_ms, c.rss_mib, c.new_connections, c.ok, c.failed, c.first_error.c_str());
    if (::write(out_fd, line, std::strlen(line)) < 0) std::exit(1);
  }
  char peak[64];
  std::snprintf(peak, sizeof peak, "peak\t%.1f\n", KbField("VmHWM:"));
  if (::write(out_fd, peak, std::strlen(peak)) < 0) std::exit(1);
}

// CPU microseconds per call of `fn` over `n` calls (this process, all threads), after one
// warm-up call.
template <typename Fn>
double CpuUsPer(int n, Fn&& fn) {
  fn();
  double c0 = SelfCpuMs();
  for (int i = 0; i < n; ++i) fn();
  return (SelfCpuMs() - c0) * 1e3 / n;
}

// Per-scrape mode: one line per stage ("stage<TAB>us") to `out_fd`; exits non-zero when a
// scrape fails.
void RunPerScrape(const std::string& url, const std::string& body, int n, int out_fd) {
  sources::PodScrapeConfig cfg;
  cfg.engine = "auto";
  cfg.http.timeout = std::chrono::seconds(10);
  std::shared_ptr<net::HttpClient> http = net::MakeCurlHttpClient();
  auto got = http->GetAll({url}, cfg.http);
  if (!got[0].ok() || got[0]->body != body) {
    std::fprintf(stderr, "per-scrape: the fetched body is not FILE: %s\n",
                 got[0].ok() ? "different bytes" : got[0].status().message().c_str());
    std::exit(1);
  }
  std::string lines;
  auto stage = [&](const char* name, double us) {
    char line[128];
    std::snprintf(line, sizeof line, "%s\t%.2f\n", name, us);
    lines += line;
  };
  exposition::Parser parser;
  auto format = exposition::DetectFormat(got[0]->content_type, body);
  const exposition::Selector all = exposition::Selector::All();
  stage("parse alone (all families)", CpuUsPer(n, [&] {
          CountSamples c;
          (void)parser.Parse(body, format, all, c);
        }));
  exposition::Selector three;
  for (const char* f :
       {"go_sched_latencies_seconds", "prometheus_sd_dns_lookups_total", "prometheus_tsdb_head_series"}) {
    three.AddFamily(f);
  }
  stage("parse alone (the 3 mapped families selected)", CpuUsPer(n, [&] {
          CountSamples c;
          (void)parser.Parse(body, format, three, c);
        }));
  stage("fetch (GetAll, 1 URL)", CpuUsPer(n, [&] {
          auto r = http->GetAll({url}, cfg.http);
          if (!r[0].ok()) std::exit(1);
          http->Recycle(r);
        }));
  // Three families spread over the Prometheus server's own exposition, mapped as custom
  // signals (a histogram, a counter, a gauge), as a trigger would map them.
  cfg.signals = {"latency", "lookups", "series"};
  cfg.custom = {{"latency", SignalKind::kUnknown, {{"go_sched_latencies_seconds", {}}}},
                {"lookups", SignalKind::kUnknown, {{"prometheus_sd_dns_lookups_total", {}}}},
                {"series", SignalKind::kUnknown, {{"prometheus_tsdb_head_series", {}}}}};
  sources::PodScrapeSource source(cfg, http);
  {
    auto check = source.Interpret(url, got[0]);
    if (!check.ok() || check->missing.size() > 0) {
      std::fprintf(stderr, "per-scrape: the body does not serve the three mapped families: %s\n",
                   check.ok() ? check->missing.front().c_str() : check.status().message().c_str());
      std::exit(1);
    }
  }
  stage("parse + extract (Interpret)", CpuUsPer(n, [&] { (void)source.Interpret(url, got[0]); }));
  stage("end to end (ScrapeAll, 1 URL)", CpuUsPer(n, [&] {
          auto r = source.ScrapeAll({url});
          if (r.size() != 1) std::exit(1);
        }));
  if (::write(out_fd, lines.data(), lines.size()) < 0) std::exit(1);
}

// Runs the Go scraper against `url`; its CPU us per scrape, or NAN.
double GoScraperUs(const std::string& exe, const std::string& url, int n) {
  std::string cmd = exe + " '" + url + "' " + std::to_string(n);
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return NAN;
  char buf[512] = {0};
  size_t got = std::fread(buf, 1, sizeof buf - 1, f);
  buf[got] = 0;
  ::pclose(f);
  double cpu = NAN;
  if (const char* p = std::strstr(buf, "cpu_us_per_scrape ")) cpu = std::atof(p + 18);
  return cpu;
}

int PerScrapeMain(const std::string& server_exe, const std::string& body_path, int n, const std::string& go) {
  std::ifstream bf(body_path, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(bf)), std::istreambuf_iterator<char>());
  Server server = StartServer(server_exe, body_path, 1, 0);
  std::string url = "http://127.0.0.1:" + std::to_string(server.ports[0]) + "/metrics";
  int p[2];
  if (::pipe(p) != 0) return 1;
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(p[0]);
    RunPerScrape(url, body, n, p[1]);
    ::close(p[1]);
    ::_exit(0);
  }
  ::close(p[1]);
  std::string text;
  char buf[4096];
  for (ssize_t k; (k = ::read(p[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(k));
  ::close(p[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  double go_us = go.empty() ? NAN : GoScraperUs(go, url, n);
  StopServer(server);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "per-scrape child failed (status %d)\n", status);
    return 1;
  }
  std::printf(
      "per scrape of %s (%zu bytes) over loopback HTTP, %d scrapes per stage, CPU of the scraping "
      "process (all threads)\n\n| stage | CPU us per scrape | x parse alone |\n|---|---:|---:|\n",
      body_path.c_str(), body.size(), n);
  std::stringstream ss(text);
  double parse_us = NAN, e2e_us = NAN;
  for (std::string line; std::getline(ss, line);) {
    auto tab = line.find('\t');
    std::string name = line.substr(0, tab);
    double us = std::atof(line.c_str() + tab + 1);
    if (std::isnan(parse_us)) parse_us = us;
    if (name.rfind("end to end", 0) == 0) e2e_us = us;
    std::printf("| %s | %.1f | %.2f |\n", name.c_str(), us, us / parse_us);
  }
  if (!go.empty()) {
    std::printf("| Go net/http + expfmt (go_scraper, same server) | %.1f | %.2f |\n", go_us, go_us / parse_us);
    std::printf(
        "\nend to end: %.2fx the parse alone (goal: at most 2x); Go scraper / ours: %.1fx (goal: at least "
        "10x)\n",
        e2e_us / parse_us, go_us / e2e_us);
  }
  return 0;
}

struct ModeResult {
  std::vector<Cycle> cycles;
  double peak_rss_mib = 0;
};

ModeResult Measure(Mode mode, const std::vector<std::string>& urls, int cycles, const Server& server) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  std::fflush(stdout);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(p[0]);
    RunMode(mode, urls, cycles, server, p[1]);
    ::close(p[1]);
    ::_exit(0);
  }
  ::close(p[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "measuring child failed (status %d)\n", status);
    std::exit(1);
  }
  ModeResult r;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("peak\t", 0) == 0) {
      r.peak_rss_mib = std::atof(line.c_str() + 5);
      continue;
    }
    Cycle c;
    char err[256] = {0};
    std::sscanf(line.c_str(), "%d\t%lf\t%lf\t%lf\t%lf\t%ld\t%d\t%d\t%255[^\n]", &c.n, &c.wall_ms, &c.cpu_ms,
                &c.server_cpu_ms, &c.rss_mib, &c.new_connections, &c.ok, &c.failed, err);
    c.first_error = err;
    r.cycles.push_back(c);
  }
  return r;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server_exe, body, tsv, go_scraper;
  int n = 1000, cycles = 5, naive_cycles = 3, delay_ms = 0, per_scrape = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--server")
      server_exe = argv[i + 1];
    else if (k == "--body")
      body = argv[i + 1];
    else if (k == "--endpoints")
      n = std::atoi(argv[i + 1]);
    else if (k == "--cycles")
      cycles = std::atoi(argv[i + 1]);
    else if (k == "--naive-cycles")
      naive_cycles = std::atoi(argv[i + 1]);
    else if (k == "--tsv")
      tsv = argv[i + 1];
    else if (k == "--delay-ms")
      delay_ms = std::atoi(argv[i + 1]);
    else if (k == "--per-scrape")
      per_scrape = std::atoi(argv[i + 1]);
    else if (k == "--go-scraper")
      go_scraper = argv[i + 1];
  }
  if (per_scrape > 0 && per_scrape <= 100000 && !server_exe.empty() && !body.empty()) {
    return PerScrapeMain(server_exe, body, per_scrape, go_scraper);
  }
  if (server_exe.empty() || body.empty() || n <= 0 || n > 20000 || cycles < 2 || cycles > 100 || naive_cycles < 1 ||
      naive_cycles > 100 || delay_ms < 0 || delay_ms > 1000) {
    std::fprintf(stderr,
                 "usage: collect_bench --server PATH --body FILE [--endpoints N] [--cycles K>=2] "
                 "[--naive-cycles K] [--delay-ms D (pod response time)] [--tsv FILE]\n");
    return 2;
  }

  // Every endpoint holds one connection: raise the soft descriptor limit to the hard one.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  unsigned long long soft_before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  std::printf("file descriptors: soft limit %llu -> %llu (hard %llu); needed about %d per process\n", soft_before,
              static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max), n + 64);
  if (rl.rlim_cur < static_cast<rlim_t>(n + 64)) {
    std::fprintf(stderr, "the hard file-descriptor limit is too low for %d endpoints (ulimit -Hn)\n", n);
    return 1;
  }

  Server server = StartServer(server_exe, body, n, delay_ms);
  std::vector<std::string> urls;
  for (int p : server.ports) urls.push_back("http://127.0.0.1:" + std::to_string(p) + "/v1/metrics");
  std::ifstream bf(body, std::ios::binary | std::ios::ate);
  long body_bytes = static_cast<long>(bf.tellg());
  long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::printf(
      "%d endpoints on 127.0.0.1 (one collect_server process, pid %d), body %ld bytes, "
      "pod response time %d ms, %ld CPU(s)\n\n",
      n, server.pid, body_bytes, delay_ms, cores);

  ModeResult multi = Measure(Mode::kScrapeAll, urls, cycles, server);
  ModeResult naive = Measure(Mode::kNaive, urls, naive_cycles, server);
  ModeResult floor = Measure(Mode::kFloor, urls, cycles, server);
  ModeResult floor_fetch = Measure(Mode::kFloorFetch, urls, cycles, server);
  StopServer(server);

  std::printf(
      "| mode | cycle | wall ms | CPU ms (scraper) | CPU ms (server) | RSS MiB (scraper) | new connections | pods ok "
      "|\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  bool all_ok = true;
  auto rows = [&](const char* name, const ModeResult& m) {
    for (const auto& c : m.cycles) {
      std::printf("| %s | %d%s | %.0f | %.0f | %.0f | %.1f | %ld | %d/%d |\n", name, c.n, c.n == 1 ? " (connect)" : "",
                  c.wall_ms, c.cpu_ms, c.server_cpu_ms, c.rss_mib, c.new_connections, c.ok, c.ok + c.failed);
      if (c.failed > 0) {
        all_ok = false;
        std::fprintf(stderr, "%s cycle %d: %d failed; first: %s\n", name, c.n, c.failed, c.first_error.c_str());
      }
    }
  };
  rows("ScrapeAll (curl multi)", multi);
  rows("naive sequential Get() + Interpret()", naive);
  rows("floor: minimal epoll HTTP/1.1 client + parse of 3 families", floor);
  rows("floor, fetch only", floor_fetch);

  auto warm = [](const ModeResult& m, double Cycle::*field) {
    std::vector<double> v;
    for (size_t i = 1; i < m.cycles.size(); ++i) v.push_back(m.cycles[i].*field);
    if (v.empty() && !m.cycles.empty()) v.push_back(m.cycles[0].*field);
    return Median(v);
  };
  double mw = warm(multi, &Cycle::wall_ms), mc = warm(multi, &Cycle::cpu_ms);
  double nw = warm(naive, &Cycle::wall_ms), nc = warm(naive, &Cycle::cpu_ms);
  double fw = warm(floor, &Cycle::wall_ms), fc = warm(floor, &Cycle::cpu_ms);
  double ffc = warm(floor_fetch, &Cycle::cpu_ms);
  double cold_wall = multi.cycles.front().wall_ms, cold_cpu = multi.cycles.front().cpu_ms;
  std::printf("\npeak RSS: ScrapeAll %.1f MiB, naive %.1f MiB\n", multi.peak_rss_mib, naive.peak_rss_mib);
  std::printf(
      "warm cycles (median of cycles 2..): ScrapeAll %.0f ms wall, %.0f ms CPU (%.2f cores); "
      "naive %.0f ms wall, %.0f ms CPU; ScrapeAll is %.1fx faster in wall time\n",
      mw, mc, mc / mw, nw, nc, nw / mw);
  std::printf(
      "floor (the least a scrape costs here: bench/collect/floor_client.h): %.0f ms wall, %.0f ms CPU per warm "
      "cycle, %.1f us CPU per endpoint (%.1f of them the fetch); ScrapeAll's CPU is %.2fx the floor's\n",
      fw, fc, fc * 1e3 / n, ffc * 1e3 / n, mc / fc);
  bool wall_ok = cold_wall < 1000 && mw < 1000;
  // "Under one core": a cycle costs less than one CPU-second, so collecting every endpoint
  // once a second would fit in one core.
  bool cpu_ok = cold_cpu < 1000 && mc < 1000;
  std::printf(
      "collection goal (%d endpoints per cycle; for 1,000: under 1 s wall and under one core): "
      "wall %s (cycle 1 %.0f ms, warm %.0f ms); CPU %s (cycle 1 %.0f ms, warm %.0f ms of CPU per cycle, "
      "i.e. %.2f of one core at a 1 s interval)\n",
      n, wall_ok ? "HOLDS" : "DOES NOT HOLD", cold_wall, mw, cpu_ok ? "HOLDS" : "DOES NOT HOLD", cold_cpu, mc,
      mc / 1000);

  if (!tsv.empty()) {
    std::ofstream out(tsv);
    out << "mode\tcycle\twall_ms\tcpu_ms\tserver_cpu_ms\trss_mib\tnew_connections\tok\tfailed\n";
    const std::pair<const char*, const ModeResult*> modes[] = {
        {"multi", &multi}, {"naive", &naive}, {"floor", &floor}, {"floor_fetch", &floor_fetch}};
    for (const auto& [name, m] : modes) {
      for (const auto& c : m->cycles) {
        out << name << '\t' << c.n << '\t' << c.wall_ms << '\t' << c.cpu_ms << '\t' << c.server_cpu_ms << '\t'
            << c.rss_mib << '\t' << c.new_connections << '\t' << c.ok << '\t' << c.failed << '\n';
      }
    }
  }
  return all_ok ? 0 : 1;
}
