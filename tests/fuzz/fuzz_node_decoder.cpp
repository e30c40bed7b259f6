// SPDX-License-Identifier: MIT
// libFuzzer: the binary node decoder on hostile bytes, in both dictionaries. Property: whatever decodes
// re-encodes, and that encoding decodes to the same node (no crash, no out-of-bounds read under ASan).
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>

#include "wa/wire/codec.hpp"

namespace {
// Equal up to text-vs-bytes content: a text our encoder writes raw (e.g. "" from a zero-length packed
// string) comes back as bytes, as both reference decoders do.
bool equivalent(const wa::wire::Node& a, const wa::wire::Node& b) {
  if (a.tag != b.tag || a.attrs != b.attrs) return false;
  auto da = a.data();
  auto db = b.data();
  if (da || db) return da && db && std::equal(da->begin(), da->end(), db->begin(), db->end());
  if (a.content.index() != b.content.index()) return false;
  auto ca = a.children();
  auto cb = b.children();
  if (ca.size() != cb.size()) return false;
  for (std::size_t i = 0; i < ca.size(); ++i) {
    if (!equivalent(ca[i], cb[i])) return false;
  }
  return a.content == b.content || !ca.empty() || std::holds_alternative<wa::wire::NodeList>(a.content);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wa::ByteView in(data, size);
  for (auto dict : {wa::wire::Dict::v2, wa::wire::Dict::v3}) {
    wa::wire::DecodeLimits limits;
    limits.max_inflated = 1 << 20;
    auto node = wa::wire::decode_payload(in, dict, limits);
    if (!node) continue;
    auto again = wa::wire::encode_payload(*node, dict);
    if (!again) continue;  // e.g. text that was packed but is now over a limit: allowed to refuse
    auto back = wa::wire::decode_payload(*again, dict, limits);
    if (!back || !equivalent(*back, *node)) std::abort();
  }
  return 0;
}
