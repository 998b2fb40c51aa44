// nim-bench-scaling: every scaling scenario under every policy on a simulated clock
// (tools/demo/scaling.h), one table, one SVG and one CSV per scenario. `make bench-scaling`.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/demo/scaling.h"

namespace {

const char* kUsage =
    "usage: nim-bench-scaling [--out DIR] [--scenario NAME]... [--startup-delay S] [--startup-time S]\n"
    "                         [--slo-ttft S] [--client-timeout S] [--seed N] [--jobs N]\n"
    "Runs the scaling scenarios (article, burst, ramp, idle-burst, long-context) under the article's\n"
    "HPA configuration and nim-scaler's policies on a simulated clock; writes DIR/scaling-<scenario>.svg\n"
    "and .csv and DIR/scaling-summary.txt (default DIR: demo-out). --startup-delay is how long a pod\n"
    "takes to start; --startup-time what the startupTime policies are told (default: the same).\n";

bool ParseDouble(const std::string& s, double* out) {
  try {
    size_t n = 0;
    *out = std::stod(s, &n);
    return n == s.size();
  } catch (...) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "demo-out";
  std::vector<std::string> only;
  demo::RunOptions ro;
  int jobs = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](double* d) {
      if (i + 1 >= argc || !ParseDouble(argv[i + 1], d)) {
        std::fprintf(stderr, "nim-bench-scaling: %s needs a number\n%s", a.c_str(), kUsage);
        std::exit(2);
      }
      ++i;
    };
    double d = 0;
    if (a == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (a == "--scenario" && i + 1 < argc)
      only.push_back(argv[++i]);
    else if (a == "--startup-delay")
      value(&ro.startup);
    else if (a == "--startup-time")
      value(&d), ro.startup_time = d;
    else if (a == "--slo-ttft")
      value(&ro.slo);
    else if (a == "--client-timeout")
      value(&ro.client_timeout);
    else if (a == "--seed")
      value(&d), ro.seed = uint64_t(d);
    else if (a == "--jobs")
      value(&d), jobs = std::max(1, int(d));
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "nim-bench-scaling: unknown or incomplete flag %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  std::vector<demo::Scenario> scenarios;
  for (auto& s : demo::Scenarios())
    if (only.empty() || std::find(only.begin(), only.end(), s.name) != only.end()) scenarios.push_back(s);
  if (scenarios.empty()) {
    std::fprintf(stderr,
                 "nim-bench-scaling: no such scenario; known: article, burst, ramp, idle-burst, long-context\n");
    return 2;
  }
  auto policies = demo::Policies();

  struct Job {
    const demo::Scenario* s;
    const demo::Policy* p;
  };
  std::vector<Job> work;
  for (auto& s : scenarios)
    for (auto& p : policies) work.push_back({&s, &p});
  std::vector<demo::Result> results(work.size());
  std::atomic<size_t> next{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < jobs; ++w) {
    threads.emplace_back([&] {
      // Bounded: each worker takes jobs until the list is exhausted.
      for (size_t k; (k = next.fetch_add(1)) < work.size();) {
        try {
          results[k] = demo::Run(*work[k].s, *work[k].p, ro);
        } catch (const std::exception& e) {
          results[k].scenario = work[k].s->name;
          results[k].policy = work[k].p->name;
          results[k].error = std::string("run failed: ") + e.what();
        }
        std::fprintf(stderr, "  %s / %s done\n", work[k].s->name.c_str(), work[k].p->name.c_str());
      }
    });
  }
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "nim-bench-scaling: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::ostringstream sum;
  sum << "Scaling scenarios (nim-bench-scaling, " << date << "; simulated time, pod start " << ro.startup << " s";
  if (ro.startup_time) sum << ", startupTime " << *ro.startup_time << " s";
  sum << ", SLO p95 TTFT <= " << ro.slo << " s, clients give up after " << ro.client_timeout << " s unscheduled, seed "
      << ro.seed << "; wall " << int(wall + 0.5) << " s)\n\n";
  for (auto& p : policies) sum << "- " << p.name << ": " << p.title << "\n";
  sum << "\n" << demo::MarkdownTable(scenarios, results) << "\n";
  for (auto& s : scenarios) {
    sum << "- " << demo::GoalVerdict(s, results) << "\n";
    std::ofstream(out + "/scaling-" + s.name + ".svg") << demo::ScenarioSvg(s, results, ro.slo);
    std::ofstream(out + "/scaling-" + s.name + ".csv") << demo::ScenarioCsv(s, results);
  }
  std::ofstream(out + "/scaling-summary.txt") << sum.str();
  std::printf("%s\nwrote %s/scaling-summary.txt and scaling-<scenario>.svg/.csv\n", sum.str().c_str(), out.c_str());
  return 0;
}
