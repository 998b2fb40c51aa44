// InternTable (issue 16 item 3): one shared value per key while it is held, a fresh one after.
#include "scaler/common/intern_table.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace nimscaler {
namespace {

TEST(InternTable, TheSameKeySharesOneValueWhileItIsHeld) {
  InternTable<std::string> table;
  EXPECT_EQ(table.Find("a"), nullptr);
  auto first = table.Intern("a", std::make_shared<const std::string>("one"));
  // A second builder of the same key gets the first value, not its own.
  auto second = table.Intern("a", std::make_shared<const std::string>("two"));
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(*second, "one");
  EXPECT_EQ(table.Find("a").get(), first.get());
  EXPECT_NE(table.Intern("b", std::make_shared<const std::string>("one")).get(), first.get());
}

TEST(InternTable, AValueNobodyHoldsIsNotKeptAlive) {
  InternTable<std::string> table;
  std::weak_ptr<const std::string> watch;
  {
    auto v = table.Intern("a", std::make_shared<const std::string>("one"));
    watch = v;
  }
  EXPECT_TRUE(watch.expired()) << "the table holds weak pointers only";
  EXPECT_EQ(table.Find("a"), nullptr);
  auto again = table.Intern("a", std::make_shared<const std::string>("two"));
  EXPECT_EQ(*again, "two");
}

TEST(InternTable, ExpiredEntriesAreSweptAsTheTableGrows) {
  InternTable<std::string> table;
  std::vector<std::shared_ptr<const std::string>> held;
  for (int i = 0; i < 10000; ++i) {
    auto v = table.Intern("k" + std::to_string(i), std::make_shared<const std::string>("v"));
    if (i % 100 == 0) held.push_back(v);  // 100 stay alive, the rest expire at once
  }
  EXPECT_LT(table.size(), 300u) << "10,000 keys came and went; the live ones are 100";
  for (const auto& v : held) EXPECT_EQ(v.use_count(), 1);
  EXPECT_NE(table.Find("k9900"), nullptr);
  EXPECT_EQ(table.Find("k9901"), nullptr);
}

TEST(InternTable, ConcurrentBuildersOfOneKeyEndWithOneValue) {
  InternTable<int> table;
  std::vector<std::shared_ptr<const int>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { got[t] = table.Intern("k", std::make_shared<const int>(t)); });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g.get(), got[0].get());
}

}  // namespace
}  // namespace nimscaler
