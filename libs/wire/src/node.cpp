// SPDX-License-Identifier: MIT
#include "wa/wire/node.hpp"

#include "wa/wire/errc.hpp"

namespace wa::wire {

const AttrValue* Node::attr(std::string_view key) const noexcept {
  for (const auto& a : attrs) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}

std::optional<std::string_view> Node::attr_string(std::string_view key) const noexcept {
  const AttrValue* v = attr(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(v)) return std::string_view(*s);
  return std::nullopt;
}

const Jid* Node::attr_jid(std::string_view key) const noexcept {
  const AttrValue* v = attr(key);
  return v == nullptr ? nullptr : std::get_if<Jid>(v);
}

void Node::set_attr(std::string key, AttrValue value) {
  for (auto& a : attrs) {
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  }
  attrs.push_back(Attr{std::move(key), std::move(value)});
}

std::span<const Node> Node::children() const noexcept {
  if (const auto* list = std::get_if<NodeList>(&content)) return *list;
  return {};
}

const Node* Node::child(std::string_view t) const noexcept {
  for (const auto& c : children()) {
    if (c.tag == t) return &c;
  }
  return nullptr;
}

std::optional<ByteView> Node::data() const noexcept {
  if (const auto* s = std::get_if<std::string>(&content)) return as_bytes(*s);
  if (const auto* b = std::get_if<Bytes>(&content)) return ByteView(*b);
  return std::nullopt;
}

namespace {
void render(const Node& n, std::string& out) {
  out += '<';
  out += n.tag;
  for (const auto& a : n.attrs) {
    out += ' ';
    out += a.key;
    out += "=\"";
    if (const auto* s = std::get_if<std::string>(&a.value)) {
      out += *s;
    } else {
      out += std::get<Jid>(a.value).to_string();
    }
    out += '"';
  }
  if (std::holds_alternative<std::monostate>(n.content)) {
    out += "/>";
    return;
  }
  out += '>';
  if (const auto* s = std::get_if<std::string>(&n.content)) {
    out += *s;
  } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
    out += "0x";
    out += to_hex(*b);
  } else if (const auto* j = std::get_if<Jid>(&n.content)) {
    out += j->to_string();
  } else {
    for (const auto& c : std::get<NodeList>(n.content)) render(c, out);
  }
  out += "</";
  out += n.tag;
  out += '>';
}
}  // namespace

std::string to_debug_string(const Node& node) {
  std::string s;
  render(node, s);
  return s;
}

namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wire"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::truncated: return "truncated input";
      case errc::invalid_tag: return "invalid tag byte";
      case errc::invalid_token: return "invalid token index";
      case errc::invalid_packed: return "invalid packed string";
      case errc::invalid_jid: return "invalid JID";
      case errc::invalid_node: return "invalid node";
      case errc::too_deep: return "nesting too deep";
      case errc::too_large: return "too large";
      case errc::trailing_bytes: return "trailing bytes after node";
      case errc::not_encodable: return "value not encodable";
      case errc::bad_header: return "bad connection header";
      case errc::bad_flags: return "bad payload flags";
      case errc::inflate_failed: return "zlib inflate failed";
      case errc::unsupported_dictionary: return "unsupported token dictionary";
      case errc::bad_websocket: return "websocket protocol violation";
    }
    return "unknown wire error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

}  // namespace wa::wire
