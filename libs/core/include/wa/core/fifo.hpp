// SPDX-License-Identifier: MIT
// A first-in first-out queue that holds no memory while it is empty. libstdc++'s std::deque allocates its
// map and a first 512-byte block when it is constructed and keeps them when emptied; an idle number has
// half a dozen such queues (outgoing frames, sends, inbound events, webhook outbox, ...), about 3.5 KB of
// its footprint. Fifo keeps a deque only while something is queued.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace wa {

template <class T>
class Fifo {
 public:
  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;

  Fifo() = default;
  Fifo(Fifo&&) noexcept = default;
  Fifo& operator=(Fifo&&) noexcept = default;
  Fifo(const Fifo& o) : d_(o.d_ ? std::make_unique<std::deque<T>>(*o.d_) : nullptr) {}
  Fifo& operator=(const Fifo& o) {
    if (this != &o) d_ = o.d_ ? std::make_unique<std::deque<T>>(*o.d_) : nullptr;
    return *this;
  }

  [[nodiscard]] bool empty() const noexcept { return !d_ || d_->empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return d_ ? d_->size() : 0; }
  /// Whether memory is held (only while something is queued; tests).
  [[nodiscard]] bool holds_memory() const noexcept { return d_ != nullptr; }

  T& front() { return d_->front(); }
  const T& front() const { return d_->front(); }
  T& back() { return d_->back(); }
  const T& back() const { return d_->back(); }

  void push_back(T v) { deq().push_back(std::move(v)); }
  template <class... A>
  T& emplace_back(A&&... a) {
    return deq().emplace_back(std::forward<A>(a)...);
  }
  void pop_front() {
    d_->pop_front();
    if (d_->empty()) d_.reset();
  }
  void clear() noexcept { d_.reset(); }
  template <class It>
  void assign(It first, It last) {
    d_.reset();
    for (; first != last; ++first) deq().push_back(*first);
  }
  /// Erases one element; the iterators are invalid afterwards (the memory goes with the last element).
  void erase(const_iterator it) {
    d_->erase(it);
    if (d_->empty()) d_.reset();
  }

  // An empty queue iterates as an empty range (value-initialised iterators compare equal).
  iterator begin() { return d_ ? d_->begin() : iterator{}; }
  iterator end() { return d_ ? d_->end() : iterator{}; }
  const_iterator begin() const { return d_ ? d_->cbegin() : const_iterator{}; }
  const_iterator end() const { return d_ ? d_->cend() : const_iterator{}; }

 private:
  std::deque<T>& deq() {
    if (!d_) d_ = std::make_unique<std::deque<T>>();
    return *d_;
  }
  std::unique_ptr<std::deque<T>> d_;  // null while empty (but for a throwing emplace into a new one)
};

}  // namespace wa
