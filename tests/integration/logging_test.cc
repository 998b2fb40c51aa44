// Issue 14 items 4 and 5 against the real `nim-scaler serve` binary: under --log-format json
// every line the process writes is one JSON object, gRPC's own log lines included, and a gRPC
// port that another process already holds is a startup error (exit non-zero) rather than a
// silent SO_REUSEPORT share that would send half of KEDA's calls to a process nobody meant to run;
// per-trigger, per-pod and failed-call lines carry namespace, scaledobject, trigger, pod and
// code as top-level keys.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "tests/app/test_pki.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_pod.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

std::vector<std::string> ServeArgs(const std::string& grpc_addr, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                   "serve",
                                   "--grpc-addr",
                                   grpc_addr,
                                   "--http-addr",
                                   "127.0.0.1:0",
                                   "--log-format",
                                   "json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Every non-empty line parses as a JSON object with ts, level, logger and msg; returns the
// messages (for the caller's own checks).
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto doc = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << line;
    if (doc.is_discarded()) continue;
    EXPECT_TRUE(doc.is_object() && doc.contains("ts") && doc.contains("level") && doc.contains("logger") &&
                doc.contains("msg"))
        << line;
    lines.push_back(doc);
  }
  return lines;
}

bool AnyMessage(const std::vector<nlohmann::json>& lines, const std::string& logger, const std::string& part) {
  for (const auto& l : lines) {
    if (l.value("logger", "") == logger && l.value("msg", "").find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(JsonLogs, ASecondServerOnATakenGrpcPortExitsNonZeroAndLogsOnlyJson) {
  ChildProcess first(ServeArgs("127.0.0.1:0"));
  auto m = first.WaitFor(R"(serving grpc_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << first.output();
  std::string taken = "127.0.0.1:" + m[1].str();
  ChildProcess second(ServeArgs(taken));
  int code = second.Wait(10s);
  EXPECT_NE(code, 0) << "a second server must not share the port:\n" << second.output();
  EXPECT_NE(code, -1) << "it must exit, not serve";
  auto lines = JsonLines(second.output());
  ASSERT_FALSE(lines.empty());
  bool named = false;
  for (const auto& l : lines)
    named = named || (l.value("level", "") == "error" && l.value("msg", "").find(taken) != std::string::npos);
  EXPECT_TRUE(named) << "the error names the address:\n" << second.output();
  JsonLines(first.output());
}

TEST(JsonLogs, GrpcOwnLogLinesOfAFailedTlsHandshakeAreJson) {
  auto dir = std::filesystem::temp_directory_path() / ("nimscaler-logging-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto pem = testing::MakeSelfSigned("nim-scaler");
  std::ofstream(dir / "tls.crt") << pem.cert;
  std::ofstream(dir / "tls.key") << pem.key;
  ChildProcess server(
      ServeArgs("127.0.0.1:0", {"--tls-cert", (dir / "tls.crt").string(), "--tls-key", (dir / "tls.key").string()}));
  auto m = server.WaitFor(R"(serving grpc_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  // A plaintext client against the TLS port: the server's handshake fails and gRPC logs it.
  auto stub = externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
  bool logged = false;
  for (int attempt = 0; attempt < 20 && !logged; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 300ms);
    externalscaler::IsActiveResponse r;
    EXPECT_FALSE(stub->IsActive(&ctx, externalscaler::ScaledObjectRef(), &r).ok());
    logged = server.output().find("\"logger\":\"grpc\"") != std::string::npos;
  }
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
  auto lines = JsonLines(server.output());
  EXPECT_TRUE(logged) << "gRPC's handshake error reaches the log as the grpc logger:\n" << server.output();
  EXPECT_TRUE(AnyMessage(lines, "grpc", "andshake")) << server.output();
  std::filesystem::remove_all(dir);
}

// The first JSON line of `server` (waiting up to `timeout` for it) whose msg contains `part`
// and whose `key` is `value`; null when none came.
nlohmann::json FindJsonLogLine(ChildProcess& server, const std::string& part, const std::string& key,
                               const std::string& value, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::istringstream in(server.output());
    for (std::string line; std::getline(in, line);) {
      auto doc = nlohmann::json::parse(line, nullptr, false);
      if (doc.is_object() && doc.value("msg", "").find(part) != std::string::npos && doc.value(key, "") == value) {
        return doc;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return nullptr;
    std::this_thread::sleep_for(20ms);
  }
}

// POST `path` on 127.0.0.1:`port` (the wake hook) with a minimal raw HTTP/1.1 request; the
// status line's code, or 0 when the request failed.
int PostForLogTest(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[512];
      for (ssize_t n; got.size() < 4096 && (n = read(fd, buf, sizeof buf)) > 0;)
        got.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return got.rfind("HTTP/1.1 ", 0) == 0 && got.size() >= 12 ? std::atoi(got.c_str() + 9) : 0;
}

// Issue 14 item 4 (structured fields) against the binary: a trigger's own lines carry
// namespace, scaledobject and trigger (the metric name KEDA got from GetMetricSpec); a failing
// pod's line names the pod (host:port, not the URL); the wake hook's line has the trigger's
// fields; bad metadata answered INVALID_ARGUMENT is logged with that code and the request's
// namespace and scaledobject. Every line stays one JSON object.
TEST(JsonLogs, TriggerPodAndFailedCallLinesCarryStructuredFields) {
  testing::FakePod good(testing::NimCapture());
  testing::FakePod failing(testing::NimCapture());
  failing.SetStatus(500);
  ChildProcess server(ServeArgs("127.0.0.1:0", {"--allow-static-endpoints"}));
  auto m = server.WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
  ASSERT_FALSE(m.empty()) << server.output();
  int http_port = std::stoi(m[2].str());
  auto stub = externalscaler::ExternalScaler::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));

  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_("logs-ns");
  ref.set_name("llama-logs");
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = good.url() + "," + failing.url();
  md["engine"] = "nim";
  md["targetKvCache"] = "0.1";
  md["scrapeInterval"] = "500ms";
  std::string trigger;
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status s = stub->GetMetricSpec(&ctx, ref, &spec);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(spec.metricspecs_size(), 1);
    trigger = spec.metricspecs(0).metricname();
  }
  ASSERT_FALSE(trigger.empty());

  auto tracking = FindJsonLogLine(server, "tracking", "scaledobject", "llama-logs", 5s);
  ASSERT_FALSE(tracking.is_null()) << server.output();
  EXPECT_EQ(tracking.value("logger", ""), "engine");
  EXPECT_EQ(tracking.value("namespace", ""), "logs-ns");
  EXPECT_EQ(tracking.value("trigger", ""), trigger);
  EXPECT_FALSE(tracking.contains("pod")) << tracking.dump();

  std::string failing_pod = failing.url().substr(std::string("http://").size());
  failing_pod = failing_pod.substr(0, failing_pod.find('/'));
  auto scrape = FindJsonLogLine(server, "scrape of", "pod", failing_pod, 5s);
  ASSERT_FALSE(scrape.is_null()) << "a failing pod's line has its pod field:\n" << server.output();
  EXPECT_EQ(scrape.value("level", ""), "warn");
  EXPECT_EQ(scrape.value("namespace", ""), "logs-ns");
  EXPECT_EQ(scrape.value("scaledobject", ""), "llama-logs");
  EXPECT_EQ(scrape.value("trigger", ""), trigger);

  ASSERT_EQ(PostForLogTest(http_port, "/v1/wake/logs-ns/llama-logs"), 200) << server.output();
  auto woken = FindJsonLogLine(server, "woken by the wake hook", "scaledobject", "llama-logs", 5s);
  ASSERT_FALSE(woken.is_null()) << server.output();
  EXPECT_EQ(woken.value("namespace", ""), "logs-ns");
  EXPECT_EQ(woken.value("trigger", ""), trigger);

  externalscaler::ScaledObjectRef bad = ref;
  bad.set_name("bad-logs");
  (*bad.mutable_scalermetadata())["targetKvCache"] = "lots";
  {
    grpc::ClientContext ctx;
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status s = stub->GetMetricSpec(&ctx, bad, &spec);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  auto refused = FindJsonLogLine(server, "targetKvCache", "code", "INVALID_ARGUMENT", 5s);
  ASSERT_FALSE(refused.is_null()) << "the refused call's line has its code:\n" << server.output();
  EXPECT_EQ(refused.value("namespace", ""), "logs-ns");
  EXPECT_EQ(refused.value("scaledobject", ""), "bad-logs");
  EXPECT_FALSE(refused.contains("trigger")) << "no spec was built: " << refused.dump();

  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(10s), 0);
  JsonLines(server.output());  // every line one JSON object
}

}  // namespace
}  // namespace nimscaler
