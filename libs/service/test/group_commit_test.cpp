// SPDX-License-Identifier: MIT
// The service's group commit (docs/architecture.md "Group commit"): the sends accepted in one turn of the event
// loop are written in one transaction and answered only after it committed; when the store fails, they are
// refused with a storage error and nothing of them is queued, and the service works again once the store does.
#include "wa/service/service.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "counting_store.hpp"

namespace wa::service {
namespace {

struct GroupCommit : ::testing::Test {
  boost::asio::io_context ioc;
  CountingStore gw, keys;
  Options opt = [] {
    Options o;
    o.spacing = false;
    return o;
  }();
  Service svc{ioc.get_executor(), gw, keys, opt};
  std::string id;

  void SetUp() override {
    ASSERT_TRUE(svc.start());
    auto v = svc.create_instance("test", {});
    ASSERT_TRUE(v);
    id = v->id;
  }
  void TearDown() override { svc.shutdown(); }

  // Sends n texts in one turn of the loop (no answer can come before the loop runs), then runs the loop.
  std::vector<Result<SendIds>> send_together(int n) {
    std::vector<Result<SendIds>> answers;
    for (int i = 0; i < n; ++i) {
      Send s;
      s.phone = "5511999990000";
      s.message = "hello " + std::to_string(i);
      svc.send(id, s, [&answers](Result<SendIds> r) { answers.push_back(std::move(r)); });
    }
    EXPECT_TRUE(answers.empty()) << "answered before the commit";
    EXPECT_EQ(gw.rows(id, Table::send_queue), 0u) << "written before the turn ended";
    ioc.restart();
    for (int i = 0; i < 100 && answers.size() < static_cast<std::size_t>(n); ++i) ioc.poll();
    return answers;
  }
};

TEST_F(GroupCommit, SendsOfOneTurnAreOneTransactionAnsweredAfterItCommitted) {
  const int before = gw.transactions;
  auto answers = send_together(5);
  ASSERT_EQ(answers.size(), 5u);
  for (const auto& a : answers) {
    ASSERT_TRUE(a) << a.error().context();
    EXPECT_EQ(a->zaap_id.size(), 32u);
  }
  EXPECT_EQ(gw.transactions - before, 1);
  EXPECT_EQ(gw.rows(id, Table::send_queue), 5u);
  EXPECT_EQ(*svc.queue_count(id), 5u);
  // Each queued record is the message accepted (the instance is not connected, so they stay queued).
  auto page = svc.queue(id, 10, "");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 5u);
  EXPECT_EQ(page->items[3].message, "hello 3");
  EXPECT_EQ(page->items[3].zaap_id, answers[3]->zaap_id);
}

TEST_F(GroupCommit, AFailedCommitRefusesItsSendsAndQueuesNothingThenRecovers) {
  gw.fail_commits = true;
  auto refused = send_together(3);
  ASSERT_EQ(refused.size(), 3u);
  for (const auto& a : refused) {
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), make_error_code(errc::storage));
  }
  EXPECT_EQ(gw.rows(id, Table::send_queue), 0u);
  EXPECT_EQ(*svc.queue_count(id), 0u);

  gw.fail_commits = false;
  auto accepted = send_together(2);
  ASSERT_EQ(accepted.size(), 2u);
  for (const auto& a : accepted) ASSERT_TRUE(a) << a.error().context();
  EXPECT_EQ(gw.rows(id, Table::send_queue), 2u);
  EXPECT_EQ(*svc.queue_count(id), 2u);
}

// The index entry of an accepted message is written by its accept's transaction (message ids grow with time,
// so a burst's entries share the index's last pages); a queued message removed before it was sent takes its
// entry with it.
TEST_F(GroupCommit, AnAcceptWritesItsIndexEntryAndUnqueueingRemovesIt) {
  auto answers = send_together(3);
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& a : answers) ASSERT_TRUE(a);
  ASSERT_EQ(gw.rows(id, Table::message_index), 3u);
  for (const auto& a : answers) {
    auto e = gw.get(id, Table::message_index, a->message_id);
    ASSERT_TRUE(e && *e) << a->message_id;
    const auto j = nlohmann::json::parse(std::string((*e)->begin(), (*e)->end()));
    EXPECT_EQ(j.value("zaap", ""), a->zaap_id);
    EXPECT_EQ(j.value("chat", ""), "5511999990000@s.whatsapp.net");
    EXPECT_TRUE(j.value("from_me", false));
  }
  ASSERT_TRUE(svc.queue_remove(id, answers[1]->zaap_id));
  EXPECT_FALSE(*gw.get(id, Table::message_index, answers[1]->message_id));
  EXPECT_EQ(gw.rows(id, Table::message_index), 2u);
  ASSERT_TRUE(svc.queue_clear(id));
  EXPECT_EQ(gw.rows(id, Table::message_index), 0u);
  EXPECT_EQ(gw.rows(id, Table::send_queue), 0u);
}

// Queue keys come from one sequence for every instance (key-first tables, store.hpp): accepts for several
// instances get increasing keys in the order they were accepted, and a restart continues the sequence and
// keeps each instance's order.
TEST_F(GroupCommit, QueueKeysAreOneSequenceAcrossInstancesAndRestarts) {
  const std::string other = svc.create_instance("other", {})->id;
  std::vector<std::pair<std::string, std::string>> order;  // instance, message
  auto send = [&](Service& on, const std::string& inst, const std::string& text) {
    Send s;
    s.phone = "5511999990000";
    s.message = text;
    on.send(inst, s, [](Result<SendIds> r) { ASSERT_TRUE(r); });
    order.emplace_back(inst, text);
    ioc.restart();
    for (int i = 0; i < 20; ++i) ioc.poll();
  };
  send(svc, id, "1");
  send(svc, other, "2");
  send(svc, id, "3");
  send(svc, other, "4");
  auto all = gw.all_keys(Table::send_queue);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  for (std::size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].first, order[i].first) << "key " << i << " out of accept order";
  svc.shutdown();

  Service again{ioc.get_executor(), gw, keys, opt};
  ASSERT_TRUE(again.start());
  send(again, id, "5");
  all = gw.all_keys(Table::send_queue);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(all->back().first, id) << "the restart did not continue the sequence";
  auto page = again.queue(id, 10, "");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].message, "1");
  EXPECT_EQ(page->items[1].message, "3");
  EXPECT_EQ(page->items[2].message, "5");
  again.shutdown();
}

}  // namespace
}  // namespace wa::service
