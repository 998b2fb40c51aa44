// The demand file (JSON Lines): see demand_file.h.
#include "scaler/app/demand_file.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "scaler/common/text.h"

namespace nimscaler::app {
namespace {

using nlohmann::json;

// Four decimals are plenty for rates and keep the file readable.
double Round4(double v) { return std::round(v * 1e4) / 1e4; }

std::string Where(const std::string& name, size_t line) { return name + " line " + std::to_string(line) + ": "; }

// A required non-negative number.
Status Number(const json& obj, const char* key, const std::string& where, double* out, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (!required) return Status::Ok();
    return InvalidArgument(where + "missing \"" + key + "\"");
  }
  if (!it->is_number())
    return InvalidArgument(where + "\"" + key + "\" must be a number, got " + Truncate(it->dump(), 40));
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return InvalidArgument(where + "\"" + key + "\" must be >= 0, got " + it->dump());
  *out = v;
  return Status::Ok();
}

Status Optional(const json& obj, const char* key, const std::string& where, std::optional<double>* out) {
  double v = -1;
  if (auto st = Number(obj, key, where, &v, false); !st.ok()) return st;
  if (v >= 0) *out = v;
  return Status::Ok();
}

Status Count(const json& obj, const char* key, const std::string& where, int* out) {
  double v = 0;
  if (auto st = Number(obj, key, where, &v, false); !st.ok()) return st;
  if (v != std::floor(v) || v > 1e9) return InvalidArgument(where + "\"" + key + "\" must be a whole number");
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status ParseHeader(const json& obj, const std::string& where, DemandHeader* h) {
  auto fmt = obj.find("format");
  if (fmt == obj.end() || !fmt->is_string() || fmt->get<std::string>() != kDemandFormat) {
    return InvalidArgument(where + "not a demand file: the first line must be a header with \"format\":\"" +
                           std::string(kDemandFormat) + "\" (written by nim-scaler record)");
  }
  auto ver = obj.find("version");
  if (ver == obj.end() || !ver->is_number_integer())
    return InvalidArgument(where + "missing \"version\" (a whole number)");
  if (ver->get<long long>() != kDemandVersion) {
    return InvalidArgument(where + "version " + ver->dump() + " is not supported (this build reads version " +
                           std::to_string(kDemandVersion) + ")");
  }
  h->version = kDemandVersion;
  if (auto st = Number(obj, "interval", where, &h->interval); !st.ok()) return st;
  if (h->interval <= 0) return InvalidArgument(where + "\"interval\" must be > 0");
  if (auto st = Number(obj, "compression", where, &h->compression, false); !st.ok()) return st;
  if (h->compression <= 0) return InvalidArgument(where + "\"compression\" must be > 0");
  for (auto [key, field] : {std::pair{"engine", &h->engine}, {"started", &h->started}, {"discovery", &h->discovery}}) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) continue;
    if (!it->is_string()) return InvalidArgument(where + "\"" + key + "\" must be a string");
    *field = it->get<std::string>();
  }
  return Status::Ok();
}

