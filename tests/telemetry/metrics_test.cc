// Issue 14 item 1: per-trigger series carry a `trigger` label and are removed per trigger; the
// gRPC server metrics use the names stock dashboards query; process_* metrics come from /proc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "scaler/telemetry/process_metrics.h"
#include "scaler/telemetry/scaler_metrics.h"

namespace nimscaler::telemetry {
namespace {

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ScalerMetrics, TwoTriggersOfOneScaledObjectKeepApartAndLeaveOneByOne) {
  ScalerMetrics m;
  ScaledObjectGauges kv, queue;
  kv.value = 2.5;
  kv.collected = true;
  kv.signals = {{"kv_cache", 0.4}};
  kv.errors = {{"scrape", 1}};
  kv.held = true;
  queue.value = 4;
  m.SetScaledObject({"nim", "llama", "llama-kv"}, kv);
  m.SetScaledObject({"nim", "llama", "llama-queue"}, queue);
  m.SetScaledObject({"nim", "llama", "llama-kv"}, kv);  // a second cycle: the error count adds up
  std::string text = m.SerializeText();
  EXPECT_TRUE(
      Has(text,
          "nimscaler_scaledobject_desired_replicas{namespace=\"nim\",scaledobject=\"llama\",trigger=\"llama-kv\"} 2.5"))
      << text;
  EXPECT_TRUE(Has(
      text,
      "nimscaler_scaledobject_desired_replicas{namespace=\"nim\",scaledobject=\"llama\",trigger=\"llama-queue\"} 4"));
  EXPECT_TRUE(Has(text,
                  "nimscaler_scaledobject_collection_errors_total{namespace=\"nim\",reason=\"scrape\",scaledobject="
                  "\"llama\",trigger=\"llama-kv\"} 2"));
  EXPECT_TRUE(Has(text,
                  "nimscaler_scaledobject_last_collection_timestamp_seconds{namespace=\"nim\",scaledobject=\"llama\","
                  "trigger=\"llama-kv\"} 1"))
      << "a Unix time in seconds (starts with 1 until 2033)";
  EXPECT_TRUE(
      Has(text, "nimscaler_scaledobject_held{namespace=\"nim\",scaledobject=\"llama\",trigger=\"llama-kv\"} 1"));
  EXPECT_TRUE(Has(
      text, "nimscaler_scaledobject_panicking{namespace=\"nim\",scaledobject=\"llama\",trigger=\"llama-queue\"} 0"));
  m.RemoveScaledObject({"nim", "llama", "llama-kv"});
  text = m.SerializeText();
  EXPECT_FALSE(Has(text, "trigger=\"llama-kv\"")) << text;
  EXPECT_TRUE(Has(text, "trigger=\"llama-queue\"}")) << "the other trigger of the ScaledObject keeps its series";
}

// Issue 16 item 3: per-trigger series are rendered from a compact table of nim-scaler's own,
// not prometheus-cpp families; the text must stay what Prometheus parses: labels in name order
// (signal and reason in their places), escaped values (a newline becomes U+FFFD first), NaN,
// and no empty family.
TEST(ScalerMetrics, PerTriggerSeriesAreValidTextWithEscapedLabelsInNameOrder) {
  ScalerMetrics m;
  EXPECT_FALSE(Has(m.SerializeText(), "nimscaler_scaledobject_")) << "no family before a trigger is tracked";
  ScaledObjectGauges g;
  g.value = std::nan("");
  g.active = true;
  g.signals = {{"kv_cache", 0.25}, {"frontdoor_waiting", 3}};
  g.errors = {{"metric", 0}};
  m.SetScaledObject({"ns", "a\"b\\c\nd", "t"}, g);
  std::string text = m.SerializeText();
  EXPECT_TRUE(Has(text,
                  "# HELP nimscaler_scaledobject_signal Aggregated signal (sum over pods), per trigger and signal.\n"
                  "# TYPE nimscaler_scaledobject_signal gauge\n"
                  "nimscaler_scaledobject_signal{namespace=\"ns\",scaledobject=\"a\\\"b\\\\c\xEF\xBF\xBD"
                  "d\",signal=\"frontdoor_waiting\",trigger=\"t\"} 3\n"
                  "nimscaler_scaledobject_signal{namespace=\"ns\",scaledobject=\"a\\\"b\\\\c\xEF\xBF\xBD"
                  "d\",signal=\"kv_cache\",trigger=\"t\"} 0.25\n"))
      << text;
  EXPECT_TRUE(Has(text,
                  "nimscaler_scaledobject_desired_replicas{namespace=\"ns\",scaledobject=\"a\\\"b\\\\c\xEF\xBF\xBD"
                  "d\",trigger=\"t\"} NaN\n"));
  EXPECT_TRUE(Has(text,
                  "nimscaler_scaledobject_active{namespace=\"ns\",scaledobject=\"a\\\"b\\\\c\xEF\xBF\xBD"
                  "d\",trigger=\"t\"} 1\n"));
  EXPECT_TRUE(Has(text,
                  "# TYPE nimscaler_scaledobject_collection_errors_total counter\n"
                  "nimscaler_scaledobject_collection_errors_total{namespace=\"ns\",reason=\"metric\",scaledobject="))
      << "a reason seen with no shortfall yet is a counter at 0";
  EXPECT_TRUE(Has(
      text,
      "nimscaler_scaledobject_last_collection_timestamp_seconds{namespace=\"ns\",scaledobject=\"a\\\"b\\\\c\xEF\xBF\xBD"
      "d\",trigger=\"t\"} 0\n"))
      << "never collected: 0";
  m.RemoveScaledObject({"ns", "a\"b\\c\nd", "t"});
  EXPECT_FALSE(Has(m.SerializeText(), "nimscaler_scaledobject_")) << "the last trigger gone, its families go too";
}

TEST(ScalerMetrics, GrpcServerMetricsUseTheStockNamesAndGoCodeNames) {
  ScalerMetrics m;
  m.RecordGrpc("GetMetrics", "INVALID_ARGUMENT", 0.001);
  m.RecordGrpc("IsActive", "OK", 0.0002);
  m.RecordGrpc("StreamIsActive", "CANCELLED", 0);
  std::string text = m.SerializeText();
  EXPECT_TRUE(Has(text,
                  "grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"GetMetrics\",grpc_service="
                  "\"externalscaler.ExternalScaler\",grpc_type=\"unary\"} 1"))
      << text;
  EXPECT_TRUE(Has(text,
                  "grpc_server_handled_total{grpc_code=\"Canceled\",grpc_method=\"StreamIsActive\",grpc_service="
                  "\"externalscaler.ExternalScaler\",grpc_type=\"server_stream\"} 1"));
  EXPECT_TRUE(Has(text,
                  "grpc_server_handling_seconds_count{grpc_method=\"IsActive\",grpc_service=\"externalscaler."
                  "ExternalScaler\",grpc_type=\"unary\"} 1"));
  EXPECT_FALSE(Has(text, "grpc_server_handling_seconds_count{grpc_method=\"StreamIsActive\""))
      << "streams have no handling time";
}

TEST(ProcessMetrics, ReadFromProcSelf) {
  ProcessStats s = ReadProcessStats();
  ASSERT_TRUE(s.resident_bytes && s.cpu_seconds && s.start_time_seconds && s.open_fds && s.threads);
  EXPECT_GT(*s.resident_bytes, 1 << 20);
  EXPECT_GE(*s.cpu_seconds, 0);
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 3600) << "this test process started within the hour";
  EXPECT_GE(*s.open_fds, 3);  // stdin, stdout, stderr
  EXPECT_GE(*s.threads, 1);
  std::string text = ProcessMetricsText(s);
  EXPECT_TRUE(Has(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
  EXPECT_TRUE(Has(text, "\nprocess_resident_memory_bytes "));
  // Unknown fields are left out, not written as 0.
  EXPECT_EQ(ProcessMetricsText(ProcessStats{}), "");
}

}  // namespace
}  // namespace nimscaler::telemetry
