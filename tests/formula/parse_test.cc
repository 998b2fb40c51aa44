// Golden table: formula text -> canonical Dump() of the checked tree (re2's parse_test style).
#include <gtest/gtest.h>

#include <map>

#include "scaler/formula/formula.h"
#include "tests/formula/test_signals.h"

namespace nimscaler::formula {
namespace {

struct Golden {
  const char* text;
  const char* dump;
};

const Golden kGolden[] = {
    // Numbers and durations (durations are seconds).
    {"1", "num(1)"},
    {"0.25", "num(0.25)"},
    {".5", "num(0.5)"},
    {"1e3", "num(1000)"},
    {"2e-1", "num(0.2)"},
    {"2s", "num(2)"},
    {"500ms", "num(0.5)"},
    {"250us", "num(0.00025)"},
    {"1m30s", "num(90)"},
    {"1h", "num(3600)"},
    // Arithmetic: precedence and left associativity.
    {"1 + 2 * 3", "add(num(1), mul(num(2), num(3)))"},
    {"(1 + 2) * 3", "mul(add(num(1), num(2)), num(3))"},
    {"1 - 2 - 3", "sub(sub(num(1), num(2)), num(3))"},
    {"8 / 4 / 2", "div(div(num(8), num(4)), num(2))"},
    {"((1))", "num(1)"},
    // Unary operators bind tighter than * and /.
    {"-2 * 3", "mul(neg(num(2)), num(3))"},
    {"2 * -3", "mul(num(2), neg(num(3)))"},
    {"1 - -1", "sub(num(1), neg(num(1)))"},
    {"--1", "neg(neg(num(1)))"},
    {"!replicas", "not(replicas)"},
    {"!(replicas > 0)", "not(gt(replicas, num(0)))"},
    // Scalars.
    {"pods - replicas", "sub(pods, replicas)"},
    // Comparisons and logic: && binds tighter than ||; equality looser than relational.
    {"replicas < 2", "lt(replicas, num(2))"},
    {"replicas <= 2", "le(replicas, num(2))"},
    {"replicas > 2", "gt(replicas, num(2))"},
    {"replicas >= 2", "ge(replicas, num(2))"},
    {"replicas == 2", "eq(replicas, num(2))"},
    {"replicas != 2", "ne(replicas, num(2))"},
    {"1 + 2 < 4 == 1", "eq(lt(add(num(1), num(2)), num(4)), num(1))"},
    {"replicas > 1 && pods > 1 || replicas == 0",
     "or(and(gt(replicas, num(1)), gt(pods, num(1))), eq(replicas, num(0)))"},
    {"replicas == 0 || pods != 0 && 1", "or(eq(replicas, num(0)), and(ne(pods, num(0)), num(1)))"},
    // The conditional is right-associative and loosest.
    {"replicas > 2 ? 1 : pods > 2 ? 2 : 3",
     "cond(gt(replicas, num(2)), num(1), cond(gt(pods, num(2)), num(2), num(3)))"},
    {"replicas ? 1 + 1 : 0", "cond(replicas, add(num(1), num(1)), num(0))"},
    // Aggregations across pods.
    {"sum(waiting)", "sum_pods(gauge(waiting))"},
    {"avg(kv_cache)", "avg_pods(gauge(kv_cache))"},
    {"count(running)", "count_pods(gauge(running))"},
    {"max(waiting)", "max_pods(gauge(waiting))"},
    {"min(kv_cache)", "min_pods(gauge(kv_cache))"},
    {"-sum(waiting)", "neg(sum_pods(gauge(waiting)))"},
    // min/max of numbers: variadic, a single scalar argument allowed.
    {"max(1, 2, 3)", "max(num(1), num(2), num(3))"},
    {"max(replicas)", "max(replicas)"},
    {"min(sum(waiting), 1)", "min(sum_pods(gauge(waiting)), num(1))"},
    // Window functions.
    {"rate(requests)", "rate(counter(requests))"},
    {"rate(prompt_tokens) + rate(generation_tokens)",
     "add(rate(counter(prompt_tokens)), rate(counter(generation_tokens)))"},
    {"quantile(0.95, ttft)", "quantile(num(0.95), histogram(ttft))"},
    {"quantile(1, queue_time)", "quantile(num(1), histogram(queue_time))"},
    // Scalar functions.
    {"clamp(sum(waiting) / 4, 1, 10)", "clamp(div(sum_pods(gauge(waiting)), num(4)), num(1), num(10))"},
    {"ceil(1.5) + floor(1.5) + round(1.5) + abs(-1)",
     "add(add(add(ceil(num(1.5)), floor(num(1.5))), round(num(1.5))), abs(neg(num(1))))"},
    // Trends: any scalar expression; the horizon is a duration in seconds.
    {"trend(sum(waiting))", "trend(sum_pods(gauge(waiting)))"},
    {"predict(rate(requests) / 2, 2m30s)", "predict(div(rate(counter(requests)), num(2)), num(150))"},
    // Custom signals: a declared gauge, and one whose kind is not known yet.
    {"sum(queue_depth)", "sum_pods(gauge(queue_depth))"},
    {"sum(backlog)", "sum_pods(signal(backlog))"},
    {"rate(jobs)", "rate(signal(jobs))"},
    // Whitespace, tabs and newlines (YAML block scalars) separate tokens.
    {"max(\n  sum(waiting)/4,\n\tsum(kv_cache)/0.8\n)",
     "max(div(sum_pods(gauge(waiting)), num(4)), div(sum_pods(gauge(kv_cache)), num(0.8)))"},
    // The default formula of docs/formula.md "The formula".
    {"max(sum(kv_cache)/0.8, sum(waiting)/4, replicas*quantile(0.95, ttft)/2)",
     "max(div(sum_pods(gauge(kv_cache)), num(0.8)), div(sum_pods(gauge(waiting)), num(4)), "
     "div(mul(replicas, quantile(num(0.95), histogram(ttft))), num(2)))"},
};

TEST(FormulaParseTest, GoldenDumps) {
  for (const Golden& g : kGolden) {
    auto program = Compile(g.text, testing::TestSignals());
    ASSERT_TRUE(program.ok()) << g.text << "\n" << program.status().message();
    EXPECT_EQ((*program)->Dump(), g.dump) << g.text;
    EXPECT_EQ((*program)->text(), g.text);
  }
}

// Dump() is canonical: compiling it again is not possible (it is not formula syntax), but two
// spellings of the same formula must give the same dump.
TEST(FormulaParseTest, SpellingsOfOneFormulaDumpTheSame) {
  const char* spellings[] = {"sum(waiting)/4+1", " ( sum ( waiting ) / 4 ) + 1 ", "((sum(waiting))/(4))+(1)",
                             "sum(waiting)\n/\n4\n+\n1"};
  std::string first;
  for (const char* s : spellings) {
    auto program = Compile(s);
    ASSERT_TRUE(program.ok()) << s << "\n" << program.status().message();
    if (first.empty()) first = (*program)->Dump();
    EXPECT_EQ((*program)->Dump(), first) << s;
  }
}

TEST(FormulaParseTest, ListsSignalsAndWindowUses) {
  auto program = Compile(
      "quantile(0.95, ttft) + quantile(0.5, ttft) + quantile(0.95, ttft) + sum(waiting) + "
      "max(waiting) + rate(requests) + replicas");
  ASSERT_TRUE(program.ok()) << program.status().message();
  const auto& uses = (*program)->signals();
  ASSERT_EQ(uses.size(), 3u);
  EXPECT_EQ(uses[0].name, "requests");
  EXPECT_EQ(uses[0].kind, Kind::kCounter);
  EXPECT_TRUE(uses[0].quantiles.empty());
  EXPECT_EQ(uses[1].name, "ttft");
  EXPECT_EQ(uses[1].kind, Kind::kHistogram);
  EXPECT_EQ(uses[1].quantiles, (std::vector<double>{0.5, 0.95}));
  EXPECT_EQ(uses[2].name, "waiting");
  EXPECT_EQ(uses[2].kind, Kind::kGauge);
  EXPECT_TRUE((*program)->uses_window());
  EXPECT_TRUE((*program)->uses_replicas());
  EXPECT_FALSE((*program)->uses_pods());

  auto gauges_only = Compile("sum(kv_cache) / 0.8 + pods");
  ASSERT_TRUE(gauges_only.ok());
  EXPECT_FALSE((*gauges_only)->uses_window());
  EXPECT_FALSE((*gauges_only)->uses_replicas());
  EXPECT_TRUE((*gauges_only)->uses_pods());
  ASSERT_EQ((*gauges_only)->signals().size(), 1u);
  EXPECT_EQ((*gauges_only)->signals()[0].name, "kv_cache");
}

TEST(FormulaParseTest, UnknownKindSignalsRecordTheirUseAndAreCheckedLater) {
  auto program = Compile("sum(backlog) + rate(jobs)", testing::TestSignals());
  ASSERT_TRUE(program.ok()) << program.status().message();
  const auto& uses = (*program)->signals();
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].name, "backlog");
  EXPECT_EQ(uses[0].kind, Kind::kGauge);
  EXPECT_EQ(uses[0].declared, Kind::kUnknown);
  EXPECT_EQ(uses[1].name, "jobs");
  EXPECT_EQ(uses[1].kind, Kind::kCounter);

