// SPDX-License-Identifier: MIT
// Private: tag bytes of the binary node format (protocol/README.md §3, "Tag bytes").
#pragma once

#include <cstdint>

namespace wa::wire::tag {

inline constexpr std::uint8_t kListEmpty = 0;      // list of size 0; as a string: ""
inline constexpr std::uint8_t kDictionary0 = 236;  // 236..239: double-byte token, next byte = index
inline constexpr std::uint8_t kDictionary3 = 239;
inline constexpr std::uint8_t kInteropJid = 245;   // user, device u16, integrator u16, server (dictionary 3 only)
inline constexpr std::uint8_t kFbJid = 246;        // user, device u16, server "msgr" (dictionary 3 only)
inline constexpr std::uint8_t kAdJid = 247;        // domain byte, device byte, user
inline constexpr std::uint8_t kList8 = 248;        // + u8 size
inline constexpr std::uint8_t kList16 = 249;       // + u16 BE size
inline constexpr std::uint8_t kJidPair = 250;      // user (or kListEmpty), server
inline constexpr std::uint8_t kHex8 = 251;         // packed 0-9A-F
inline constexpr std::uint8_t kBinary8 = 252;      // + u8 length
inline constexpr std::uint8_t kBinary20 = 253;     // + 20-bit length in 3 bytes, top nibble masked
inline constexpr std::uint8_t kBinary32 = 254;     // + u32 BE length
inline constexpr std::uint8_t kNibble8 = 255;      // packed 0-9 '-' '.'
inline constexpr std::size_t kPackedMax = 127;     // longest string that may be packed

// AD_JID domain bytes.
inline constexpr std::uint8_t kDomainWhatsApp = 0;
inline constexpr std::uint8_t kDomainLid = 1;
inline constexpr std::uint8_t kDomainHosted = 128;
inline constexpr std::uint8_t kDomainHostedLid = 129;

}  // namespace wa::wire::tag
