// Issue 12: three real `nim-scaler serve` replicas on loopback answer KEDA as one scaler. A fake
// Kubernetes API lists them as the peers Service's EndpointSlices; one loopback HTTP server
// plays many model pods (one path per pod, requests counted per path); a KEDA-like client
// round-robins its calls over the replicas.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "scaler/cluster/router.h"
#include "scaler/net/http_client.h"
#include "scaler/net/http_server.h"
#include "scaler/spec/scaler_spec.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_kube_api.h"
#include "tests/fakes/testdata.h"

namespace nimscaler {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using externalscaler::ExternalScaler;

// Many pods behind one loopback server: GET /pod/<i>/metrics serves pod i's NIM metrics.
class ManyPods {
 public:
  ManyPods() {
    server_.Route("/pod/", [this](const net::HttpServerRequest& req) {
      std::lock_guard lock(mu_);
      ++requests_[req.path];
      auto it = kv_.find(req.path);
      double kv = it == kv_.end() ? 0 : it->second;
      std::string body = testing::WithSample(testing::NimCapture(), "gpu_cache_usage_perc", std::to_string(kv));
      if (kv == 0) {
        body = testing::WithSample(testing::WithSample(body, "num_requests_running", "0.0"), "num_requests_waiting",
                                   "0.0");
      }
      return net::HttpServerResponse{200, "text/plain; version=0.0.4", body};
    });
    // civetweb holds a worker per open connection: with one keep-alive connection per trigger
    // and replica, idle connections must go at once or they pin every worker.
    net::HttpServerOptions o;
    o.threads = 64;
    o.keep_alive_timeout = 5ms;
    o.connection_queue = 512;
    o.listen_backlog = 1024;
    Status s = server_.Start("127.0.0.1:0", o);
    if (!s.ok()) std::abort();
  }
  std::string Url(int i) const { return "http://127.0.0.1:" + std::to_string(server_.port()) + Path(i); }
  static std::string Path(int i) { return "/pod/" + std::to_string(i) + "/metrics"; }
  void SetKv(int i, double kv) {
    std::lock_guard lock(mu_);
    kv_[Path(i)] = kv;
  }
  std::map<std::string, int> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, double> kv_;
  std::map<std::string, int> requests_;
  net::HttpServer server_;
};

constexpr int kProbePod = 999999;  // no test trigger reads it

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

struct Replica {
  std::unique_ptr<testing::ChildProcess> process;
  std::string addr;  // 127.0.0.1:<grpc port>, as the peers list it
  int http_port = 0;
  std::unique_ptr<ExternalScaler::Stub> stub;
};

class StreamRecorder {
 public:
  StreamRecorder(ExternalScaler::Stub* stub, const externalscaler::ScaledObjectRef& ref) {
    reader_ = stub->StreamIsActive(&ctx_, ref);
    thread_ = std::thread([this] {
      externalscaler::IsActiveResponse msg;
      while (reader_->Read(&msg)) {
        std::lock_guard lock(mu_);
        got_.push_back(Clock::now());
      }
      std::lock_guard lock(mu_);
      ended_ = true;
    });
  }
  ~StreamRecorder() {
    ctx_.TryCancel();
    thread_.join();
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return got_.size();
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }
  std::optional<Clock::time_point> WaitFor(size_t n, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        if (got_.size() >= n) return got_[n - 1];
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<externalscaler::IsActiveResponse>> reader_;
  std::mutex mu_;
  std::vector<Clock::time_point> got_;
  bool ended_ = false;
  std::thread thread_;
};

class HaTest : public ::testing::Test {
 protected:
  HaTest() : api_("nim-system", "nim-scaler") {}

  void StartReplicas(int n, const std::string& interval) {
    interval_ = interval;
    for (int i = 0; i < n; ++i) {
      Replica r;
      int port = FreePort();
      r.addr = "127.0.0.1:" + std::to_string(port);
      api_.SetPod("scaler-" + std::to_string(i), "127.0.0.1", port, true);
      replicas_.push_back(std::move(r));
    }
    for (size_t i = 0; i < replicas_.size(); ++i) Launch(i);
    // Every replica sees all three before the test calls them (peers are read lazily: ask once).
    // The probe reads a pod of its own: a replica scrapes a pod once for all the triggers that
    // read it, so sharing a test pod would add the probe's collectors to that pod's count.
    for (auto& r : replicas_) {
      auto deadline = Clock::now() + 10s;
      while (Clock::now() < deadline && r.process->output().find("HA: " + std::to_string(n) + " peer(s)") ==
                                            std::string::npos) {
        grpc::ClientContext ctx;
        externalscaler::GetMetricSpecResponse resp;
        r.stub->GetMetricSpec(&ctx, Ref(kProbePod, "probe"), &resp);
        std::this_thread::sleep_for(50ms);
      }
      ASSERT_NE(r.process->output().find("HA: " + std::to_string(n) + " peer(s)"), std::string::npos)
          << r.process->output();
    }
  }

