#pragma once
// One sample of the demo's timeline, and its CSV and SVG renderings.

#include <string>
#include <vector>

namespace demo {

struct Side {
  double kv = 0;    ///< mean KV use over ready pods (0-1)
  int waiting = 0;  ///< waiting in pods plus held by the Service
  int running = 0;
  double p95_ttft = 0;  ///< client-side, trailing 30 s, pending requests by age
  double value = 0;     ///< the metric the controller last saw (replicas it asks for)
  int spec = 0;         ///< Deployment spec.replicas
  int ready = 0, pods = 0;
  int active = -1;  ///< KEDA activity (-1: not applicable)
};

struct Row {
  double t = 0;
  int load = 0;
  Side a, b;
};

struct PlotInfo {
  std::string title_a, title_b;
  double slo_ttft = 2;
  double kv_target = 0.1;
  double compression = 10;
};

std::string ToCsv(const std::vector<Row>& rows);
std::string ToSvg(const std::vector<Row>& rows, const PlotInfo& info);

}  // namespace demo
