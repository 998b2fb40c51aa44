#pragma once
// PrometheusServer: a real Prometheus (Debian's /usr/bin/prometheus) started by a test on
// loopback with a temporary configuration and storage, scraping loopback targets. Tests use
// it as the reference peer (PromQL answers) and as a wakeQuery backend.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "scaler/common/text.h"
#include "scaler/net/http_client.h"
#include "tests/fakes/child_process.h"

namespace nimscaler::testing {

inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/// How a PrometheusServer's scrape job is configured beyond its targets (default: job "pods").
struct PrometheusJob {
  std::string name = "pods";
  bool honor_labels = false;
  std::map<std::string, std::string> target_labels;  ///< labels of the targets (static_configs)
};

class PrometheusServer {
 public:
  static bool Available() { return access("/usr/bin/prometheus", X_OK) == 0; }

  /// Starts Prometheus scraping `targets` ("127.0.0.1:port") at `metrics_path` every
  /// `scrape_interval` ("1s"). Returns once /-/ready answers (or throws).
  PrometheusServer(const std::vector<std::string>& targets, const std::string& metrics_path,
                   const std::string& scrape_interval, const PrometheusJob& job = PrometheusJob())
      : dir_(std::filesystem::temp_directory_path() /
             ("nim-scaler-prom-" + std::to_string(getpid()) + "-" + std::to_string(FreeLoopbackPort()))) {
    std::filesystem::create_directories(dir_ / "data");
    std::ofstream cfg(dir_ / "prometheus.yml");
    cfg << "global:\n  scrape_interval: " << scrape_interval << "\n  evaluation_interval: " << scrape_interval
        << "\nscrape_configs:\n  - job_name: " << job.name
        << "\n    honor_labels: " << (job.honor_labels ? "true" : "false") << "\n    metrics_path: " << metrics_path
        << "\n    static_configs:\n      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) cfg << (i ? ", " : "") << "'" << targets[i] << "'";
    cfg << "]\n";
    if (!job.target_labels.empty()) {
      cfg << "        labels:\n";
      for (const auto& [k, v] : job.target_labels) cfg << "          " << k << ": '" << v << "'\n";
    }
    cfg.close();
    port_ = FreeLoopbackPort();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    child_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
                                 "--storage.tsdb.path=" + (dir_ / "data").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
    for (int i = 0; i < 300; ++i) {  // up to 30 s on a loaded machine
      auto r = http_->Get(url_ + "/-/ready", {});
      if (r.ok() && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("prometheus did not become ready:\n" + child_->output());
  }
  ~PrometheusServer() {
    child_->Signal(SIGTERM);
    child_->Wait(std::chrono::seconds(10));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& url() const { return url_; }

  /// GET /api/v1/query; returns the "data" object (throws on errors).
  nlohmann::json Query(const std::string& expr, std::optional<double> time = std::nullopt) {
    std::string q = url_ + "/api/v1/query?query=" + UrlEncode(expr);
    if (time) q += "&time=" + std::to_string(*time);
    auto r = http_->Get(q, {});
    if (!r.ok()) throw std::runtime_error(r.status().message());
    auto doc = nlohmann::json::parse(r->body);
    if (doc.value("status", "") != "success") throw std::runtime_error("query failed: " + r->body);
    return doc["data"];
  }

  /// GET /api/v1/targets as text (scrape errors, for failure messages).
  std::string Targets() {
    auto r = http_->Get(url_ + "/api/v1/targets", {});
    return r.ok() ? r->body : r.status().message();
  }

  /// Waits until `expr` returns a non-empty vector (bounded).
  bool WaitForData(const std::string& expr, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto d = Query(expr);
      if (!d["result"].empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::string url_;
  std::unique_ptr<ChildProcess> child_;
  std::shared_ptr<net::HttpClient> http_ = net::MakeCurlHttpClient();
};

}  // namespace nimscaler::testing
