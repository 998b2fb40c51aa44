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
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "externalscaler.grpc.pb.h"
#include "scaler/cluster/router.h"
#include "scaler/net/http_client.h"
#include "scaler/net/http_server.h"
#include "scaler/trigger/scaler_spec.h"
#include "tests/app/test_pki.h"
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
  // NIMSCALER_HA_LOGS=<dir>: each replica's log is saved there (for a failure's post-mortem).
  ~HaTest() override {
    const char* dir = std::getenv("NIMSCALER_HA_LOGS");
    if (dir == nullptr) return;
    for (size_t i = 0; i < replicas_.size(); ++i) {
      if (!replicas_[i].process) continue;
      std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      std::replace(test.begin(), test.end(), '/', '_');  // parameterized tests: Name/Param
      std::ofstream(std::string(dir) + "/" + test + "-" + std::to_string(i) + ".log") << replicas_[i].process->output();
    }
  }

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
      while (Clock::now() < deadline &&
             r.process->output().find("HA: " + std::to_string(n) + " peer(s)") == std::string::npos) {
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
    std::vector<std::string> argv = {std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler", "serve", "--grpc-addr",
                                     r.addr, "--http-addr", "127.0.0.1:0", "--allow-static-endpoints",
                                     "--min-scrape-interval", "100ms", "--kube-api", api_.url(), "--peers-service",
                                     "nim-scaler", "--peers-namespace", "nim-system", "--peers-port-name", "http",
                                     "--advertise-addr", r.addr,
                                     // Triggers left behind by a move go after 5 s, not 30.
                                     "--peer-forget-after", "5s", "--stream-heartbeat", "0s"};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    r.process = std::make_unique<testing::ChildProcess>(argv);
    auto m = r.process->WaitFor(R"(serving grpc_port=(\d+) http_port=(\d+))", 10s);
    ASSERT_FALSE(m.empty()) << r.process->output();
    r.http_port = std::stoi(m[2].str());
    r.stub = ExternalScaler::NewStub(grpc::CreateCustomChannel(r.addr, client_credentials_, client_args_));
  }

  externalscaler::ScaledObjectRef Ref(int pod, const std::string& name, const std::string& window = "2s") const {
    externalscaler::ScaledObjectRef ref;
    ref.set_namespace_("nim");
    ref.set_name(name);
    auto& md = *ref.mutable_scalermetadata();
    md["endpoints"] = pods_.Url(pod);
    md["engine"] = "nim";
    md["targetKvCache"] = "0.1";
    md["scrapeInterval"] = interval_;
    md["window"] = window;
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

  cluster::Owners OwnersOf(const externalscaler::ScaledObjectRef& ref) const { return OwnersIn(ref, Peers()); }
  static cluster::Owners OwnersIn(const externalscaler::ScaledObjectRef& ref, const std::vector<std::string>& peers) {
    config::Metadata md(ref.scalermetadata().begin(), ref.scalermetadata().end());
    return cluster::OwnersOf(cluster::TriggerKey(ref.namespace_(), ref.name(), trigger::HashMetadata(md)), peers);
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
  std::multiset<std::string> Tracked(const Replica& r, bool check = true) {
    auto http = net::MakeCurlHttpClient();
    net::HttpRequestOptions o;
    o.timeout = 10s;
    o.max_body_bytes = 256u << 20;
    auto resp = http->Get("http://127.0.0.1:" + std::to_string(r.http_port) + "/debug/scaledobjects", o);
    std::multiset<std::string> names;
    if (!resp.ok()) {
      ADD_FAILURE() << "/debug/scaledobjects of " << r.addr << ": " << resp.status().message();
      return names;
    }
    auto doc = nlohmann::json::parse(resp->body, nullptr, false);
    if (!doc.is_array()) {
      ADD_FAILURE() << "/debug/scaledobjects of " << r.addr << ": " << resp->status << " " << resp->body.substr(0, 200);
      return names;
    }
    for (const auto& o2 : doc) {
      names.insert(o2.value("name", ""));
      if (!check) continue;
      // Every trigger a replica collects names this replica as its owner or successor.
      EXPECT_TRUE(o2.value("collectsHere", false)) << o2.value("name", "") << " on " << r.addr;
      EXPECT_TRUE(o2.value("owner", "") == r.addr || o2.value("successor", "") == r.addr);
    }
    return names;
  }

  // A gauge of a replica's /metrics (e.g. nimscaler_stream_clients), or -1.
  double Gauge(const Replica& r, const std::string& name) {
    auto http = net::MakeCurlHttpClient();
    net::HttpRequestOptions o;
    o.timeout = 5s;
    auto resp = http->Get("http://127.0.0.1:" + std::to_string(r.http_port) + "/metrics", o);
    if (!resp.ok()) return -1;
    std::istringstream in(resp->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
    }
    return -1;
  }

  // Waits (bounded) until replica i has logged that it sees `n` peers, asking it something
  // meanwhile (peers are read lazily).
  bool SeesPeers(size_t i, int n, std::chrono::seconds limit) {
    auto deadline = Clock::now() + limit;
    std::string want = "HA: " + std::to_string(n) + " peer(s)";
    while (Clock::now() < deadline) {
      Drain();
      const std::string& out = replicas_[i].process->output();
      size_t at = out.rfind("HA: ");
      if (at != std::string::npos && out.compare(at, want.size(), want) == 0) return true;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 2s);
      externalscaler::GetMetricSpecResponse resp;
      replicas_[i].stub->GetMetricSpec(&ctx, Ref(kProbePod, "probe"), &resp);
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Set before StartReplicas(): more serve flags, and how the test's KEDA-like client connects.
  std::vector<std::string> extra_args_;
  std::shared_ptr<grpc::ChannelCredentials> client_credentials_ = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments client_args_;
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
                         << Tail(replicas_[0].process->output()) << "\n-----\n"
                         << Tail(replicas_[1].process->output()) << "\n-----\n"
                         << Tail(replicas_[2].process->output());
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
    grpc::Status st =
        GetMetrics(replicas_[0].stub.get(), Ref(*pending.begin(), "so-" + std::to_string(*pending.begin())), &v);
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
  EXPECT_EQ(over, 0) << "pods scraped by more than owner and successor: up to " << most << " requests in " << seconds
                     << " s (bound " << bound << ")";
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
    std::string req = "POST /v1/wake/nim/" + ref.name() +
                      " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
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

// Issue 18 item 2: a wake by Service (POST /v1/wake/<ns>/service/<service>) on the one replica
// that neither owns nor succeeds the trigger reading that Service (so it tracks nothing that
// reads it) is sent to the others marked as a wake by Service; the owner wakes the trigger, and
// IsActive is true on all three. Before, the path was a 400 and nothing woke.
TEST_F(HaTest, WakeByServiceOnAReplicaThatTracksNothingReachesTheOwner) {
  StartReplicas(3, "500ms");
  constexpr int kPod = 3000;
  pods_.SetKv(kPod, 0);  // idle: inactive until woken
  // The trigger reads the pods of a Service the fake API lists (the peers Service
  // nim-system/nim-scaler), at the loopback pod server's port and one pod's path.
  std::string url = pods_.Url(kPod);
  size_t colon = url.rfind(':');
  std::string port = url.substr(colon + 1, url.find('/', colon) - colon - 1);
  externalscaler::ScaledObjectRef ref;
  ref.set_namespace_("nim-system");
  ref.set_name("reads-the-service");
  auto& md = *ref.mutable_scalermetadata();
  md["service"] = "nim-scaler";
  md["port"] = port;
  md["metricsPath"] = ManyPods::Path(kPod);
  md["engine"] = "nim";
  md["targetKvCache"] = "0.1";
  md["scrapeInterval"] = "500ms";
  md["window"] = "2s";
  md["panicWindow"] = "1s";
  auto owners = OwnersOf(ref);
  size_t b = IndexOf(owners.owner), s = IndexOf(owners.successor);
  size_t c = 3 - b - s;  // neither owner nor successor
  ASSERT_LT(c, 3u);
  bool active = true;
  {
    // KEDA's first call, on the owner: it starts collecting (and warms its successor).
    auto deadline = Clock::now() + 5s;
    grpc::Status st;
    while (!(st = IsActive(replicas_[b].stub.get(), ref, &active)).ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message() << "\n"
                         << Tail(replicas_[b].process->output());
  }
  ASSERT_FALSE(active) << "the pods show no demand";
  EXPECT_EQ(Tracked(replicas_[c], false).count("reads-the-service"), 0u);
  // The wake hook is a POST; the project's HTTP client only GETs, so a raw socket.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(replicas_[c].http_port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req =
      "POST /v1/wake/nim-system/service/nim-scaler HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string answer;
  char buf[4096];
  for (ssize_t got; (got = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<size_t>(got));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 202", 0), 0u) << answer;
  EXPECT_NE(answer.find("no trigger tracked by this replica reads Service nim-system/nim-scaler"), std::string::npos)
      << answer;
  EXPECT_NE(answer.find("sent to 2 other replica(s)"), std::string::npos) << answer;
  // Delivered (bounded wait): every replica answers true (the owner's answer).
  for (auto& r : replicas_) {
    auto deadline = Clock::now() + 3s;
    grpc::Status st;
    do {
      st = IsActive(r.stub.get(), ref, &active);
      if (st.ok() && active) break;
      std::this_thread::sleep_for(50ms);
    } while (Clock::now() < deadline);
    ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    EXPECT_TRUE(active) << "IsActive after the wake by Service, on " << r.addr;
  }
  EXPECT_NE(replicas_[b].process->output().find(
                "reads-the-service: woken by the wake hook (Service nim-system/nim-scaler, via a peer)"),
            std::string::npos)
      << Tail(replicas_[b].process->output());
}

// Issue 12 acceptance "Restarting a replica (SIGTERM, start again) changes no answer beyond
// what the pods' values changed". A KEDA-like client round-robins GetMetrics and IsActive over
// the live replicas without pause while one replica is stopped with SIGTERM and started again
// on the same address. Most pods are steady: every answer, on every replica and at every
// moment, is the steady value. A few triggers (6 s window) see their pods' load drop at the
// SIGTERM: a warm window answers the average of the last 6 s, which falls slowly; the
// restarted replica, owner again of some of them, would answer the new low level at once from
// its cold window (the jump the issue saw: 1.0 on one replica, 5.0 on the other). It hands its
// triggers' calls to their warm successors until its own windows are warm
// (ExternalScalerService::ColdOwnerSuccessor), so every answer stays within what a warm
// window gives; afterwards it answers the same values itself.
TEST_F(HaTest, RestartedReplicaChangesNoAnswer) {
  const char* env = std::getenv("NIMSCALER_HA_RESTART_TRIGGERS");
  const int n = env ? std::atoi(env) : 300;
  constexpr int kDrops = 30;  // the last kDrops triggers see the load drop
  constexpr int kFirstPod = 2000;
  constexpr double kHigh = 1.5, kLow = 0.5;  // below the panic threshold (2 x 1 pod): plain averages
  const auto kDropWindow = 6s;
  // A 1 s interval: 330 triggers on owner and successor already make 660 scrapes a second
  // on this loopback host, with KEDA's calls on top.
  StartReplicas(3, "1s");
  std::vector<externalscaler::ScaledObjectRef> refs;
  std::vector<double> want;
  for (int i = 0; i < n + kDrops; ++i) {
    if (i < n) {
      pods_.SetKv(kFirstPod + i, 0.05 * (1 + i % 10));
      refs.push_back(Ref(kFirstPod + i, "rs-" + std::to_string(i)));
      want.push_back(0.5 * (1 + i % 10));
    } else {
      pods_.SetKv(kFirstPod + i, kHigh / 10);
      refs.push_back(Ref(kFirstPod + i, "rs-drop-" + std::to_string(i), "6s"));
      want.push_back(kHigh);
    }
  }
  auto is_drop = [&](size_t i) { return i >= static_cast<size_t>(n); };
  // KEDA's first calls, then every trigger answers (bounded).
  for (size_t i = 0; i < refs.size(); ++i) {
    if (i % 20 == 0) Drain();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    externalscaler::GetMetricSpecResponse spec;
    ASSERT_TRUE(replicas_[i % 3].stub->GetMetricSpec(&ctx, refs[i], &spec).ok());
  }
  const auto tracked_at = Clock::now();
  auto deadline = Clock::now() + 30s;
  for (size_t i = 0; i < refs.size() && Clock::now() < deadline;) {
    if (i % 20 == 0) Drain();
    double v = -1;
    if (GetMetrics(replicas_[i % 3].stub.get(), refs[i], &v).ok() && std::abs(v - want[i]) < 1e-9) {
      ++i;
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_LT(Clock::now(), deadline) << "triggers never answered their steady value";
  // Every window, the drop triggers' 6 s too, holds only steady samples on owner and successor.
  while (Clock::now() < tracked_at + kDropWindow + 1500ms) {
    Drain();
    std::this_thread::sleep_for(100ms);
  }

  // The KEDA-like client: its own channels (a restarted replica gets a new one), one call at a
  // time, round-robin over the replicas marked live, GetMetrics and IsActive in turn.
  struct Answer {
    size_t trigger;
    size_t replica;
    Clock::time_point at;  // when the answer arrived
    double value;
  };
  struct Client {
    std::mutex mu;
    std::vector<std::shared_ptr<ExternalScaler::Stub>> stubs;
    std::atomic<bool> live[3] = {true, true, true};
    std::atomic<bool> stop{false};
    std::atomic<long> calls{0};
    long per_replica[3] = {0, 0, 0};    // guarded by mu
    std::vector<std::string> failures;  // guarded by mu
    std::vector<Answer> drops;          // guarded by mu: GetMetrics answers for drop triggers
  } client;
  auto channel = [](const std::string& addr) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    return std::shared_ptr<ExternalScaler::Stub>(
        ExternalScaler::NewStub(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args)));
  };
  for (const auto& r : replicas_) client.stubs.push_back(channel(r.addr));
  std::atomic<bool> dropped{false};            // the drop triggers' answers are checked by the caller
  const auto client_end = Clock::now() + 80s;  // bounded even if the test body fails early
  std::thread keda([&] {
    size_t turn = 0;
    for (long call = 0; !client.stop.load() && Clock::now() < client_end; ++call) {
      size_t k = turn++ % 3;
      if (!client.live[k].load()) continue;
      std::shared_ptr<ExternalScaler::Stub> stub;
      {
        std::lock_guard lock(client.mu);
        stub = client.stubs[k];
      }
      // The drop triggers come up every 4th call, the others in turn.
      size_t i = call % 4 == 3 ? n + static_cast<size_t>(call / 4) % kDrops : static_cast<size_t>(call / 2) % n;
      std::string problem;
      double v = -1;
      bool metrics = call % 2 == 0 || is_drop(i);
      if (metrics) {
        grpc::Status st = GetMetrics(stub.get(), refs[i], &v);
        if (!st.ok())
          problem = "GetMetrics error " + std::to_string(st.error_code()) + " " + st.error_message();
        else if (!is_drop(i) && std::abs(v - want[i]) > 1e-9)
          problem = "GetMetrics " + std::to_string(v) + " instead of " + std::to_string(want[i]);
        else if (is_drop(i) && !dropped.load() && std::abs(v - kHigh) > 1e-9)
          problem = "before the drop " + std::to_string(v);
      } else {
        bool active = false;
        grpc::Status st = IsActive(stub.get(), refs[i], &active);
        if (!st.ok())
          problem = "IsActive error " + std::to_string(st.error_code()) + " " + st.error_message();
        else if (!active)
          problem = "IsActive false";
      }
      auto at = Clock::now();
      std::lock_guard lock(client.mu);
      ++client.per_replica[k];
      if (!problem.empty() && client.failures.size() < 1000) {
        client.failures.push_back(refs[i].name() + " on replica " + std::to_string(k) + ": " + problem);
      }
      if (metrics && is_drop(i) && problem.empty()) client.drops.push_back({i, k, at, v});
      client.calls.fetch_add(1);
    }
  });
  auto wait_calls = [&](long more) {  // the client made `more` calls since now (bounded)
    long target = client.calls.load() + more;
    auto end = Clock::now() + 20s;
    while (client.calls.load() < target && Clock::now() < end) {
      Drain();
      std::this_thread::sleep_for(20ms);
    }
  };
  wait_calls(300);  // steady state before the restart, on all three

  // SIGTERM: the replica leaves the Service's ready endpoints at once (terminating), as it does
  // in Kubernetes, and KEDA stops calling it; the client finishes any call to it first. The
  // drop triggers' pods fall to the low level at the same moment.
  const size_t victim = 1;
  const std::string pod = "scaler-" + std::to_string(victim);
  const int port = std::stoi(replicas_[victim].addr.substr(replicas_[victim].addr.rfind(':') + 1));
  client.live[victim] = false;
  wait_calls(3);
  const auto drop_at = Clock::now();
  for (int i = n; i < n + kDrops; ++i) pods_.SetKv(kFirstPod + i, kLow / 10);
  dropped = true;
  api_.SetPod(pod, "127.0.0.1", port, false, /*terminating=*/true);
  replicas_[victim].process->Signal(SIGTERM);
  int code = -1;
  for (int k = 0; k < 150 && code == -1; ++k) {
    Drain();
    code = replicas_[victim].process->Wait(100ms);
  }
  EXPECT_EQ(code, 0) << replicas_[victim].process->output();
  api_.DeletePod(pod);

  // Started again on the same address; ready once it serves and knows its peers.
  Launch(victim);
  api_.SetPod(pod, "127.0.0.1", port, true);
  ASSERT_TRUE(SeesPeers(victim, 3, 10s)) << replicas_[victim].process->output();
  for (size_t i = 0; i < replicas_.size(); ++i) {
    if (i != victim) {
      ASSERT_TRUE(SeesPeers(i, 3, 10s)) << replicas_[i].process->output();
    }
  }
  long victim_before = 0;
  {
    std::lock_guard lock(client.mu);
    client.stubs[victim] = channel(replicas_[victim].addr);
    victim_before = client.per_replica[victim];
  }
  client.live[victim] = true;
  const auto live_at = Clock::now();
  std::cout << "restarted replica live " << std::chrono::duration<double>(live_at - drop_at).count()
            << " s after the SIGTERM\n";
  // Through the restarted owner's cold period (6 s window + 2 intervals, from its first call),
  // until the drop triggers are steady at the low level again everywhere.
  auto until = std::max(live_at + kDropWindow + 4s, drop_at + kDropWindow + 3s);
  while (Clock::now() < until) {
    Drain();
    std::this_thread::sleep_for(100ms);
  }
  wait_calls(3 * static_cast<long>(refs.size()));  // at least a full pass once warm
  client.stop = true;
  keda.join();

  {
    std::lock_guard lock(client.mu);
    EXPECT_GT(client.per_replica[victim] - victim_before, 0) << "the restarted replica was never called";
    std::string first;
    for (size_t k = 0; k < client.failures.size() && k < 10; ++k) first += client.failures[k] + "\n";
    EXPECT_TRUE(client.failures.empty()) << client.failures.size() << " calls failed or differed, first:\n"
                                         << first << Tail(replicas_[victim].process->output());
    // The drop triggers: a 6 s window sampled every second, whose samples before the drop
    // leave it one by one. Answered at `at`, at least the part of the window still before the
    // drop (less a margin of one sample) is high; a cold window would be all low. Never above
    // the high level.
    int low = 0, checked = 0;
    std::string first_low;
    for (const Answer& a : client.drops) {
      double since = std::chrono::duration<double>(a.at - drop_at).count();
      double w = std::chrono::duration<double>(kDropWindow).count();
      double high_part = std::clamp((w - std::max(0.0, since)) / w - 0.2, 0.0, 1.0);
      double floor = kLow + (kHigh - kLow) * high_part;
      EXPECT_LE(a.value, kHigh + 1e-9);
      if (a.at > live_at && high_part > 0) ++checked;
      if (a.value < floor - 1e-9 && low++ == 0) {
        first_low = refs[a.trigger].name() + " on replica " + std::to_string(a.replica) + " " + std::to_string(since) +
                    " s after the drop: " + std::to_string(a.value) + " < " + std::to_string(floor);
      }
    }
    EXPECT_EQ(low, 0) << "an answer below what a warm window gives: " << first_low;
    std::cout << checked << " answers for drop triggers checked while the restarted replica was live and "
              << "their windows still held the drop\n";
  }
  // After the restart: the restarted replica, owner of about a third of them again and warm
  // now, answers every trigger with the steady value, like the others.
  for (int i = n; i < n + kDrops; ++i) want[i] = kLow;
  int wrong = 0;
  std::string first_wrong;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (i % 20 == 0) Drain();
    for (size_t k = 0; k < 3; ++k) {
      double v = -1;
      bool active = false;
      grpc::Status a = GetMetrics(replicas_[k].stub.get(), refs[i], &v);
      grpc::Status b = IsActive(replicas_[k].stub.get(), refs[i], &active);
      if (!a.ok() || !b.ok() || std::abs(v - want[i]) > 1e-9 || !active) {
        if (wrong++ == 0) {
          first_wrong = refs[i].name() + " on " + replicas_[k].addr + ": " + std::to_string(v) + " " +
                        a.error_message() + " " + b.error_message();
        }
      }
    }
  }
  EXPECT_EQ(wrong, 0) << first_wrong;
  // It collects the triggers it owns again.
  std::multiset<std::string> tracked = Tracked(replicas_[victim], /*check=*/false);
  size_t owned = 0, tracked_owned = 0;
  for (const auto& ref : refs) {
    if (OwnersOf(ref).owner != replicas_[victim].addr) continue;
    ++owned;
    tracked_owned += tracked.count(ref.name()) ? 1 : 0;
  }
  EXPECT_GT(owned, 0u);
  EXPECT_EQ(tracked_owned, owned) << "the restarted replica collects the triggers it owns (it lists " << tracked.size()
                                  << ")";
  for (auto& r : replicas_) EXPECT_EQ(r.process->Wait(10ms), -1) << r.addr << " exited";
}

// Issue 12 item 3 "when the owner changes or dies, the relay moves to the new owner", for an
// owner that changes without ending the stream (before, a relay moved only when its source
// ended it, and the old owner kept collecting the trigger while the stream was open). KEDA's
// streams are all held by replica A. A fourth replica D joins and becomes the owner of T1
// (owned by B before: relayed from B) and of T2 (owned by A before: subscribed on A): both
// streams stay open and are relayed from D, B no longer serves one, and D's messages come
// through. Then B leaves the ready endpoints while still running: the stream of T3, which B
// owned, moves to T3's new owner, and B, owner or successor of nothing now, drops T3.
TEST_F(HaTest, StreamsFollowTheOwnerWhenThePeersChange) {
  StartReplicas(3, "500ms");
  const size_t a = 0;
  const int d_port = FreePort();
  const std::string d = "127.0.0.1:" + std::to_string(d_port);
  std::vector<std::string> three = Peers(), four = three;
  four.push_back(d);
  // Pick the triggers by their owners among three and four replicas.
  std::optional<externalscaler::ScaledObjectRef> t1, t2, t3;
  int pod1 = 0, pod2 = 0, pod3 = 0;
  for (int k = 0; k < 2000 && !(t1 && t2 && t3); ++k) {
    auto ref = Ref(4000 + k, "mv-" + std::to_string(k));
    std::string own3 = OwnersIn(ref, three).owner, own4 = OwnersIn(ref, four).owner;
    if (!t1 && own3 != three[a] && own4 == d)
      t1 = ref, pod1 = 4000 + k;
    else if (!t2 && own3 == three[a] && own4 == d)
      t2 = ref, pod2 = 4000 + k;
    else if (t1 && !t3 && own3 == OwnersIn(*t1, three).owner && own4 == own3)
      t3 = ref, pod3 = 4000 + k;
  }
  ASSERT_TRUE(t1 && t2 && t3);
  const size_t b = IndexOf(OwnersIn(*t1, three).owner);
  ASSERT_EQ(IndexOf(OwnersIn(*t3, three).owner), b);
  for (int pod : {pod1, pod2, pod3}) pods_.SetKv(pod, 0);  // idle: no `true` until the load comes
  for (const auto* ref : {&*t1, &*t2, &*t3}) {
    bool active = true;
    auto deadline = Clock::now() + 10s;
    while (!IsActive(replicas_[a].stub.get(), *ref, &active).ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_FALSE(active);
  }
  StreamRecorder s1(replicas_[a].stub.get(), *t1), s2(replicas_[a].stub.get(), *t2), s3(replicas_[a].stub.get(), *t3);
  auto gauges_are = [&](std::vector<std::pair<size_t, double>> want, std::chrono::seconds limit) {
    auto deadline = Clock::now() + limit;
    std::string got;
    while (true) {
      got.clear();
      bool all = true;
      for (auto [i, v] : want) {
        double g = Gauge(replicas_[i], "nimscaler_stream_clients");
        got += replicas_[i].addr + "=" + std::to_string(g) + " ";
        all = all && g == v;
      }
      if (all) return std::string();
      if (Clock::now() >= deadline) return got;
      Drain();
      std::this_thread::sleep_for(100ms);
    }
  };
  // KEDA's three streams on A; B serves the relays of T1 and T3.
  EXPECT_EQ(gauges_are({{a, 3}, {b, 2}}, 5s), "");

  // D joins: listed ready once it serves.
  replicas_.push_back(Replica{});
  replicas_.back().addr = d;
  api_.SetPod("scaler-3", "127.0.0.1", d_port, false);
  Launch(3);
  api_.SetPod("scaler-3", "127.0.0.1", d_port, true);
  for (size_t i = 0; i < replicas_.size(); ++i) ASSERT_TRUE(SeesPeers(i, 4, 10s)) << replicas_[i].process->output();
  // T1 and T2 are relayed from D now; B serves T3 only.
  EXPECT_EQ(gauges_are({{a, 3}, {b, 1}, {3, 2}}, 10s), "") << Tail(replicas_[a].process->output());
  // The load comes: D's windows see it and its `true` reaches KEDA's streams on A.
  pods_.SetKv(pod1, 0.3);
  pods_.SetKv(pod2, 0.3);
  EXPECT_TRUE(s1.WaitFor(1, 5s).has_value()) << "T1: no true through D";
  EXPECT_TRUE(s2.WaitFor(1, 5s).has_value()) << "T2: no true through D";
  EXPECT_EQ(s3.count(), 0u);
  EXPECT_FALSE(s1.ended() || s2.ended() || s3.ended()) << "KEDA's streams stay open";

  // B leaves the ready endpoints but keeps running (its readiness failed): T3 moves to its new
  // owner, whose `true` comes through once the load comes; B drops T3 (its idle time,
  // --peer-forget-after without a call, counts from its last call).
  const int b_port = std::stoi(replicas_[b].addr.substr(replicas_[b].addr.rfind(':') + 1));
  api_.SetPod("scaler-" + std::to_string(b), "127.0.0.1", b_port, false);
  for (size_t i = 0; i < replicas_.size(); ++i) {
    if (i != b) {
      ASSERT_TRUE(SeesPeers(i, 3, 10s)) << replicas_[i].process->output();
    }
  }
  EXPECT_EQ(gauges_are({{a, 3}, {b, 0}}, 10s), "") << Tail(replicas_[a].process->output());
  pods_.SetKv(pod3, 0.3);
  EXPECT_TRUE(s3.WaitFor(1, 5s).has_value()) << "T3: no true through its new owner";
  EXPECT_FALSE(s1.ended() || s2.ended() || s3.ended()) << "KEDA's streams stay open";
  auto deadline = Clock::now() + 45s;
  while (Tracked(replicas_[b], /*check=*/false).count(t3->name()) && Clock::now() < deadline) {
    Drain();
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(Tracked(replicas_[b], /*check=*/false).count(t3->name()), 0u) << "the old owner still collects T3\n"
                                                                          << Tail(replicas_[b].process->output());
}

// Issue 12 item 1: a replica that has not read its peers yet would answer as if it were alone
// (owner of everything), so it is not ready until the peers Service has been listed once.
TEST_F(HaTest, NotReadyBeforeThePeersServiceIsListed) {
  api_.HoldLists(true);
  replicas_.push_back(Replica{});
  int port = FreePort();
  replicas_[0].addr = "127.0.0.1:" + std::to_string(port);
  api_.SetPod("scaler-0", "127.0.0.1", port, true);
  Launch(0);
  auto http = net::MakeCurlHttpClient();
  net::HttpRequestOptions o;
  o.timeout = 2s;
  const std::string readyz = "http://127.0.0.1:" + std::to_string(replicas_[0].http_port) + "/readyz";
  auto before = http->Get(readyz, o);
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(before->status, 503) << before->body;
  EXPECT_NE(before->body.find("the peers Service nim-scaler has not been listed yet"), std::string::npos)
      << before->body;
  api_.HoldLists(false);
  long status = 0;
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && status != 200) {
    Drain();
    auto r = http->Get(readyz, o);
    status = r.ok() ? r->status : 0;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200) << replicas_[0].process->output();
}

// Issue 12 item 3: a forwarded call uses the credentials KEDA's does, TLS or mTLS, and keeps
// working when the certificate rotates. The replicas share one certificate signed by a CA (as
// cert-manager issues it) for the Service's DNS name only, so peers check that name. Before,
// the peer client read its trust and its own certificate once at start: after a rotation to a
// certificate from a new CA, a replica that restarted with the new one could not be reached
// by the others (their handshakes failed), and the replica whose forward failed answered from
// a trigger it started collecting itself (a third collector, and no longer one answer).
// Modes: TLS trusting the certificate file itself (the default), TLS with --peer-tls-ca, mTLS.
enum class PeerTls { kOwnCertificate, kPeerCa, kMutual };

class HaTlsTest : public HaTest, public ::testing::WithParamInterface<PeerTls> {
 protected:
  // Asks every replica about triggers [first, first + n) until all three answer the pod's value;
  // then checks that owner and successor alone collect each, and that no forward failed.
  void ExpectOneAnswerEach(int first, int n) {
    std::set<int> pending;
    for (int i = first; i < first + n; ++i) {
      pods_.SetKv(i, 0.05 * (1 + i % 10));
      pending.insert(i);
    }
    auto deadline = Clock::now() + 30s;
    while (!pending.empty() && Clock::now() < deadline) {
      Drain();
      for (auto it = pending.begin(); it != pending.end();) {
        auto ref = Ref(*it, "tls-" + std::to_string(*it), "1s");
        int right = 0;
        for (auto& r : replicas_) {
          double v = -1;
          if (GetMetrics(r.stub.get(), ref, &v).ok() && std::abs(v - 0.5 * (1 + *it % 10)) < 1e-9) ++right;
        }
        it = right == 3 ? pending.erase(it) : std::next(it);
      }
      if (!pending.empty()) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(pending.empty()) << pending.size() << " triggers never answered alike over TLS";
    std::map<std::string, int> collectors;
    for (const auto& r : replicas_) {
      for (const auto& name : Tracked(r, /*check=*/false)) ++collectors[name];
    }
    for (int i = first; i < first + n; ++i) EXPECT_EQ(collectors["tls-" + std::to_string(i)], 2) << "tls-" << i;
    for (auto& r : replicas_) {
      EXPECT_EQ(r.process->output().find("no peer in line answered"), std::string::npos) << Tail(r.process->output());
    }
  }
};

TEST_P(HaTlsTest, ForwardedCallsUseTlsCheckedAgainstThePeersCaAcrossARotation) {
  const PeerTls mode = GetParam();
  const std::string dir = ::testing::TempDir() + "/ha-tls-" + std::to_string(static_cast<int>(mode));
  // The replicas keep checked copies of their key under $TMPDIR; a replica killed with -9 (here
  // and when the fixture ends) cannot remove them, so they go under this test's directory,
  // emptied at the next run, rather than in /tmp.
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/tmp");
  struct TmpDirFor {  // set for the replicas this test starts, restored after it
    explicit TmpDirFor(const std::string& d) {
      if (const char* v = std::getenv("TMPDIR")) saved = v;
      setenv("TMPDIR", d.c_str(), 1);
    }
    ~TmpDirFor() { saved ? setenv("TMPDIR", saved->c_str(), 1) : unsetenv("TMPDIR"); }
    std::optional<std::string> saved;
  } tmpdir(dir + "/tmp");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name + ".tmp") << text;
    std::filesystem::rename(dir + "/" + name + ".tmp", dir + "/" + name);
  };
  const std::string kName = "nim-scaler.nim-system.svc";
  auto ca1 = testing::MakeSelfSigned("nim-scaler test CA 1");
  auto server1 = testing::MakeSignedBy(ca1, "nim-scaler", "DNS:" + kName);
  auto keda = testing::MakeSignedBy(ca1, "keda-operator", "DNS:keda-operator.keda.svc");
  write("ca.crt", ca1.cert);
  write("tls.crt", server1.cert);
  write("tls.key", server1.key);
  extra_args_ = {"--tls-cert", dir + "/tls.crt", "--tls-key", dir + "/tls.key", "--peer-tls-server-name", kName};
  if (mode == PeerTls::kPeerCa) extra_args_.insert(extra_args_.end(), {"--peer-tls-ca", dir + "/ca.crt"});
  if (mode == PeerTls::kMutual) extra_args_.insert(extra_args_.end(), {"--tls-client-ca", dir + "/ca.crt"});
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ca1.cert;
  if (mode == PeerTls::kMutual) {
    o.pem_private_key = keda.key;
    o.pem_cert_chain = keda.cert;
  }
  client_credentials_ = grpc::SslCredentials(o);
  client_args_.SetSslTargetNameOverride(kName);
  StartReplicas(3, "200ms");
  ExpectOneAnswerEach(0, 20);

  // Rotation to a certificate from a new CA; the CA bundle holds both (KEDA's client
  // certificate still chains to the first). Every replica re-reads its files ...
  auto ca2 = testing::MakeSelfSigned("nim-scaler test CA 2");
  auto server2 = testing::MakeSignedBy(ca2, "nim-scaler", "DNS:" + kName);
  write("ca.crt", ca1.cert + ca2.cert);
  write("tls.key", server2.key);
  write("tls.crt", server2.cert);
  for (auto& r : replicas_) {
    ASSERT_FALSE(r.process->WaitFor("certificate files changed and checked", 10s).empty()) << Tail(r.process->output());
  }
  // gRPC's own watcher takes the checked copies within its interval (tls_credentials.h).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // ... and the KEDA-like client trusts both CAs. Replica 0 restarts with the new certificate:
  // the others must reach it with what they re-read.
  grpc::SslCredentialsOptions o2 = o;
  o2.pem_root_certs = ca1.cert + ca2.cert;
  client_credentials_ = grpc::SslCredentials(o2);
  for (auto& r : replicas_)
    r.stub = ExternalScaler::NewStub(grpc::CreateCustomChannel(r.addr, client_credentials_, client_args_));
  replicas_[0].process->Signal(SIGKILL);
  replicas_[0].process->Wait(5s);
  Launch(0);
  for (size_t i = 0; i < replicas_.size(); ++i) ASSERT_TRUE(SeesPeers(i, 3, 10s)) << replicas_[i].process->output();
  ExpectOneAnswerEach(100, 20);
}

INSTANTIATE_TEST_SUITE_P(PeerTrust, HaTlsTest,
                         ::testing::Values(PeerTls::kOwnCertificate, PeerTls::kPeerCa, PeerTls::kMutual),
                         [](const ::testing::TestParamInfo<PeerTls>& p) {
                           switch (p.param) {
                             case PeerTls::kOwnCertificate: return "TlsTrustingTheCertificate";
                             case PeerTls::kPeerCa: return "TlsWithPeerTlsCa";
                             case PeerTls::kMutual: return "MutualTls";
                           }
                           return "";
                         });

}  // namespace
}  // namespace nimscaler
