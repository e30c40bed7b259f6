// SPDX-License-Identifier: MIT
// The store contract against PostgreSQL. Needs ZAPD_TEST_PG_URL (tests/pg/with_postgres.sh starts a
// private server on loopback and sets it); without it every test fails, it never skips.
#include "wa/store_pg/pg_store.hpp"

#include "../../store/test/store_contract.hpp"

#include <cstdlib>
#include <libpq-fe.h>

namespace {

using wa::store_pg::PgStore;

std::string url() {
  const char* u = std::getenv("ZAPD_TEST_PG_URL");
  return u != nullptr ? u : "";
}

int counter = 0;

// A fresh schema per test.
std::unique_ptr<PgStore> fresh(const std::string& name) {
  if (url().empty()) {
    ADD_FAILURE() << "ZAPD_TEST_PG_URL is not set: run through tests/pg/with_postgres.sh";
    return nullptr;
  }
  const std::string schema = "t_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  auto s = PgStore::open(url(), schema);
  if (!s) {
    ADD_FAILURE() << s.error().message();
    return nullptr;
  }
  return std::move(*s);
}

#define WA_PG_CONTRACT(name)                    \
  TEST(PgStore, name) {                         \
    auto s = fresh(#name);                      \
    ASSERT_TRUE(s);                             \
    wa::store::contract::name(*s);              \
  }
WA_PG_CONTRACT(credentials_round_trip)
WA_PG_CONTRACT(keyed_by_device_and_prefix)
WA_PG_CONTRACT(keys_sort_bytewise)
WA_PG_CONTRACT(failed_transaction_rolls_back)
WA_PG_CONTRACT(delete_device_wipes_only_that_device)
WA_PG_CONTRACT(scans_across_devices_in_key_order)

TEST(PgStore, SurvivesReopenAndSchemasAreSeparate) {
  ASSERT_FALSE(url().empty());
  const std::string a = "t_reopen_a_" + std::to_string(::getpid()), b = "t_reopen_b_" + std::to_string(::getpid());
  {
    auto s = PgStore::open(url(), a);
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->save_credentials(wa::store::contract::sample("x")));
    ASSERT_TRUE((*s)->put("x", wa::store::Table::send_queue, "1", wa::Bytes{1}));
  }
  auto again = PgStore::open(url(), a);  // migrations run once: opening again changes nothing
  ASSERT_TRUE(again) << again.error().message();
  auto c = (*again)->load_credentials("x");
  ASSERT_TRUE(c && c->has_value());
  wa::store::contract::expect_sample(**c, "x");
  auto other = PgStore::open(url(), b);
  ASSERT_TRUE(other);
  ASSERT_TRUE((*other)->delete_device("x"));  // another schema: a's rows stay
  EXPECT_TRUE((*again)->load_credentials("x")->has_value());
  EXPECT_EQ(*(*again)->count("x", wa::store::Table::send_queue), 1u);
}

TEST(PgStore, RefusesANewerSchemaAndBadInput) {
  ASSERT_FALSE(url().empty());
  const std::string schema = "t_newer_" + std::to_string(::getpid());
  {
    auto s = PgStore::open(url(), schema);
    ASSERT_TRUE(s);
  }
  PGconn* c = PQconnectdb(url().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  PQclear(PQexec(c, ("UPDATE " + schema + ".schema_version SET v = 999").c_str()));
  PQfinish(c);
  auto s = PgStore::open(url(), schema);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), wa::store::errc::schema_too_new);
  EXPECT_FALSE(PgStore::open(url(), "x; DROP TABLE y"));
  EXPECT_FALSE(PgStore::open("postgresql://127.0.0.1:1/nope?connect_timeout=2", "s"));
}
// Migration 2 orders the send queue, the outbox and the message index by key first: a version 1 schema's
// records of those tables are all there after it, listed across devices by key.
TEST(PgStore, MigrationTwoKeepsTheRecordsOfTheTablesItReorders) {
  ASSERT_FALSE(url().empty());
  const std::string schema = "t_mig2_" + std::to_string(::getpid());
  {
    auto s = PgStore::open(url(), schema);
    ASSERT_TRUE(s) << s.error().message();
  }
  PGconn* c = PQconnectdb(url().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  std::string back = "BEGIN;";
  for (const char* t : {"send_queue", "webhook_outbox", "message_index"}) {
    back += "DROP TABLE " + schema + "." + t + "; CREATE TABLE " + schema + "." + t +
            " (device_id BYTEA NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (device_id, key));" +
            "INSERT INTO " + schema + "." + t +
            " VALUES ('b', '0002', '\\x01'), ('a', '0003', '\\x02'), ('a', '0001', ''), ('c', '0002', '\\x03');";
  }
  back += "UPDATE " + schema + ".schema_version SET v = 1; COMMIT;";
  PGresult* r = PQexec(c, back.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  auto s = PgStore::open(url(), schema);
  ASSERT_TRUE(s) << s.error().message();
  using P = std::pair<std::string, std::string>;
  for (auto t : {wa::store::Table::send_queue, wa::store::Table::outbox, wa::store::Table::message_index}) {
    EXPECT_EQ(*(*s)->all_keys(t), (std::vector<P>{{"a", "0001"}, {"b", "0002"}, {"c", "0002"}, {"a", "0003"}}));
    EXPECT_EQ(**(*s)->get("a", t, "0003"), wa::Bytes{2});
    EXPECT_TRUE((*s)->get("a", t, "0001")->value().empty());
  }
  c = PQconnectdb(url().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  for (const char* t : {"send_queue", "webhook_outbox", "message_index"}) {
    const std::string q = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' AND conrelid = '" + schema +
                          "." + t + "'::regclass";
    r = PQexec(c, q.c_str());
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
    ASSERT_EQ(PQntuples(r), 1);
    EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), "PRIMARY KEY (key, device_id)") << t;
    PQclear(r);
  }
  PQfinish(c);
}
}  // namespace
