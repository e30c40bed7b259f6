// SPDX-License-Identifier: MIT
// The stored records of the send queue and the webhook outbox (src/records.hpp): every field survives the
// round trip, the JSON records of earlier versions are still read, and damaged bytes are refused, never
// misread as another message.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>

#include "../src/records.hpp"

namespace wa::service::records {
namespace {

Send full_send() {
  Send s;
  s.kind = Send::Kind::document;
  s.phone = "5511999990000";
  s.message = "caption with \"quotes\", a\nnewline and ünïcödé";
  s.reply_to = "3EB0AAAAAAAAAAAAAAAAAA";
  s.edit_id = "3EB0BBBBBBBBBBBBBBBBBB";
  s.mentioned = {"5511999990001", "5511999990002"};
  s.latitude = -23.5505;
  s.longitude = -46.6333;
  s.title = "title";
  s.address = "address";
  s.link_url = "https://example.com/x";
  s.link_description = "description";
  s.contact_name = "Contact";
  s.contact_phone = "5511988887777";
  s.target_id = "3EB0CCCCCCCCCCCCCCCCCC";
  s.owner = false;
  s.delay_message = 7;
  s.delay_typing = 3;
  s.media = "data:application/pdf;base64,JVBERi0=";
  s.file_name = "report.pdf";
  s.extension = "pdf";
  s.view_once = true;
  return s;
}

void expect_same(const Send& a, const Send& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.phone, b.phone);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.reply_to, b.reply_to);
  EXPECT_EQ(a.edit_id, b.edit_id);
  EXPECT_EQ(a.mentioned, b.mentioned);
  EXPECT_EQ(a.latitude, b.latitude);
  EXPECT_EQ(a.longitude, b.longitude);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.address, b.address);
  EXPECT_EQ(a.link_url, b.link_url);
  EXPECT_EQ(a.link_description, b.link_description);
  EXPECT_EQ(a.contact_name, b.contact_name);
  EXPECT_EQ(a.contact_phone, b.contact_phone);
  EXPECT_EQ(a.target_id, b.target_id);
  EXPECT_EQ(a.owner, b.owner);
  EXPECT_EQ(a.delay_message, b.delay_message);
  EXPECT_EQ(a.delay_typing, b.delay_typing);
  EXPECT_EQ(a.media, b.media);
  EXPECT_EQ(a.file_name, b.file_name);
  EXPECT_EQ(a.extension, b.extension);
  EXPECT_EQ(a.view_once, b.view_once);
}
void expect_same(const QueueRecord& a, const QueueRecord& b) {
  EXPECT_EQ(a.zaap, b.zaap);
  EXPECT_EQ(a.mid, b.mid);
  EXPECT_EQ(a.created, b.created);
  EXPECT_EQ(a.indexed, b.indexed);
  expect_same(a.send, b.send);
}
void expect_same(const EventRecord& a, const EventRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.hook, b.hook);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.error, b.error);
}

TEST(Records, AQueueRecordKeepsEveryField) {
  const QueueRecord r{"ZAAP1", "3EB0DDDDDDDDDDDDDDDDDD", 1764000000123, 1764000000456, full_send()};
  const std::string bytes = encode(r);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes[0], kRecordV1);
  auto back = decode_queue_record(bytes);
  ASSERT_TRUE(back);
  expect_same(*back, r);
}

TEST(Records, DefaultsSurviveAndATextRecordIsSmall) {
  Send s;  // a text: owner true, delay_message -1 by default
  s.phone = "5511999990000";
  s.message = "hello";
  const std::string bytes = encode(QueueRecord{"Z", "M", 1, 0, s});
  auto back = decode_queue_record(bytes);
  ASSERT_TRUE(back);
  expect_same(back->send, s);
  EXPECT_EQ(back->indexed, 0);
  EXPECT_TRUE(back->send.owner);
  EXPECT_EQ(back->send.delay_message, -1);
  EXPECT_LT(bytes.size(), 40u) << "defaults are written out";
}

