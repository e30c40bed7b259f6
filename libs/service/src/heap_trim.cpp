// SPDX-License-Identifier: MIT
#include "heap_trim.hpp"

#include <malloc.h>

namespace wa::service {

HeapTrimmer::HeapTrimmer(boost::asio::any_io_executor ex, std::chrono::milliseconds quiet, std::chrono::milliseconds period)
    : soon_(ex), periodic_(ex), quiet_(quiet), period_(period) {}

HeapTrimmer::~HeapTrimmer() { stop(); }

void HeapTrimmer::start() {
  stopped_ = false;
  arm_periodic();
}

void HeapTrimmer::stop() {
  stopped_ = true;
  soon_.cancel();
  periodic_.cancel();
}

void HeapTrimmer::trim() {
  const auto t0 = std::chrono::steady_clock::now();
  ::malloc_trim(0);
  last_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  ++trims_;
}

void HeapTrimmer::poke() {
  if (soon_armed_ || stopped_) return;
  soon_armed_ = true;
  soon_.expires_after(quiet_);
  soon_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (!alive.lock()) return;
    soon_armed_ = false;
    if (!ec && !stopped_) trim();
  });
}

void HeapTrimmer::arm_periodic() {
  if (stopped_ || period_.count() <= 0) return;
  periodic_.expires_after(period_);
  periodic_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (ec || !alive.lock() || stopped_) return;
    trim();
    arm_periodic();
  });
}

}  // namespace wa::service
