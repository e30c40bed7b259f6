// The websocket client codec against RFC 6455's own examples and its rules. The codec against real servers
// (Beast's, and wasim's) is in wa_protocol_test and the interop tests.
#include "wa/wire/websocket.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "wa/wire/errc.hpp"

namespace wa::wire::ws {
namespace {

ByteView sv(const std::string& s) { return as_bytes(s); }

// Feeds in and collects every data byte, the control events and the first error.
struct Collected {
  Bytes data;
  std::vector<Event::Kind> controls;
  std::optional<std::uint16_t> close_code;
  std::optional<Error> error;
  std::size_t left = 0;  // bytes never consumed
};
Collected run(ClientReader& r, ByteView in) {
  Collected c;
  for (;;) {
    auto ev = r.next(in);
    if (!ev) {
      c.error = ev.error();
      return c;
    }
    in = in.subspan(ev->consumed);
    if (ev->kind == Event::Kind::need_more) break;
    if (ev->kind == Event::Kind::data) {
      c.data.insert(c.data.end(), ev->payload.begin(), ev->payload.end());
    } else {
      c.controls.push_back(ev->kind);
      if (ev->kind == Event::Kind::close) c.close_code = ev->close_code;
    }
  }
  c.left = in.size();
  return c;
}

Bytes server_frame(std::uint8_t b0, ByteView payload) {
  Bytes f{b0};
  const auto n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<std::uint8_t>(n));
  } else if (n <= 0xffff) {
    f.push_back(126);
    f.push_back(static_cast<std::uint8_t>(n >> 8));
    f.push_back(static_cast<std::uint8_t>(n));
  } else {
    f.push_back(127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (8 * i)));
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// RFC 6455 §5.7: a single-frame masked text message "Hello" with mask 37 fa 21 3d.
TEST(WebSocket, MaskedClientFrameIsTheRfcExample) {
  Bytes out;
  append_client_frame(out, Opcode::text, sv("Hello"), {0x37, 0xfa, 0x21, 0x3d});
  EXPECT_EQ(to_hex(out), "818537fa213d7f9f4d5158");
  EXPECT_EQ(client_frame_size(5), out.size());
}

TEST(WebSocket, ClientFrameLengthForms) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    Bytes payload(n, 0xab), out{0xee};
    append_client_frame(out, Opcode::binary, payload, {1, 2, 3, 4});
    ASSERT_EQ(out.size(), 1 + client_frame_size(n)) << n;
    EXPECT_EQ(out[1], 0x82);
    const std::size_t hdr = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
    EXPECT_EQ(out[2] & 0x7f, n < 126 ? n : n <= 0xffff ? 126 : 127) << n;
    EXPECT_EQ(out[2] & 0x80, 0x80);  // masked
    if (n > 3) {
      EXPECT_EQ(out[1 + hdr + 4], 0xab ^ 1);
      EXPECT_EQ(out[1 + hdr + 4 + 3], 0xab ^ 4);
    }
  }
}

// RFC 6455 §5.7: unmasked "Hello", then "Hel" + "lo" as a fragmented message, a ping and a 256-byte and a
// 64 KiB binary frame: the data comes out whole for every split of the input.
TEST(WebSocket, ServerFramesInAnySplit) {
  Bytes stream = from_hex("810548656c6c6f").value();
  append(stream, from_hex("010348656c80026c6f").value());
  append(stream, from_hex("890548656c6c6f").value());  // ping "Hello" between messages
  Bytes big(256, 7), huge(65536, 9);
  append(stream, server_frame(0x82, big));
  append(stream, server_frame(0x82, huge));
  append(stream, from_hex("880203e8").value());  // close 1000
  Bytes want;
  append(want, as_bytes("HelloHello"));
  append(want, big);
  append(want, huge);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 100u, 70000u}) {
    ClientReader r;
    Bytes pending, data;
    std::vector<Event::Kind> controls;
    std::optional<std::uint16_t> code;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      const auto piece = ByteView(stream).subspan(at, std::min(chunk, stream.size() - at));
      pending.insert(pending.end(), piece.begin(), piece.end());
      auto c = run(r, pending);
      ASSERT_FALSE(c.error) << chunk << ": " << c.error->message();
      append(data, c.data);
      controls.insert(controls.end(), c.controls.begin(), c.controls.end());
      if (c.close_code) code = c.close_code;
      pending.erase(pending.begin(), pending.end() - static_cast<std::ptrdiff_t>(c.left));
    }
    EXPECT_EQ(data, want) << chunk;
    EXPECT_EQ(controls, (std::vector<Event::Kind>{Event::Kind::ping, Event::Kind::close})) << chunk;
    EXPECT_EQ(code, 1000) << chunk;
    EXPECT_TRUE(pending.empty()) << chunk;
  }
}

