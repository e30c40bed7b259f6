// SPDX-License-Identifier: MIT
#include "wa/store_pg/pg_store.hpp"

// libpq is opened with dlopen when a PostgreSQL store is opened, not linked: with it come Kerberos, LDAP,
// GnuTLS and a dozen more libraries (about 3.4 MB of every zapd process's resident memory, measured in
// docs/benchmarks.md) that a zapd on SQLite, the default, never calls. The function types come from libpq's
// own header, so a mismatch is a compile error.
#include <dlfcn.h>
#include <libpq-fe.h>

#include <array>
#include <cstring>
#include <mutex>

namespace wa::store_pg {
namespace {

using store::Table;

#define WA_PQ_FUNCTIONS(X)                                                                                    \
  X(PQconnectdb) X(PQstatus) X(PQfinish) X(PQerrorMessage) X(PQexec) X(PQexecParams) X(PQresultStatus)           \
  X(PQresultErrorMessage) X(PQntuples) X(PQgetvalue) X(PQgetlength) X(PQclear)

struct Pq {
#define WA_PQ_POINTER(name) decltype(&::name) name = nullptr;
  WA_PQ_FUNCTIONS(WA_PQ_POINTER)
#undef WA_PQ_POINTER
  std::string error;  // why it could not be loaded; empty once loaded
};

// Loads libpq once (it stays loaded). Every other call in this file comes after a successful open(), which
// checks load_pq().
Pq g_pq;

const Pq& load_pq() {
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      g_pq.error = std::string("cannot load the PostgreSQL client library (Debian package libpq5): ") +
                    (e != nullptr ? e : "libpq.so.5 not found");
      return;
    }
#define WA_PQ_LOAD(name)                                                         \
  g_pq.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));          \
  if (g_pq.name == nullptr && g_pq.error.empty()) g_pq.error = "libpq.so.5 lacks " #name;
    WA_PQ_FUNCTIONS(WA_PQ_LOAD)
#undef WA_PQ_LOAD
  });
  return g_pq;
}

const Pq& pq() { return g_pq; }

// Migration n takes the schema from version n-1 to n. Append only. The tables match the SQLite store's.
// Device ids and keys are BYTEA: any bytes, compared bytewise (queues rely on that order), whatever the
// database's encoding and collation.
constexpr const char* kKv = " (device_id BYTEA NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (device_id, key))";
const std::array<std::string, 2> kMigrations = {
    std::string(R"sql(
CREATE TABLE devices (
  device_id BYTEA PRIMARY KEY,
  noise_priv BYTEA NOT NULL, noise_pub BYTEA NOT NULL,
  identity_priv BYTEA NOT NULL, identity_pub BYTEA NOT NULL,
  registration_id BIGINT NOT NULL,
  signed_prekey_id BIGINT NOT NULL, signed_prekey_pub BYTEA NOT NULL, signed_prekey_sig BYTEA NOT NULL,
  signed_prekey_created BIGINT NOT NULL,
  adv_secret BYTEA NOT NULL,
  next_prekey_id BIGINT NOT NULL, uploaded_prekey_id BIGINT NOT NULL,
  jid TEXT NOT NULL, lid TEXT NOT NULL, platform TEXT NOT NULL, push_name TEXT NOT NULL,
  account BYTEA NOT NULL
);
)sql") + "CREATE TABLE signal_sessions" + kKv + ";\nCREATE TABLE signal_prekeys" + kKv + ";\nCREATE TABLE signal_signed_prekeys" +
        kKv + ";\nCREATE TABLE signal_identities" + kKv + ";\nCREATE TABLE signal_sender_keys" + kKv +
        ";\nCREATE TABLE device_lists" + kKv + ";\nCREATE TABLE app_state_keys" + kKv + ";\nCREATE TABLE inbox" + kKv +
        ";\nCREATE TABLE seen_ciphertexts" + kKv + ";\nCREATE TABLE instances" + kKv + ";\nCREATE TABLE send_queue" + kKv +
        ";\nCREATE TABLE webhook_outbox" + kKv + ";\nCREATE TABLE webhook_dead_letters" + kKv +
        ";\nCREATE TABLE message_index" + kKv + ";\n",
    // 2: the send queue, the outbox and the message index ordered by key first (store.hpp, key_first()).
    R"sql(
ALTER TABLE send_queue DROP CONSTRAINT send_queue_pkey, ADD PRIMARY KEY (key, device_id);
ALTER TABLE webhook_outbox DROP CONSTRAINT webhook_outbox_pkey, ADD PRIMARY KEY (key, device_id);
ALTER TABLE message_index DROP CONSTRAINT message_index_pkey, ADD PRIMARY KEY (key, device_id);
)sql",
};

