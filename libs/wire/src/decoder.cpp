// SPDX-License-Identifier: MIT
// Binary node decoder. Every read is bounds-checked; every length is checked against what is left before
// anything is allocated; nesting is capped. Errors carry the offset where decoding stopped.
#include <zlib.h>

#include <string>

#include "tags.hpp"
#include "wa/wire/codec.hpp"
#include "wa/wire/errc.hpp"

namespace wa::wire {
namespace {

// A decoded string-ish value: text or a JID.
using StrOrJid = std::variant<std::string, Jid>;

class Decoder final {
 public:
  Decoder(ByteView in, Dict dict, const DecodeLimits& limits) : in_(in), dict_(dict), limits_(limits) {}

  Result<Node> node(std::size_t depth) {
    if (depth > limits_.max_depth) return err(errc::too_deep);
    WA_TRY(std::uint8_t list_tag, u8());
    WA_TRY(std::size_t size, list_size(list_tag));
    if (size == 0) return err(errc::invalid_node, "empty list as node");
    Node n;
    WA_TRY(n.tag, name("tag"));
    const std::size_t attr_count = (size - 1) / 2;
    n.attrs.reserve(attr_count);
    for (std::size_t i = 0; i < attr_count; ++i) {
      WA_TRY(std::string key, name("attribute key"));
      WA_TRY(std::uint8_t t, u8());
      WA_TRY(StrOrJid value, string_or_jid(t));
      if (auto* s = std::get_if<std::string>(&value)) {
        n.attrs.push_back(Attr{std::move(key), std::move(*s)});
      } else {
        n.attrs.push_back(Attr{std::move(key), std::move(std::get<Jid>(value))});
      }
    }
    if (size % 2 == 1) return n;  // no content
    WA_TRY(std::uint8_t t, u8());
    if (t == tag::kListEmpty || t == tag::kList8 || t == tag::kList16) {
      WA_TRY(std::size_t count, list_size(t));
      // Each child needs at least two bytes: refuse counts the input cannot hold before reserving.
      if (count > remaining() / 2) return err(errc::truncated, "child list longer than input");
      NodeList children;
      children.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        WA_TRY(Node c, node(depth + 1));
        children.push_back(std::move(c));
      }
      n.content = std::move(children);
    } else if (t == tag::kBinary8 || t == tag::kBinary20 || t == tag::kBinary32) {
      WA_TRY(std::size_t len, binary_length(t));
      WA_TRY(ByteView b, take(len));
      n.content = Bytes(b.begin(), b.end());
    } else {
      WA_TRY(StrOrJid v, string_or_jid(t));
      if (auto* s = std::get_if<std::string>(&v)) {
        n.content = std::move(*s);
      } else {
        n.content = std::move(std::get<Jid>(v));
      }
    }
    return n;
  }

  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  std::size_t pos() const noexcept { return pos_; }

 private:
  Error make_err(errc e, std::string_view what = {}) const {
    std::string ctx = "at offset " + std::to_string(pos_);
    if (!what.empty()) {
      ctx += ": ";
      ctx += what;
    }
    return Error{e, std::move(ctx)};
  }
  detail::Unexpected err(errc e, std::string_view what = {}) const { return fail(make_err(e, what)); }

  Result<std::uint8_t> u8() {
    if (pos_ >= in_.size()) return err(errc::truncated);
    return in_[pos_++];
  }
  Result<std::uint32_t> be(std::size_t n) {
    if (remaining() < n) return err(errc::truncated);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | in_[pos_++];
    return v;
  }
  Result<ByteView> take(std::size_t n) {
    if (remaining() < n) return err(errc::truncated, "length " + std::to_string(n) + " past end");
    ByteView v = in_.subspan(pos_, n);
    pos_ += n;
    return v;
  }

  Result<std::size_t> list_size(std::uint8_t t) {
    switch (t) {
      case tag::kListEmpty: return std::size_t{0};
      case tag::kList8: {
        WA_TRY(std::uint8_t n, u8());
        return std::size_t{n};
      }
      case tag::kList16: {
        WA_TRY(std::uint32_t n, be(2));
        return std::size_t{n};
      }
      default: return err(errc::invalid_tag, "expected a list, got " + std::to_string(t));
    }
  }

