// keda_load: what KEDA's operator does to a scaler, at scale, timed per call.
//
//   keda_load grpc   --target H:P --pods URL,... --objects 1000 --callers 200 --seconds 10 [--period-ms 100]
//   keda_load burst  --target H:P --pods URL,... --objects 1000 --callers 200
//   keda_load promql --prom http://H:P --pods HOST:PORT,... --callers 200 --seconds 10 [--period-ms 100]
//   keda_load track  --target H:P --pods URL,... --objects 1000 [--pods-per-object 10] [--scrape-interval 2s]
//
// KEDA's operator is a Go process: its per-ScaledObject polling loops are goroutines multiplexed
// on a few OS threads, sharing one gRPC connection per scaler address. So is this client: the
// callers are state machines on one completion queue (grpc) or one curl multi handle (promql),
// driven by --threads OS threads (default 1), not one OS thread per caller.
//
// grpc: tracks --objects ScaledObjects (GetMetricSpec + a first GetMetrics each; object i scrapes
// pod i % pods), then runs --callers callers. Each caller is a polling loop like KEDA's: every
// --period-ms (a fixed cadence with a random phase; a tick that falls inside a poll still running
// is dropped, as Go's time.Ticker does) it picks a random object and calls GetMetrics then
// IsActive, timing each call. --period-ms 0: closed loop, the next poll starts when one ends.
// burst: an operator restart against a scaler that already tracks the objects: every object's
// GetMetricSpec, GetMetrics and IsActive, --callers objects in flight at once.
// track: only tracks the objects (as grpc does before timing) and exits; with
// --pods-per-object N, object i reads N pods, URLs pods[(i*N + k) % len] made distinct per object
// with "?so=i" (the memory benchmark's 1,000 objects x 10 pods).
// promql: the same callers send the per-call request of KEDA's built-in Prometheus scaler, an
// instant query GET /api/v1/query?query=sum(num_requests_waiting{instance="<pod>"}), over pooled
// keep-alive connections, and time it.
// Prints one JSON object: per call kind {count, errors, p50_us, p90_us, p99_us, p999_us, max_us}
// and calls_per_s. Stubs generated from KEDA's Proto@HEAD (tests/conformance/proto/keda_head.proto).
#include <curl/curl.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "keda_head.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using externalscaler::ExternalScaler;

struct Args {
  std::string mode, target, prom;
  std::vector<std::string> pods;
  int objects = 1000, callers = 200, threads = 1, pods_per_object = 1;
  double seconds = 10, period_ms = 0;
  std::string scrape_interval = "2s";
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "keda_load: %s\nusage: keda_load grpc|burst|track|promql [--target H:P] [--prom URL] --pods A,B "
               "[--objects N] [--callers N] [--threads N] [--seconds S] [--period-ms MS] "
               "[--pods-per-object N] [--scrape-interval D]\n",
               why.c_str());
  std::exit(2);
}

Args Parse(int argc, char** argv) {
  Args a;
  if (argc < 2) Usage("missing mode");
  a.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) Usage("flag " + k + " needs a value");
    std::string v = argv[i + 1];
    if (k == "--target")
      a.target = v;
    else if (k == "--prom")
      a.prom = v;
    else if (k == "--pods")
      a.pods = Split(v);
    else if (k == "--objects")
      a.objects = std::atoi(v.c_str());
    else if (k == "--callers")
      a.callers = std::atoi(v.c_str());
    else if (k == "--threads")
      a.threads = std::max(1, std::atoi(v.c_str()));
    else if (k == "--seconds")
      a.seconds = std::atof(v.c_str());
    else if (k == "--period-ms")
      a.period_ms = std::atof(v.c_str());
    else if (k == "--pods-per-object")
      a.pods_per_object = std::max(1, std::atoi(v.c_str()));
    else if (k == "--scrape-interval")
      a.scrape_interval = v;
    else
      Usage("unknown flag " + k);
  }
  if (a.pods.empty()) Usage("--pods is required");
  if (a.callers < 1 || a.objects < 1) Usage("--callers and --objects must be at least 1");
  return a;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Latencies in microseconds per call kind; each driver thread fills its own and merges at the end.
