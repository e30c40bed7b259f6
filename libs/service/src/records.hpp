// SPDX-License-Identifier: MIT
// Private: the service's stored records of the send queue and of the webhook outbox (and dead letters), and
// their codec. Written as a version byte (kRecordV1) and a protobuf message (libs/proto/proto/zapd.proto);
// read in that form or as the JSON that zapd wrote before (which begins with '{'), so a queue or an outbox
// survives an upgrade. Decoding treats every byte as hostile: anything else is nullopt, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wa/service/service.hpp"

namespace wa::service::records {

inline constexpr char kRecordV1 = '\x01';

/// A send_queue record: the ids an accept answered with, when, and what to send.
struct QueueRecord {
  std::string zaap, mid;
  std::int64_t created = 0;  ///< ms since the epoch
  std::int64_t indexed = 0;  ///< ms: when the accept wrote the message-index entry; 0 if it did not
  Send send;
};

/// A webhook event of the outbox (or a dead letter): its id, which hook, the JSON body as POSTed, and its
/// delivery attempts so far with the last error.
struct EventRecord {
  std::string id;
  int hook = 0;
  std::string body;
  int attempts = 0;
  std::string error;
};

std::string encode(const QueueRecord& r);
std::optional<QueueRecord> decode_queue_record(std::string_view bytes);

std::string encode(const EventRecord& e);
std::optional<EventRecord> decode_event_record(std::string_view bytes);

/// Send::Kind values a record may hold (the last one, for bounds checks).
inline constexpr int kLastSendKind = static_cast<int>(Send::Kind::sticker);

}  // namespace wa::service::records