  Result<std::size_t> binary_length(std::uint8_t t) {
    if (t == tag::kBinary8) {
      WA_TRY(std::uint8_t n, u8());
      return std::size_t{n};
    }
    if (t == tag::kBinary20) {
      WA_TRY(std::uint32_t n, be(3));
      return std::size_t{n & 0x0FFFFFu};
    }
    WA_TRY(std::uint32_t n, be(4));
    return std::size_t{n};
  }

  // A tag, attribute key or JID part: must be a string, not a JID.
  Result<std::string> name(std::string_view what) {
    WA_TRY(std::uint8_t t, u8());
    WA_TRY(StrOrJid v, string_or_jid(t));
    auto* s = std::get_if<std::string>(&v);
    if (s == nullptr) return err(errc::invalid_node, std::string(what) + " is a JID");
    if (s->empty() && what == "tag") return err(errc::invalid_node, "empty tag");
    return std::move(*s);
  }

  Result<std::string> packed(std::uint8_t type) {
    WA_TRY(std::uint8_t header, u8());
    const std::size_t bytes = header & 0x7F;
    const bool odd = (header & 0x80) != 0;
    if (odd && bytes == 0) return err(errc::invalid_packed, "odd flag on empty string");
    WA_TRY(ByteView b, take(bytes));
    std::string s;
    s.reserve(bytes * 2);
    for (std::size_t i = 0; i < b.size(); ++i) {
      for (int half = 0; half < 2; ++half) {
        const std::uint8_t code = half == 0 ? (b[i] >> 4) : (b[i] & 0x0F);
        const bool last = i + 1 == b.size() && half == 1;
        if (last && odd) {
          if (code != 0x0F) return err(errc::invalid_packed, "padding nibble is not 15");
          continue;
        }
        if (type == tag::kNibble8) {
          if (code <= 9) {
            s += static_cast<char>('0' + code);
          } else if (code == 10) {
            s += '-';
          } else if (code == 11) {
            s += '.';
          } else {
            return err(errc::invalid_packed, "nibble " + std::to_string(code));
          }
        } else {
          s += static_cast<char>(code < 10 ? '0' + code : 'A' + code - 10);
        }
      }
    }
    return s;
  }

  static bool is_jid_tag(std::uint8_t t) {
    return t == tag::kJidPair || t == tag::kAdJid || t == tag::kFbJid || t == tag::kInteropJid;
  }

  // A JID's parts are plain strings. The tag is checked before reading, so nested JID tags cannot recurse.
  Result<std::string> user_part() {
    WA_TRY(std::uint8_t t, u8());
    if (is_jid_tag(t)) return err(errc::invalid_jid, "JID inside a JID");
    WA_TRY(StrOrJid v, string_or_jid(t));
    auto* s = std::get_if<std::string>(&v);
    if (s == nullptr) return err(errc::invalid_jid, "JID inside a JID");
    return std::move(*s);
  }

  Result<Jid> jid_result(Result<Jid> r) {
    if (!r) return err(errc::invalid_jid, r.error().context());
    return r;
  }

  Result<Jid> jid_pair() {
    WA_TRY(std::string user, user_part());
    WA_TRY(std::string server_name_, user_part());
    auto server = server_from_name(server_name_);
    if (!server) return err(errc::invalid_jid, "unknown server \"" + server_name_.substr(0, 40) + "\"");
    return jid_result(Jid::make(user, *server));
  }

  Result<Jid> ad_jid() {
    WA_TRY(std::uint8_t domain, u8());
    WA_TRY(std::uint8_t device, u8());
    WA_TRY(std::string user, user_part());
    Server server = Server::user;
    switch (domain) {
      case tag::kDomainWhatsApp: server = Server::user; break;
      case tag::kDomainLid: server = Server::lid; break;
      case tag::kDomainHosted: server = Server::hosted; break;
      case tag::kDomainHostedLid: server = Server::hosted_lid; break;
      default: return err(errc::invalid_jid, "AD_JID domain " + std::to_string(domain));
    }
    return jid_result(Jid::make_device(user, server, device));
  }

