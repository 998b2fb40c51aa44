// keda_load: what KEDA's operator does to a scaler, at scale, timed per call.
//
//   keda_load grpc   --target H:P --pods URL,URL,... --objects 1000 --callers 200 --seconds 10 [--think-ms 20]
//   keda_load promql --prom http://H:P --pods HOST:PORT,... --callers 200 --seconds 10 [--think-ms 20]
//
// grpc: tracks --objects ScaledObjects (GetMetricSpec + a first GetMetrics each; object i scrapes
// pod i % pods), then runs --callers threads that each pick a random object and call GetMetrics
// then IsActive (what KEDA does per poll and per HPA query), timing each call.
// promql: the same callers send the per-call request of KEDA's built-in Prometheus scaler, an
// instant query GET /api/v1/query?query=sum(num_requests_waiting{instance="<pod>"}) with a
// keep-alive connection per caller, and time it.
// --think-ms: pause after each call (paced load); 0 = closed loop (saturation).
// Prints one JSON object: per call kind {count, errors, p50_us, p90_us, p99_us, max_us} and
// calls_per_s. Generated from KEDA's Proto@HEAD (tests/conformance/proto/keda_head.proto).
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "keda_head.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode, target, prom;
  std::vector<std::string> pods;
  int objects = 1000, callers = 200;
  double seconds = 10, think_ms = 0;
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

Args Parse(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr, "usage: keda_load grpc|promql [flags]\n");
    std::exit(2);
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--target") a.target = v;
    else if (k == "--prom") a.prom = v;
    else if (k == "--pods") a.pods = Split(v);
    else if (k == "--objects") a.objects = std::atoi(v.c_str());
    else if (k == "--callers") a.callers = std::atoi(v.c_str());
    else if (k == "--seconds") a.seconds = std::atof(v.c_str());
    else if (k == "--think-ms") a.think_ms = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  if (a.pods.empty()) {
    std::fprintf(stderr, "--pods is required\n");
    std::exit(2);
  }
  return a;
}

// Latencies in microseconds per call kind, merged from every caller at the end.
struct Recorder {
  std::mutex mu;
  std::map<std::string, std::vector<double>> lat;
  std::map<std::string, long> errors;
  void Merge(const std::map<std::string, std::vector<double>>& l, const std::map<std::string, long>& e) {
    std::lock_guard lock(mu);
    for (const auto& [k, v] : l) lat[k].insert(lat[k].end(), v.begin(), v.end());
    for (const auto& [k, v] : e) errors[k] += v;
  }
};

