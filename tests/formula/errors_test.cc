// Bad formulas: the exact error text (ninja's manifest_parser_test style) with line, column,
// the formula line, a caret, and a suggestion of how to fix it.
#include <gtest/gtest.h>

#include <string>

#include "scaler/formula/formula.h"
#include "tests/formula/test_signals.h"

namespace nimscaler::formula {
namespace {

struct Bad {
  const char* text;
  const char* error;  // the whole message: three lines
};

const Bad kBad[] = {
    // Names.
    {"max(sum(kv_cahce)/0.8, 1)",
     "formula:1:9: unknown signal 'kv_cahce', did you mean 'kv_cache'?\n"
     "max(sum(kv_cahce)/0.8, 1)\n"
     "        ^ near here"},
    {"sum(backlg)",
     "formula:1:5: unknown signal 'backlg', did you mean 'backlog'?\n"
     "sum(backlg)\n"
     "    ^ near here"},
    {"sum(waiting)\t+ x",
     "formula:1:16: unknown signal 'x' (known: kv_cache, waiting, running, ttft, itl, e2e, "
     "queue_time, prompt_tokens, generation_tokens, requests, frontdoor_waiting, frontdoor_inflight, "
     "backlog, queue_depth, jobs, replicas, pods)\n"
     "sum(waiting) + x\n"
     "               ^ near here"},
    {"replica + 1",
     "formula:1:1: unknown signal 'replica', did you mean 'replicas'?\n"
     "replica + 1\n"
     "^ near here"},
    {"mx(1, 2)",
     "formula:1:1: unknown function 'mx', did you mean 'max'?\n"
     "mx(1, 2)\n"
     "^ near here"},
    {"waiting(1)",
     "formula:1:1: 'waiting' is a signal, not a function\n"
     "waiting(1)\n"
     "^ near here"},
    {"2 * replicas()",
     "formula:1:5: 'replicas' is a number, not a function\n"
     "2 * replicas()\n"
     "    ^ near here"},
    {"ceil",
     "formula:1:1: 'ceil' is a function; call it, e.g. ceil(x)\n"
     "ceil\n"
     "^ near here"},
    // Per-pod signals where a number is needed.
    {"sum(waiting) + waiting",
     "formula:1:16: 'waiting' is a per-pod signal; aggregate it, e.g. sum(waiting)\n"
     "sum(waiting) + waiting\n"
     "               ^ near here"},
    {"max(waiting, 2)",
     "formula:1:5: 'waiting' is a per-pod signal; aggregate it, e.g. sum(waiting)\n"
     "max(waiting, 2)\n"
     "    ^ near here"},
    {"requests * 2",
     "formula:1:1: 'requests' is a counter; use rate(requests)\n"
     "requests * 2\n"
     "^ near here"},
    {"ttft > 2s",
     "formula:1:1: 'ttft' is a histogram; use quantile(0.95, ttft)\n"
     "ttft > 2s\n"
     "^ near here"},
    // Kinds.
    {"rate(kv_cache)",
     "formula:1:6: rate() needs a counter; 'kv_cache' is a gauge\n"
     "rate(kv_cache)\n"
     "     ^ near here"},
    {"rate(ttft)",
     "formula:1:6: rate() needs a counter; 'ttft' is a histogram, use quantile(0.95, ttft)\n"
     "rate(ttft)\n"
     "     ^ near here"},
    {"quantile(0.95, waiting)",
     "formula:1:16: quantile() needs a histogram; 'waiting' is a gauge\n"
     "quantile(0.95, waiting)\n"
     "               ^ near here"},
    {"sum(requests)",
     "formula:1:5: sum() needs a gauge; 'requests' is a counter, use rate(requests)\n"
     "sum(requests)\n"
     "    ^ near here"},
    {"avg(ttft)",
     "formula:1:5: avg() needs a gauge; 'ttft' is a histogram, use quantile(0.95, ttft)\n"
     "avg(ttft)\n"
     "    ^ near here"},
    {"max(requests)",
     "formula:1:5: max() needs a gauge; 'requests' is a counter, use rate(requests)\n"
     "max(requests)\n"
     "    ^ near here"},
    {"sum(backlog) + rate(backlog)",
     "formula:1:21: 'backlog' cannot be both a gauge and a counter; it is used as a gauge "
     "earlier in the formula\n"
     "sum(backlog) + rate(backlog)\n"
     "                    ^ near here"},
    // Arguments of aggregations and window functions.
    {"sum(waiting * 2)",
     "formula:1:5: sum() needs a signal name, e.g. sum(waiting)\n"
     "sum(waiting * 2)\n"
     "    ^ near here"},
    {"sum(replicas)",
     "formula:1:5: 'replicas' is a number, not a per-pod signal; sum() needs a signal name, "
     "e.g. sum(waiting)\n"
     "sum(replicas)\n"
     "    ^ near here"},
    {"rate(2)",
     "formula:1:6: rate() needs a signal name, e.g. rate(requests)\n"
     "rate(2)\n"
     "     ^ near here"},
    {"quantile(0.9, 2 * ttft)",
     "formula:1:15: quantile() needs a signal name, e.g. quantile(0.95, ttft)\n"
     "quantile(0.9, 2 * ttft)\n"
     "              ^ near here"},
    {"quantile(95, ttft)",
     "formula:1:10: quantile() level must be between 0 and 1, got 95, did you mean 0.95?\n"
     "quantile(95, ttft)\n"
     "         ^ near here"},
    {"quantile(-0.5, ttft)",
     "formula:1:10: quantile() level must be a number between 0 and 1, e.g. "
     "quantile(0.95, ttft)\n"
     "quantile(-0.5, ttft)\n"
     "         ^ near here"},
    {"quantile(replicas, ttft)",
     "formula:1:10: quantile() level must be a number between 0 and 1, e.g. "
     "quantile(0.95, ttft)\n"
     "quantile(replicas, ttft)\n"
     "         ^ near here"},
    // Arity.
    {"ceil(1, 2)",
     "formula:1:1: ceil() takes 1 argument, got 2\n"
     "ceil(1, 2)\n"
     "^ near here"},
    {"clamp(1, 2)",
     "formula:1:1: clamp() takes 3 arguments (x, lo, hi), got 2\n"
     "clamp(1, 2)\n"
     "^ near here"},
    {"1 + max()",
     "formula:1:5: max() needs at least 1 argument\n"
     "1 + max()\n"
     "    ^ near here"},
    {"sum(waiting, running)",
     "formula:1:1: sum() takes 1 argument (a signal), got 2\n"
     "sum(waiting, running)\n"
     "^ near here"},
    {"rate()",
     "formula:1:1: rate() takes 1 argument (a counter), got 0\n"
     "rate()\n"
     "^ near here"},
    {"quantile(ttft)",
     "formula:1:1: quantile() takes 2 arguments (q, histogram), got 1\n"
     "quantile(ttft)\n"
     "^ near here"},
    // Syntax.
    {"",
     "formula:1:1: formula is empty\n"
     "\n"
     "^ near here"},
    {"1 +",
     "formula:1:4: expected a number, a signal, a function call or '(', got end of formula\n"
     "1 +\n"
     "   ^ near here"},
    {"(1 + 2",
     "formula:1:7: expected ')' to close the '(' at column 1, got end of formula\n"
     "(1 + 2\n"
     "      ^ near here"},
    {"max(1 2)",
     "formula:1:7: expected ',' or ')' in the arguments of max() opened at column 4, got "
     "number '2'\n"
     "max(1 2)\n"
     "      ^ near here"},
    {"sum(waiting) 4",
     "formula:1:14: expected an operator or the end of the formula, got number '4'\n"
     "sum(waiting) 4\n"
     "             ^ near here"},
    {"1 )",
     "formula:1:3: expected an operator or the end of the formula, got ')'\n"
     "1 )\n"
     "  ^ near here"},
    {"replicas > 1 ? 2",
     "formula:1:17: expected ':' of the conditional started by '?' at column 14, got end of "
     "formula\n"
     "replicas > 1 ? 2\n"
     "                ^ near here"},
    {"1 < 2 < 3",
     "formula:1:7: comparisons cannot be chained; write (a < b) && (b < c)\n"
     "1 < 2 < 3\n"
     "      ^ near here"},
    {"1 == 2 != 3",
     "formula:1:8: comparisons cannot be chained; write (a == b) && (b != c)\n"
     "1 == 2 != 3\n"
     "       ^ near here"},
    {"replicas = 1",
     "formula:1:10: unexpected '=', did you mean '=='?\n"
     "replicas = 1\n"
     "         ^ near here"},
    {"replicas & pods",
     "formula:1:10: unexpected '&', did you mean '&&'?\n"
     "replicas & pods\n"
     "         ^ near here"},
    {"replicas | pods",
     "formula:1:10: unexpected '|', did you mean '||'?\n"
     "replicas | pods\n"
     "         ^ near here"},
    {"1 # 2",
     "formula:1:3: unexpected character '#'\n"
     "1 # 2\n"
     "  ^ near here"},
    {"2x",
     "formula:1:1: invalid number or duration '2x' (duration units: ns, us, ms, s, m, h)\n"
     "2x\n"
     "^ near here"},
    {"1.2.3",
     "formula:1:1: invalid number or duration '1.2.3' (duration units: ns, us, ms, s, m, h)\n"
     "1.2.3\n"
     "^ near here"},
    {"1e999",
     "formula:1:1: number '1e999' is out of range\n"
     "1e999\n"
     "^ near here"},
    // trend() and predict() (issue 13 item 2).
    {"predict(sum(waiting))",
     "formula:1:1: predict() needs a horizon, how far ahead as a duration, e.g. predict(sum(waiting), 2m)\n"
     "predict(sum(waiting))\n"
     "^ near here"},
    {"predict(sum(waiting), 120)",
     "formula:1:23: predict() horizon must be a duration such as 2m or 90s, got 120, did you mean 120s?\n"
     "predict(sum(waiting), 120)\n"
     "                      ^ near here"},
    {"predict(sum(waiting), replicas * 2s)",
     "formula:1:23: predict() horizon must be a duration such as 2m or 90s\n"
     "predict(sum(waiting), replicas * 2s)\n"
     "                      ^ near here"},
    {"predict(sum(waiting), 0s)",
     "formula:1:23: predict() horizon must be longer than 0, got 0s\n"
     "predict(sum(waiting), 0s)\n"
     "                      ^ near here"},
    {"predict(sum(waiting), 2m, 1)",
     "formula:1:1: predict() takes 2 arguments (x, horizon), got 3\n"
     "predict(sum(waiting), 2m, 1)\n"
     "^ near here"},
    {"trend(predict(sum(waiting), 1m))",
     "formula:1:7: predict() cannot be used inside trend() or predict(): a trend of a trend has no meaning\n"
     "trend(predict(sum(waiting), 1m))\n"
     "      ^ near here"},
    {"trend(waiting)",
     "formula:1:7: 'waiting' is a per-pod signal; aggregate it, e.g. sum(waiting)\n"
     "trend(waiting)\n"
     "      ^ near here"},
    {"trend(1, 2)",
     "formula:1:1: trend() takes 1 argument (an expression, e.g. trend(sum(waiting))), got 2\n"
     "trend(1, 2)\n"
     "^ near here"},
    {"trnd(sum(waiting))",
     "formula:1:1: unknown function 'trnd', did you mean 'trend'?\n"
     "trnd(sum(waiting))\n"
     "^ near here"},
    {"predict + 1",
     "formula:1:1: 'predict' is a function; call it, e.g. predict(sum(waiting), 2m)\n"
     "predict + 1\n"
     "^ near here"},
    // Multi-line formulas: the line and the column within it.
    {"max(\n  sum(waiting)/4,\n  sum(kv_cahce)/0.8\n)",
     "formula:3:7: unknown signal 'kv_cahce', did you mean 'kv_cache'?\n"
     "  sum(kv_cahce)/0.8\n"
     "      ^ near here"},
    {"max(\n  sum(waiting)/4,\n",
     "formula:3:1: expected a number, a signal, a function call or '(', got end of formula\n"
     "\n"
     "^ near here"},
};

TEST(FormulaErrorTest, ExactMessages) {
  for (const Bad& b : kBad) {
    auto program = Compile(b.text, testing::TestSignals());
    ASSERT_FALSE(program.ok()) << b.text;
    EXPECT_EQ(program.status().code(), Code::kInvalidArgument) << b.text;
    EXPECT_EQ(program.status().message(), b.error) << b.text;
  }
}

// KEDA shows the first line alone as an event: it must name the place and the problem.
TEST(FormulaErrorTest, FirstLineStandsAlone) {
  for (const Bad& b : kBad) {
    auto program = Compile(b.text, testing::TestSignals());
    ASSERT_FALSE(program.ok());
    const std::string m = program.status().message();
    std::string first = m.substr(0, m.find('\n'));
    EXPECT_EQ(first.rfind("formula:", 0), 0u) << first;
    EXPECT_GT(first.size(), std::string("formula:1:1: ").size()) << first;
    EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
  }
}

TEST(FormulaErrorTest, LongLinesAreCutAroundTheError) {
  std::string text = "max(1";
  for (int i = 0; i < 60; ++i) text += ", 1";
  text += ", sum(kv_cahce)";
  for (int i = 0; i < 60; ++i) text += ", 1";
  text += ")";
  auto program = Compile(text);
  ASSERT_FALSE(program.ok());
  const std::string m = program.status().message();
  EXPECT_EQ(m.substr(0, m.find('\n')), "formula:1:192: unknown signal 'kv_cahce', did you mean 'kv_cache'?");
  std::string shown = m.substr(m.find('\n') + 1);
  std::string line = shown.substr(0, shown.find('\n'));
  std::string caret = shown.substr(shown.find('\n') + 1);
  EXPECT_LE(line.size(), 106u);
  EXPECT_EQ(line.substr(0, 3), "...");
  EXPECT_EQ(line.substr(line.size() - 3), "...");
  // The caret still points at the misspelt name.
  size_t col = caret.find('^');
  EXPECT_EQ(line.substr(col, 8), "kv_cahce");
}

TEST(FormulaErrorTest, ControlCharactersDoNotBreakTheCaret) {
  auto program = Compile("1 +\x01 2");
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().message(),
            "formula:1:4: unexpected byte 0x01\n"
            "1 +  2\n"
            "   ^ near here");
  auto utf8 = Compile("sum(wait\xc3\xa9) + 1");
  ASSERT_FALSE(utf8.ok());
  EXPECT_EQ(utf8.status().message(),
            "formula:1:9: unexpected byte 0xC3\n"
            "sum(wait\xc3\xa9) + 1\n"
            "        ^ near here");
}

TEST(FormulaErrorTest, DeclaredSignalsAreValidated) {
  struct Case {
    std::vector<SignalInfo> signals;
    const char* error;
  };
  const Case cases[] = {
      {{{"pods", Kind::kGauge}}, "formula: signal name 'pods' is reserved (it is a builtin number)"},
      {{{"replicas", Kind::kGauge}}, "formula: signal name 'replicas' is reserved (it is a builtin number)"},
      {{{"2fast", Kind::kGauge}},
       "formula: signal name '2fast' is not an identifier (letters, digits and '_', not "
       "starting with a digit)"},
      {{{"my-signal", Kind::kGauge}},
       "formula: signal name 'my-signal' is not an identifier (letters, digits and '_', not "
       "starting with a digit)"},
      {{{"", Kind::kGauge}},
       "formula: signal name '' is not an identifier (letters, digits and '_', not starting "
       "with a digit)"},
      {{{"x", Kind::kGauge}, {"x", Kind::kCounter}}, "formula: signal 'x' is declared twice"},
  };
  for (const Case& c : cases) {
    auto program = Compile("1", c.signals);
    ASSERT_FALSE(program.ok()) << c.error;
    EXPECT_EQ(program.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(program.status().message(), c.error);
  }
  // Only declared signals exist: no implicit builtins.
  auto program = Compile("sum(waiting)", {{"backlog", Kind::kGauge}});
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().message(),
            "formula:1:5: unknown signal 'waiting' (known: backlog, replicas, pods)\n"
            "sum(waiting)\n"
            "    ^ near here");
}

// ---- Limits ---------------------------------------------------------------------------------

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(FormulaLimitsTest, Length) {
  Options options;
  options.max_length = 10;
  auto program = Compile("sum(waiting)+1", BuiltinSignals(), options);
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().message(),
            "formula:1:11: formula is too long (14 bytes; the limit is 10)\n"
            "sum(waiting)+1\n"
            "          ^ near here");
  EXPECT_TRUE(Compile("1+1+1+1+1", BuiltinSignals(), options).ok());

