// Exports ReadProcessStats and ProcessMetricsText (see process_metrics.h).
#include "scaler/telemetry/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "scaler/common/text.h"

namespace nimscaler::telemetry {
namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and
// parentheses, so the split starts after its last ')'). Field 3 (state) is index 0.
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

std::optional<double> BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::vector<std::string> f = StatFields();
  // proc(5) numbering: utime 14, stime 15, num_threads 20, starttime 22, vsize 23, rss 24;
  // index = number - 3.
  if (f.size() > 21 && ticks > 0) {
    try {
      s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      s.threads = std::stod(f[17]);
      if (auto boot = BootTimeSeconds()) s.start_time_seconds = *boot + std::stod(f[19]) / ticks;
      s.virtual_bytes = std::stod(f[20]);
      s.resident_bytes = std::stod(f[21]) * page;
    } catch (const std::exception&) {
      // A field that is not a number leaves the rest unknown: left out of /metrics.
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) s.open_fds = fds;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return s;
}

std::string ProcessMetricsText(const ProcessStats& s) {
  std::string out;
  auto add = [&](const char* name, const char* type, const char* help, const std::optional<double>& v) {
    if (!v) return;
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           FormatDouble(*v) + "\n";
  };
  add("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", s.cpu_seconds);
  add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s.resident_bytes);
  add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s.virtual_bytes);
  add("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
      s.start_time_seconds);
  add("process_open_fds", "gauge", "Number of open file descriptors.", s.open_fds);
  add("process_max_fds", "gauge", "Maximum number of open file descriptors.", s.max_fds);
  add("process_threads", "gauge", "Number of OS threads in the process.", s.threads);
  return out;
}

}  // namespace nimscaler::telemetry
