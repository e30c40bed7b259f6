// SPDX-License-Identifier: MIT
#include "wa/store_sqlite/sqlite_store.hpp"

#include "../../store/test/store_contract.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

namespace {
using wa::store::Credentials;
using wa::store::Table;
using wa::store_sqlite::SqliteStore;

void remove_db(const std::string& p) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p + suffix, ec);
}

// Every database file a test made, removed (with its WAL and shared-memory files) after the last test.
std::vector<std::string>& made_dbs() {
  static std::vector<std::string> paths;
  return paths;
}
class RemoveTempDbs final : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& p : made_dbs()) remove_db(p);
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveTempDbs = ::testing::AddGlobalTestEnvironment(new RemoveTempDbs);

std::string temp_db(const char* name) {
  auto p = std::filesystem::temp_directory_path() / (std::string("wa_sqlite_") + name + "_" + std::to_string(::getpid()) + ".db");
  remove_db(p.string());
  made_dbs().push_back(p.string());
  return p.string();
}

using wa::store::contract::sample;

TEST(SqliteStore, CredentialsRoundTripAndSurviveReopen) {
  const auto path = temp_db("creds");
  {
    auto s = SqliteStore::open(path);
    ASSERT_TRUE(s) << s.error().context();
    auto none = (*s)->load_credentials("a");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE((*s)->save_credentials(sample("a")));
  }
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  auto c = (*s)->load_credentials("a");
  ASSERT_TRUE(c && c->has_value());
  wa::store::contract::expect_sample(**c, "a");
  auto ids = (*s)->device_ids();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<std::string>{"a"});
}

// The store contract (libs/store/test/store_contract.hpp), shared with the PostgreSQL store.
#define WA_SQLITE_CONTRACT(name)                          \
  TEST(SqliteStore, name) {                               \
    auto s = SqliteStore::open(":memory:");               \
    ASSERT_TRUE(s) << s.error().context();                \
    wa::store::contract::name(**s);                       \
  }
WA_SQLITE_CONTRACT(credentials_round_trip)
WA_SQLITE_CONTRACT(keyed_by_device_and_prefix)
WA_SQLITE_CONTRACT(keys_sort_bytewise)
WA_SQLITE_CONTRACT(failed_transaction_rolls_back)
WA_SQLITE_CONTRACT(delete_device_wipes_only_that_device)
WA_SQLITE_CONTRACT(scans_across_devices_in_key_order)

TEST(SqliteStore, MigrationsSetTheVersionAndRefuseANewerSchema) {
  const auto path = temp_db("schema");
  { ASSERT_TRUE(SqliteStore::open(path)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), wa::store_sqlite::schema_version());
  sqlite3_finalize(q);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto again = SqliteStore::open(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), wa::store::errc::schema_too_new);
}

TEST(SqliteStore, CorruptKeySizeIsAnErrorNotACrash) {
  const auto path = temp_db("corrupt");
  {
    auto s = SqliteStore::open(path);
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->save_credentials(sample("a")));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE devices SET noise_priv = x'0102'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  auto c = (*s)->load_credentials("a");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), wa::store::errc::corrupt);
}

// One store per database file: a second open of the same file (here or in another process) fails clearly.
TEST(SqliteStore, ASecondOpenOfTheSameFileFails) {
  const auto path = temp_db("twice");
  auto first = SqliteStore::open(path);
  ASSERT_TRUE(first);
  auto second = SqliteStore::open(path);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), wa::store::errc::io);
  EXPECT_NE(second.error().context().find("in use"), std::string::npos) << second.error().context();
  first->reset();
  EXPECT_TRUE(SqliteStore::open(path));  // released with the store
}

// 1,500 session records of 1,000 bytes written, then the store opened again (so its page cache starts empty)
// with a page cache of cache_kib (SQLite's default when 0); every record is then read once.
std::unique_ptr<SqliteStore> read_after_reopen(const std::string& path, std::size_t cache_kib) {
  const wa::Bytes value(1000, 0x42);
  auto s = cache_kib != 0 ? SqliteStore::open(path, cache_kib) : SqliteStore::open(path);
  if (!s) return nullptr;
  const auto written = (*s)->transaction([&]() -> wa::Status {
    for (int i = 0; i < 1500; ++i) {
      if (auto st = (*s)->put("d", Table::session, std::to_string(i), value); !st) return st;
    }
    return wa::ok();
  });
  if (!written) return nullptr;
  s->reset();
  s = cache_kib != 0 ? SqliteStore::open(path, cache_kib) : SqliteStore::open(path);
  if (!s) return nullptr;
  for (int i = 0; i < 1500; ++i) {
    auto v = (*s)->get("d", Table::session, std::to_string(i));
    EXPECT_TRUE(v && v->has_value() && **v == value) << "record " << i;
  }
  return std::move(*s);
}