Status ParseSample(const json& obj, const std::string& where, DemandSample* s) {
  if (auto st = Number(obj, "t", where, &s->t); !st.ok()) return st;
  if (auto st = Number(obj, "arrivals_per_s", where, &s->arrivals_per_s); !st.ok()) return st;
  if (auto st = Number(obj, "completions_per_s", where, &s->completions_per_s, false); !st.ok()) return st;
  for (auto [key, field] : {std::pair{"prompt_tokens_per_s", &s->prompt_tokens_per_s},
                            {"generation_tokens_per_s", &s->generation_tokens_per_s},
                            {"prompt_tokens_per_request", &s->prompt_tokens_per_request},
                            {"generation_tokens_per_request", &s->generation_tokens_per_request}}) {
    if (auto st = Optional(obj, key, where, field); !st.ok()) return st;
  }
  if (auto st = Number(obj, "running", where, &s->running, false); !st.ok()) return st;
  if (auto st = Number(obj, "waiting", where, &s->waiting, false); !st.ok()) return st;
  for (auto [key, field] : {std::pair{"pods", &s->pods}, {"ready", &s->ready}, {"errors", &s->errors}}) {
    if (auto st = Count(obj, key, where, field); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

std::string DemandHeaderLine(const DemandHeader& h) {
  nlohmann::ordered_json j;  // "format" first, so that `head -1` says what the file is
  j["format"] = kDemandFormat;
  j["version"] = h.version;
  j["interval"] = Round4(h.interval);
  j["engine"] = h.engine;
  j["started"] = h.started;
  j["discovery"] = h.discovery;
  if (h.compression != 1) j["compression"] = h.compression;
  return j.dump();
}

std::string DemandSampleLine(const DemandSample& s) {
  nlohmann::ordered_json j;
  j["t"] = Round4(s.t);
  j["arrivals_per_s"] = Round4(s.arrivals_per_s);
  j["completions_per_s"] = Round4(s.completions_per_s);
  auto opt = [&](const char* key, const std::optional<double>& v) {
    if (v) j[key] = Round4(*v);
  };
  opt("prompt_tokens_per_s", s.prompt_tokens_per_s);
  opt("generation_tokens_per_s", s.generation_tokens_per_s);
  opt("prompt_tokens_per_request", s.prompt_tokens_per_request);
  opt("generation_tokens_per_request", s.generation_tokens_per_request);
  j["running"] = Round4(s.running);
  j["waiting"] = Round4(s.waiting);
  j["concurrency"] = Round4(s.running + s.waiting);
  j["pods"] = s.pods;
  j["ready"] = s.ready;
  j["errors"] = s.errors;
  return j.dump();
}

Result<DemandTrace> ParseDemand(std::string_view text, const std::string& name) {
  DemandTrace trace;
  bool have_header = false;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    bool complete = nl != std::string_view::npos;
    std::string_view line = text.substr(pos, complete ? nl - pos : std::string_view::npos);
    pos = complete ? nl + 1 : text.size();
    ++line_no;
    const std::string where = Where(name, line_no);
    if (Trim(line).empty()) continue;
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::exception& e) {
      if (!complete) {
        return InvalidArgument(where +
                               "truncated: the last line ends without a newline and is not complete JSON "
                               "(the recording stopped while writing it; delete that line to use the rest)");
      }
      std::string what = e.what();
      // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
      if (auto c = what.find("column"); c != std::string::npos) what = what.substr(c);
      return InvalidArgument(where + "not JSON (" + Truncate(what, 160) + ")");
    }
    if (!obj.is_object()) return InvalidArgument(where + "expected a JSON object, got " + Truncate(obj.dump(), 40));
    if (!have_header) {
      if (auto st = ParseHeader(obj, where, &trace.header); !st.ok()) return st;
      have_header = true;
      continue;
    }
    DemandSample s;
    if (auto st = ParseSample(obj, where, &s); !st.ok()) return st;
    if (!trace.samples.empty() && s.t <= trace.samples.back().t) {
      return InvalidArgument(where + "\"t\" " + FormatDouble(s.t) + " is not after the previous sample's " +
                             FormatDouble(trace.samples.back().t));
    }
    trace.samples.push_back(std::move(s));
  }
  if (!have_header)
    return InvalidArgument(name + ": empty: no header line (expected a file written by nim-scaler record)");
  if (trace.samples.empty()) {
    return InvalidArgument(name + ": a header but no samples (the recording ended before its second scrape)");
  }
  return trace;
}

std::optional<DemandSample> DemandMeter::Add(double t, int pods_discovered, const std::vector<PodDemandReading>& pods) {
  DemandSample s;
  s.t = t;
  s.pods = pods_discovered;
  double completed = 0, prompt = 0, generation = 0, growth = 0;
  bool any_prompt = false, any_generation = false;
  size_t answered = 0;
  auto increase = [](double now, double before) { return now >= before ? now - before : now; };  // reset: from 0
  for (const auto& p : pods) {
    ++s.ready;
    auto it = last_.find(p.pod);
    if (!p.ok) {
      ++s.errors;
      if (it == last_.end()) last_[p.pod] = Last{};  // listed, counters unknown
      continue;
    }
    ++answered;
    s.running += p.running;
    s.waiting += p.waiting;
    // A pod never listed before started since the last scrape: its counters are all new. One
    // listed before whose scrapes failed until now: this scrape is its baseline.
    const bool listed = it != last_.end();
    const bool baseline = listed && !it->second.has_counters;
    Last prev = listed ? it->second : Last{};
    Last cur = prev;
    cur.has_counters = true;
    cur.concurrency = p.running + p.waiting;
    if (p.requests) {
      if (!baseline) completed += increase(*p.requests, prev.requests);
      cur.requests = *p.requests;
    }
    if (p.prompt_tokens) {
      any_prompt = true;
      if (!baseline && (!listed || prev.has_prompt)) prompt += increase(*p.prompt_tokens, prev.prompt);
      cur.prompt = *p.prompt_tokens;
      cur.has_prompt = true;
    }
    if (p.generation_tokens) {
      any_generation = true;
      if (!baseline && (!listed || prev.has_generation)) generation += increase(*p.generation_tokens, prev.generation);
      cur.generation = *p.generation_tokens;
      cur.has_generation = true;
    }
    if (!baseline) growth += cur.concurrency - prev.concurrency;
    last_[p.pod] = cur;
  }
  // Every ready pod failed: the demand of this interval is unknown; the next sample covers it.
  if (!pods.empty() && answered == 0) return std::nullopt;
  if (!started_) {  // the baseline: counters so far are history, not demand
    started_ = true;
    last_t_ = t;
    return std::nullopt;
  }
  const double dt = t - last_t_;
  if (dt <= 0) return std::nullopt;
  last_t_ = t;
  s.completions_per_s = completed / dt;
  s.arrivals_per_s = std::max(0.0, (completed + growth) / dt);
  if (any_prompt) s.prompt_tokens_per_s = prompt / dt;
  if (any_generation) s.generation_tokens_per_s = generation / dt;
  if (completed > 0 && any_prompt) s.prompt_tokens_per_request = prompt / completed;
  if (completed > 0 && any_generation) s.generation_tokens_per_request = generation / completed;
  return s;
}

Result<DemandTrace> ReadDemandFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read \"" + path + "\"");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseDemand(ss.str(), path);
}

}  // namespace nimscaler::app
