// SPDX-License-Identifier: MIT
// Binary node encoder. Strings are written in the order both reference clients use: token, nibble-packed,
// hex-packed (uppercase only), raw. JIDs are always JID forms (docs/protocol/binary-node.md).
#include <string>

#include "tags.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/errc.hpp"

namespace wa::wire {
namespace {

constexpr std::size_t kMaxEncodeDepth = 64;
constexpr std::size_t kMaxListSize = 0xFFFF;

bool is_nibble_char(char c) { return (c >= '0' && c <= '9') || c == '-' || c == '.'; }
bool is_hex_char(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

std::uint8_t nibble_code(char c) {
  if (c == '-') return 10;
  if (c == '.') return 11;
  return static_cast<std::uint8_t>(c - '0');
}
std::uint8_t hex_code(char c) {
  return c <= '9' ? static_cast<std::uint8_t>(c - '0') : static_cast<std::uint8_t>(c - 'A' + 10);
}

class Encoder final {
 public:
  Encoder(Dict dict, Bytes& out) : dict_(dict), out_(out) {}

  Status node(const Node& n, std::size_t depth) {
    if (depth > kMaxEncodeDepth) return fail(errc::too_deep, "encode");
    if (n.tag.empty()) return fail(errc::invalid_node, "empty tag");
    const bool has_content = !std::holds_alternative<std::monostate>(n.content);
    const std::size_t size = 1 + 2 * n.attrs.size() + (has_content ? 1 : 0);
    WA_TRY_STATUS(list_start(size));
    WA_TRY_STATUS(string(n.tag));
    for (const auto& a : n.attrs) {
      WA_TRY_STATUS(string(a.key));
      if (const auto* s = std::get_if<std::string>(&a.value)) {
        WA_TRY_STATUS(string(*s));
      } else {
        WA_TRY_STATUS(jid(std::get<Jid>(a.value)));
      }
    }
    if (const auto* s = std::get_if<std::string>(&n.content)) return string(*s);
    if (const auto* b = std::get_if<Bytes>(&n.content)) return raw(*b);
    if (const auto* j = std::get_if<Jid>(&n.content)) return jid(*j);
    if (const auto* list = std::get_if<NodeList>(&n.content)) {
      WA_TRY_STATUS(list_start(list->size()));
      for (const auto& c : *list) WA_TRY_STATUS(node(c, depth + 1));
    }
    return ok();
  }

 private:
  void byte(std::uint8_t b) { out_.push_back(b); }

  Status list_start(std::size_t size) {
    if (size == 0) {
      byte(tag::kListEmpty);
    } else if (size < 256) {
      byte(tag::kList8);
      byte(static_cast<std::uint8_t>(size));
    } else if (size <= kMaxListSize) {
      byte(tag::kList16);
      byte(static_cast<std::uint8_t>(size >> 8));
      byte(static_cast<std::uint8_t>(size));
    } else {
      return fail(errc::too_large, "list of " + std::to_string(size));
    }
    return ok();
  }

  Status raw(ByteView b) {
    const std::size_t n = b.size();
    if (n < 256) {
      byte(tag::kBinary8);
      byte(static_cast<std::uint8_t>(n));
    } else if (n < (1u << 20)) {
      byte(tag::kBinary20);
      byte(static_cast<std::uint8_t>((n >> 16) & 0x0F));
      byte(static_cast<std::uint8_t>(n >> 8));
      byte(static_cast<std::uint8_t>(n));
    } else if (n <= 0xFFFFFFFFu) {
      byte(tag::kBinary32);
      for (int shift = 24; shift >= 0; shift -= 8) byte(static_cast<std::uint8_t>(n >> shift));
    } else {
      return fail(errc::too_large, "binary of " + std::to_string(n));
    }
    out_.insert(out_.end(), b.begin(), b.end());
    return ok();
  }

  void packed(std::string_view s, std::uint8_t type) {
    byte(type);
    std::uint8_t header = static_cast<std::uint8_t>((s.size() + 1) / 2);
    if (s.size() % 2 != 0) header |= 0x80;
    byte(header);
    auto code = [&](char c) { return type == tag::kNibble8 ? nibble_code(c) : hex_code(c); };
    std::size_t i = 0;
    for (; i + 1 < s.size(); i += 2) byte(static_cast<std::uint8_t>((code(s[i]) << 4) | code(s[i + 1])));
    if (i < s.size()) byte(static_cast<std::uint8_t>((code(s[i]) << 4) | 0x0F));
  }

  Status string(std::string_view s) {
    if (!s.empty()) {
      if (auto t = find_token(dict_, s)) {
        if (t->dict >= 0) byte(static_cast<std::uint8_t>(tag::kDictionary0 + t->dict));
        byte(t->index);
        return ok();
      }
      if (s.size() <= tag::kPackedMax) {
        bool nibble = true;
        bool hex = true;
        for (char c : s) {
          nibble = nibble && is_nibble_char(c);
          hex = hex && is_hex_char(c);
        }
        if (nibble) {
          packed(s, tag::kNibble8);
          return ok();
        }
        if (hex) {
          packed(s, tag::kHex8);
          return ok();
        }
      }
    }
    return raw(as_bytes(s));
  }

  Status jid(const Jid& j) {
    if (!j.is_valid()) return fail(errc::not_encodable, "invalid JID value");
    if (!j.has_device()) {
      byte(tag::kJidPair);
      if (j.user().empty()) {
        byte(tag::kListEmpty);
      } else {
        WA_TRY_STATUS(string(j.user()));
      }
      return string(server_name(j.server()));
    }
    if (j.server() == Server::messenger || j.server() == Server::interop) {
      if (dict_ == Dict::v2) return fail(errc::not_encodable, "FB/interop JID in dictionary 2: " + j.to_string());
      const bool interop = j.server() == Server::interop;
      byte(interop ? tag::kInteropJid : tag::kFbJid);
      WA_TRY_STATUS(string(j.user()));
      byte(static_cast<std::uint8_t>(j.device() >> 8));
      byte(static_cast<std::uint8_t>(j.device()));
      if (interop) {
        byte(static_cast<std::uint8_t>(j.integrator() >> 8));
        byte(static_cast<std::uint8_t>(j.integrator()));
      }
      return string(server_name(j.server()));
    }
    if (j.device() > 0xFF) return fail(errc::not_encodable, "device over 255 in AD_JID: " + j.to_string());
    std::uint8_t domain = tag::kDomainWhatsApp;
    switch (j.server()) {
      case Server::lid: domain = tag::kDomainLid; break;
      case Server::hosted: domain = tag::kDomainHosted; break;
      case Server::hosted_lid: domain = tag::kDomainHostedLid; break;
      default: domain = j.agent(); break;  // s.whatsapp.net; a non-zero agent names the domain (baileys 7)
    }
    byte(tag::kAdJid);
    byte(domain);
    byte(static_cast<std::uint8_t>(j.device()));
    return string(j.user());
  }

  Dict dict_;
  Bytes& out_;
};

}  // namespace

Status encode_node(const Node& node, Dict dict, Bytes& out) {
  const std::size_t mark = out.size();
  Encoder enc(dict, out);
  auto st = enc.node(node, 0);
  if (!st) out.resize(mark);
  return st;
}

Result<Bytes> encode_payload(const Node& node, Dict dict) {
  Bytes out;
  out.reserve(64);
  out.push_back(0x00);
  WA_TRY_STATUS(encode_node(node, dict, out));
  return out;
}

}  // namespace wa::wire
