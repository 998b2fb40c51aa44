// `nim-scaler record` against the emulator, then `nim-scaler replay` of that file with the
// same metadata (issue 13 item 4, acceptance: "reproduces the live run's replica timeline
// within one HPA sync").
//
// The emulator here is tools/nim-emulator's Emulator in this process (the nim-emulator
// binary's code minus its flag parsing), on loopback at 20x time, so that the test can change
// the load at a known simulated time. `record` and `replay` are the real nim-scaler binary,
// reading the pods through the emulated Service's EndpointSlices, as serve does.
//
// The "live run" is NOT a live cluster scaled by KEDA: a live run of minutes would be too slow
// for the suite, so the live side is the scaling bench's simulated runner (demo::Run, the same
// spec, evaluator and KEDA/HPA rules) fed by the load the emulator was actually given (20 req/s,
// then 60 req/s from the moment of the switch). The replay is fed by what record measured, so
// the test checks the whole path: measurement noise and the sampling grid must not move the
// replica timeline by more than one HPA sync (15 s).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "scaler/app/demand_file.h"
#include "tests/fakes/child_process.h"
#include "tools/demo/replay.h"
#include "tools/nim-emulator/server.h"

namespace {

using nimscaler::testing::ChildProcess;
using ::testing::HasSubstr;

const std::string kScaler = std::string(NIMSCALER_BINARY_DIR) + "/scaler/nim-scaler";

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("record_replay_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The t of the last complete sample line of a demand file being written (-1: none yet).
double LastSampleT(const std::string& path) {
  std::string text = Read(path);
  size_t end = text.rfind('\n');
  if (end == std::string::npos) return -1;
  size_t begin = text.rfind('\n', end - 1);
  std::string line =
      text.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1));
  auto p = line.find("{\"t\":");
  return p == 0 ? std::stod(line.substr(5)) : -1;
}

// spec.replicas per simulated second from replay.csv's "<policy>_spec" column.
std::vector<int> SpecColumn(const std::string& csv, const std::string& policy) {
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head;
  for (std::stringstream h(line); std::getline(h, line, ',');) head.push_back(line);
  size_t col = std::find(head.begin(), head.end(), policy + "_spec") - head.begin();
  std::vector<int> out;
  if (col >= head.size()) return out;
  while (std::getline(in, line)) {
    std::stringstream r(line);
    std::string cell;
    for (size_t i = 0; i <= col && std::getline(r, cell, ','); ++i) {
    }
    out.push_back(std::stoi(cell));
  }
  return out;
}

// Every second of `a` lies within the range `b` takes within `slack` seconds of it.
std::string WithinSlack(const std::vector<int>& a, const std::vector<int>& b, int slack) {
  for (size_t t = 0; t < a.size() && t < b.size(); ++t) {
    int lo = 1 << 30, hi = -1;
    for (size_t u = t >= size_t(slack) ? t - slack : 0; u <= t + slack && u < b.size(); ++u) {
      lo = std::min(lo, b[u]);
      hi = std::max(hi, b[u]);
    }
    if (a[t] < lo || a[t] > hi) {
      return "t=" + std::to_string(t) + " s: " + std::to_string(a[t]) + " replicas, the other run has " +
             std::to_string(lo) + ".." + std::to_string(hi) + " within " + std::to_string(slack) + " s";
    }
  }
  return "";
}

std::string Timeline(const std::vector<int>& v) {
  std::string out;
  for (size_t t = 0; t < v.size(); ++t)
    if (t == 0 || v[t] != v[t - 1]) out += std::to_string(t) + "s:" + std::to_string(v[t]) + " ";
  return out;
}