// Data is handed out before its frame is complete: a large message never needs a buffer of its size.
TEST(WebSocket, DataIsHandedOutBeforeTheFrameEnds) {
  ClientReader r;
  Bytes f = server_frame(0x82, Bytes(100000, 5));
  auto ev = r.next(ByteView(f).first(1000));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Event::Kind::data);
  EXPECT_EQ(ev->payload.size(), 990u);
  EXPECT_TRUE(r.in_payload());
}

TEST(WebSocket, ProtocolViolationsAreErrorsAndStay) {
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"masked frame", "8285" "01020304" "0000000000"},
      {"reserved bit", "c200"},
      {"unknown data opcode", "8300"},
      {"unknown control opcode", "8b00"},
      {"fragmented ping", "0900"},
      {"long control frame", "897e007e" + std::string(252, 'a')},
      {"continuation first", "8001" "00"},
      {"new message inside a fragmented one", "0201" "00" "8201" "00"},
      {"1-byte close", "8801" "00"},
      {"non-minimal 16-bit length", "827e0005" "0102030405"},
      {"non-minimal 64-bit length", "827f000000000000ffff"},
      {"top bit of the 64-bit length", "827f8000000000000001"},
  };
  for (const auto& [what, hex] : bad) {
    ClientReader r;
    auto c = run(r, from_hex(hex).value());
    ASSERT_TRUE(c.error) << what;
    EXPECT_EQ(c.error->code(), errc::bad_websocket) << what;
    // Sticky: a valid frame after the error is refused too.
    EXPECT_FALSE(r.next(from_hex("810141").value())) << what;
  }
}

TEST(WebSocket, UpgradeRequest) {
  auto req = upgrade_request("web.whatsapp.com", "/ws/chat", "https://web.whatsapp.com", "dGhlIHNhbXBsZSBub25jZQ==");
  ASSERT_TRUE(req);
  EXPECT_EQ(*req,
            "GET /ws/chat HTTP/1.1\r\nHost: web.whatsapp.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Origin: https://web.whatsapp.com\r\nUser-Agent: zapd\r\n\r\n");
  EXPECT_FALSE(upgrade_request("h", "/a\r\nX: y", "", "k"));
  EXPECT_FALSE(upgrade_request("h", "/", "o\r\nX: y", "k"));
  EXPECT_FALSE(upgrade_request("h o", "/", "", "k"));
  EXPECT_FALSE(upgrade_request("h", "a", "", "k"));
}

// RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== is answered with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
TEST(WebSocket, UpgradeResponse) {
  const std::string accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  const std::string good =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: x\r\n\r\n";
  auto n = parse_upgrade_response(good + "\x82\x01" "A", accept);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, good.size());
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    auto part = parse_upgrade_response(std::string_view(good).substr(0, cut), accept);
    ASSERT_TRUE(part);
    EXPECT_EQ(*part, 0u) << cut;
  }
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"refused", "HTTP/1.1 403 Forbidden\r\n\r\n"},
      {"HTTP/1.0", "HTTP/1.0 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"},
      {"wrong accept", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n"},
      {"no accept", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"},
      {"no upgrade", "HTTP/1.1 101 x\r\nConnection: upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"},
      {"not websocket", "HTTP/1.1 101 x\r\nUpgrade: h2c\r\nConnection: upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"},
      {"no connection upgrade", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"},
      {"extension", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: " + accept +
                        "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"},
      {"folded header", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\n continued\r\n\r\n"},
      {"no colon", "HTTP/1.1 101 x\r\nUpgrade websocket\r\n\r\n"},
      {"too long", "HTTP/1.1 101 x\r\nX: " + std::string(kMaxUpgradeResponse, 'a') + "\r\n\r\n"},
      {"endless head", "HTTP/1.1 101 x\r\nX: " + std::string(kMaxUpgradeResponse, 'a')},
  };
  for (const auto& [what, text] : bad) {
    auto r = parse_upgrade_response(text, accept);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code(), errc::bad_websocket) << what;
  }
}

}  // namespace
}  // namespace wa::wire::ws
