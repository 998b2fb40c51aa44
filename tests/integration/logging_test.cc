// Issue 14 items 4 and 5 against the real `nim-scaler serve` binary: under --log-format json
// every line the process writes is one JSON object, gRPC's own log lines included, and a gRPC
// port that another process already holds is a startup error (exit non-zero) rather than a
// silent SO_REUSEPORT share that would send half of KEDA's calls to a process nobody meant to run.
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

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

std::vector<std::string> ServeArgs(const std::string& grpc_addr, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                   "serve", "--grpc-addr", grpc_addr, "--http-addr", "127.0.0.1:0",
                                   "--log-format", "json"};
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
  for (const auto& l : lines) named = named || (l.value("level", "") == "error" && l.value("msg", "").find(taken) != std::string::npos);
  EXPECT_TRUE(named) << "the error names the address:\n" << second.output();
  JsonLines(first.output());
}

TEST(JsonLogs, GrpcOwnLogLinesOfAFailedTlsHandshakeAreJson) {
  auto dir = std::filesystem::temp_directory_path() / ("nimscaler-logging-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto pem = testing::MakeSelfSigned("nim-scaler");
  std::ofstream(dir / "tls.crt") << pem.cert;
  std::ofstream(dir / "tls.key") << pem.key;
  ChildProcess server(ServeArgs("127.0.0.1:0", {"--tls-cert", (dir / "tls.crt").string(), "--tls-key",
                                                (dir / "tls.key").string()}));
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

}  // namespace
}  // namespace nimscaler
