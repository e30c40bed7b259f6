// SPDX-License-Identifier: MIT
// Binary node encoder and decoder for token dictionaries 2 and 3 (protocol/README.md §3).
// Pure functions: no I/O. Every malformed input is an error value, never a crash or an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>

#include "wa/core/bytes.hpp"
#include "wa/core/result.hpp"
#include "wa/wire/dictionary.hpp"
#include "wa/wire/node.hpp"

namespace wa::wire {

struct DecodeLimits {
  std::size_t max_depth = 64;                 ///< nesting of child lists; real stanzas stay under 10
  std::size_t max_inflated = (1u << 24) - 1;  ///< a zlib payload may not inflate past one frame's bound
};

/// Appends the encoding of node (without the payload flags byte) to out.
[[nodiscard]] Status encode_node(const Node& node, Dict dict, Bytes& out);
/// The transport payload: flags byte 0x00, then the node.
[[nodiscard]] Result<Bytes> encode_payload(const Node& node, Dict dict);

/// Decodes exactly one node that must span all of in.
[[nodiscard]] Result<Node> decode_node(ByteView in, Dict dict, const DecodeLimits& limits = {});
/// Decodes a transport payload: flags byte (0x02 = zlib), then one node.
[[nodiscard]] Result<Node> decode_payload(ByteView in, Dict dict, const DecodeLimits& limits = {});

}  // namespace wa::wire
