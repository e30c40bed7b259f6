// SPDX-License-Identifier: MIT
// Error codes of the core vocabulary (JIDs, hex, ids).
#pragma once

#include <system_error>

namespace wa::core {

enum class errc {
  invalid_jid = 1,   ///< a JID string or value that is not one of the forms in docs/protocol/binary-node.md
  invalid_hex,       ///< odd length or a non-hex character
  invalid_argument,  ///< any other malformed value
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace wa::core

template <>
struct std::is_error_code_enum<wa::core::errc> : std::true_type {};