  Result<Jid> fb_or_interop_jid(bool interop) {
    WA_TRY(std::string user, user_part());
    WA_TRY(std::uint32_t device, be(2));
    std::uint32_t integrator = 0;
    if (interop) {
      WA_TRY(integrator, be(2));
    }
    WA_TRY(std::string server, user_part());
    const Server expected = interop ? Server::interop : Server::messenger;
    if (server != server_name(expected)) return err(errc::invalid_jid, "server \"" + server.substr(0, 40) + "\"");
    return jid_result(Jid::make_device(user, expected, static_cast<std::uint16_t>(device), 0,
                                       static_cast<std::uint16_t>(integrator)));
  }

  Result<StrOrJid> string_or_jid(std::uint8_t t) {
    if (t >= 1 && t < tag::kDictionary0) {
      auto tok = single_token(dict_, t);
      if (!tok) return err(errc::invalid_token, "single " + std::to_string(t));
      return StrOrJid{std::string(*tok)};
    }
    switch (t) {
      case tag::kListEmpty: return StrOrJid{std::string()};
      case tag::kDictionary0:
      case tag::kDictionary0 + 1:
      case tag::kDictionary0 + 2:
      case tag::kDictionary3: {
        WA_TRY(std::uint8_t i, u8());
        auto tok = double_token(dict_, static_cast<std::uint8_t>(t - tag::kDictionary0), i);
        if (!tok) return err(errc::invalid_token, "double " + std::to_string(t) + "/" + std::to_string(i));
        return StrOrJid{std::string(*tok)};
      }
      case tag::kBinary8:
      case tag::kBinary20:
      case tag::kBinary32: {
        WA_TRY(std::size_t len, binary_length(t));
        WA_TRY(ByteView b, take(len));
        return StrOrJid{std::string(as_chars(b))};
      }
      case tag::kJidPair: {
        WA_TRY(Jid j, jid_pair());
        return StrOrJid{std::move(j)};
      }
      case tag::kAdJid: {
        WA_TRY(Jid j, ad_jid());
        return StrOrJid{std::move(j)};
      }
      case tag::kFbJid:
      case tag::kInteropJid: {
        if (dict_ == Dict::v2) return err(errc::invalid_tag, "FB/interop JID in dictionary 2");
        WA_TRY(Jid j, fb_or_interop_jid(t == tag::kInteropJid));
        return StrOrJid{std::move(j)};
      }
      case tag::kNibble8:
      case tag::kHex8: {
        WA_TRY(std::string s, packed(t));
        return StrOrJid{std::move(s)};
      }
      default: return err(errc::invalid_tag, "string tag " + std::to_string(t));
    }
  }

  ByteView in_;
  std::size_t pos_ = 0;
  Dict dict_;
  const DecodeLimits& limits_;
};

Result<Bytes> inflate_payload(ByteView in, std::size_t limit) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return fail(errc::inflate_failed, "init");
  Bytes out;
  out.resize(std::min<std::size_t>(limit + 1, std::max<std::size_t>(in.size() * 4, 256)));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (true) {
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (zs.avail_out == 0) {
      if (out.size() > limit) {
        inflateEnd(&zs);
        return fail(errc::too_large, "inflated payload over " + std::to_string(limit));
      }
      out.resize(std::min(out.size() * 2, limit + 1));
    } else if (rc == Z_BUF_ERROR) {
      break;  // no progress possible: input ended early
    }
  }
  const std::size_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return fail(errc::inflate_failed, "zlib code " + std::to_string(rc));
  if (produced > limit) return fail(errc::too_large, "inflated payload over limit");
  out.resize(produced);
  return out;
}

}  // namespace

Result<Node> decode_node(ByteView in, Dict dict, const DecodeLimits& limits) {
  Decoder d(in, dict, limits);
  WA_TRY(Node n, d.node(0));
  if (d.remaining() != 0) {
    return fail(errc::trailing_bytes, std::to_string(d.remaining()) + " bytes after offset " + std::to_string(d.pos()));
  }
  return n;
}

Result<Node> decode_payload(ByteView in, Dict dict, const DecodeLimits& limits) {
  if (in.empty()) return fail(errc::truncated, "empty payload");
  const std::uint8_t flags = in[0];
  if (flags == 0x00) return decode_node(in.subspan(1), dict, limits);
  if (flags != 0x02) return fail(errc::bad_flags, "flags " + std::to_string(flags));
  WA_TRY(Bytes plain, inflate_payload(in.subspan(1), limits.max_inflated));
  return decode_node(plain, dict, limits);
}

}  // namespace wa::wire