  EXPECT_TRUE((*program)->CheckSignalKind("backlog", Kind::kGauge).ok());
  EXPECT_TRUE((*program)->CheckSignalKind("jobs", Kind::kCounter).ok());
  EXPECT_TRUE((*program)->CheckSignalKind("not_used", Kind::kHistogram).ok());
  Status bad = (*program)->CheckSignalKind("backlog", Kind::kCounter);
  EXPECT_EQ(bad.code(), Code::kFailedPrecondition);
  EXPECT_EQ(bad.message(),
            "formula uses signal 'backlog' with an aggregation such as sum(), which needs a "
            "gauge, but its metric is a counter");
  Status bad_rate = (*program)->CheckSignalKind("jobs", Kind::kHistogram);
  EXPECT_EQ(bad_rate.code(), Code::kFailedPrecondition);
  EXPECT_EQ(bad_rate.message(),
            "formula uses signal 'jobs' with rate(), which needs a counter, but its metric is "
            "a histogram");
}

TEST(FormulaParseTest, BuiltinSignalsHaveTheDocumentedKinds) {
  std::map<std::string, Kind> kinds;
  for (const auto& s : BuiltinSignals()) kinds[s.name] = s.kind;
  EXPECT_EQ(kinds.size(), 12u);
  for (const char* g : {"kv_cache", "waiting", "running", "frontdoor_waiting", "frontdoor_inflight"}) {
    EXPECT_EQ(kinds[g], Kind::kGauge) << g;
  }
  for (const char* h : {"ttft", "itl", "e2e", "queue_time"}) {
    EXPECT_EQ(kinds[h], Kind::kHistogram) << h;
  }
  for (const char* c : {"prompt_tokens", "generation_tokens", "requests"}) {
    EXPECT_EQ(kinds[c], Kind::kCounter) << c;
  }
}

}  // namespace
}  // namespace nimscaler::formula
