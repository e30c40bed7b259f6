// SPDX-License-Identifier: MIT
// The service's group commit (docs/architecture.md "Group commit"): the sends accepted in one turn of the event
// loop are written in one transaction and answered only after it committed; when the store fails, they are
// refused with a storage error and nothing of them is queued, and the service works again once the store does.
#include "wa/service/service.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace wa::service {
namespace {

using store::Table;

// A map-backed store that counts transactions and can be told to fail them (a full disk, say). Writes inside a
// transaction go to a scratch copy that replaces the data only when the body succeeds.
class CountingStore final : public store::Store {
 public:
  using Key = std::tuple<std::string, Table, std::string>;
  std::map<Key, Bytes> data;
  int transactions = 0;
  bool fail_commits = false;

  Result<std::vector<std::string>> device_ids() override { return std::vector<std::string>{}; }
  Result<std::optional<store::Credentials>> load_credentials(std::string_view) override {
    return std::optional<store::Credentials>{};
  }
  Status save_credentials(const store::Credentials&) override { return ok(); }
  Status delete_device(std::string_view) override { return ok(); }
  Result<std::optional<Bytes>> get(std::string_view d, Table t, std::string_view k) override {
    auto it = live().find(Key{std::string(d), t, std::string(k)});
    if (it == live().end()) return std::optional<Bytes>{};
    return std::optional<Bytes>{it->second};
  }
  Status put(std::string_view d, Table t, std::string_view k, ByteView v) override {
    live()[Key{std::string(d), t, std::string(k)}] = Bytes(v.begin(), v.end());
    return ok();
  }
  Status remove(std::string_view d, Table t, std::string_view k) override {
    live().erase(Key{std::string(d), t, std::string(k)});
    return ok();
  }
  Result<std::vector<std::string>> keys(std::string_view d, Table t, std::string_view prefix) override {
    std::vector<std::string> out;
    for (const auto& [k, v] : live()) {
      if (std::get<0>(k) == d && std::get<1>(k) == t && std::get<2>(k).starts_with(prefix)) out.push_back(std::get<2>(k));
    }
    return out;
  }
  Status remove_prefix(std::string_view d, Table t, std::string_view prefix) override {
    std::erase_if(live(), [&](const auto& kv) {
      return std::get<0>(kv.first) == d && std::get<1>(kv.first) == t && std::get<2>(kv.first).starts_with(prefix);
    });
    return ok();
  }
  Result<std::size_t> count(std::string_view d, Table t) override {
    return static_cast<std::size_t>(std::count_if(live().begin(), live().end(), [&](const auto& kv) {
      return std::get<0>(kv.first) == d && std::get<1>(kv.first) == t;
    }));
  }
  Status transaction(const std::function<Status()>& body) override {
    ++transactions;
    scratch = data;
    in_tx = true;
    Status st = body();
    in_tx = false;
    if (st && fail_commits) st = fail(store::errc::io, "disk full");
    if (st) data = std::move(scratch);
    return st;
  }

  std::size_t rows(const std::string& device, Table t) { return *count(device, t); }

 private:
  std::map<Key, Bytes>& live() { return in_tx ? scratch : data; }
  std::map<Key, Bytes> scratch;
  bool in_tx = false;
};

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

}  // namespace
}  // namespace wa::service