constexpr std::array<const char*, store::kTableCount> kTables = {
    "signal_sessions", "signal_prekeys", "signal_signed_prekeys", "signal_identities",
    "signal_sender_keys", "device_lists", "app_state_keys", "inbox", "seen_ciphertexts",
    "instances", "send_queue", "webhook_outbox", "webhook_dead_letters", "message_index"};

const char* table_name(Table t) { return kTables[static_cast<std::size_t>(t)]; }

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = end.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      c = static_cast<char>(static_cast<unsigned char>(c) + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

// A statement parameter: raw bytes sent in binary format (text and bytea alike), or an integer as text.
struct Param {
  std::string data;
  bool binary = true;
  static Param bytes(ByteView v) { return Param{std::string(reinterpret_cast<const char*>(v.data()), v.size()), true}; }
  static Param text(std::string_view v) { return Param{std::string(v), true}; }  // into a TEXT or BYTEA column
  static Param integer(std::int64_t v) { return Param{std::to_string(v), false}; }
};

struct ResultHandle {
  PGresult* r = nullptr;
  ~ResultHandle() {
    if (r != nullptr) pq().PQclear(r);
  }
};

std::int64_t be_int(const char* p, int len) {
  std::int64_t v = 0;
  for (int i = 0; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  if (len == 4) v = static_cast<std::int32_t>(v);
  return v;
}

}  // namespace

struct PgStore::Impl {
  PGconn* conn = nullptr;
  std::recursive_mutex mu;
  bool in_tx = false;

  ~Impl() {
    if (conn != nullptr) pq().PQfinish(conn);
  }

  detail::Unexpected err(std::string_view what, const PGresult* r = nullptr) const {
    std::string m = r != nullptr ? pq().PQresultErrorMessage(r) : (conn != nullptr ? pq().PQerrorMessage(conn) : "no connection");
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return fail(store::errc::io, std::string(what) + ": " + m);
  }

  Status exec(const std::string& sql) {
    ResultHandle h{pq().PQexec(conn, sql.c_str())};
    const auto st = pq().PQresultStatus(h.r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return err("exec", h.r);
    return ok();
  }

  // Runs sql with params; results in binary format. Returns the result (caller owns through ResultHandle).
  Result<PGresult*> run(const std::string& sql, const std::vector<Param>& params, std::string_view what) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
      values.push_back(p.data.c_str());
      lengths.push_back(static_cast<int>(p.data.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    PGresult* r = pq().PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                               formats.data(), 1);
    const auto st = pq().PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      auto e = err(what, r);
      pq().PQclear(r);
      return e;
    }
    return r;
  }

  static std::string text(const PGresult* r, int row, int col) {
    return std::string(pq().PQgetvalue(r, row, col), static_cast<std::size_t>(pq().PQgetlength(r, row, col)));
  }
  static Bytes blob(const PGresult* r, int row, int col) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(pq().PQgetvalue(r, row, col));
    return Bytes(p, p + pq().PQgetlength(r, row, col));
  }
  static std::int64_t integer(const PGresult* r, int row, int col) { return be_int(pq().PQgetvalue(r, row, col), pq().PQgetlength(r, row, col)); }

  Status migrate() {
    WA_TRY_STATUS(exec("BEGIN"));
    auto st = [&]() -> Status {
      WA_TRY_STATUS(exec("SELECT pg_advisory_xact_lock(7423001)"));  // one migrator at a time, across nodes
      WA_TRY_STATUS(exec("CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)"));
      WA_TRY(PGresult * r, run("SELECT v::bigint FROM schema_version", {}, "schema_version"));
      ResultHandle h{r};
      std::int64_t version = 0;
      if (pq().PQntuples(r) == 0) {
        WA_TRY_STATUS(exec("INSERT INTO schema_version VALUES (0)"));
      } else {
        version = integer(r, 0, 0);
      }
      if (version > static_cast<std::int64_t>(kMigrations.size())) {
        return fail(store::errc::schema_too_new, "schema version " + std::to_string(version));
      }
      for (auto v = version; v < static_cast<std::int64_t>(kMigrations.size()); ++v) {
        WA_TRY_STATUS(exec(kMigrations[static_cast<std::size_t>(v)]));
        WA_TRY_STATUS(exec("UPDATE schema_version SET v = " + std::to_string(v + 1)));
      }
      return ok();
    }();
    if (!st) {
      (void)exec("ROLLBACK");
      return st;
    }
    return exec("COMMIT");
  }
};

