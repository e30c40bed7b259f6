// SPDX-License-Identifier: MIT
// Token dictionaries. The 4th byte of the connection header names the one a connection uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace wa::wire {

/// Dictionary 2: baileys 6.x. Dictionary 3: current WhatsApp Web, whatsmeow, baileys 7.
enum class Dict : std::uint8_t { v2 = 2, v3 = 3 };

std::optional<Dict> dict_from_byte(std::uint8_t b) noexcept;

/// A token's position: single-byte index (dict < 0) or double-byte dictionary 0..3 and index.
struct TokenRef {
  std::int8_t dict;
  std::uint8_t index;
};

/// Token lookups for one dictionary; thread-safe, built once.
std::optional<TokenRef> find_token(Dict d, std::string_view s) noexcept;
/// The single-byte token at index (1..size-1), or nullopt.
std::optional<std::string_view> single_token(Dict d, std::uint8_t index) noexcept;
std::optional<std::string_view> double_token(Dict d, std::uint8_t dict, std::uint8_t index) noexcept;

}  // namespace wa::wire
