// SPDX-License-Identifier: MIT
// Private: how many clients of an engine may be connecting at once (TCP, TLS, websocket upgrade, Noise).
// A restart starts every number at once; a TLS handshake holds OpenSSL's record buffers and handshake state
// (about 18 KB) until it completes, so 1,000 numbers over wss:// added 18 MB to the process for the length
// of the restart. The gate bounds that, first come first served; connecting is bound by round trips, so the
// limit is well above what keeps a CPU busy and a restart's length does not change (docs/benchmarks.md).
// Pure logic, no Asio: a waiter is woken through the function it queued.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace wa::protocol::detail {

class ConnectGate {
 public:
  struct Ticket {
    std::function<void()> wake;  ///< called once, without the gate's lock held, when the slot passes to it
    bool granted = false;
  };

  explicit ConnectGate(std::size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  /// Enters at once (nullptr) or queues a ticket whose wake() is called when a holder leaves.
  std::shared_ptr<Ticket> enter(std::function<void()> wake);
  /// A queued waiter stops waiting (woken, or giving up): true if the slot had passed to it, which it then
  /// holds (and must leave()); false: it is out of the queue.
  bool granted_or_withdraw(const std::shared_ptr<Ticket>& t);
  /// A holder leaves: the slot passes to the longest waiter, if any.
  void leave();

  std::size_t limit() const noexcept { return limit_; }
  std::size_t active() const;
  std::size_t waiting() const;
  std::size_t peak() const;  ///< the most holders there were at once

 private:
  mutable std::mutex mu_;
  std::size_t limit_;
  std::size_t active_ = 0;
  std::size_t peak_ = 0;
  std::deque<std::shared_ptr<Ticket>> queue_;
};

}  // namespace wa::protocol::detail