PgStore::PgStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url, const std::string& schema) {
  for (char c : schema) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return fail(store::errc::io, "invalid schema name");
  }
  if (schema.empty()) return fail(store::errc::io, "empty schema name");
  if (const auto& lib = load_pq(); !lib.error.empty()) return fail(store::errc::io, lib.error);
  auto impl = std::make_unique<Impl>();
  impl->conn = pq().PQconnectdb(url.c_str());
  if (pq().PQstatus(impl->conn) != CONNECTION_OK) return impl->err("connect");
  WA_TRY_STATUS(impl->exec("SET client_min_messages = warning"));
  WA_TRY_STATUS(impl->exec("CREATE SCHEMA IF NOT EXISTS " + schema));
  WA_TRY_STATUS(impl->exec("SET search_path TO " + schema));
  WA_TRY_STATUS(impl->migrate());
  return std::unique_ptr<PgStore>(new PgStore(std::move(impl)));
}

Result<std::vector<std::string>> PgStore::device_ids() {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run("SELECT device_id FROM devices ORDER BY device_id", {}, "device_ids"));
  ResultHandle h{r};
  std::vector<std::string> out;
  for (int i = 0; i < pq().PQntuples(r); ++i) out.push_back(Impl::text(r, i, 0));
  return out;
}

Result<std::optional<store::Credentials>> PgStore::load_credentials(std::string_view device) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run("SELECT noise_priv, noise_pub, identity_priv, identity_pub, registration_id, signed_prekey_id, "
                                  "signed_prekey_pub, signed_prekey_sig, signed_prekey_created, adv_secret, next_prekey_id, "
                                  "uploaded_prekey_id, jid, lid, platform, push_name, account FROM devices WHERE device_id = $1",
                                  {Param::text(device)}, "load_credentials"));
  ResultHandle h{r};
  if (pq().PQntuples(r) == 0) return std::optional<store::Credentials>();
  store::Credentials c;
  c.device_id = std::string(device);
  bool good = true;
  auto fixed = [&](int col, auto& out) {
    const Bytes b = Impl::blob(r, 0, col);
    if (b.size() != out.size()) {
      good = false;
      return;
    }
    std::copy(b.begin(), b.end(), out.begin());
  };
  auto secret = [&](int col, SecretArray<32>& out) {
    const Bytes b = Impl::blob(r, 0, col);
    if (b.size() != 32) {
      good = false;
      return;
    }
    out = SecretArray<32>(b);
  };
  secret(0, c.noise_priv);
  fixed(1, c.noise_pub);
  secret(2, c.identity_priv);
  fixed(3, c.identity_pub);
  c.registration_id = static_cast<std::uint32_t>(Impl::integer(r, 0, 4));
  c.signed_prekey_id = static_cast<std::uint32_t>(Impl::integer(r, 0, 5));
  fixed(6, c.signed_prekey_pub);
  fixed(7, c.signed_prekey_sig);
  c.signed_prekey_created = static_cast<std::uint64_t>(Impl::integer(r, 0, 8));
  secret(9, c.adv_secret);
  c.next_prekey_id = static_cast<std::uint32_t>(Impl::integer(r, 0, 10));
  c.uploaded_prekey_id = static_cast<std::uint32_t>(Impl::integer(r, 0, 11));
  c.jid = Impl::text(r, 0, 12);
  c.lid = Impl::text(r, 0, 13);
  c.platform = Impl::text(r, 0, 14);
  c.push_name = Impl::text(r, 0, 15);
  c.account = Impl::blob(r, 0, 16);
  if (!good) return fail(store::errc::corrupt, "credentials of " + std::string(device) + " have a key of the wrong size");
  return std::optional<store::Credentials>(std::move(c));
}

