// SPDX-License-Identifier: MIT
// The binary node model: a tag, ordered attributes (string or JID values) and optional content
// (text, raw bytes, a JID or child nodes). protocol/README.md §3; docs/protocol/binary-node.md.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "wa/core/bytes.hpp"
#include "wa/core/jid.hpp"

namespace wa::wire {

struct Node;

/// Attribute values are strings or typed JIDs; JIDs are always written in a JID form on the wire.
using AttrValue = std::variant<std::string, Jid>;

struct Attr {
  std::string key;
  AttrValue value;
  friend bool operator==(const Attr&, const Attr&) = default;
};

/// Content alternatives. Text is written like any string (token, packed or raw); Bytes always as raw binary.
/// Decoding gives Text for tokens and packed strings and Bytes for raw binary, whatever the sender meant.
using NodeList = std::vector<Node>;
using Content = std::variant<std::monostate, std::string, Bytes, Jid, NodeList>;

struct Node {
  std::string tag;
  std::vector<Attr> attrs;
  Content content;

  /// The first attribute with this key, or nullptr.
  const AttrValue* attr(std::string_view key) const noexcept;
  /// The attribute as a string if it is one.
  std::optional<std::string_view> attr_string(std::string_view key) const noexcept;
  /// The attribute as a JID if it is one.
  const Jid* attr_jid(std::string_view key) const noexcept;
  void set_attr(std::string key, AttrValue value);

  /// Child nodes (empty when the content is not a list).
  std::span<const Node> children() const noexcept;
  /// The first child with this tag, or nullptr.
  const Node* child(std::string_view tag) const noexcept;
  /// Text or bytes content as bytes; nullopt for none, JID or children.
  std::optional<ByteView> data() const noexcept;

  friend bool operator==(const Node&, const Node&) = default;
};

/// A readable XML-like rendering for logs and test failures (bytes shown as hex).
std::string to_debug_string(const Node& node);

}  // namespace wa::wire
