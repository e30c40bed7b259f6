// SPDX-License-Identifier: MIT
// The engine's Signal store over store::Store: a session record read again within one job (encrypting reads it
// three times) comes from the last read or write, never stale: a write, a failed write and a delete are seen.
#include "../src/signal_store.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>

namespace {

using wa::Bytes;
using wa::ByteView;
using wa::Result;
using wa::Status;
using wa::store::Table;

// A map with counts, and writes that can be made to fail.
class CountingStore final : public wa::store::Store {
 public:
  int gets = 0;
  bool fail_puts = false;

  Result<std::vector<std::string>> device_ids() override { return std::vector<std::string>{}; }
  Result<std::optional<wa::store::Credentials>> load_credentials(std::string_view) override { return std::nullopt; }
  Status save_credentials(const wa::store::Credentials&) override { return wa::ok(); }
  Status delete_device(std::string_view) override { return wa::ok(); }
  Result<std::optional<Bytes>> get(std::string_view d, Table t, std::string_view k) override {
    ++gets;
    auto it = rows_.find(Key{std::string(d), t, std::string(k)});
    if (it == rows_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  Status put(std::string_view d, Table t, std::string_view k, ByteView v) override {
    if (fail_puts) return wa::fail(wa::store::errc::io, "disk full");
    rows_[Key{std::string(d), t, std::string(k)}] = Bytes(v.begin(), v.end());
    return wa::ok();
  }
  Status remove(std::string_view d, Table t, std::string_view k) override {
    rows_.erase(Key{std::string(d), t, std::string(k)});
    return wa::ok();
  }
  Result<std::vector<std::string>> keys(std::string_view, Table, std::string_view) override { return std::vector<std::string>{}; }
  Status remove_prefix(std::string_view d, Table t, std::string_view prefix) override {
    for (auto it = rows_.begin(); it != rows_.end();) {
      const auto& [dev, table, key] = it->first;
      it = dev == d && table == t && key.starts_with(prefix) ? rows_.erase(it) : std::next(it);
    }
    return wa::ok();
  }
  Result<std::size_t> count(std::string_view, Table) override { return rows_.size(); }
  Result<std::vector<std::pair<std::string, std::string>>> all_keys(Table) override {
    return std::vector<std::pair<std::string, std::string>>{};
  }
  Result<std::vector<wa::store::Record>> scan(Table, std::string_view, std::string_view, std::size_t) override {
    return std::vector<wa::store::Record>{};
  }
  Status transaction(const std::function<Status()>& body) override { return body(); }

 private:
  using Key = std::tuple<std::string, Table, std::string>;
  std::map<Key, Bytes> rows_;
};

wa::store::Credentials creds() {
  wa::store::Credentials c;
  c.device_id = "dev";
  return c;
}

const wa::signal::Address kPeer{"15550001111", 0};
const wa::signal::Address kOther{"15550002222", 0};

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(DeviceSignalStore, ASessionReadAgainComesFromTheLastRead) {
  CountingStore db;
  ASSERT_TRUE(db.put("dev", Table::session, "15550001111.0", bytes("record-1")));
  wa::protocol::detail::DeviceSignalStore ss(db, creds());
  EXPECT_EQ(ss.load_session(kPeer), bytes("record-1"));
  EXPECT_EQ(ss.load_session(kPeer), bytes("record-1"));
  EXPECT_EQ(ss.load_session(kPeer), bytes("record-1"));
  EXPECT_EQ(db.gets, 1);
  EXPECT_EQ(ss.load_session(kOther), std::nullopt);  // another key goes to the store
  EXPECT_EQ(db.gets, 2);
  EXPECT_FALSE(ss.failed());
}

TEST(DeviceSignalStore, AWrittenSessionIsWhatTheNextReadSees) {
  CountingStore db;
  wa::protocol::detail::DeviceSignalStore ss(db, creds());
  EXPECT_EQ(ss.load_session(kPeer), std::nullopt);
  ss.store_session(kPeer, bytes("record-2"));
  EXPECT_EQ(ss.load_session(kPeer), bytes("record-2"));
  EXPECT_EQ(db.gets, 1);
  // And it is in the store, for the next job.
  wa::protocol::detail::DeviceSignalStore next(db, creds());
  EXPECT_EQ(next.load_session(kPeer), bytes("record-2"));
}

TEST(DeviceSignalStore, AFailedWriteIsNotRemembered) {
  CountingStore db;
  ASSERT_TRUE(db.put("dev", Table::session, "15550001111.0", bytes("old")));
  wa::protocol::detail::DeviceSignalStore ss(db, creds());
  EXPECT_EQ(ss.load_session(kPeer), bytes("old"));
  db.fail_puts = true;
  ss.store_session(kPeer, bytes("new"));
  ASSERT_TRUE(ss.failed());
  EXPECT_EQ(ss.load_session(kPeer), bytes("old"));  // what the store holds, read again
  EXPECT_EQ(db.gets, 2);
}

TEST(DeviceSignalStore, DeletedSessionsAreGoneForTheNextRead) {
  CountingStore db;
  wa::protocol::detail::DeviceSignalStore ss(db, creds());
  ss.store_session(kPeer, bytes("record"));
  ss.delete_session(kPeer);
  EXPECT_EQ(ss.load_session(kPeer), std::nullopt);
  ss.store_session(kPeer, bytes("record"));
  ss.delete_all_sessions(kPeer.name);
  EXPECT_EQ(ss.load_session(kPeer), std::nullopt);
  EXPECT_FALSE(ss.failed());
}

}  // namespace
