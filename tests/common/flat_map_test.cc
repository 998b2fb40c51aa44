// FlatMap (scaler/common/flat_map.h) stands in for std::map in a pod's readings (issue 16 item
// 3): the same lookups, insertion and key-ordered iteration.
#include "scaler/common/flat_map.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace nimscaler {
namespace {

TEST(FlatMap, BehavesLikeStdMapForLookupInsertAndOrder) {
  FlatMap<std::string, double> flat{{"waiting", 3}, {"kv_cache", 0.5}, {"running", 2}, {"kv_cache", 0.7}};
  std::map<std::string, double> tree{{"waiting", 3}, {"kv_cache", 0.5}, {"running", 2}};
  EXPECT_EQ(flat.size(), 3u) << "a repeated key keeps one entry";
  EXPECT_EQ(flat.at("kv_cache"), 0.7) << "the later value of a repeated key wins";
  flat["kv_cache"] = 0.5;
  flat["ttft"];  // inserted value-initialised, as std::map's operator[]
  tree["ttft"];
  std::vector<std::pair<std::string, double>> a(flat.begin(), flat.end()), b(tree.begin(), tree.end());
  EXPECT_EQ(a, b) << "iterates in key order";
  EXPECT_EQ(flat.count("running"), 1u);
  EXPECT_EQ(flat.count("run"), 0u);
  EXPECT_TRUE(flat.find("zzz") == flat.end());
  EXPECT_TRUE(flat.find("aaa") == flat.end());
  EXPECT_THROW(flat.at("absent"), std::out_of_range);
  FlatMap<std::string, double> copy = flat;
  EXPECT_TRUE(copy == flat);
  copy["waiting"] = 4;
  EXPECT_FALSE(copy == flat);
  flat.clear();
  EXPECT_TRUE(flat.empty());
}

}  // namespace
}  // namespace nimscaler
