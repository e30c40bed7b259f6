// SPDX-License-Identifier: MIT
// The engine's connect gate: at most `limit` holders, waiters served in arrival order, a withdrawn waiter
// never holds a slot, and a slot passed to a waiter that gives up at the same moment is not lost; with a
// floor, the bound follows what connecting is bound by (round trips: it grows; the CPU: it shrinks).
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

// Rounds of as many attempts as the bound, completing `spacing` apart: the gate's clock is the tests'. Four
// waiters stay queued, so that a raised bound admits them at once; `woken` counts those.
struct Driver {
  explicit Driver(ConnectGate& gate) : g(gate) {}
  ConnectGate& g;
  ConnectGate::Clock::time_point now = ConnectGate::Clock::time_point{} + std::chrono::hours(1);
  int woken = 0;
  std::vector<std::shared_ptr<ConnectGate::Ticket>> queued;
  void fill() {
    while (g.active() < g.bound()) ASSERT_EQ(g.enter({}), nullptr);
    while (queued.size() < 4) queued.push_back(g.enter([this] { ++woken; }));
  }
  void round(std::chrono::microseconds spacing) {
    const std::size_t n = g.bound();
    for (std::size_t i = 0; i < n; ++i) {
      now += spacing;
      g.leave(now);
      for (auto& t : queued) {
        if (t && g.granted_or_withdraw(t)) t = nullptr;  // admitted: holds a slot, as a client would
      }
      std::erase(queued, nullptr);
    }
    fill();
  }
  // The bound after each of `rounds` rounds that `one` runs.
  template <class F>
  std::vector<std::size_t> bounds(int rounds, F one) {
    std::vector<std::size_t> seen;
    for (int r = 0; r < rounds; ++r) {
      one();
      seen.push_back(g.bound());
    }
    return seen;
  }
  // Attempts of `ms` each with the bound in flight: the rate grows with the bound (a distant server).
  void round_trip_bound(int ms) { round(std::chrono::microseconds(ms * 1000 / static_cast<long>(g.bound()))); }
};

TEST(ConnectGate, TheBoundGrowsFromTheFloorWhenRoundTripsBindIt) {
  // A distant server: every attempt takes 500 ms whatever the number in flight, so doubling the bound doubles
  // the rate of completions. After a first round that starts the clock, the bound doubles each round up to the
  // limit, and stays there.
  ConnectGate g(256, 16);
  EXPECT_EQ(g.bound(), 16u);
  Driver d(g);
  d.fill();
  const auto seen = d.bounds(16, [&] { d.round_trip_bound(500); });
  EXPECT_EQ(seen, (std::vector<std::size_t>{16, 32, 64, 128, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256}));
  EXPECT_LE(g.active(), 256u);
  EXPECT_EQ(g.peak(), 256u);
  EXPECT_GT(d.woken, 0);  // a raised bound admits waiters at once, not only as holders leave
}

TEST(ConnectGate, BunchedCompletionsCountAtTheirRealRate) {
  // Each attempt waits 45 ms for a round trip (a stall, say), then the bound's worth complete within 1 ms:
  // timed from first to last completion of a round the rate would look the same at every bound (16 in 1 ms,
  // 32 in 2 ms) and the bound would never grow; timed from round to round it doubles with the bound.
  ConnectGate g(256, 16);
  Driver d(g);
  d.fill();
  const auto seen = d.bounds(6, [&] {
    d.now += std::chrono::milliseconds(45);
    d.round(std::chrono::microseconds(1000 / static_cast<long>(g.bound())));
  });
  EXPECT_EQ(seen, (std::vector<std::size_t>{16, 32, 64, 128, 256, 256}));
}

TEST(ConnectGate, TheBoundStaysNearTheFloorWhenTheCpuBindsIt) {
  // A near server on a busy CPU: 2,000 completions a second whatever the number in flight. Doubling does not
  // pay, so the bound goes back to the floor, and probes twice the floor after 8 rounds there.
  ConnectGate g(256, 16);
  Driver d(g);
  d.fill();
  const auto seen = d.bounds(12, [&] { d.round(std::chrono::microseconds(500)); });
  EXPECT_EQ(seen, (std::vector<std::size_t>{16, 32, 16, 16, 16, 16, 16, 16, 16, 16, 32, 16}));
  EXPECT_EQ(g.peak(), 32u);
}

TEST(ConnectGate, WithoutAFloorOrUnmeasuredTheBoundIsTheLimit) {
  ConnectGate fixed(8);
  EXPECT_EQ(fixed.bound(), 8u);
  Driver d(fixed);
  d.fill();
  for (int r = 0; r < 3; ++r) d.round_trip_bound(500);
  EXPECT_EQ(fixed.bound(), 8u);
  ConnectGate adaptive(64, 4);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(adaptive.enter({}), nullptr);
  for (int i = 0; i < 4; ++i) adaptive.leave();  // stopped, not an attempt: nothing measured
  EXPECT_EQ(adaptive.bound(), 4u);
  EXPECT_EQ(adaptive.active(), 0u);
}

TEST(ConnectGate, ABurstAfterAnIdleSpellStartsAtTheFloor) {
  // Grown to 64 by a distant server, then nothing for a minute: the next burst (a restart of the numbers, say,
  // against another server) starts again at the floor, timing its rounds from its own first completion.
  ConnectGate g(256, 16);
  Driver d(g);
  d.fill();
  for (int r = 0; r < 3; ++r) d.round_trip_bound(500);
  ASSERT_EQ(g.bound(), 64u);
  d.now += std::chrono::minutes(1);
  g.leave(d.now);
  EXPECT_EQ(g.bound(), 16u);
}

}  // namespace
