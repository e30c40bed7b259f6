// SPDX-License-Identifier: MIT
// libFuzzer: the service's stored records (libs/service/src/records.hpp), read as they come from a damaged
// or foreign database: any bytes are refused or read, never a crash, and what is read encodes and reads back
// the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  using namespace wa::service::records;
  if (auto q = decode_queue_record(bytes)) {
    auto again = decode_queue_record(encode(*q));
    if (!again || again->zaap != q->zaap || again->mid != q->mid || again->created != q->created ||
        again->indexed != q->indexed || again->send.kind != q->send.kind || again->send.phone != q->send.phone ||
        again->send.message != q->send.message || again->send.mentioned != q->send.mentioned ||
        again->send.media != q->send.media || again->send.owner != q->send.owner ||
        again->send.delay_message != q->send.delay_message) {
      std::abort();
    }
  }
  if (auto e = decode_event_record(bytes)) {
    auto again = decode_event_record(encode(*e));
    if (!again || again->id != e->id || again->hook != e->hook || again->body != e->body || again->attempts != e->attempts ||
        again->error != e->error) {
      std::abort();
    }
  }
  return 0;
}