struct Samples {
  std::map<std::string, std::vector<double>> lat;
  std::map<std::string, long> errors;
  void Add(const std::string& kind, Clock::duration d, bool ok) {
    lat[kind].push_back(Micros(d));
    if (!ok) ++errors[kind];
  }
};

struct Recorder {
  std::mutex mu;
  Samples all;
  void Merge(const Samples& s) {
    std::lock_guard lock(mu);
    for (const auto& [k, v] : s.lat) all.lat[k].insert(all.lat[k].end(), v.begin(), v.end());
    for (const auto& [k, v] : s.errors) all.errors[k] += v;
  }
};

double Pct(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void Report(Recorder& r, double wall_s, const Args& a) {
  std::printf("{\"mode\": \"%s\", \"callers\": %d, \"threads\": %d, \"period_ms\": %.1f, \"seconds\": %.3f",
              a.mode.c_str(), a.callers, a.threads, a.period_ms, wall_s);
  long total = 0;
  for (auto& [k, v] : r.all.lat) {
    std::sort(v.begin(), v.end());
    total += static_cast<long>(v.size());
    std::printf(
        ", \"%s\": {\"count\": %zu, \"errors\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
        "\"p999_us\": %.1f, \"max_us\": %.1f}",
        k.c_str(), v.size(), r.all.errors[k], Pct(v, 0.5), Pct(v, 0.9), Pct(v, 0.99), Pct(v, 0.999),
        v.empty() ? 0 : v.back());
  }
  std::printf(", \"calls_per_s\": %.0f}\n", static_cast<double>(total) / wall_s);
}

std::chrono::system_clock::time_point Wall(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

// A fixed-cadence schedule with a random phase; ticks missed while a poll ran are dropped.
struct Cadence {
  Clock::duration period{};
  Clock::time_point next;
  // The time of the next poll after one that ended at `now`.
  Clock::time_point After(Clock::time_point now) {
    if (period == Clock::duration::zero()) return now;
    while (next <= now) next += period;
    return next;
  }
};

// ---------------------------------------------------------------------------------------------
// gRPC

externalscaler::ScaledObjectRef Ref(const Args& a, int i) {
  externalscaler::ScaledObjectRef ref;
  ref.set_name("bench-" + std::to_string(i));
  ref.set_namespace_("bench");
  auto& md = *ref.mutable_scalermetadata();
  if (a.pods_per_object == 1) {
    md["endpoints"] = a.pods[static_cast<size_t>(i) % a.pods.size()];
  } else {
    std::string urls;
    for (int k = 0; k < a.pods_per_object; ++k) {
      size_t pod =
          (static_cast<size_t>(i) * static_cast<size_t>(a.pods_per_object) + static_cast<size_t>(k)) % a.pods.size();
      urls += (k ? "," : "") + a.pods[pod] + "?so=" + std::to_string(i);
    }
    md["endpoints"] = urls;
  }
  md["engine"] = "nim";
  md["targetWaiting"] = "4";
  md["targetKvCache"] = "0.8";
  md["scrapeInterval"] = a.scrape_interval;
  return ref;
}

struct Objects {
  std::vector<externalscaler::ScaledObjectRef> refs;
  std::vector<std::string> names;
};

// Tracks every object and waits until each answers GetMetrics (its first collection has run).
bool Track(const Args& a, ExternalScaler::Stub* stub, Objects* out) {
  auto t_setup = Clock::now();
  for (int i = 0; i < a.objects; ++i) {
    out->refs.push_back(Ref(a, i));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status s = stub->GetMetricSpec(&ctx, out->refs.back(), &spec);
    if (!s.ok() || spec.metricspecs_size() != 1) {
      std::fprintf(stderr, "GetMetricSpec %d: %s\n", i, s.error_message().c_str());
      return false;
    }
    out->names.push_back(spec.metricspecs(0).metricname());
  }
  for (int i = 0; i < a.objects; ++i) {
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      externalscaler::GetMetricsRequest req;
      *req.mutable_scaledobjectref() = out->refs[static_cast<size_t>(i)];
      req.set_metricname(out->names[static_cast<size_t>(i)]);
      externalscaler::GetMetricsResponse resp;
      if (stub->GetMetrics(&ctx, req, &resp).ok()) break;
      if (attempt > 100) {
        std::fprintf(stderr, "object %d never answered\n", i);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::fprintf(stderr, "tracked %d objects in %.1fs\n", a.objects,
               std::chrono::duration<double>(Clock::now() - t_setup).count());
  return true;
}

// One simulated polling loop. Exactly one operation (an alarm or a call) is outstanding at a
// time, so the caller itself is the completion-queue tag and `state` says which one completed.
struct GrpcCaller {
  enum State { kWaiting, kSpec, kMetrics, kActive, kDone } state = kWaiting;
  int object = 0;
  std::mt19937 rng;
  Cadence cadence;
  grpc::Alarm alarm;
  std::unique_ptr<grpc::ClientContext> ctx;
  Clock::time_point t0;
  grpc::Status status;
  externalscaler::GetMetricsRequest metrics_req;
  externalscaler::GetMetricSpecResponse spec_resp;
  externalscaler::GetMetricsResponse metrics_resp;
  externalscaler::IsActiveResponse active_resp;
  std::unique_ptr<grpc::ClientAsyncResponseReader<externalscaler::GetMetricSpecResponse>> spec_rpc;
  std::unique_ptr<grpc::ClientAsyncResponseReader<externalscaler::GetMetricsResponse>> metrics_rpc;
  std::unique_ptr<grpc::ClientAsyncResponseReader<externalscaler::IsActiveResponse>> active_rpc;
};

class GrpcDriver {
 public:
  // Polling (`burst` false): callers poll random objects until `stop`. Burst: callers take the
  // next object from `next_object` and run GetMetricSpec, GetMetrics, IsActive on it.
  GrpcDriver(ExternalScaler::Stub* stub, const Objects* objs, const Args& a, bool burst, std::atomic<int>* next_object)
      : stub_(stub), objs_(objs), args_(a), burst_(burst), next_object_(next_object) {}

  void Run(int first_caller, int count, Clock::time_point start, Clock::time_point stop, Recorder* rec) {
    stop_ = stop;
    std::vector<std::unique_ptr<GrpcCaller>> callers;
    std::uniform_real_distribution<double> phase(0, 1);
    for (int c = 0; c < count; ++c) {
      auto caller = std::make_unique<GrpcCaller>();
      caller->rng.seed(static_cast<unsigned>(first_caller + c) * 7919u + 1u);
      caller->cadence.period =
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(args_.period_ms));
      caller->cadence.next =
          start + std::chrono::duration_cast<Clock::duration>(caller->cadence.period * phase(caller->rng));
      caller->alarm.Set(&cq_, Wall(caller->cadence.next), caller.get());
      callers.push_back(std::move(caller));
    }
    int live = count;
    void* tag = nullptr;
    bool ok = false;
    while (live > 0 && cq_.Next(&tag, &ok)) {
      auto* c = static_cast<GrpcCaller*>(tag);
      Clock::time_point now = Clock::now();
      switch (c->state) {
        case GrpcCaller::kWaiting: StartPoll(c, now); break;
        case GrpcCaller::kSpec:
          samples_.Add("GetMetricSpec", now - c->t0, c->status.ok() && c->spec_resp.metricspecs_size() == 1);
          StartMetrics(c);
          break;
        case GrpcCaller::kMetrics:
          samples_.Add("GetMetrics", now - c->t0, c->status.ok() && c->metrics_resp.metricvalues_size() == 1);
          StartActive(c);
          break;
        case GrpcCaller::kActive: {
          samples_.Add("IsActive", now - c->t0, c->status.ok());
          Clock::time_point next = burst_ ? now : c->cadence.After(now);
          if (burst_ || next <= now) {
            StartPoll(c, now);
          } else {
            c->state = GrpcCaller::kWaiting;
            c->alarm.Set(&cq_, Wall(next), c);
          }
          break;
        }
        case GrpcCaller::kDone: break;
      }
      if (c->state == GrpcCaller::kDone) --live;
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
    rec->Merge(samples_);
  }

 private:
  void StartPoll(GrpcCaller* c, Clock::time_point now) {
    if (burst_) {
      c->object = next_object_->fetch_add(1);
      if (c->object >= args_.objects) {
        c->state = GrpcCaller::kDone;
        return;
      }
      NewCall(c, GrpcCaller::kSpec);
      c->spec_rpc = stub_->AsyncGetMetricSpec(c->ctx.get(), objs_->refs[static_cast<size_t>(c->object)], &cq_);
      c->spec_rpc->Finish(&c->spec_resp, &c->status, c);
      return;
    }
    if (now >= stop_) {
      c->state = GrpcCaller::kDone;
      return;
    }
    c->object = std::uniform_int_distribution<int>(0, args_.objects - 1)(c->rng);
    StartMetrics(c);
  }

  void StartMetrics(GrpcCaller* c) {
    NewCall(c, GrpcCaller::kMetrics);
    *c->metrics_req.mutable_scaledobjectref() = objs_->refs[static_cast<size_t>(c->object)];
    c->metrics_req.set_metricname(objs_->names[static_cast<size_t>(c->object)]);
    c->metrics_resp.Clear();
    c->metrics_rpc = stub_->AsyncGetMetrics(c->ctx.get(), c->metrics_req, &cq_);
    c->metrics_rpc->Finish(&c->metrics_resp, &c->status, c);
  }

  void StartActive(GrpcCaller* c) {
    NewCall(c, GrpcCaller::kActive);
    c->active_rpc = stub_->AsyncIsActive(c->ctx.get(), objs_->refs[static_cast<size_t>(c->object)], &cq_);
    c->active_rpc->Finish(&c->active_resp, &c->status, c);
  }

  static void NewCall(GrpcCaller* c, GrpcCaller::State state) {
    c->state = state;
    c->ctx = std::make_unique<grpc::ClientContext>();  // no deadline, as KEDA's polling loop
    c->status = grpc::Status();
    c->t0 = Clock::now();
  }

  ExternalScaler::Stub* stub_;
  const Objects* objs_;
  const Args& args_;
  bool burst_;
  std::atomic<int>* next_object_;
  Clock::time_point stop_;
  grpc::CompletionQueue cq_;
  Samples samples_;
};

int RunGrpc(const Args& a) {
  grpc::ChannelArguments ch_args;
  ch_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(a.target, grpc::InsecureChannelCredentials(), ch_args);
  auto stub = ExternalScaler::NewStub(channel);
  Objects objs;
  if (!Track(a, stub.get(), &objs)) return 1;
  if (a.mode == "track") return 0;

  bool burst = a.mode == "burst";
  std::atomic<int> next_object{0};
  Recorder rec;
  auto start = Clock::now();
  auto stop = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::vector<std::unique_ptr<GrpcDriver>> drivers;
  std::vector<std::thread> threads;
  int per = a.callers / a.threads, extra = a.callers % a.threads, first = 0;
  for (int t = 0; t < a.threads; ++t) {
    int n = per + (t < extra ? 1 : 0);
    drivers.push_back(std::make_unique<GrpcDriver>(stub.get(), &objs, a, burst, &next_object));
    threads.emplace_back([&, d = drivers.back().get(), first, n] { d->Run(first, n, start, stop, &rec); });
    first += n;
  }
  for (auto& t : threads) t.join();
  Report(rec, std::chrono::duration<double>(Clock::now() - start).count(), a);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// PromQL

size_t Sink(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

struct PromCaller {
  CURL* easy = nullptr;
  std::string body;
  std::mt19937 rng;
  Cadence cadence;
  Clock::time_point t0;
  bool in_flight = false, done = false;
};

void RunPromqlThread(const Args& a, const std::vector<std::string>& urls, int first_caller, int count,
                     Clock::time_point start, Clock::time_point stop, Recorder* rec) {
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(count + 8));  // keep every connection alive
  std::vector<PromCaller> callers(static_cast<size_t>(count));
  std::uniform_real_distribution<double> phase(0, 1);
  for (int i = 0; i < count; ++i) {
    PromCaller& c = callers[static_cast<size_t>(i)];
    c.rng.seed(static_cast<unsigned>(first_caller + i) * 7919u + 1u);
    c.cadence.period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(a.period_ms));
    c.cadence.next = start + std::chrono::duration_cast<Clock::duration>(c.cadence.period * phase(c.rng));
    c.easy = curl_easy_init();
    curl_easy_setopt(c.easy, CURLOPT_WRITEFUNCTION, Sink);
    curl_easy_setopt(c.easy, CURLOPT_WRITEDATA, &c.body);
    curl_easy_setopt(c.easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.easy, CURLOPT_PRIVATE, &c);
  }
  Samples samples;
  std::uniform_int_distribution<size_t> pick(0, urls.size() - 1);
  int live = count;
  while (live > 0) {
    // start every caller whose poll is due; `wake`: when the next one falls due
    Clock::time_point now = Clock::now();
    Clock::time_point wake = now + std::chrono::milliseconds(100);
    for (PromCaller& c : callers) {
      if (c.in_flight || c.done) continue;
      if (now >= stop) {
        c.done = true;
        --live;
        continue;
      }
      if (c.cadence.next > now) {
        wake = std::min(wake, c.cadence.next);
        continue;
      }
      c.body.clear();
      curl_easy_setopt(c.easy, CURLOPT_URL, urls[pick(c.rng)].c_str());
      c.in_flight = true;
      c.t0 = Clock::now();
      curl_multi_add_handle(multi, c.easy);
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    bool finished_any = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      PromCaller* c = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
      Clock::time_point end = Clock::now();
      long code = 0;
      curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
      bool ok = msg->data.result == CURLE_OK && code == 200 &&
                c->body.find("\"status\":\"success\"") != std::string::npos &&
                c->body.find("\"result\":[]") == std::string::npos;
      samples.Add("PromQL query", end - c->t0, ok);
      curl_multi_remove_handle(multi, c->easy);
      c->in_flight = false;
      c->cadence.next = c->cadence.After(end);
      finished_any = true;
    }
    if (live == 0) break;
    if (finished_any) continue;  // a caller may be due again at once (closed loop)
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count();
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::clamp<long long>(wait_ms, 0, 100)), nullptr);
  }
  for (PromCaller& c : callers) curl_easy_cleanup(c.easy);
  curl_multi_cleanup(multi);
  rec->Merge(samples);
}

int RunPromql(const Args& a) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::vector<std::string> urls;
  for (const auto& pod : a.pods) {
    CURL* c = curl_easy_init();
    std::string q = "sum(num_requests_waiting{instance=\"" + pod + "\"})";
    char* enc = curl_easy_escape(c, q.c_str(), static_cast<int>(q.size()));
    urls.push_back(a.prom + "/api/v1/query?query=" + enc);
    curl_free(enc);
    curl_easy_cleanup(c);
  }
  Recorder rec;
  auto start = Clock::now();
  auto stop = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::vector<std::thread> threads;
  int per = a.callers / a.threads, extra = a.callers % a.threads, first = 0;
  for (int t = 0; t < a.threads; ++t) {
    int n = per + (t < extra ? 1 : 0);
    threads.emplace_back([&, first, n] { RunPromqlThread(a, urls, first, n, start, stop, &rec); });
    first += n;
  }
  for (auto& t : threads) t.join();
  Report(rec, std::chrono::duration<double>(Clock::now() - start).count(), a);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  if (a.mode == "grpc" || a.mode == "burst" || a.mode == "track") {
    if (a.target.empty()) Usage("--target is required");
    return RunGrpc(a);
  }
  if (a.mode == "promql") {
    if (a.prom.empty()) Usage("--prom is required");
    return RunPromql(a);
  }
  Usage("mode must be grpc, burst, track or promql");
}
