// SPDX-License-Identifier: MIT
// Small helpers shared by the protocol library's sources: big-endian integers as WhatsApp writes them in
// nodes, and reading the byte content of a child node.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wa/core/bytes.hpp"
#include "wa/wire/node.hpp"

namespace wa::protocol::detail {

/// v as n big-endian bytes (registration ids: 4, key ids: 3).
inline Bytes be(std::uint32_t v, std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

inline std::uint32_t be_uint(ByteView b) {
  std::uint32_t v = 0;
  for (auto x : b) v = (v << 8) | x;
  return v;
}

/// The bytes of the first child with this tag, if it has any.
inline std::optional<ByteView> child_bytes(const wire::Node& n, std::string_view tag) {
  const wire::Node* c = n.child(tag);
  return c == nullptr ? std::nullopt : c->data();
}

}  // namespace wa::protocol::detail
