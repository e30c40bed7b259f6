// SPDX-License-Identifier: MIT
// libFuzzer: frame reassembly (server role, so the connection header and routing intro are parsed too).
// The first byte chooses the chunk size, so every split of the stream is explored.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "wa/wire/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t chunk = 1 + data[0] % 16;
  const bool server = (data[1] & 1) != 0;
  wa::wire::FrameReader reader(server ? wa::wire::FrameReader::Role::server : wa::wire::FrameReader::Role::client);
  std::size_t total = 0;
  for (std::size_t off = 2; off < size; off += chunk) {
    const std::size_t n = off + chunk <= size ? chunk : size - off;
    if (!reader.feed(wa::ByteView(data + off, n))) return 0;
    for (;;) {
      auto f = reader.next();
      if (!f) return 0;
      if (!*f) break;
      total += (*f)->size() + 3;
    }
  }
  if (total > size) std::abort();  // frames can never hold more than what came in
  return 0;
}
