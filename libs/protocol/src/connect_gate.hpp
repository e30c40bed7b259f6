// SPDX-License-Identifier: MIT
// Private: how many clients of an engine may be connecting at once (TCP, TLS, websocket upgrade, Noise, and
// the credentials' load before them).
// A restart starts every number at once; each handshake holds buffers, coroutine frames and (over TLS)
// OpenSSL's handshake state until it completes, and what many of them free between the connections' long-lived
// records stays resident (docs/benchmarks.md, sessions 10 and 11). The gate bounds that, first come first
// served. With a floor the bound adapts: against a distant server connecting is bound by round trips and the
// rate of completed attempts grows with the number in flight; against a near one on a busy CPU it does not,
// and more in flight only hold more memory for longer. A burst (attempts after a second without any) starts
// at the floor; after its first round, each round (as many completed attempts as the bound, timed from the
// end of the previous one, so that bunched completions count at the rate they really come) doubles the bound
// while that raised the rate by a quarter, else halves it back and keeps it for 8 rounds before probing again.
// Pure logic, no Asio: a waiter is woken through the function it queued; time comes from the callers.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace wa::protocol::detail {

class ConnectGate {
 public:
  using Clock = std::chrono::steady_clock;
  struct Ticket {
    std::function<void()> wake;  ///< called once, without the gate's lock held, when the slot passes to it
    bool granted = false;
  };

  /// At most `limit` holders. With 0 < floor < limit the bound in force starts at floor and adapts between
  /// the two; otherwise it is `limit`.
  explicit ConnectGate(std::size_t limit, std::size_t floor = 0);

  /// Enters at once (nullptr) or queues a ticket whose wake() is called when a holder leaves.
  std::shared_ptr<Ticket> enter(std::function<void()> wake);
  /// A queued waiter stops waiting (woken, or giving up): true if the slot had passed to it, which it then
  /// holds (and must leave()); false: it is out of the queue.
  bool granted_or_withdraw(const std::shared_ptr<Ticket>& t);
  /// A holder leaves without having tried to connect (stopped): the slot passes on, nothing is measured.
  void leave();
  /// A holder leaves after an attempt (connected or failed) that ended at `now`.
  void leave(Clock::time_point now);

  std::size_t limit() const noexcept { return cap_; }
  std::size_t bound() const;  ///< the bound in force
  std::size_t active() const;
  std::size_t waiting() const;
  std::size_t peak() const;  ///< the most holders there were at once

 private:
  // Admits waiters while the bound allows; returns them to be woken outside the lock.
  std::vector<std::shared_ptr<Ticket>> admit_locked();
  void adapt_locked(Clock::time_point now);
  void release(bool measured, Clock::time_point now);

  mutable std::mutex mu_;
  std::size_t cap_;
  std::size_t floor_;
  std::size_t bound_;
  std::size_t active_ = 0;
  std::size_t peak_ = 0;
  std::deque<std::shared_ptr<Ticket>> queue_;
  // The current round: completed attempts and when the first completed; the last completion; the previous
  // round's rate; growing (each round doubles while it pays) or holding (rounds left before a probe).
  std::size_t round_done_ = 0;
  bool timed_ = false;        // the burst's clock runs (else the next completion starts it)
  bool first_round_ = false;  // the burst's first round, which only starts the clock for the next
  Clock::time_point round_start_{};
  Clock::time_point last_done_{};
  double last_rate_ = 0;
  bool growing_ = true;
  int holding_ = 0;
};

}  // namespace wa::protocol::detail
