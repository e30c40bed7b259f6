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
}  // namespace