Status PgStore::save_credentials(const store::Credentials& c) {
  std::lock_guard lock(impl_->mu);
  std::vector<Param> p{Param::text(c.device_id),
                       Param::bytes(c.noise_priv.view()),
                       Param::bytes(ByteView(c.noise_pub)),
                       Param::bytes(c.identity_priv.view()),
                       Param::bytes(ByteView(c.identity_pub)),
                       Param::integer(c.registration_id),
                       Param::integer(c.signed_prekey_id),
                       Param::bytes(ByteView(c.signed_prekey_pub)),
                       Param::bytes(ByteView(c.signed_prekey_sig)),
                       Param::integer(static_cast<std::int64_t>(c.signed_prekey_created)),
                       Param::bytes(c.adv_secret.view()),
                       Param::integer(c.next_prekey_id),
                       Param::integer(c.uploaded_prekey_id),
                       Param::text(c.jid),
                       Param::text(c.lid),
                       Param::text(c.platform),
                       Param::text(c.push_name),
                       Param::bytes(ByteView(c.account))};
  WA_TRY(PGresult * r,
         impl_->run("INSERT INTO devices (device_id, noise_priv, noise_pub, identity_priv, identity_pub, registration_id, "
                    "signed_prekey_id, signed_prekey_pub, signed_prekey_sig, signed_prekey_created, adv_secret, next_prekey_id, "
                    "uploaded_prekey_id, jid, lid, platform, push_name, account) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,"
                    "$13,$14,$15,$16,$17,$18) ON CONFLICT (device_id) DO UPDATE SET noise_priv = EXCLUDED.noise_priv, "
                    "noise_pub = EXCLUDED.noise_pub, identity_priv = EXCLUDED.identity_priv, identity_pub = EXCLUDED.identity_pub, "
                    "registration_id = EXCLUDED.registration_id, signed_prekey_id = EXCLUDED.signed_prekey_id, "
                    "signed_prekey_pub = EXCLUDED.signed_prekey_pub, signed_prekey_sig = EXCLUDED.signed_prekey_sig, "
                    "signed_prekey_created = EXCLUDED.signed_prekey_created, adv_secret = EXCLUDED.adv_secret, "
                    "next_prekey_id = EXCLUDED.next_prekey_id, uploaded_prekey_id = EXCLUDED.uploaded_prekey_id, "
                    "jid = EXCLUDED.jid, lid = EXCLUDED.lid, platform = EXCLUDED.platform, push_name = EXCLUDED.push_name, "
                    "account = EXCLUDED.account",
                    p, "save_credentials"));
  pq().PQclear(r);
  return ok();
}

Status PgStore::delete_device(std::string_view device) {
  return transaction([&]() -> Status {
    WA_TRY(PGresult * r, impl_->run("DELETE FROM devices WHERE device_id = $1", {Param::text(device)}, "delete_device"));
    pq().PQclear(r);
    for (const char* t : kTables) {
      WA_TRY(PGresult * d, impl_->run(std::string("DELETE FROM ") + t + " WHERE device_id = $1", {Param::text(device)}, "delete_device"));
      pq().PQclear(d);
    }
    return ok();
  });
}

Result<std::optional<Bytes>> PgStore::get(std::string_view device, Table t, std::string_view key) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("SELECT value FROM ") + table_name(t) + " WHERE device_id = $1 AND key = $2",
                                  {Param::text(device), Param::text(key)}, "get"));
  ResultHandle h{r};
  if (pq().PQntuples(r) == 0) return std::optional<Bytes>();
  return std::optional<Bytes>(Impl::blob(r, 0, 0));
}