  void Launch(size_t i) {
    Replica& r = replicas_[i];
    std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler",
                                     "serve",
                                     "--grpc-addr",
                                     r.addr,
                                     "--http-addr",
                                     "127.0.0.1:0",
                                     "--allow-static-endpoints",
                                     "--min-scrape-interval",
                                     "100ms",
                                     "--kube-api",
                                     api_.url(),
                                     "--peers-service",
                                     "nim-scaler",
                                     "--peers-namespace",
                                     "nim-system",
                                     "--peers-port-name",
                                     "http",
                                     "--advertise-addr",
                                     r.addr,
                                     "--stream-heartbeat",
                                     "0s"};
    r.process = std::make_unique<testing::ChildProcess>(argv);
    auto m = r.process->WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    ASSERT_FALSE(m.empty()) << r.process->output();
    r.http_port = std::stoi(m[2].str());
    r.stub = ExternalScaler::NewStub(grpc::CreateChannel(r.addr, grpc::InsecureChannelCredentials()));
  }

  externalscaler::ScaledObjectRef Ref(int pod, const std::string& name) const {
    externalscaler::ScaledObjectRef ref;
    ref.set_namespace_("nim");
    ref.set_name(name);
    auto& md = *ref.mutable_scalermetadata();
    md["endpoints"] = pods_.Url(pod);
    md["engine"] = "nim";
    md["targetKvCache"] = "0.1";
    md["scrapeInterval"] = interval_;
    md["window"] = "2s";
    md["panicWindow"] = "1s";
    return ref;
  }

  // The replicas log to a pipe this process reads only when asked: read it often, or a full
  // pipe blocks their logging (and with it whatever thread logs).
  void Drain() {
    for (auto& r : replicas_) {
      if (r.process) r.process->output();
    }
  }

  std::vector<std::string> Peers() const {
    std::vector<std::string> out;
    for (const auto& r : replicas_) out.push_back(r.addr);
    return out;
  }

  cluster::Owners OwnersOf(const externalscaler::ScaledObjectRef& ref) const {
    config::Metadata md(ref.scalermetadata().begin(), ref.scalermetadata().end());
    return cluster::OwnersOf(cluster::TriggerKey(ref.namespace_(), ref.name(), spec::HashMetadata(md)), Peers());
  }

  size_t IndexOf(const std::string& addr) const {
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (replicas_[i].addr == addr) return i;
    }
    return replicas_.size();
  }

  static grpc::Status GetMetrics(ExternalScaler::Stub* stub, const externalscaler::ScaledObjectRef& ref,
                                 double* value) {
    externalscaler::GetMetricsRequest req;
    *req.mutable_scaledobjectref() = ref;
    req.set_metricname("nim-" + ref.namespace_() + "-" + ref.name());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    externalscaler::GetMetricsResponse resp;
    grpc::Status s = stub->GetMetrics(&ctx, req, &resp);
    if (s.ok() && resp.metricvalues_size() == 1) *value = resp.metricvalues(0).metricvaluefloat();
    return s;
  }

  static grpc::Status IsActive(ExternalScaler::Stub* stub, const externalscaler::ScaledObjectRef& ref, bool* active) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 3s);
    externalscaler::IsActiveResponse resp;
    grpc::Status s = stub->IsActive(&ctx, ref, &resp);
    *active = resp.result();
    return s;
  }

  // Names of the triggers a replica collects, from its /debug/scaledobjects.
  std::multiset<std::string> Tracked(const Replica& r) {
    auto http = net::MakeCurlHttpClient();
    net::HttpRequestOptions o;
    o.timeout = 10s;
    o.max_body_bytes = 256u << 20;
    auto resp = http->Get("http://127.0.0.1:" + std::to_string(r.http_port) + "/debug/scaledobjects", o);
    std::multiset<std::string> names;
    if (!resp.ok()) return names;
    auto doc = nlohmann::json::parse(resp->body, nullptr, false);
    if (!doc.is_array()) return names;
    for (const auto& o2 : doc) {
      names.insert(o2.value("name", ""));
      // Every trigger a replica collects names this replica as its owner or successor.
      EXPECT_TRUE(o2.value("collectsHere", false)) << o2.value("name", "") << " on " << r.addr;
      EXPECT_TRUE(o2.value("owner", "") == r.addr || o2.value("successor", "") == r.addr);
    }
    return names;
  }

  testing::FakeKubeApi api_;
  ManyPods pods_;
  std::vector<Replica> replicas_;
  std::string interval_ = "1s";
};

