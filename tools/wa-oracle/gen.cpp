// SPDX-License-Identifier: MIT
#include "gen.hpp"

#include <set>

namespace wa::oracle {
namespace {

// Strings Baileys cannot take as attribute keys or strings: inherited Object.prototype members break its
// token map lookup, and integer-like keys are reordered by JavaScript objects.
bool js_unsafe(const std::string& s) {
  static const std::set<std::string> kProto = {"constructor", "__proto__", "toString", "valueOf", "hasOwnProperty",
                                               "isPrototypeOf", "propertyIsEnumerable", "toLocaleString",
                                               "__defineGetter__", "__defineSetter__", "__lookupGetter__",
                                               "__lookupSetter__"};
  return kProto.count(s) > 0;
}
bool integer_like(const std::string& s) {
  // JavaScript orders array-index keys (0 .. 2^32-2) first, whatever their insertion order.
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(s) < 4294967295ull;
}

}  // namespace

std::string NodeGenerator::token() {
  for (;;) {
    if (chance(60)) {
      if (auto t = wire::single_token(dict_, static_cast<std::uint8_t>(1 + below(235)))) {
        if (!t->empty()) return std::string(*t);
      }
    } else if (auto t = wire::double_token(dict_, static_cast<std::uint8_t>(below(4)),
                                           static_cast<std::uint8_t>(below(256)))) {
      if (!t->empty()) return std::string(*t);
    }
  }
}

std::string NodeGenerator::string(bool allow_empty) {
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/+=";
  static constexpr char kNibble[] = "0123456789-.";
  static constexpr char kHex[] = "0123456789ABCDEF";
  static const char* kUtf8[] = {"é", "ß", "ж", "中", "👋", "🇧🇷", "\u00a0", "\t", "\n"};
  std::string s;
  switch (allow_empty && chance(1) ? 8 : below(8)) {
    case 0:
    case 1: s = token(); break;
    case 2: {
      const std::size_t n = 1 + below(chance(10) ? 200 : 40);  // past 127 it is written raw
      for (std::size_t i = 0; i < n; ++i) s += kNibble[below(12)];
      break;
    }
    case 3: {
      const std::size_t n = 1 + below(chance(10) ? 200 : 40);
      for (std::size_t i = 0; i < n; ++i) s += kHex[below(16)];
      if (chance(20)) s += 'a';  // lowercase hex is never packed
      break;
    }
    case 4:
    case 5: {
      const std::size_t n = 1 + below(30);
      for (std::size_t i = 0; i < n; ++i) s += kAlnum[below(sizeof(kAlnum) - 1)];
      break;
    }
    case 6: {
      const std::size_t n = 1 + below(12);
      for (std::size_t i = 0; i < n; ++i) s += chance(50) ? kUtf8[below(9)] : std::string(1, kAlnum[below(26)]);
      break;
    }
    case 7: {
      const std::size_t n = chance(3) ? 256 + below(70000) : 128 + below(300);  // BINARY_8 and BINARY_20
      for (std::size_t i = 0; i < n; ++i) s += kAlnum[below(26)];
      break;
    }
    default:
      if (dict_ == wire::Dict::v2) exact_ = false;  // baileys 6 writes "" as a bare 0x00, we write fc 00
      return s;
  }
  if (js_unsafe(s)) return "x";
  return s;
}

std::string NodeGenerator::key() {
  for (;;) {
    std::string k = chance(70) ? token() : string(false);
    if (!k.empty() && !integer_like(k) && !js_unsafe(k) && k.size() < 100) return k;
  }
}

Jid NodeGenerator::jid() {
  auto digits = [&](std::size_t min, std::size_t max) {
    std::string s(1, static_cast<char>('1' + below(9)));
    const std::size_t n = min + below(max - min + 1);
    while (s.size() < n) s += static_cast<char>('0' + below(10));
    return s;
  };
  const auto dev = [&] { return static_cast<std::uint16_t>(1 + below(chance(80) ? 99 : 255)); };
  const std::size_t kinds = dict_ == wire::Dict::v3 ? 14 : 10;
  switch (below(kinds)) {
    case 0: return *Jid::make(digits(8, 15), Server::user);
    case 1: return *Jid::make_device(digits(8, 15), Server::user, dev());
    case 2: return *Jid::make(digits(12, 16), Server::lid);
    case 3: return *Jid::make_device(digits(12, 16), Server::lid, dev());
    case 4: return *Jid::make(digits(18, 18), Server::group);
    case 5: return *Jid::make(digits(10, 11) + "-" + digits(10, 10), Server::group);
    case 6: return *Jid::parse("status@broadcast");
    case 7: return Jid::server_jid();
    case 8: return *Jid::make(digits(18, 18), Server::newsletter);
    case 9: return *Jid::make(digits(8, 12), Server::hosted);
    // Dictionary 3 only (baileys 6 maps every non-zero AD domain to lid and has no FB/interop JIDs).
    case 10: return *Jid::make_device(digits(8, 12), Server::hosted, dev());
    case 11: return *Jid::make_device(digits(8, 12), Server::hosted_lid, dev());
    case 12:
      exact_ = false;  // baileys 7 decodes FB_JID but cannot encode it
      return *Jid::make_device(digits(6, 12), Server::messenger, static_cast<std::uint16_t>(below(60000)));
    default:
      exact_ = false;
      return *Jid::make_device(digits(6, 12), Server::interop, static_cast<std::uint16_t>(below(60000)), 0,
                               static_cast<std::uint16_t>(1 + below(60000)));
  }
}

wire::Node NodeGenerator::node(std::size_t depth) {
  wire::Node n;
  n.tag = chance(80) ? token() : string(false);
  std::size_t attrs = below(6);
  if (chance(1)) attrs = 130;  // 1 + 2*130 > 255: the node's list header becomes LIST_16
  std::set<std::string> seen;
  for (std::size_t i = 0; i < attrs; ++i) {
    std::string k = key();
    if (!seen.insert(k).second) continue;
    if (chance(25)) {
      n.attrs.push_back({std::move(k), jid()});
    } else {
      n.attrs.push_back({std::move(k), string(true)});
    }
  }
  switch (below(depth >= 4 ? 4 : 5)) {
    case 0: break;
    case 1: n.content = string(true); break;
    case 2: {
      Bytes b(chance(5) ? 256 + below(70000) : below(300));
      for (auto& x : b) x = static_cast<std::uint8_t>(rng_());
      if (!big_ && depth == 0 && chance(2)) {
        big_ = true;
        b.resize((1u << 20) + 17);  // one BINARY_32 per corpus
      }
      n.content = std::move(b);
      break;
    }
    case 3: n.content = jid(); break;
    default: {
      wire::NodeList list;
      std::size_t count = below(4);
      if (chance(2)) count = 260;  // LIST_16 child list
      for (std::size_t i = 0; i < count; ++i) list.push_back(count > 4 ? wire::Node{token(), {}, {}} : node(depth + 1));
      n.content = std::move(list);
    }
  }
  return n;
}

GeneratedNode NodeGenerator::next(std::size_t) {
  exact_ = true;
  GeneratedNode g;
  g.node = node(0);
  g.exact = exact_;
  return g;
}

}  // namespace wa::oracle
