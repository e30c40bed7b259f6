#include "wa/core/strong_id.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>
#include <unordered_set>

namespace wa {
namespace {

static_assert(!std::is_convertible_v<std::string, InstanceId>, "no implicit conversion from the raw value");
static_assert(!std::is_constructible_v<InstanceId, MessageId>, "ids of different kinds do not mix");
static_assert(!std::is_constructible_v<InstanceId, int>, "no construction from another value type");
static_assert(std::is_constructible_v<InstanceId, std::string>);

TEST(StrongId, ValueValidityOrderAndHash) {
  InstanceId a{std::string("3C1A")};
  InstanceId b{std::string("3C1B")};
  EXPECT_TRUE(a.is_valid());
  EXPECT_FALSE(InstanceId{}.is_valid());
  EXPECT_LT(a, b);
  EXPECT_EQ(a, InstanceId{std::string("3C1A")});
  std::unordered_set<InstanceId> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
  std::ostringstream os;
  os << a;
  EXPECT_EQ(os.str(), "3C1A");
}

}  // namespace
}  // namespace wa