// A restart reads every number's records once. zapd bounds the keys database's page cache (256 KB, not
// SQLite's 2 MB): what it read stays out of the heap, and everything still reads back.
TEST(SqliteStore, ThePageCacheIsBounded) {
  auto s = read_after_reopen(temp_db("cache"), 256);
  ASSERT_TRUE(s);
  const auto held = s->page_cache_bytes();
  EXPECT_GT(held, 100'000) << "the reads went through the cache";
  EXPECT_LT(held, 600'000) << "the page cache holds " << held << " bytes after reading 1.5 MB";
}

// The same reads with SQLite's default bound keep about all of the 1.5 MB: what the test above bounds is real.
TEST(SqliteStore, ThePageCacheBoundIsWhatKeepsItSmall) {
  auto s = read_after_reopen(temp_db("cache-default"), 0);
  ASSERT_TRUE(s);
  EXPECT_GT(s->page_cache_bytes(), 1'000'000);
}

// WAL checkpoints run on the store's checkpointer thread, not on the committing thread, and keep the WAL bounded:
// 48 MB written in 120 transactions leave a WAL of at most journal_size_limit (16 MB) once the checkpointer has
// caught up, and every value reads back after a reopen.
TEST(SqliteStore, CheckpointsRunOnTheirOwnThreadAndBoundTheWal) {
  const auto path = temp_db("ckpt");
  const wa::Bytes value(4000, 0x5a);
  {
    auto s = SqliteStore::open(path);
    ASSERT_TRUE(s);
    for (int t = 0; t < 120; ++t) {
      ASSERT_TRUE((*s)->transaction([&]() -> wa::Status {
        for (int i = 0; i < 100; ++i) {
          if (auto st = (*s)->put("d", Table::outbox, std::to_string(t * 100 + i), value); !st) return st;
        }
        return wa::ok();
      }));
    }
    const auto wal = path + "-wal";
    bool bounded = false;
    for (int i = 0; i < 200 && !bounded; ++i) {  // at most 10 s for the checkpointer to catch up
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ASSERT_TRUE((*s)->put("d", Table::instance, "tick", value));  // the first commit after a full checkpoint restarts the WAL
      bounded = std::filesystem::file_size(wal) <= (16u << 20);
    }
    EXPECT_TRUE(bounded) << std::filesystem::file_size(wal);
    const auto st = (*s)->checkpoint_stats();
    EXPECT_GE(st.background, 1u);
    EXPECT_EQ(st.inline_, 0u);  // the hard bound was never needed
  }
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  auto n = (*s)->count("d", Table::outbox);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 12000u);
  auto v = (*s)->get("d", Table::outbox, "11999");
  ASSERT_TRUE(v && v->has_value());
  EXPECT_EQ(**v, value);
}

// The key-first tables (store.hpp): a commit that adds one record for each of 200 numbers, with keys from one
// sequence, writes the few pages at the table's end. Ordered by number first, each record went to its number's
// part of the table: a page or more each (600 WAL frames here, measured, against fewer than 60).
TEST(SqliteStore, KeyFirstTablesPutABurstAcrossDevicesOnFewPages) {
  const auto path = temp_db("burst");
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s);
  const wa::Bytes value(560, 0x61);  // about a queued text message's record
  auto key = [](int n) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%020d", n);
    return std::string(buf);
  };
  auto device = [](int d) { return "instance-" + std::to_string(1000 + d); };
  int seq = 0;
  for (int round = 0; round < 20; ++round) {  // a history: 20 records of each of 200 numbers
    ASSERT_TRUE((*s)->transaction([&]() -> wa::Status {
      for (int d = 0; d < 200; ++d) {
        if (auto st = (*s)->put(device(d), Table::send_queue, key(++seq), value); !st) return st;
      }
      return wa::ok();
    }));
  }
  const auto wal = path + "-wal";
  const auto before = std::filesystem::file_size(wal);
  ASSERT_TRUE((*s)->transaction([&]() -> wa::Status {
    for (int d = 0; d < 200; ++d) {
      if (auto st = (*s)->put(device(d), Table::send_queue, key(++seq), value); !st) return st;
    }
    return wa::ok();
  }));
  const auto frames = (std::filesystem::file_size(wal) - before) / (4096 + 24);
  EXPECT_LT(frames, 60u) << "one commit of 200 records wrote " << frames << " pages";
  EXPECT_EQ((*s)->all_keys(Table::send_queue)->size(), 4200u);
}

// Migration 4 reorders the send queue, the outbox and the message index by key: what a version 3 database held
// is all there after it.
TEST(SqliteStore, MigrationFourKeepsTheRecordsOfTheTablesItReorders) {
  const auto path = temp_db("mig4");
  { ASSERT_TRUE(SqliteStore::open(path)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string back = "BEGIN;";
  for (const char* t : {"send_queue", "webhook_outbox", "message_index"}) {
    back += std::string("DROP TABLE ") + t + "; CREATE TABLE " + t +
            " (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;" +
            "INSERT INTO " + t + " VALUES ('b', '0002', x'01'), ('a', '0003', x'02'), ('a', '0001', x''), ('c', '0002', x'03');";
  }
  back += "PRAGMA user_version = 3; COMMIT;";
  ASSERT_EQ(sqlite3_exec(db, back.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto s = SqliteStore::open(path);
  ASSERT_TRUE(s) << s.error().context();
  using P = std::pair<std::string, std::string>;
  for (Table t : {Table::send_queue, Table::outbox, Table::message_index}) {
    EXPECT_EQ(*(*s)->all_keys(t), (std::vector<P>{{"a", "0001"}, {"b", "0002"}, {"c", "0002"}, {"a", "0003"}}));
    EXPECT_EQ(**(*s)->get("a", t, "0003"), wa::Bytes{2});
    EXPECT_TRUE((*s)->get("a", t, "0001")->value().empty());
  }
  s->reset();
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = 'message_index'", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_NE(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))).find("PRIMARY KEY (key, device_id)"), std::string::npos);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

}  // namespace