  // The default limit is 4096 bytes.
  std::string at_limit = "1" + Repeat(" ", 4095);
  EXPECT_TRUE(Compile(at_limit).ok());
  auto over = Compile(at_limit + " ");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message().substr(0, over.status().message().find('\n')),
            "formula:1:4097: formula is too long (4097 bytes; the limit is 4096)");
}

TEST(FormulaLimitsTest, DepthOfTheTree) {
  // n additions make a tree of height n + 1; the default limit is 64.
  std::string ok = "1" + Repeat("+1", 63);
  EXPECT_TRUE(Compile(ok).ok());
  std::string deep = "1" + Repeat("+1", 64);
  auto program = Compile(deep);
  ASSERT_FALSE(program.ok());
  const std::string m = program.status().message();
  EXPECT_EQ(m.substr(0, m.find('\n')), "formula:1:128: formula nests too deeply (the limit is 64 levels)");
}

TEST(FormulaLimitsTest, DepthOfParenthesesAndUnaryChains) {
  EXPECT_TRUE(Compile(Repeat("(", 63) + "1" + Repeat(")", 63)).ok());
  auto parens = Compile(Repeat("(", 64) + "1" + Repeat(")", 64));
  ASSERT_FALSE(parens.ok());
  const std::string m = parens.status().message();
  EXPECT_EQ(m.substr(0, m.find('\n')), "formula:1:65: formula nests too deeply (the limit is 64 levels)");

  EXPECT_TRUE(Compile(Repeat("-", 63) + "1").ok());
  auto unary = Compile(Repeat("-", 64) + "1");
  ASSERT_FALSE(unary.ok());
  EXPECT_NE(unary.status().message().find("formula nests too deeply"), std::string::npos);

  Options options;
  options.max_depth = 3;
  EXPECT_TRUE(Compile("max(1+2, 3)", BuiltinSignals(), options).ok());
  EXPECT_FALSE(Compile("max(1+2*3, 3)", BuiltinSignals(), options).ok());
}

TEST(FormulaLimitsTest, HostileNestingDoesNotExhaustTheStack) {
  Options options;
  options.max_length = 1 << 22;
  for (const std::string& open :
       {std::string("("), std::string("-"), std::string("!"), std::string("max("), std::string("1?")}) {
    auto program = Compile(Repeat(open, 200000) + "1", BuiltinSignals(), options);
    ASSERT_FALSE(program.ok()) << open;
    EXPECT_NE(program.status().message().find("formula nests too deeply"), std::string::npos) << open;
  }
}

TEST(FormulaLimitsTest, Identifiers) {
  Options options;
  options.max_identifiers = 3;
  auto program = Compile("replicas + pods + replicas + pods", BuiltinSignals(), options);
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().message(),
            "formula:1:30: formula names too many signals and variables (the limit is 3)\n"
            "replicas + pods + replicas + pods\n"
            "                             ^ near here");
  // Function names do not count.
  EXPECT_TRUE(Compile("max(sum(waiting), sum(running), sum(kv_cache))", BuiltinSignals(), options).ok());
}

}  // namespace
}  // namespace nimscaler::formula