std::string Tail(const std::string& s) {
  std::string out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("became active") != std::string::npos || line.find("tracking") != std::string::npos) continue;
    out += line + "\n";
  }
  return out.size() > 6000 ? out.substr(out.size() - 6000) : out;
}

int TriggerCount() {
  const char* env = std::getenv("NIMSCALER_HA_TRIGGERS");
  return env ? std::atoi(env) : 1000;
}

// Every replica gives the same value for every trigger (the owner's), and each trigger is
// collected by exactly two replicas: its owner and its successor, never three.
TEST_F(HaTest, ThreeReplicasAnswerEveryTriggerAlikeAndTwoCollectEach) {
  const int n = TriggerCount();
  StartReplicas(3, "1s");
  for (int i = 0; i < n; ++i) pods_.SetKv(i, 0.05 * (1 + i % 10));
  // KEDA's first calls, spread round-robin.
  for (int i = 0; i < n; ++i) {
    if (i % 20 == 0) Drain();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status st = replicas_[i % 3].stub->GetMetricSpec(&ctx, Ref(i, "so-" + std::to_string(i)), &spec);
    ASSERT_TRUE(st.ok()) << "trigger " << i << ": " << st.error_code() << " " << st.error_message() << "\n"
                         << Tail(replicas_[0].process->output()) << "\n-----\n" << Tail(replicas_[1].process->output())
                         << "\n-----\n" << Tail(replicas_[2].process->output());
  }
  // Values arrive (bounded): every trigger answers OK on a round-robin pass.
  auto deadline = Clock::now() + 60s;
  std::set<int> pending;
  for (int i = 0; i < n; ++i) pending.insert(i);
  int turn = 0;
  while (!pending.empty() && Clock::now() < deadline) {
    Drain();
    for (auto it = pending.begin(); it != pending.end();) {
      if (*it % 20 == 0) Drain();
      double v = -1;
      if (GetMetrics(replicas_[turn++ % 3].stub.get(), Ref(*it, "so-" + std::to_string(*it)), &v).ok()) {
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (!pending.empty()) std::this_thread::sleep_for(200ms);
  }
  if (!pending.empty()) {
    double v = 0;
    grpc::Status st = GetMetrics(replicas_[0].stub.get(), Ref(*pending.begin(), "so-" + std::to_string(*pending.begin())), &v);
    ADD_FAILURE() << pending.size() << " triggers never answered; one says " << st.error_code() << " "
                  << st.error_message();
    return;
  }
  for (int k = 0; k < 25; ++k) {  // past the window: every value is the steady one
    Drain();
    std::this_thread::sleep_for(100ms);
  }

  int mismatches = 0, wrong = 0, errors = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 20 == 0) Drain();
    auto ref = Ref(i, "so-" + std::to_string(i));
    double v[3] = {-1, -1, -1};
    for (int k = 0; k < 3; ++k) {
      if (!GetMetrics(replicas_[(i + k) % 3].stub.get(), ref, &v[k]).ok()) ++errors;
    }
    if (v[0] != v[1] || v[1] != v[2]) ++mismatches;
    if (std::abs(v[0] - 0.5 * (1 + i % 10)) > 1e-9) ++wrong;
  }
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(mismatches, 0) << "replicas answered one trigger differently";
  EXPECT_EQ(wrong, 0);

  // Exactly two replicas collect each trigger.
  std::map<std::string, int> collectors;
  for (const auto& r : replicas_) {
    for (const auto& name : Tracked(r)) ++collectors[name];
  }
  int not_two = 0;
  for (int i = 0; i < n; ++i) not_two += collectors["so-" + std::to_string(i)] != 2 ? 1 : 0;
  EXPECT_EQ(not_two, 0) << "triggers collected by other than two replicas";

  // And the pods see two scrapers. The bound comes from the time actually measured (a loaded
  // machine stretches the loop): two scrapers on a 1 s interval make at most 2 x (whole
  // seconds + 1) requests; a third would add one more per second, which over 6 s or more
  // always exceeds that bound.
  auto before = pods_.Requests();
  auto started = Clock::now();
  while (Clock::now() - started < 6s) {
    Drain();
    std::this_thread::sleep_for(100ms);
  }
  auto after = pods_.Requests();
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  int bound = 2 * (static_cast<int>(std::ceil(seconds)) + 1);
  int over = 0, most = 0;
  for (int i = 0; i < n; ++i) {
    int got = after[ManyPods::Path(i)] - before[ManyPods::Path(i)];
    most = std::max(most, got);
    if (got > bound && over++ < 5) ADD_FAILURE() << "pod " << i << ": " << got << " requests";
  }
  EXPECT_EQ(over, 0) << "pods scraped by more than owner and successor: up to " << most << " requests in "
                     << seconds << " s (bound " << bound << ")";
}