TEST(RecordReplay, ReplayOfARecordingReproducesTheLiveReplicaTimeline) {
  const double kCompression = 20, kLow = 20, kHigh = 60, kStartup = 20;
  nimemu::EmulatorOptions o;
  o.replicas = 1;
  o.compression = kCompression;
  o.seed = 3;
  o.model.startup_delay_s = kStartup;
  nimemu::Emulator emu(o);
  ASSERT_TRUE(emu.Start());
  emu.With([&](nimemu::Cluster& c) { c.SetRate(kLow); });

  const std::string dir = TempDir("live");
  const std::string trigger = dir + "/trigger.yaml", demand = dir + "/demand.jsonl";
  // targetKvCache 0.045: at 60 req/s the pods' KV use sums to about 2.5 targets, so the
  // answer (3 replicas) is not at a rounding edge.
  Write(trigger,
        "metadata:\n  service: meta-llama3-8b\n  port: http\n  engine: nim\n  scrapeInterval: 100ms\n"
        "  targetKvCache: \"0.045\"\n");
  ChildProcess record({kScaler, "record", "--metadata", trigger, "--out", demand, "--duration", "7s", "--kube-api",
                       emu.kube_url(), "--namespace", "nim", "--compression", std::to_string(kCompression)});
  ASSERT_TRUE(record.started());

  // Switch to the high load as soon as a sample at t >= 30 s is written (bounded wait); the
  // switch time on record's clock is that sample's t plus the simulated time since.
  double seen_t = -1, seen_sim = 0;
  for (int i = 0; i < 2000 && seen_t < 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    double t = LastSampleT(demand);
    if (t >= 30) {
      seen_t = t;
      seen_sim = emu.SimNow();
    }
  }
  ASSERT_GE(seen_t, 30) << record.output();
  double switch_sim = 0;
  emu.With([&](nimemu::Cluster& c) {
    c.SetRate(kHigh);
    switch_sim = c.now();
  });
  const double t_switch = seen_t + (switch_sim - seen_sim);
  ASSERT_EQ(record.Wait(std::chrono::seconds(20)), 0) << record.output();
  emu.Stop();

  // 1. What record measured is the load the emulator was given.
  auto trace = nimscaler::app::ReadDemandFile(demand);
  ASSERT_TRUE(trace.ok()) << trace.status().message();
  EXPECT_EQ(trace->header.engine, "nim");
  EXPECT_DOUBLE_EQ(trace->header.interval, 2);
  EXPECT_DOUBLE_EQ(trace->header.compression, kCompression);
  double low = 0, high = 0;
  int n_low = 0, n_high = 0;
  for (const auto& s : trace->samples) {
    if (s.t <= t_switch - 2) low += s.arrivals_per_s, ++n_low;
    if (s.t >= t_switch + 4) high += s.arrivals_per_s, ++n_high;
    EXPECT_EQ(s.ready, 1);
  }
  ASSERT_GE(n_low, 10);
  ASSERT_GE(n_high, 30);
  EXPECT_NEAR(low / n_low, kLow, 0.15 * kLow) << "recorded arrivals before the switch";
  EXPECT_NEAR(high / n_high, kHigh, 0.1 * kHigh) << "recorded arrivals after the switch";
  // Request sizes (the emulator's 200 +-10 prompt and 200 output tokens), as replay uses them.
  demo::Scenario sizes = demo::ReplayScenario(*trace, "");
  EXPECT_NEAR(sizes.shape.input_mean, 200, 20);
  EXPECT_NEAR(sizes.shape.output_mean, 200, 20);

  // 2. The replay of the recording with the same metadata.
  ChildProcess replay(
      {kScaler, "replay", demand, "--metadata", trigger, "--out", dir + "/out", "--startup-delay", "20s"});
  ASSERT_EQ(replay.Wait(std::chrono::seconds(30)), 0) << replay.output();
  EXPECT_THAT(replay.output(), HasSubstr("| replay | trigger |"));
  EXPECT_THAT(Read(dir + "/out/replay.svg"), HasSubstr("<svg"));
  std::vector<int> replayed = SpecColumn(Read(dir + "/out/replay.csv"), "trigger");

  // 3. The live side: the simulated runner fed by the emulator's actual load.
  demo::Scenario live;
  live.name = "live";
  live.duration = std::floor(trace->samples.back().t);
  live.stress_at = t_switch;
  live.load = {{0, kLow, 0}, {std::ceil(t_switch), kHigh, 0}};
  demo::RunOptions ro;
  ro.startup = kStartup;
  demo::Result lr = demo::Run(live, demo::ReplayPolicy("trigger", "", {{"targetKvCache", "0.045"}}, 0), ro);
  ASSERT_TRUE(lr.ran) << lr.error;
  std::vector<int> lived;
  for (const auto& s : lr.samples) lived.push_back(s.spec);

  ASSERT_EQ(replayed.size(), lived.size());
  EXPECT_GE(*std::max_element(lived.begin(), lived.end()), 2) << "the live run must scale for the test to mean much";
  const std::string why =
      "live:   " + Timeline(lived) + "\nreplay: " + Timeline(replayed) + "\nswitch at t=" + std::to_string(t_switch);
  EXPECT_EQ(WithinSlack(replayed, lived, 15), "") << why;
  EXPECT_EQ(WithinSlack(lived, replayed, 15), "") << why;
  std::filesystem::remove_all(dir);
}

// Bad input gets a clear error naming the line or key, and a non-zero exit (issue 13 item 4).
TEST(RecordReplay, ReplayRejectsBadInputNamingTheLineOrKey) {
  const std::string dir = TempDir("bad");
  const std::string good_md = dir + "/a.yaml", bad_md = dir + "/b.yaml";
  Write(good_md, "targetKvCache: \"0.1\"\n");
  Write(bad_md, "targetKvCach: \"0.1\"\n");
  const std::string header = R"({"format":"nim-scaler-demand","version":1,"interval":2,"engine":"nim"})"
                             "\n";
  const std::string sample = R"({"t":2,"arrivals_per_s":5})"
                             "\n";
  struct Case {
    std::string name, text, md, want;
  };
  std::vector<Case> cases = {
      {"truncated", header + sample + R"({"t":4,"arriv)", good_md, "truncated.jsonl line 3: truncated"},
      {"version",
       R"({"format":"nim-scaler-demand","version":9,"interval":2})"
       "\n" +
           sample,
       good_md, "version.jsonl line 1: version 9 is not supported"},
      {"notjson", header + "hello\n", good_md, "notjson.jsonl line 2: not JSON"},
      {"missing",
       header + R"({"t":2})"
                "\n",
       good_md, "missing.jsonl line 2: missing \"arrivals_per_s\""},
      {"metadata", header + sample, bad_md, "unknown key \"targetKvCach\" (did you mean \"targetKvCache\"?)"},
  };
  for (const auto& c : cases) {
    const std::string file = dir + "/" + c.name + ".jsonl";
    Write(file, c.text);
    ChildProcess p({kScaler, "replay", file, "--metadata", c.md, "--out", dir + "/out"});
    int rc = p.Wait(std::chrono::seconds(10));
    EXPECT_EQ(rc, 2) << c.name << ": " << p.output();
    EXPECT_THAT(p.output(), HasSubstr(c.want)) << c.name;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/out")) << "nothing is written for bad input";
  std::filesystem::remove_all(dir);
}

}  // namespace
