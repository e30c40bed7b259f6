// SPDX-License-Identifier: MIT
// RFC 6455, client side: the upgrade and the frame codec (see websocket.hpp).
#include "wa/wire/websocket.hpp"

#include <algorithm>

#include "wa/wire/errc.hpp"

namespace wa::wire::ws {
namespace {

bool bad_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated header value holds this token (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

Result<std::string> upgrade_request(std::string_view host, std::string_view target, std::string_view origin,
                                    std::string_view key) {
  if (host.empty() || target.empty() || target.front() != '/' || key.empty()) {
    return fail(errc::bad_websocket, "upgrade request needs a host, a target starting with / and a key");
  }
  if (bad_char(host) || bad_char(target) || bad_char(key) ||
      std::any_of(origin.begin(), origin.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return fail(errc::bad_websocket, "control character or space in the upgrade request");
  }
  std::string r;
  r.reserve(160 + host.size() + target.size() + origin.size());
  r.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n");
  if (!origin.empty()) r.append("Origin: ").append(origin).append("\r\n");
  r.append("User-Agent: zapd\r\n\r\n");
  return r;
}

Result<std::size_t> parse_upgrade_response(std::string_view in, std::string_view expected_accept) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kMaxUpgradeResponse) return fail(errc::bad_websocket, "upgrade answer head over 8 KB");
    return std::size_t{0};
  }
  if (end + 4 > kMaxUpgradeResponse) return fail(errc::bad_websocket, "upgrade answer head over 8 KB");
  std::string_view head = in.substr(0, end + 2);  // every line ends in CRLF
  auto line_end = head.find("\r\n");
  const std::string_view status = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);
  // "HTTP/1.1 101 Switching Protocols"; the reason phrase is free text.
  if (status.size() < 12 || status.substr(0, 9) != "HTTP/1.1 " || (status.size() > 12 && status[12] != ' ')) {
    return fail(errc::bad_websocket, "not an HTTP/1.1 status line: " + std::string(status.substr(0, 64)));
  }
  if (status.substr(9, 3) != "101") {
    return fail(errc::bad_websocket, "upgrade refused with HTTP " + std::string(status.substr(9, 3)));
  }
  bool upgrade = false, connection = false, accept = false;
  while (!head.empty()) {
    line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    const auto colon = line.find(':');
    if (line.empty() || line.front() == ' ' || line.front() == '\t' || colon == std::string_view::npos || colon == 0) {
      return fail(errc::bad_websocket, "malformed header line in the upgrade answer");
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade")) {
      if (!iequals(value, "websocket")) return fail(errc::bad_websocket, "Upgrade is not websocket");
      upgrade = true;
    } else if (iequals(name, "connection")) {
      if (!has_token(value, "upgrade")) return fail(errc::bad_websocket, "Connection has no upgrade");
      connection = true;
    } else if (iequals(name, "sec-websocket-accept")) {
      if (accept || value != expected_accept) return fail(errc::bad_websocket, "wrong Sec-WebSocket-Accept");
      accept = true;
    } else if (iequals(name, "sec-websocket-extensions") || iequals(name, "sec-websocket-protocol")) {
      return fail(errc::bad_websocket, "the server chose an extension or subprotocol that was not offered");
    }
  }
  if (!upgrade || !connection || !accept) {
    return fail(errc::bad_websocket, "upgrade answer lacks Upgrade, Connection or Sec-WebSocket-Accept");
  }
  return end + 4;
}

std::size_t client_frame_size(std::size_t payload) noexcept {
  const std::size_t len_bytes = payload < 126 ? 0 : payload <= 0xffff ? 2 : 8;
  return 2 + len_bytes + 4 + payload;
}

void append_client_frame(Bytes& out, Opcode op, ByteView payload, std::array<std::uint8_t, 4> mask) {
  const std::size_t n = payload.size();
  const std::size_t at = out.size();
  out.resize(at + client_frame_size(n));
  std::uint8_t* p = out.data() + at;
  *p++ = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op));
  if (n < 126) {
    *p++ = static_cast<std::uint8_t>(0x80 | n);
  } else if (n <= 0xffff) {
    *p++ = 0x80 | 126;
    *p++ = static_cast<std::uint8_t>(n >> 8);
    *p++ = static_cast<std::uint8_t>(n);
  } else {
    *p++ = 0x80 | 127;
    for (int i = 7; i >= 0; --i) *p++ = static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (8 * i));
  }
  for (std::size_t i = 0; i < 4; ++i) *p++ = mask[i];
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(payload[i] ^ mask[i & 3]);
}

Result<Event> ClientReader::fail_with(std::string context) {
  error_ = Error(errc::bad_websocket, std::move(context));
  return fail(*error_);
}

Result<Event> ClientReader::next(ByteView in) {
  if (error_) return fail(*error_);
  Event ev;
  if (remaining_ > 0) {
    if (in.empty()) return ev;
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
    remaining_ -= k;
    ev.kind = Event::Kind::data;
    ev.consumed = k;
    ev.payload = in.first(k);
    return ev;
  }
  if (in.size() < 2) return ev;
  const std::uint8_t b0 = in[0], b1 = in[1];
  const bool fin = (b0 & 0x80) != 0;
  const auto op = static_cast<std::uint8_t>(b0 & 0x0f);
  if ((b0 & 0x70) != 0) return fail_with("reserved bits set (no extension was agreed)");
  if ((b1 & 0x80) != 0) return fail_with("masked frame from the server");
  std::size_t header = 2;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    if (in.size() < 4) return ev;
    len = (std::uint64_t{in[2]} << 8) | in[3];
    if (len < 126) return fail_with("length not minimally encoded");
    header = 4;
  } else if (len == 127) {
    if (in.size() < 10) return ev;
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | in[i];
    if ((len >> 63) != 0) return fail_with("length with the top bit set");
    if (len <= 0xffff) return fail_with("length not minimally encoded");
    header = 10;
  }
  const bool control = (op & 0x08) != 0;
  if (control) {
    if (op != 8 && op != 9 && op != 10) return fail_with("unknown control opcode " + std::to_string(op));
    if (!fin) return fail_with("fragmented control frame");
    if (len > kMaxControlPayload) return fail_with("control frame of " + std::to_string(len) + " bytes");
    if (in.size() < header + len) return ev;
    ev.consumed = header + static_cast<std::size_t>(len);
    ev.payload = in.subspan(header, static_cast<std::size_t>(len));
    if (op == 8) {
      if (len == 1) return fail_with("close frame with a 1-byte payload");
      ev.kind = Event::Kind::close;
      if (len >= 2) ev.close_code = static_cast<std::uint16_t>((in[header] << 8) | in[header + 1]);
    } else {
      ev.kind = op == 9 ? Event::Kind::ping : Event::Kind::pong;
    }
    return ev;
  }
  if (op > 2) return fail_with("unknown data opcode " + std::to_string(op));
  if (op == 0 && !fragmented_) return fail_with("continuation frame with no message");
  if (op != 0 && fragmented_) return fail_with("new message inside a fragmented one");
  fragmented_ = !fin;  // the final frame's header ends the message (its payload may still be coming)
  remaining_ = len;
  const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(len, in.size() - header));
  remaining_ -= k;
  ev.kind = Event::Kind::data;
  ev.consumed = header + k;
  ev.payload = in.subspan(header, k);
  return ev;
}

}  // namespace wa::wire::ws