// kill -9 of the replica that owns a set of triggers: calls keep succeeding (the successor
// answers with warm windows, the value does not move) and relayed streams move and stay open.
// A wake hook call on one replica reaches a stream relayed by another for a trigger a third owns.
TEST_F(HaTest, OwnerKilledSuccessorAnswersRelaysMoveAndWakesReachTheStream) {
  StartReplicas(3, "500ms");
  // --- wake: hook on C, KEDA's stream on A, trigger owned by B (20 trials) ---
  std::vector<double> latencies_ms;
  for (int t = 0; t < 20; ++t) {
    Drain();
    int pod = 1000 + t;
    pods_.SetKv(pod, 0);  // idle: inactive until woken
    auto ref = Ref(pod, "wake-" + std::to_string(t));
    auto owners = OwnersOf(ref);
    size_t b = IndexOf(owners.owner), a = (b + 1) % 3, c = (b + 2) % 3;
    bool active = true;
    {
      grpc::Status st = IsActive(replicas_[a].stub.get(), ref, &active);  // tracked by its owner
      ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message() << "\n" << replicas_[a].process->output();
    }
    ASSERT_FALSE(active);
    StreamRecorder stream(replicas_[a].stub.get(), ref);
    std::this_thread::sleep_for(300ms);  // the relay from B is open
    ASSERT_EQ(stream.count(), 0u);
    auto called = Clock::now();
    // The wake hook is a POST; the project's HTTP client only GETs, so a raw socket.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(replicas_[c].http_port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::string req = "POST /v1/wake/nim/" + ref.name() + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n";
    ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    auto got = stream.WaitFor(1, 2s);
    ::close(fd);
    ASSERT_TRUE(got.has_value()) << "trial " << t << ": no true on A's stream";
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(*got - called).count());
    for (auto& r : replicas_) {
      ASSERT_TRUE(IsActive(r.stub.get(), ref, &active).ok());
      EXPECT_TRUE(active) << "IsActive after the wake, on " << r.addr;
    }
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  double p99 = latencies_ms[static_cast<size_t>(0.99 * (latencies_ms.size() - 1))];
  std::cout << "wake hook on C -> true on A's relayed stream (owner B): p50 " << latencies_ms[latencies_ms.size() / 2]
            << " ms, p99 " << p99 << " ms\n";
  EXPECT_LT(p99, 100.0);

  // --- kill -9 of an owner ---
  constexpr int kTriggers = 30;
  for (int i = 0; i < kTriggers; ++i) pods_.SetKv(i, 0.2);
  std::vector<externalscaler::ScaledObjectRef> refs;
  for (int i = 0; i < kTriggers; ++i) refs.push_back(Ref(i, "so-" + std::to_string(i)));
  for (size_t i = 0; i < refs.size(); ++i) {
    double v = 0;
    auto deadline = Clock::now() + 10s;
    while (!GetMetrics(replicas_[i % 3].stub.get(), refs[i], &v).ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
  }
  std::this_thread::sleep_for(2s);  // windows warm on owner and successor
  const size_t victim = IndexOf(OwnersOf(refs[0]).owner);
  std::vector<size_t> owned;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (IndexOf(OwnersOf(refs[i]).owner) == victim) owned.push_back(i);
  }
  // A stream relayed by another replica for a trigger the victim owns.
  size_t relay_at = (victim + 1) % 3;
  StreamRecorder stream(replicas_[relay_at].stub.get(), refs[owned[0]]);
  ASSERT_TRUE(stream.WaitFor(1, 3s).has_value()) << "active trigger: true on open";

  replicas_[victim].process->Signal(SIGKILL);
  auto end = Clock::now() + 3s;
  int calls = 0, failures = 0, jumps = 0;
  while (Clock::now() < end && failures < 5) {
    Drain();
    for (size_t i : owned) {
      for (size_t k = 0; k < 3; ++k) {
        if (k == victim) continue;
        double v = -1;
        ++calls;
        grpc::Status st = GetMetrics(replicas_[k].stub.get(), refs[i], &v);
        if (!st.ok() && failures++ == 0) {
          ADD_FAILURE() << "first failure on " << replicas_[k].addr << ": " << st.error_code() << " "
                        << st.error_message();
        }
        if (st.ok() && std::abs(v - 2.0) > 1e-9) ++jumps;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(calls, 0);
  EXPECT_EQ(failures, 0) << "calls for the dead owner's triggers failed";
  EXPECT_EQ(jumps, 0) << "the successor's warm windows give the same value";
  // The relay moved to the successor, which says `true` on open (the trigger is active).
  EXPECT_TRUE(stream.WaitFor(2, 5s).has_value()) << "relay did not move";
  EXPECT_FALSE(stream.ended()) << "KEDA's stream must stay open";
}

}  // namespace
}  // namespace nimscaler
