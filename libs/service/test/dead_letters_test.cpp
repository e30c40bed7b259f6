// SPDX-License-Identifier: MIT
// Replaying an instance's dead letters: they go back to the outbox in order, with their attempts reset, in
// transactions of up to 512 letters; a store that fails moves none of a chunk.
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <string>

#include "../src/records.hpp"
#include "counting_store.hpp"
#include "wa/service/service.hpp"

namespace wa::service {
namespace {

std::string key_of(int i) {
  char k[24];
  std::snprintf(k, sizeof k, "%020d", i);
  return k;
}

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST(DeadLetters, AReplayMovesThemBackInOrderInChunksAndNoneOfAFailedChunk) {
  constexpr int kLetters = 600;
  CountingStore gw, keys;
  Options opt;
  opt.spacing = false;
  opt.webhook_allow_http = true;
  boost::asio::io_context ioc;
  Service svc(ioc.get_executor(), gw, keys, opt);
  ASSERT_TRUE(svc.start());
  std::array<std::string, kHookCount> hooks;
  hooks.fill("http://127.0.0.1:9/hook");  // nothing is posted: the loop does not run while the test looks
  auto v = svc.create_instance("dead letters", hooks);
  ASSERT_TRUE(v);
  const std::string id = v->id;
  ioc.poll();
  for (int i = 0; i < kLetters; ++i) {
    const std::string rec = nlohmann::json{{"id", "ev" + std::to_string(i)}, {"hook", 0}, {"body", "{\"n\":" + std::to_string(i) + "}"},
                                           {"error", "connection refused"}, {"attempts", 15}}.dump();
    ASSERT_TRUE(gw.put(id, Table::dead_letter, key_of(i), ByteView(reinterpret_cast<const std::uint8_t*>(rec.data()), rec.size())));
  }
  auto listed = svc.dead_letters(id);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), static_cast<std::size_t>(kLetters));

  gw.fail_commits = true;
  EXPECT_FALSE(svc.replay_dead_letters(id)) << "a failed store reported success";
  EXPECT_EQ(gw.rows(id, Table::dead_letter), static_cast<std::size_t>(kLetters));
  EXPECT_EQ(gw.rows(id, Table::outbox), 0u);
  gw.fail_commits = false;

  const int before = gw.transactions;
  auto n = svc.replay_dead_letters(id);
  ASSERT_TRUE(n) << n.error().context();
  EXPECT_EQ(*n, static_cast<std::size_t>(kLetters));
  EXPECT_EQ(gw.transactions - before, 2) << "not one transaction per 512 letters";
  EXPECT_EQ(gw.rows(id, Table::dead_letter), 0u);
  auto out = gw.keys(id, Table::outbox, "");
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), static_cast<std::size_t>(kLetters));
  for (int i : {0, 511, 512, kLetters - 1}) {
    auto rec = gw.get(id, Table::outbox, (*out)[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(rec && *rec);
    // Written back in the current form (records.hpp), read from the JSON form the letters were stored in.
    const auto e = records::decode_event_record(text(**rec));
    ASSERT_TRUE(e);
    EXPECT_EQ(text(**rec)[0], records::kRecordV1);
    EXPECT_EQ(e->body, "{\"n\":" + std::to_string(i) + "}") << "out of order at " << i;
    EXPECT_EQ(e->attempts, 0);
    EXPECT_EQ(e->error, "connection refused");
    EXPECT_EQ(e->id, "ev" + std::to_string(i));
  }
  svc.shutdown();
}

}  // namespace
}  // namespace wa::service
