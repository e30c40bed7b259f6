// SPDX-License-Identifier: MIT
// The engine's connect gate: at most `limit` holders, waiters served in arrival order, a withdrawn waiter
// never holds a slot, and a slot passed to a waiter that gives up at the same moment is not lost.
#include "../src/connect_gate.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {
using wa::protocol::detail::ConnectGate;

TEST(ConnectGate, AdmitsUpToTheLimitThenQueuesInOrder) {
  ConnectGate g(2);
  EXPECT_EQ(g.enter({}), nullptr);
  EXPECT_EQ(g.enter({}), nullptr);
  std::vector<int> woken;
  auto a = g.enter([&] { woken.push_back(1); });
  auto b = g.enter([&] { woken.push_back(2); });
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(g.active(), 2u);
  EXPECT_EQ(g.waiting(), 2u);
  g.leave();
  EXPECT_EQ(woken, std::vector<int>{1});
  EXPECT_TRUE(g.granted_or_withdraw(a));
  EXPECT_EQ(g.active(), 2u);  // passed on, not freed
  g.leave();
  g.leave();
  EXPECT_EQ(woken, (std::vector<int>{1, 2}));
  EXPECT_TRUE(g.granted_or_withdraw(b));
  g.leave();
  EXPECT_EQ(g.active(), 0u);
  EXPECT_EQ(g.peak(), 2u);
}

TEST(ConnectGate, AWithdrawnWaiterIsSkippedAndALateGrantIsKept) {
  ConnectGate g(1);
  EXPECT_EQ(g.enter({}), nullptr);
  int woken_a = 0, woken_b = 0;
  auto a = g.enter([&] { ++woken_a; });
  auto b = g.enter([&] { ++woken_b; });
  EXPECT_FALSE(g.granted_or_withdraw(a));  // a gives up before any grant
  g.leave();
  EXPECT_EQ(woken_a, 0);
  EXPECT_EQ(woken_b, 1);
  // b was granted; even if it was giving up at that moment, it learns it holds the slot and leaves it.
  EXPECT_TRUE(g.granted_or_withdraw(b));
  g.leave();
  EXPECT_EQ(g.active(), 0u);
  EXPECT_EQ(g.enter({}), nullptr);  // the slot is free again
}

TEST(ConnectGate, NewcomersDoNotOvertakeWaiters) {
  ConnectGate g(1);
  EXPECT_EQ(g.enter({}), nullptr);
  auto a = g.enter({});
  ASSERT_NE(a, nullptr);
  g.leave();                          // the slot passes to a
  EXPECT_NE(g.enter({}), nullptr);    // a newcomer waits behind
  EXPECT_TRUE(g.granted_or_withdraw(a));
}

TEST(ConnectGate, ManyThreadsNeverExceedTheLimit) {
  ConnectGate g(3);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k) {
        std::atomic<bool> go{false};
        auto t = g.enter([&] { go = true; });
        if (t) {
          while (!go) std::this_thread::yield();
          ASSERT_TRUE(g.granted_or_withdraw(t));
        }
        const int n = ++inside;
        int m = most.load();
        while (n > m && !most.compare_exchange_weak(m, n)) {
        }
        --inside;
        g.leave();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_EQ(g.active(), 0u);
  EXPECT_EQ(g.waiting(), 0u);
  EXPECT_LE(g.peak(), 3u);
}

}  // namespace