double Pct(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void Report(Recorder& r, double wall_s, const Args& a) {
  std::printf("{\"mode\": \"%s\", \"callers\": %d, \"think_ms\": %.1f, \"seconds\": %.2f", a.mode.c_str(), a.callers,
              a.think_ms, wall_s);
  long total = 0;
  for (auto& [k, v] : r.lat) {
    std::sort(v.begin(), v.end());
    total += static_cast<long>(v.size());
    std::printf(", \"%s\": {\"count\": %zu, \"errors\": %ld, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
                "\"max_us\": %.1f}",
                k.c_str(), v.size(), r.errors[k], Pct(v, 0.5), Pct(v, 0.9), Pct(v, 0.99), v.empty() ? 0 : v.back());
  }
  std::printf(", \"calls_per_s\": %.0f}\n", static_cast<double>(total) / wall_s);
}

externalscaler::ScaledObjectRef Ref(const Args& a, int i) {
  externalscaler::ScaledObjectRef ref;
  ref.set_name("bench-" + std::to_string(i));
  ref.set_namespace_("bench");
  auto& md = *ref.mutable_scalermetadata();
  md["endpoints"] = a.pods[static_cast<size_t>(i) % a.pods.size()];
  md["engine"] = "nim";
  md["targetWaiting"] = "4";
  md["targetKvCache"] = "0.8";
  md["scrapeInterval"] = "2s";
  return ref;
}

int RunGrpc(const Args& a) {
  grpc::ChannelArguments ch_args;
  ch_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(a.target, grpc::InsecureChannelCredentials(), ch_args);
  auto stub = externalscaler::ExternalScaler::NewStub(channel);
  std::vector<externalscaler::ScaledObjectRef> refs;
  std::vector<std::string> names;
  auto t_setup = Clock::now();
  for (int i = 0; i < a.objects; ++i) {
    refs.push_back(Ref(a, i));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    externalscaler::GetMetricSpecResponse spec;
    grpc::Status s = stub->GetMetricSpec(&ctx, refs.back(), &spec);
    if (!s.ok() || spec.metricspecs_size() != 1) {
      std::fprintf(stderr, "GetMetricSpec %d: %s\n", i, s.error_message().c_str());
      return 1;
    }
    names.push_back(spec.metricspecs(0).metricname());
  }
  // every object answers (its first collection cycle has run) before timing starts
  for (int i = 0; i < a.objects; ++i) {
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      externalscaler::GetMetricsRequest req;
      *req.mutable_scaledobjectref() = refs[static_cast<size_t>(i)];
      req.set_metricname(names[static_cast<size_t>(i)]);
      externalscaler::GetMetricsResponse resp;
      if (stub->GetMetrics(&ctx, req, &resp).ok()) break;
      if (attempt > 100) {
        std::fprintf(stderr, "object %d never answered\n", i);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::fprintf(stderr, "tracked %d objects in %.1fs\n", a.objects,
               std::chrono::duration<double>(Clock::now() - t_setup).count());

  Recorder rec;
  auto start = Clock::now();
  auto stop = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < a.callers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) * 7919u + 1u);
      std::uniform_int_distribution<int> pick(0, a.objects - 1);
      std::map<std::string, std::vector<double>> lat;
      std::map<std::string, long> err;
      while (Clock::now() < stop) {
        int i = pick(rng);
        {
          grpc::ClientContext ctx;
          externalscaler::GetMetricsRequest req;
          *req.mutable_scaledobjectref() = refs[static_cast<size_t>(i)];
          req.set_metricname(names[static_cast<size_t>(i)]);
          externalscaler::GetMetricsResponse resp;
          auto t0 = Clock::now();
          grpc::Status s = stub->GetMetrics(&ctx, req, &resp);
          lat["GetMetrics"].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          if (!s.ok() || resp.metricvalues_size() != 1) ++err["GetMetrics"];
        }
        {
          grpc::ClientContext ctx;
          externalscaler::IsActiveResponse resp;
          auto t0 = Clock::now();
          grpc::Status s = stub->IsActive(&ctx, refs[static_cast<size_t>(i)], &resp);
          lat["IsActive"].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          if (!s.ok()) ++err["IsActive"];
        }
        if (a.think_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(a.think_ms));
      }
      rec.Merge(lat, err);
    });
  }
  for (auto& t : threads) t.join();
  Report(rec, std::chrono::duration<double>(Clock::now() - start).count(), a);
  return 0;
}

size_t Sink(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
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
  for (int c = 0; c < a.callers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) * 7919u + 1u);
      std::uniform_int_distribution<size_t> pick(0, urls.size() - 1);
      std::map<std::string, std::vector<double>> lat;
      std::map<std::string, long> err;
      CURL* h = curl_easy_init();  // one keep-alive connection per caller, like Go's client pool
      std::string body;
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Sink);
      curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      while (Clock::now() < stop) {
        body.clear();
        curl_easy_setopt(h, CURLOPT_URL, urls[pick(rng)].c_str());
        auto t0 = Clock::now();
        CURLcode rc = curl_easy_perform(h);
        lat["PromQL query"].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != 200 || body.find("\"status\":\"success\"") == std::string::npos ||
            body.find("\"result\":[]") != std::string::npos) {
          ++err["PromQL query"];
        }
        if (a.think_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(a.think_ms));
      }
      curl_easy_cleanup(h);
      rec.Merge(lat, err);
    });
  }
  for (auto& t : threads) t.join();
  Report(rec, std::chrono::duration<double>(Clock::now() - start).count(), a);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  if (a.mode == "grpc") return RunGrpc(a);
  if (a.mode == "promql") return RunPromql(a);
  std::fprintf(stderr, "mode must be grpc or promql\n");
  return 2;
}
