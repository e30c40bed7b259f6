// SPDX-License-Identifier: MIT
// Error codes of the binary node and frame codecs.
#pragma once

#include <system_error>

namespace wa::wire {

enum class errc {
  truncated = 1,     ///< input ended inside a value
  invalid_tag,       ///< a byte that cannot start the value expected there
  invalid_token,     ///< a dictionary index with no token
  invalid_packed,    ///< a nibble/hex packed string with a bad digit or padding
  invalid_jid,       ///< a JID on the wire that is not a valid JID (unknown server, bad user, bad domain)
  invalid_node,      ///< an empty list as a node, an empty tag, a JID where a name must be
  too_deep,          ///< nesting beyond DecodeLimits::max_depth
  too_large,         ///< a length over a limit (frame 16 MiB, list 65535, inflated payload)
  trailing_bytes,    ///< bytes left after the node
  not_encodable,     ///< a value this dictionary or form cannot carry (e.g. FB_JID in dictionary 2)
  bad_header,        ///< the connection header is not "WA" 6 <dict> (optionally after an "ED" routing intro)
  bad_flags,         ///< a payload flags byte other than 0x00 and 0x02
  inflate_failed,    ///< zlib data that does not inflate
  unsupported_dictionary,
  bad_websocket,     ///< an upgrade answer or a websocket frame that breaks RFC 6455 for our client
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace wa::wire

template <>
struct std::is_error_code_enum<wa::wire::errc> : std::true_type {};
