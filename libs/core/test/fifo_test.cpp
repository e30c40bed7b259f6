#include "wa/core/fifo.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

TEST(Fifo, QueuesInOrderAndHoldsMemoryOnlyWhileNotEmpty) {
  wa::Fifo<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.holds_memory());
  EXPECT_EQ(q.size(), 0u);
  std::vector<std::string> seen;
  for (const auto& s : q) seen.push_back(s);  // an empty range
  EXPECT_TRUE(seen.empty());

  q.push_back("a");
  q.emplace_back("b");
  q.push_back("c");
  EXPECT_TRUE(q.holds_memory());
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.front(), "a");
  EXPECT_EQ(q.back(), "c");
  for (const auto& s : q) seen.push_back(s);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  q.pop_front();
  EXPECT_EQ(q.front(), "b");
  q.pop_front();
  q.pop_front();
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.holds_memory());  // the last element took the deque with it

  const std::vector<std::string> keys{"1", "2", "3"};
  q.assign(keys.begin(), keys.end());
  EXPECT_EQ(q.size(), 3u);
  auto it = q.begin();
  ++it;
  q.erase(it);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front(), "1");
  EXPECT_EQ(q.back(), "3");
  wa::Fifo<std::string> copy = q;
  q.erase(q.begin());
  q.erase(q.begin());
  EXPECT_FALSE(q.holds_memory());
  EXPECT_EQ(copy.size(), 2u);
  q.assign(keys.begin(), keys.begin());
  EXPECT_FALSE(q.holds_memory());
  copy.clear();
  EXPECT_TRUE(copy.empty());
  EXPECT_FALSE(copy.holds_memory());
}

}  // namespace
