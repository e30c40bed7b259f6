// SPDX-License-Identifier: MIT
// Strong identifier types: a value with a tag, so an InstanceId cannot be passed where a MessageId is
// expected, and no integer or string converts into one by accident.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

namespace wa {

template <class Tag, class T>
class StrongId final {
 public:
  using value_type = T;
  StrongId() = default;
  explicit StrongId(T value) : value_(std::move(value)) {}
  /// Any other argument type is refused at compile time (e.g. an int where the id holds a string).
  template <class U>
  StrongId(U) = delete;

  const T& value() const noexcept { return value_; }
  /// An empty string or zero is not a valid id.
  bool is_valid() const noexcept { return value_ != T{}; }
  friend auto operator<=>(const StrongId&, const StrongId&) = default;
  friend std::ostream& operator<<(std::ostream& os, const StrongId& id) { return os << id.value_; }

 private:
  T value_{};
};

/// One linked WhatsApp number hosted by zapd (Z-API's "instance").
using InstanceId = StrongId<struct InstanceIdTag, std::string>;
/// A WhatsApp message id (the stanza id, e.g. "3EB0...").
using MessageId = StrongId<struct MessageIdTag, std::string>;
/// A webhook event's stable id.
using EventId = StrongId<struct EventIdTag, std::string>;

}  // namespace wa

template <class Tag, class T>
struct std::hash<wa::StrongId<Tag, T>> {
  std::size_t operator()(const wa::StrongId<Tag, T>& id) const noexcept { return std::hash<T>{}(id.value()); }
};
