// SPDX-License-Identifier: MIT
// Frame codec: 3-byte big-endian length framing over websocket messages, and the "WA" connection header
// (protocol/README.md §1). Pure: bytes in, frames out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/wire/dictionary.hpp"

namespace wa::wire {

inline constexpr std::size_t kFrameLengthSize = 3;             // big-endian u24
inline constexpr std::size_t kMaxFrameSize = (1u << 24) - 1;   // largest payload a u24 can state
inline constexpr std::size_t kConnectionHeaderSize = 4;        // 'W' 'A' 6 <dict>

/// 57 41 06 <dict>: sent once by the client, glued before its first frame; also the Noise prologue.
ByteArray<4> connection_header(Dict dict) noexcept;

/// Appends one frame (length + payload). Empty and oversized payloads are errors: Baileys stops reading
/// at a zero-length frame.
[[nodiscard]] Status append_frame(Bytes& out, ByteView payload);

/// Reassembles frames from websocket messages of any split. The server role first expects the connection
/// header (optionally preceded by an "ED" routing-info intro) and reports the dictionary it names.
/// After the first error every call returns that error.
class FrameReader final {
 public:
  enum class Role { client, server };
  explicit FrameReader(Role role) noexcept : expect_header_(role == Role::server) {}

  /// Adds received bytes. Fails when buffered bytes could only be garbage (a bad header).
  [[nodiscard]] Status feed(ByteView chunk);
  /// The next complete frame, nullopt when more bytes are needed.
  [[nodiscard]] Result<std::optional<Bytes>> next();
  /// The dictionary named by the connection header (server role, once seen).
  std::optional<Dict> dict() const noexcept { return dict_; }
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }
  /// Memory held for buffering: none once every complete frame was taken (an idle connection holds none).
  std::size_t held_bytes() const noexcept { return buf_.capacity(); }

 private:
  Status parse_header();
  Bytes buf_;
  std::size_t pos_ = 0;
  bool expect_header_;
  std::optional<Dict> dict_;
  std::optional<Error> error_;
};

}  // namespace wa::wire
