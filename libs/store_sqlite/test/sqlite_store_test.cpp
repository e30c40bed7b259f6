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

Credentials sample(const std::string& id) {
  Credentials c;
  c.device_id = id;
  for (std::uint8_t i = 0; i < 32; ++i) {
    c.noise_priv[i] = i;
    c.noise_pub[i] = static_cast<std::uint8_t>(i + 1);
    c.identity_priv[i] = static_cast<std::uint8_t>(i + 2);
    c.identity_pub[i] = static_cast<std::uint8_t>(i + 3);
    c.signed_prekey_pub[i] = static_cast<std::uint8_t>(i + 4);
    c.adv_secret[i] = static_cast<std::uint8_t>(i + 5);
  }
  c.signed_prekey_sig.fill(7);
  c.registration_id = 12345;
  c.signed_prekey_id = 1;
  c.signed_prekey_created = 1700000000;
  c.next_prekey_id = 31;
  c.uploaded_prekey_id = 30;
  c.jid = "15550001111:3@s.whatsapp.net";
  c.lid = "123456789:3@lid";
  c.platform = "android";
  c.push_name = "Shop";
  c.account = {1, 2, 3};
  return c;
}

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
  const Credentials& got = **c;
  const Credentials want = sample("a");
  EXPECT_EQ(got.noise_pub, want.noise_pub);
  EXPECT_TRUE(std::equal(got.noise_priv.view().begin(), got.noise_priv.view().end(), want.noise_priv.view().begin()));
  EXPECT_TRUE(std::equal(got.adv_secret.view().begin(), got.adv_secret.view().end(), want.adv_secret.view().begin()));
  EXPECT_EQ(got.identity_pub, want.identity_pub);
  EXPECT_EQ(got.signed_prekey_sig, want.signed_prekey_sig);
  EXPECT_EQ(got.registration_id, 12345u);
  EXPECT_EQ(got.next_prekey_id, 31u);
  EXPECT_EQ(got.uploaded_prekey_id, 30u);
  EXPECT_EQ(got.signed_prekey_created, 1700000000u);
  EXPECT_EQ(got.jid, want.jid);
  EXPECT_EQ(got.lid, want.lid);
  EXPECT_EQ(got.platform, "android");
  EXPECT_EQ(got.push_name, "Shop");
  EXPECT_EQ(got.account, want.account);
  EXPECT_TRUE(got.registered());
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
