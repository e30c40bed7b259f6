// SPDX-License-Identifier: MIT
#include "wa/store_sqlite/sqlite_store.hpp"

#include "../../store/test/store_contract.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

namespace {
using wa::store::Credentials;
using wa::store::Table;
using wa::store_sqlite::SqliteStore;

std::string temp_db(const char* name) {
  auto p = std::filesystem::temp_directory_path() / (std::string("wa_sqlite_") + name + "_" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
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

}  // namespace
