// SPDX-License-Identifier: MIT
// libFuzzer: the websocket client codec. The input is an upgrade answer followed by server frames, delivered
// in chunks whose size the first byte chooses, kept in a buffer the way the engine's transport keeps it.
// Invariants: consumed never exceeds what was given, payloads lie inside it, data never exceeds the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wa/wire/websocket.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  // The answer head first (its accept key is the RFC's example).
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto head = wa::wire::ws::parse_upgrade_response(text, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  if (head && *head > size) std::abort();
  wa::wire::ws::ClientReader reader;
  wa::Bytes buf;
  std::size_t total = 0;
  for (std::size_t off = 0; off < size; off += chunk) {
    const std::size_t n = off + chunk <= size ? chunk : size - off;
    buf.insert(buf.end(), data + off, data + off + n);
    std::size_t pos = 0;
    for (;;) {
      const wa::ByteView in = wa::ByteView(buf).subspan(pos);
      auto ev = reader.next(in);
      if (!ev) return 0;
      if (ev->consumed > in.size()) std::abort();
      if (!ev->payload.empty() && (ev->payload.data() < in.data() || ev->payload.data() + ev->payload.size() > in.data() + in.size())) {
        std::abort();
      }
      pos += ev->consumed;
      if (ev->kind == wa::wire::ws::Event::Kind::need_more) break;
      if (ev->kind == wa::wire::ws::Event::Kind::data) total += ev->payload.size();
      if (ev->kind == wa::wire::ws::Event::Kind::ping || ev->kind == wa::wire::ws::Event::Kind::close) {
        if (ev->payload.size() > wa::wire::ws::kMaxControlPayload) std::abort();
      }
      if (ev->kind == wa::wire::ws::Event::Kind::data && ev->consumed == 0) std::abort();  // no progress
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  if (total > size) std::abort();
  return 0;
}
