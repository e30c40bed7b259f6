// SPDX-License-Identifier: MIT
// Gives the heap's free pages back to the OS after bursts of work (docs/architecture.md, "Memory per number").
// glibc returns freed memory to the OS only from the top of an arena; what a burst frees in the middle (the
// handshakes of a restart, pairings, their transient buffers) stays resident for good, interleaved with the
// long-lived records of the numbers. malloc_trim(0) releases those free pages (madvise) while keeping every
// live allocation where it is. At 1,000 numbers after pairing it returned about 5 MB of 40.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

namespace wa::service {

class HeapTrimmer final {
 public:
  /// quiet: a trim follows this long after activity (one per window); period: a trim this often regardless.
  HeapTrimmer(boost::asio::any_io_executor ex, std::chrono::milliseconds quiet, std::chrono::milliseconds period);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  void start();  ///< the periodic trims
  void poke();   ///< work happened (numbers connected, say): a trim follows within `quiet`
  void stop();

  std::uint64_t trims() const noexcept { return trims_; }
  std::chrono::microseconds last_duration() const noexcept { return last_; }
  /// Trims now (also what the timers call).
  void trim();

 private:
  void arm_periodic();
  boost::asio::steady_timer soon_, periodic_;
  std::chrono::milliseconds quiet_, period_;
  bool soon_armed_ = false;
  bool stopped_ = false;
  std::uint64_t trims_ = 0;
  std::chrono::microseconds last_{0};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // handlers check it: they may run after destruction
};

}  // namespace wa::service
