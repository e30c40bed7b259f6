// SPDX-License-Identifier: MIT
#include "connect_gate.hpp"

#include <algorithm>

namespace wa::protocol::detail {

std::shared_ptr<ConnectGate::Ticket> ConnectGate::enter(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  if (active_ < limit_ && queue_.empty()) {
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

void ConnectGate::leave() {
  std::shared_ptr<Ticket> next;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      if (active_ > 0) --active_;
      return;
    }
    next = std::move(queue_.front());
    queue_.pop_front();
    next->granted = true;  // the slot passes: active_ stays
  }
  if (next->wake) next->wake();
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
