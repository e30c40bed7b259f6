// SPDX-License-Identifier: MIT
#include "connect_gate.hpp"

#include <algorithm>
#include <cmath>

namespace wa::protocol::detail {

namespace {
// A completion this long after the previous one starts a new burst.
constexpr auto kStale = std::chrono::seconds(1);
// Doubling the bound pays when the rate of completions grows by more than this.
constexpr double kGain = 1.25;
// Rounds at a bound found to be enough before probing a larger one.
constexpr int kHoldRounds = 8;
}  // namespace

ConnectGate::ConnectGate(std::size_t limit, std::size_t floor)
    : cap_(limit == 0 ? 1 : limit), floor_(floor == 0 || floor >= cap_ ? cap_ : floor), bound_(floor_) {}

std::shared_ptr<ConnectGate::Ticket> ConnectGate::enter(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  if (active_ < bound_ && queue_.empty()) {
    peak_ = std::max(peak_, ++active_);
    return nullptr;
  }
  auto t = std::make_shared<Ticket>();
  t->wake = std::move(wake);
  queue_.push_back(t);
  return t;
}

bool ConnectGate::granted_or_withdraw(const std::shared_ptr<Ticket>& t) {
  std::lock_guard lock(mu_);
  if (t->granted) return true;
  std::erase(queue_, t);
  return false;
}

void ConnectGate::leave() { release(false, {}); }

void ConnectGate::leave(Clock::time_point now) { release(true, now); }

void ConnectGate::release(bool measured, Clock::time_point now) {
  std::vector<std::shared_ptr<Ticket>> woken;
  {
    std::lock_guard lock(mu_);
    if (active_ > 0) --active_;
    if (measured && floor_ < cap_) adapt_locked(now);
    woken = admit_locked();
  }
  for (auto& t : woken) {
    if (t->wake) t->wake();
  }
}

std::vector<std::shared_ptr<ConnectGate::Ticket>> ConnectGate::admit_locked() {
  std::vector<std::shared_ptr<Ticket>> woken;
  while (active_ < bound_ && !queue_.empty()) {
    auto next = std::move(queue_.front());
    queue_.pop_front();
    next->granted = true;
    peak_ = std::max(peak_, ++active_);
    woken.push_back(std::move(next));
  }
  return woken;
}

void ConnectGate::adapt_locked(Clock::time_point now) {
  if (now - last_done_ > kStale) {
    // A new burst (a restart, a reconnection storm): what bound the last one is not known to bind this one.
    bound_ = floor_;
    growing_ = true;
    last_rate_ = 0;
    holding_ = 0;
    round_done_ = 0;
    timed_ = false;
  }
  // A round is timed from the end of the one before, so that attempts which complete in bunches (each after
  // the same round trip) count at the rate they really complete, stalls included; a burst's first round from
  // its first completion.
  if (!timed_) {
    round_start_ = now;  // the first completion starts the clock
    timed_ = true;
    first_round_ = true;
  }
  last_done_ = now;
  if (++round_done_ < std::max<std::size_t>(bound_, 2)) return;
  if (first_round_) {
    // Timed from a completion that may have come in a bunch: it only starts the clock for the next round.
    first_round_ = false;
    round_done_ = 0;
    round_start_ = now;
    return;
  }
  const double seconds = std::chrono::duration<double>(now - round_start_).count();
  // All at once (no time since the last round): as fast as can be seen.
  const double rate = seconds > 0 ? static_cast<double>(round_done_) / seconds : 1e12;
  round_done_ = 0;
  round_start_ = now;
  if (growing_) {
    if (rate > kGain * last_rate_) {
      last_rate_ = rate;
      if (bound_ < cap_) {
        bound_ = std::min(cap_, bound_ * 2);  // paid: more in flight again
        return;
      }
      growing_ = false;  // paid, at the limit: stays there
      holding_ = kHoldRounds;
      return;
    }
    // Did not pay: back to the bound that gave the same rate, and stay there a while.
    bound_ = std::max(floor_, bound_ / 2);
    growing_ = false;
    holding_ = kHoldRounds;
    return;
  }
  last_rate_ = std::max(last_rate_, rate);  // a probe must beat the best of the rounds held: rates are noisy
  if (holding_ > 0) --holding_;
  if (holding_ == 0 && bound_ < cap_) {
    growing_ = true;  // probe: would more in flight pay now?
    bound_ = std::min(cap_, bound_ * 2);
  }
}

std::size_t ConnectGate::bound() const {
  std::lock_guard lock(mu_);
  return bound_;
}
std::size_t ConnectGate::active() const {
  std::lock_guard lock(mu_);
  return active_;
}
std::size_t ConnectGate::waiting() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}
std::size_t ConnectGate::peak() const {
  std::lock_guard lock(mu_);
  return peak_;
}

}  // namespace wa::protocol::detail
