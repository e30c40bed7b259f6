// The heap trimmer: a trim follows activity within its quiet time (one per window), trims also run
// periodically, and a trim gives a fragmented heap's free pages back to the OS (RSS measured).
#include "../src/heap_trim.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <fstream>
#include <vector>

namespace wa::service {
namespace {
using namespace std::chrono_literals;

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * 4096;
}

TEST(HeapTrimmer, TrimsOnceWithinTheQuietTimeAfterActivity) {
  boost::asio::io_context ioc;
  HeapTrimmer t(ioc.get_executor(), 50ms, 0ms);
  t.poke();
  t.poke();  // the same window
  ioc.run_for(200ms);
  EXPECT_EQ(t.trims(), 1u);
  t.poke();
  ioc.restart();
  ioc.run_for(200ms);
  EXPECT_EQ(t.trims(), 2u);
  ioc.restart();
  ioc.run_for(100ms);  // no activity, no period: no trim
  EXPECT_EQ(t.trims(), 2u);
}

TEST(HeapTrimmer, TrimsPeriodicallyAndStops) {
  boost::asio::io_context ioc;
  HeapTrimmer t(ioc.get_executor(), 1000ms, 30ms);
  t.start();
  ioc.run_for(200ms);
  EXPECT_GE(t.trims(), 3u);
  t.stop();
  const auto n = t.trims();
  ioc.restart();
  ioc.run_for(100ms);
  EXPECT_EQ(t.trims(), n);
}

TEST(HeapTrimmer, DestroyedWithTimersPendingIsSafe) {
  boost::asio::io_context ioc;
  {
    HeapTrimmer t(ioc.get_executor(), 10ms, 10ms);
    t.start();
    t.poke();
  }
  ioc.run_for(50ms);  // the cancelled handlers run after the trimmer is gone
  SUCCEED();
}

// 64 MB in 32 KB blocks (below the mmap threshold: they come from the heap), every other one freed: the free
// space is in the middle of the heap, where free() never returns it. The trim does. (The release build runs
// this; under AddressSanitizer malloc is ASan's, which malloc_trim does not manage.)
TEST(HeapTrimmer, GivesAFragmentedHeapBackToTheOs) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's allocator";
#endif
  constexpr std::size_t kBlock = 32768, kCount = 2048;
  std::vector<char*> blocks(kCount);
  for (auto& b : blocks) {
    b = static_cast<char*>(std::malloc(kBlock));
    std::memset(b, 1, kBlock);
  }
  for (std::size_t i = 0; i < kCount; i += 2) {
    std::free(blocks[i]);
    blocks[i] = nullptr;
  }
  const std::size_t before = rss_bytes();
  boost::asio::io_context ioc;
  HeapTrimmer t(ioc.get_executor(), 1ms, 0ms);
  t.trim();
  const std::size_t after = rss_bytes();
  EXPECT_GT(before, after + 16 * 1024 * 1024) << "before " << before << " after " << after;
  for (auto* b : blocks) std::free(b);
}

}  // namespace
}  // namespace wa::service
