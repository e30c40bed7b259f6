// SPDX-License-Identifier: MIT
// The client half of RFC 6455 that a WhatsApp connection needs: the upgrade request, the check of the
// server's answer, masked frames out and the server's frames in. Pure: bytes in, bytes and events out; the
// socket, TLS and the SHA-1 of the accept key live in the engine's transport (docs/architecture.md,
// "The websocket client").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"

namespace wa::wire::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

/// Appended to the client's key before hashing (RFC 6455 §1.3).
inline constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The longest answer head (status line and headers) we wait for.
inline constexpr std::size_t kMaxUpgradeResponse = 8192;
/// Control frames carry at most this many payload bytes (§5.5).
inline constexpr std::size_t kMaxControlPayload = 125;

/// GET <target> with the upgrade headers; host is what goes in Host (host or host:port). Fails on a
/// control character or space in any part (they would split the request).
[[nodiscard]] Result<std::string> upgrade_request(std::string_view host, std::string_view target,
                                                  std::string_view origin, std::string_view key);

/// Checks the answer to upgrade_request: status 101, Upgrade: websocket, Connection: upgrade, the
/// expected Sec-WebSocket-Accept, and no extension or subprotocol (we offered none). Returns the length
/// of the answer's head (the bytes after it are frames), or 0 while the head is incomplete.
[[nodiscard]] Result<std::size_t> parse_upgrade_response(std::string_view in, std::string_view expected_accept);

/// Bytes of a client frame with this payload (header, mask key and payload).
std::size_t client_frame_size(std::size_t payload) noexcept;
/// Appends one final, masked client frame.
void append_client_frame(Bytes& out, Opcode op, ByteView payload, std::array<std::uint8_t, 4> mask);

/// What the next bytes from the server are. payload views the input given to next().
struct Event {
  enum class Kind { need_more, data, ping, pong, close };
  Kind kind = Kind::need_more;
  std::size_t consumed = 0;  ///< bytes of the input this event used; the caller drops them
  ByteView payload;          ///< data: a piece of a message (any split); ping/pong/close: the whole payload
  std::optional<std::uint16_t> close_code;
};

/// Reads the server's frames. Data payloads are handed out as they arrive, without waiting for the end of
/// the frame or the message (the WhatsApp framing above does not follow message boundaries), so a large
/// message never needs a buffer of its size here. Control frames are handed out whole. Rejects masked
/// frames, reserved bits, unknown opcodes, fragmented or long control frames, a continuation with no
/// message, a new message inside a fragmented one, and lengths that are not minimally encoded or use the
/// top bit. After an error every call returns it.
class ClientReader final {
 public:
  [[nodiscard]] Result<Event> next(ByteView in);
  /// Inside a data frame's payload (more of it is expected).
  bool in_payload() const noexcept { return remaining_ > 0; }

 private:
  Result<Event> fail_with(std::string context);
  std::uint64_t remaining_ = 0;  // payload bytes of the current data frame still to come
  bool fragmented_ = false;      // a data message started and its final frame is not complete
  std::optional<Error> error_;
};

}  // namespace wa::wire::ws