// What zapd wrote before the current form (service.cpp's send_to_json and event_record up to session 14).
TEST(Records, TheJsonFormOfEarlierVersionsIsStillRead) {
  const Send f = full_send();
  const nlohmann::json send{{"kind", static_cast<int>(f.kind)}, {"phone", f.phone}, {"message", f.message}, {"reply_to", f.reply_to},
                            {"edit_id", f.edit_id}, {"mentioned", f.mentioned}, {"lat", f.latitude}, {"lng", f.longitude},
                            {"title", f.title}, {"address", f.address}, {"link_url", f.link_url}, {"link_description", f.link_description},
                            {"contact_name", f.contact_name}, {"contact_phone", f.contact_phone}, {"target_id", f.target_id},
                            {"owner", f.owner}, {"delay_message", f.delay_message}, {"delay_typing", f.delay_typing}, {"media", f.media},
                            {"file_name", f.file_name}, {"extension", f.extension}, {"view_once", f.view_once}};
  const std::string legacy = nlohmann::json{{"zaap", "ZAAP1"}, {"mid", "MID1"}, {"created", 5}, {"indexed", 6}, {"send", send}}.dump();
  auto r = decode_queue_record(legacy);
  ASSERT_TRUE(r);
  expect_same(*r, QueueRecord{"ZAAP1", "MID1", 5, 6, f});
  // Queued before accepts wrote index entries: no "indexed".
  auto old = decode_queue_record(R"({"zaap":"Z","mid":"M","created":5,"send":{"kind":0,"phone":"1","message":"m"}})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->indexed, 0);
  EXPECT_EQ(old->send.delay_message, -1);

  const std::string ev = nlohmann::json{{"id", "ev1"}, {"hook", 3}, {"body", R"({"a":"b\"c"})"}, {"attempts", 2}, {"error", "HTTP 500"}}.dump();
  auto e = decode_event_record(ev);
  ASSERT_TRUE(e);
  expect_same(*e, EventRecord{"ev1", 3, R"({"a":"b\"c"})", 2, "HTTP 500"});
}

TEST(Records, AnEventRecordKeepsItsBodyAsIs) {
  const EventRecord e{"0123456789abcdef", 4, R"({"type":"MessageStatusCallback","ids":["x"],"text":"é\u0000"})", 9, "timeout"};
  const std::string bytes = encode(e);
  EXPECT_NE(bytes.find(e.body), std::string::npos) << "the body is stored escaped";
  auto back = decode_event_record(bytes);
  ASSERT_TRUE(back);
  expect_same(*back, e);
}

TEST(Records, DamagedOrForeignBytesAreRefused) {
  const std::string good = encode(QueueRecord{"ZAAP1", "MID1", 1, 2, full_send()});
  EXPECT_FALSE(decode_queue_record(""));
  EXPECT_FALSE(decode_queue_record(std::string(1, kRecordV1) + "\xff\xff\xff"));
  EXPECT_FALSE(decode_queue_record("\x02" + good.substr(1))) << "an unknown version was read";
  EXPECT_FALSE(decode_queue_record("{not json"));
  EXPECT_FALSE(decode_queue_record(R"({"zaap":"Z"})")) << "a record without its message was read";
  EXPECT_FALSE(decode_queue_record(R"({"zaap":"Z","send":{"kind":99}})")) << "an unknown kind became a text";
  EXPECT_FALSE(decode_queue_record(R"([1,2])"));
  EXPECT_FALSE(decode_event_record(""));
  EXPECT_FALSE(decode_event_record("{\"id\":"));
  // Every truncation of a good record either fails or reads as a prefix of it, never as garbage fields.
  for (std::size_t n = 0; n < good.size(); ++n) {
    auto r = decode_queue_record(good.substr(0, n));
    if (r) {
      EXPECT_TRUE(r->zaap.empty() || r->zaap == "ZAAP1");
    }
  }
  // Random bytes after the version byte: refused or read, never a crash (the fuzz target goes further).
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string b(1, kRecordV1);
    const int len = static_cast<int>(rng() % 64);
    for (int k = 0; k < len; ++k) b.push_back(static_cast<char>(rng() & 0xff));
    (void)decode_queue_record(b);
    (void)decode_event_record(b);
  }
}

}  // namespace
}  // namespace wa::service::records