Status PgStore::put(std::string_view device, Table t, std::string_view key, ByteView value) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("INSERT INTO ") + table_name(t) +
                                      " (device_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (device_id, key) DO UPDATE SET "
                                      "value = EXCLUDED.value",
                                  {Param::text(device), Param::text(key), Param::bytes(value)}, "put"));
  pq().PQclear(r);
  return ok();
}

Status PgStore::remove(std::string_view device, Table t, std::string_view key) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("DELETE FROM ") + table_name(t) + " WHERE device_id = $1 AND key = $2",
                                  {Param::text(device), Param::text(key)}, "remove"));
  pq().PQclear(r);
  return ok();
}

Result<std::vector<std::string>> PgStore::keys(std::string_view device, Table t, std::string_view prefix) {
  std::lock_guard lock(impl_->mu);
  const std::string end = prefix_end(prefix);
  WA_TRY(PGresult * r, impl_->run(std::string("SELECT key FROM ") + table_name(t) +
                                      " WHERE device_id = $1::bytea AND key >= $2::bytea AND (octet_length($3::bytea) = 0 OR key < $3::bytea) ORDER BY key",
                                  {Param::text(device), Param::text(prefix), Param::text(end)}, "keys"));
  ResultHandle h{r};
  std::vector<std::string> out;
  for (int i = 0; i < pq().PQntuples(r); ++i) out.push_back(Impl::text(r, i, 0));
  return out;
}

Status PgStore::remove_prefix(std::string_view device, Table t, std::string_view prefix) {
  std::lock_guard lock(impl_->mu);
  const std::string end = prefix_end(prefix);
  WA_TRY(PGresult * r, impl_->run(std::string("DELETE FROM ") + table_name(t) +
                                      " WHERE device_id = $1::bytea AND key >= $2::bytea AND (octet_length($3::bytea) = 0 OR key < $3::bytea)",
                                  {Param::text(device), Param::text(prefix), Param::text(end)}, "remove_prefix"));
  pq().PQclear(r);
  return ok();
}

Result<std::size_t> PgStore::count(std::string_view device, Table t) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("SELECT count(*)::bigint FROM ") + table_name(t) + " WHERE device_id = $1",
                                  {Param::text(device)}, "count"));
  ResultHandle h{r};
  return static_cast<std::size_t>(Impl::integer(r, 0, 0));
}

Result<std::vector<std::pair<std::string, std::string>>> PgStore::all_keys(Table t) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("SELECT device_id, key FROM ") + table_name(t) + " ORDER BY key, device_id", {},
                                  "all_keys"));
  ResultHandle h{r};
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < pq().PQntuples(r); ++i) out.emplace_back(Impl::text(r, i, 0), Impl::text(r, i, 1));
  return out;
}

Result<std::vector<store::Record>> PgStore::scan(Table t, std::string_view after_key, std::string_view after_device,
                                                 std::size_t limit) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(PGresult * r, impl_->run(std::string("SELECT device_id, key, value FROM ") + table_name(t) +
                                      " WHERE (key, device_id) > ($1::bytea, $2::bytea) ORDER BY key, device_id LIMIT $3::bigint",
                                  {Param::text(after_key), Param::text(after_device), Param::integer(static_cast<std::int64_t>(limit))},
                                  "scan"));
  ResultHandle h{r};
  std::vector<store::Record> out;
  for (int i = 0; i < pq().PQntuples(r); ++i) {
    out.push_back(store::Record{Impl::text(r, i, 0), Impl::text(r, i, 1), Impl::blob(r, i, 2)});
  }
  return out;
}

Status PgStore::transaction(const std::function<Status()>& body) {
  std::lock_guard lock(impl_->mu);
  if (impl_->in_tx) return fail(store::errc::io, "nested transaction");
  WA_TRY_STATUS(impl_->exec("BEGIN"));
  impl_->in_tx = true;
  Status st = body();
  impl_->in_tx = false;
  if (!st) {
    (void)impl_->exec("ROLLBACK");
    return st;
  }
  if (auto c = impl_->exec("COMMIT"); !c) {
    (void)impl_->exec("ROLLBACK");
    return c;
  }
  return ok();
}

}  // namespace wa::store_pg
