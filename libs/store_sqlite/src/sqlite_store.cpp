// SPDX-License-Identifier: MIT
#include "wa/store_sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace wa::store_sqlite {
namespace {

using store::Table;

// Migration n (1-based) takes the schema from version n-1 to n. Append only; never edit a shipped one.
constexpr std::array<const char*, 4> kMigrations = {
    R"sql(
CREATE TABLE devices (
  device_id TEXT PRIMARY KEY,
  noise_priv BLOB NOT NULL, noise_pub BLOB NOT NULL,
  identity_priv BLOB NOT NULL, identity_pub BLOB NOT NULL,
  registration_id INTEGER NOT NULL,
  signed_prekey_id INTEGER NOT NULL, signed_prekey_pub BLOB NOT NULL, signed_prekey_sig BLOB NOT NULL,
  signed_prekey_created INTEGER NOT NULL,
  adv_secret BLOB NOT NULL,
  next_prekey_id INTEGER NOT NULL, uploaded_prekey_id INTEGER NOT NULL,
  jid TEXT NOT NULL, lid TEXT NOT NULL, platform TEXT NOT NULL, push_name TEXT NOT NULL,
  account BLOB NOT NULL
);
CREATE TABLE signal_sessions (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE signal_prekeys (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE signal_signed_prekeys (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE signal_identities (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE signal_sender_keys (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE device_lists (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE app_state_keys (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
)sql",
    // 2: inbound messages kept until consumed, and hashes of decrypted ciphertexts (engine part 2).
    R"sql(
CREATE TABLE inbox (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE seen_ciphertexts (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
)sql",
    // 3: the gateway: instances, send queues, the webhook outbox, dead letters and the message index.
    R"sql(
CREATE TABLE instances (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE send_queue (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE webhook_outbox (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE webhook_dead_letters (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
CREATE TABLE message_index (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (device_id, key)) WITHOUT ROWID;
)sql",
    // 4: the send queue, the outbox and the message index ordered by key first (store.hpp, key_first()).
    R"sql(
CREATE TABLE send_queue_v4 (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, device_id)) WITHOUT ROWID;
INSERT INTO send_queue_v4 SELECT device_id, key, value FROM send_queue;
DROP TABLE send_queue;
ALTER TABLE send_queue_v4 RENAME TO send_queue;
CREATE TABLE webhook_outbox_v4 (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, device_id)) WITHOUT ROWID;
INSERT INTO webhook_outbox_v4 SELECT device_id, key, value FROM webhook_outbox;
DROP TABLE webhook_outbox;
ALTER TABLE webhook_outbox_v4 RENAME TO webhook_outbox;
CREATE TABLE message_index_v4 (device_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, device_id)) WITHOUT ROWID;
INSERT INTO message_index_v4 SELECT device_id, key, value FROM message_index;
DROP TABLE message_index;
ALTER TABLE message_index_v4 RENAME TO message_index;
)sql",
};

constexpr std::array<const char*, store::kTableCount> kTables = {
    "signal_sessions", "signal_prekeys", "signal_signed_prekeys", "signal_identities",
    "signal_sender_keys", "device_lists", "app_state_keys", "inbox", "seen_ciphertexts",
    "instances", "send_queue", "webhook_outbox", "webhook_dead_letters", "message_index"};

const char* table_name(Table t) { return kTables[static_cast<std::size_t>(t)]; }

// Smallest string greater than every string with this prefix, for range scans (empty: no bound).
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

}  // namespace

int schema_version() noexcept { return static_cast<int>(kMigrations.size()); }

// WAL checkpoints (docs/architecture.md, "SQLite: checkpoints on their own thread"). A checkpoint copies the WAL's
// pages into the database file and syncs it: milliseconds, which on the caller's thread were the accept path's p99.
// So the callers' connection never checkpoints (its autocheckpoint is off): after each commit the WAL hook wakes
// a checkpointer thread with a connection of its own once kCheckpointFrames pages have not been copied yet, and
// the checkpointer runs a PASSIVE checkpoint, which never blocks a writer. The WAL starts over at the first write
// that finds it completely copied; under a steady stream of commits that moment may not come, so a WAL longer than
// kCatchUpFrames is checkpointed after every commit until it does. Should the WAL still reach
// kInlineCheckpointFrames (a checkpointer that cannot keep up), the committing thread checkpoints itself, so
// that the file stays bounded.
constexpr int kCheckpointFrames = 1000;
constexpr int kCatchUpFrames = 4 * kCheckpointFrames;
constexpr int kInlineCheckpointFrames = 50000;

// The statements of the hot paths (a point read, write or delete in one table) and of transactions, prepared once
// and found by index: the map below hashes a statement's whole text, which the caller first builds (allocations
// and 70 bytes hashed for each of the several statements a sent message costs).
enum class Hot : std::uint8_t { get, put, remove };
constexpr std::size_t kHotOps = 3;
constexpr std::array<const char*, kHotOps> kHotFormat = {
    "SELECT value FROM %s WHERE device_id = ? AND key = ?",
    "INSERT OR REPLACE INTO %s (device_id, key, value) VALUES (?,?,?)",
    "DELETE FROM %s WHERE device_id = ? AND key = ?"};

struct SqliteStore::Impl {
  sqlite3* db = nullptr;
  std::recursive_mutex mu;
  std::unordered_map<std::string, sqlite3_stmt*> stmts;
  std::array<std::array<sqlite3_stmt*, store::kTableCount>, kHotOps> hot{};
  sqlite3_stmt* begin_stmt = nullptr;
  sqlite3_stmt* commit_stmt = nullptr;
  sqlite3_stmt* rollback_stmt = nullptr;
  bool in_tx = false;
  int lock_fd = -1;  // flock()ed for as long as the store is open: one process per database file

  // The checkpointer (absent for in-memory databases).
  sqlite3* ckpt_db = nullptr;
  std::thread ckpt_thread;
  std::mutex ckpt_mu;
  std::condition_variable ckpt_cv;
  bool ckpt_stop = false;
  std::atomic<bool> ckpt_pending{false};  // asked for and not yet done: commits do not ask again
  std::atomic<int> ckpt_backfilled{0};  // WAL frames copied as of the last checkpoint
  std::atomic<std::uint64_t> ckpt_done{0};
  std::atomic<std::uint64_t> ckpt_inline{0};

  ~Impl() {
    if (ckpt_thread.joinable()) {
      {
        std::lock_guard l(ckpt_mu);
        ckpt_stop = true;
      }
      ckpt_cv.notify_one();
      ckpt_thread.join();
    }
    if (ckpt_db != nullptr) sqlite3_close(ckpt_db);
    for (auto& [_, s] : stmts) sqlite3_finalize(s);
    for (auto& op : hot) {
      for (sqlite3_stmt* s : op) sqlite3_finalize(s);  // a no-op for null
    }
    sqlite3_finalize(begin_stmt);
    sqlite3_finalize(commit_stmt);
    sqlite3_finalize(rollback_stmt);
    if (db != nullptr) sqlite3_close(db);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // sqlite3_wal_hook: called on the committing thread after every commit, with the WAL's size in pages.
  static int on_commit(void* arg, sqlite3* conn, const char* schema, int frames) {
    auto* self = static_cast<Impl*>(arg);
    if (frames >= kInlineCheckpointFrames) {
      int copied = 0;
      if (sqlite3_wal_checkpoint_v2(conn, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied) == SQLITE_OK) {
        self->ckpt_backfilled.store(copied);
      }
      self->ckpt_inline.fetch_add(1, std::memory_order_relaxed);
      return SQLITE_OK;
    }
    int copied = self->ckpt_backfilled.load();
    if (frames < copied) copied = 0;  // the WAL started over since
    const bool due = frames - copied >= kCheckpointFrames || (frames >= kCatchUpFrames && frames > copied);
    if (due && !self->ckpt_pending.exchange(true)) {
      { std::lock_guard l(self->ckpt_mu); }  // the checkpointer is waiting, or will see the flag before it waits
      self->ckpt_cv.notify_one();
    }
    return SQLITE_OK;
  }

  void checkpointer() {
    pthread_setname_np(pthread_self(), "sqlite-ckpt");
    std::unique_lock l(ckpt_mu);
    for (;;) {
      ckpt_cv.wait(l, [&] { return ckpt_stop || ckpt_pending.load(); });
      if (ckpt_stop) return;
      l.unlock();
      // SQLITE_BUSY (another checkpoint, or the database is being closed) only means: the next commit asks again.
      int copied = 0;
      if (sqlite3_wal_checkpoint_v2(ckpt_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied) == SQLITE_OK) {
        ckpt_backfilled.store(copied);
        ckpt_done.fetch_add(1, std::memory_order_relaxed);
      }
      ckpt_pending.store(false);
      l.lock();
    }
  }

  detail::Unexpected err(std::string_view what) const {
    return fail(store::errc::io, std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : "no database"));
  }

  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg != nullptr ? msg : "unknown";
      sqlite3_free(msg);
      return fail(store::errc::io, m);
    }
    return ok();
  }

  // A cached prepared statement, reset and with bindings cleared.
  Result<sqlite3_stmt*> prepare(const std::string& sql) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) return err("prepare");
    stmts.emplace(sql, s);
    return s;
  }

  // A hot statement, reset; every parameter is bound again before it runs.
  Result<sqlite3_stmt*> hot_stmt(Hot op, Table t) {
    sqlite3_stmt*& s = hot[static_cast<std::size_t>(op)][static_cast<std::size_t>(t)];
    if (s != nullptr) {
      sqlite3_reset(s);
      return s;
    }
    char sql[160];
    std::snprintf(sql, sizeof sql, kHotFormat[static_cast<std::size_t>(op)], table_name(t));
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      s = nullptr;
      return err("prepare");
    }
    return s;
  }

  // BEGIN IMMEDIATE, COMMIT or ROLLBACK through a statement prepared once (sqlite3_exec compiles its text each time).
  Status run(sqlite3_stmt*& s, const char* sql) {
    if (s == nullptr && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      s = nullptr;
      return err(sql);
    }
    return step_done(s, sql);
  }

  // Bound without a copy (SQLITE_STATIC): the caller's buffer outlives the statement's run, and the statement is
  // reset and bound again before it runs the next time.
  static void bind_view(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  static void bind_view(sqlite3_stmt* s, int i, ByteView v) {
    sqlite3_bind_blob(s, i, v.empty() ? "" : static_cast<const void*>(v.data()), static_cast<int>(v.size()), SQLITE_STATIC);
  }

  static void bind(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static void bind(sqlite3_stmt* s, int i, ByteView v) {
    sqlite3_bind_blob(s, i, v.empty() ? "" : static_cast<const void*>(v.data()), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static void bind(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }

  static Bytes blob(sqlite3_stmt* s, int col) {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, col));
    return Bytes(p, p + sqlite3_column_bytes(s, col));
  }
  static std::string text(sqlite3_stmt* s, int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, col)));
  }

  Status step_done(sqlite3_stmt* s, std::string_view what) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return err(what);
    return ok();
  }

  Status migrate() {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK) return err("user_version");
    int version = 0;
    if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version > schema_version()) {
      return fail(store::errc::schema_too_new, "database schema " + std::to_string(version) + ", this build knows " +
                                                  std::to_string(schema_version()));
    }
    for (int v = version; v < schema_version(); ++v) {
      WA_TRY_STATUS(exec("BEGIN IMMEDIATE"));
      auto st = exec(kMigrations[static_cast<std::size_t>(v)]);
      if (st) st = exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
      if (!st) {
        (void)exec("ROLLBACK");
        return fail(store::errc::io, "migration " + std::to_string(v + 1) + ": " + st.error().context());
      }
      WA_TRY_STATUS(exec("COMMIT"));
    }
    return ok();
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

std::string SqliteStore::library_version() { return sqlite3_libversion(); }

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, std::size_t cache_kib) {
  auto impl = std::make_unique<Impl>();
  const bool in_memory = path == ":memory:";
  if (!in_memory) {
    // One process per database file: a second zapd on the same data directory fails here instead of sharing it.
    // flock() locks are separate from the POSIX locks SQLite takes on the same file.
    impl->lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (impl->lock_fd < 0) return fail(store::errc::io, "open " + path + ": " + std::strerror(errno));
    if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
      return fail(store::errc::io, path + " is in use by another process (or another store in this one)");
    }
  }
  // No memory statistics: with them every allocation SQLite makes or frees takes a process-wide mutex (3 % of
  // zapd's CPU per sent message). Possible only before SQLite initialises, so once, at the first open.
  static const bool no_memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)no_memstatus;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const char* vfs = in_memory ? nullptr : "unix-excl";
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, vfs) != SQLITE_OK) return impl->err("open " + path);
  sqlite3_busy_timeout(impl->db, 5000);
  // unix-excl, not locking_mode = EXCLUSIVE: the checkpointer needs a second connection, and this VFS still takes
  // the file's lock once for the process and keeps the WAL index in heap memory, so no lock calls per transaction.
  // journal_size_limit: a WAL that grew under a burst is cut back when it starts over.
  WA_TRY_STATUS(impl->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                           "PRAGMA journal_size_limit = 16777216;"));
  WA_TRY_STATUS(impl->exec(("PRAGMA cache_size = -" + std::to_string(cache_kib) + ";").c_str()));
  WA_TRY_STATUS(impl->migrate());
  if (!in_memory) {
    if (sqlite3_open_v2(path.c_str(), &impl->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
      return fail(store::errc::io, "open " + path + " for checkpoints: " + sqlite3_errmsg(impl->ckpt_db));
    }
    // A connection opens the WAL with its first read; until then a checkpoint on it does nothing.
    if (sqlite3_exec(impl->ckpt_db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(store::errc::io, "open " + path + " for checkpoints: " + sqlite3_errmsg(impl->ckpt_db));
    }
    sqlite3_wal_hook(impl->db, &Impl::on_commit, impl.get());  // replaces the autocheckpoint
    impl->ckpt_thread = std::thread([p = impl.get()] { p->checkpointer(); });
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::CheckpointStats SqliteStore::checkpoint_stats() const noexcept {
  return {impl_->ckpt_done.load(std::memory_order_relaxed), impl_->ckpt_inline.load(std::memory_order_relaxed)};
}

std::int64_t SqliteStore::page_cache_bytes() const noexcept {
  std::lock_guard lock(impl_->mu);
  int now = 0, high = 0;
  if (sqlite3_db_status(impl_->db, SQLITE_DBSTATUS_CACHE_USED, &now, &high, 0) != SQLITE_OK) return -1;
  return now;
}

Result<std::vector<std::string>> SqliteStore::device_ids() {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare("SELECT device_id FROM devices ORDER BY device_id"));
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(Impl::text(s, 0));
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return impl_->err("device_ids");
  return out;
}

Result<std::optional<store::Credentials>> SqliteStore::load_credentials(std::string_view device) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare(
                     "SELECT noise_priv, noise_pub, identity_priv, identity_pub, registration_id, signed_prekey_id, "
                     "signed_prekey_pub, signed_prekey_sig, signed_prekey_created, adv_secret, next_prekey_id, "
                     "uploaded_prekey_id, jid, lid, platform, push_name, account FROM devices WHERE device_id = ?"));
  Impl::bind(s, 1, device);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s);
    return std::optional<store::Credentials>();
  }
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s);
    return impl_->err("load_credentials");
  }
  store::Credentials c;
  c.device_id = std::string(device);
  bool good = true;
  auto fixed = [&](int col, auto& out) {
    const Bytes b = Impl::blob(s, col);
    if (b.size() != out.size()) {
      good = false;
      return;
    }
    std::copy(b.begin(), b.end(), out.begin());
  };
  auto secret = [&](int col, SecretArray<32>& out) {
    const Bytes b = Impl::blob(s, col);
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
  c.registration_id = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
  c.signed_prekey_id = static_cast<std::uint32_t>(sqlite3_column_int64(s, 5));
  fixed(6, c.signed_prekey_pub);
  fixed(7, c.signed_prekey_sig);
  c.signed_prekey_created = static_cast<std::uint64_t>(sqlite3_column_int64(s, 8));
  secret(9, c.adv_secret);
  c.next_prekey_id = static_cast<std::uint32_t>(sqlite3_column_int64(s, 10));
  c.uploaded_prekey_id = static_cast<std::uint32_t>(sqlite3_column_int64(s, 11));
  c.jid = Impl::text(s, 12);
  c.lid = Impl::text(s, 13);
  c.platform = Impl::text(s, 14);
  c.push_name = Impl::text(s, 15);
  c.account = Impl::blob(s, 16);
  sqlite3_reset(s);
  if (!good) return fail(store::errc::corrupt, "credentials of " + std::string(device) + " have a key of the wrong size");
  return std::optional<store::Credentials>(std::move(c));
}

Status SqliteStore::save_credentials(const store::Credentials& c) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare(
                     "INSERT OR REPLACE INTO devices (device_id, noise_priv, noise_pub, identity_priv, identity_pub, "
                     "registration_id, signed_prekey_id, signed_prekey_pub, signed_prekey_sig, signed_prekey_created, "
                     "adv_secret, next_prekey_id, uploaded_prekey_id, jid, lid, platform, push_name, account) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  Impl::bind(s, 1, std::string_view(c.device_id));
  Impl::bind(s, 2, c.noise_priv.view());
  Impl::bind(s, 3, ByteView(c.noise_pub));
  Impl::bind(s, 4, c.identity_priv.view());
  Impl::bind(s, 5, ByteView(c.identity_pub));
  Impl::bind(s, 6, static_cast<std::int64_t>(c.registration_id));
  Impl::bind(s, 7, static_cast<std::int64_t>(c.signed_prekey_id));
  Impl::bind(s, 8, ByteView(c.signed_prekey_pub));
  Impl::bind(s, 9, ByteView(c.signed_prekey_sig));
  Impl::bind(s, 10, static_cast<std::int64_t>(c.signed_prekey_created));
  Impl::bind(s, 11, c.adv_secret.view());
  Impl::bind(s, 12, static_cast<std::int64_t>(c.next_prekey_id));
  Impl::bind(s, 13, static_cast<std::int64_t>(c.uploaded_prekey_id));
  Impl::bind(s, 14, std::string_view(c.jid));
  Impl::bind(s, 15, std::string_view(c.lid));
  Impl::bind(s, 16, std::string_view(c.platform));
  Impl::bind(s, 17, std::string_view(c.push_name));
  Impl::bind(s, 18, ByteView(c.account));
  return impl_->step_done(s, "save_credentials");
}

Status SqliteStore::delete_device(std::string_view device) {
  return transaction([&]() -> Status {
    WA_TRY(auto s, impl_->prepare("DELETE FROM devices WHERE device_id = ?"));
    Impl::bind(s, 1, device);
    WA_TRY_STATUS(impl_->step_done(s, "delete_device"));
    for (const char* t : kTables) {
      WA_TRY(auto d, impl_->prepare(std::string("DELETE FROM ") + t + " WHERE device_id = ?"));
      Impl::bind(d, 1, device);
      WA_TRY_STATUS(impl_->step_done(d, "delete_device"));
    }
    return ok();
  });
}

Result<std::optional<Bytes>> SqliteStore::get(std::string_view device, Table t, std::string_view key) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->hot_stmt(Hot::get, t));
  Impl::bind_view(s, 1, device);
  Impl::bind_view(s, 2, key);
  const int rc = sqlite3_step(s);
  std::optional<Bytes> out;
  if (rc == SQLITE_ROW) out = Impl::blob(s, 0);
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return impl_->err("get");
  return out;
}

Status SqliteStore::put(std::string_view device, Table t, std::string_view key, ByteView value) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->hot_stmt(Hot::put, t));
  Impl::bind_view(s, 1, device);
  Impl::bind_view(s, 2, key);
  Impl::bind_view(s, 3, value);
  return impl_->step_done(s, "put");
}

Status SqliteStore::remove(std::string_view device, Table t, std::string_view key) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->hot_stmt(Hot::remove, t));
  Impl::bind_view(s, 1, device);
  Impl::bind_view(s, 2, key);
  return impl_->step_done(s, "remove");
}

Result<std::vector<std::string>> SqliteStore::keys(std::string_view device, Table t, std::string_view prefix) {
  std::lock_guard lock(impl_->mu);
  const std::string end = prefix_end(prefix);
  WA_TRY(auto s, impl_->prepare(std::string("SELECT key FROM ") + table_name(t) +
                                " WHERE device_id = ? AND key >= ? AND (? = '' OR key < ?) ORDER BY key"));
  Impl::bind(s, 1, device);
  Impl::bind(s, 2, prefix);
  Impl::bind(s, 3, std::string_view(end));
  Impl::bind(s, 4, std::string_view(end));
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(Impl::text(s, 0));
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return impl_->err("keys");
  return out;
}

Status SqliteStore::remove_prefix(std::string_view device, Table t, std::string_view prefix) {
  std::lock_guard lock(impl_->mu);
  const std::string end = prefix_end(prefix);
  WA_TRY(auto s, impl_->prepare(std::string("DELETE FROM ") + table_name(t) +
                                " WHERE device_id = ? AND key >= ? AND (? = '' OR key < ?)"));
  Impl::bind(s, 1, device);
  Impl::bind(s, 2, prefix);
  Impl::bind(s, 3, std::string_view(end));
  Impl::bind(s, 4, std::string_view(end));
  return impl_->step_done(s, "remove_prefix");
}

Result<std::size_t> SqliteStore::count(std::string_view device, Table t) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare(std::string("SELECT count(*) FROM ") + table_name(t) + " WHERE device_id = ?"));
  Impl::bind(s, 1, device);
  const int rc = sqlite3_step(s);
  const auto n = rc == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(s, 0)) : 0;
  sqlite3_reset(s);
  if (rc != SQLITE_ROW) return impl_->err("count");
  return n;
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::all_keys(Table t) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare(std::string("SELECT device_id, key FROM ") + table_name(t) + " ORDER BY key, device_id"));
  std::vector<std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.emplace_back(Impl::text(s, 0), Impl::text(s, 1));
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return impl_->err("all_keys");
  return out;
}

Result<std::vector<store::Record>> SqliteStore::scan(Table t, std::string_view after_key, std::string_view after_device,
                                                     std::size_t limit) {
  std::lock_guard lock(impl_->mu);
  WA_TRY(auto s, impl_->prepare(std::string("SELECT device_id, key, value FROM ") + table_name(t) +
                                " WHERE (key, device_id) > (?, ?) ORDER BY key, device_id LIMIT ?"));
  Impl::bind(s, 1, after_key);
  Impl::bind(s, 2, after_device);
  Impl::bind(s, 3, static_cast<std::int64_t>(limit));
  std::vector<store::Record> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(store::Record{Impl::text(s, 0), Impl::text(s, 1), Impl::blob(s, 2)});
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return impl_->err("scan");
  return out;
}

Status SqliteStore::transaction(const std::function<Status()>& body) {
  std::lock_guard lock(impl_->mu);
  if (impl_->in_tx) return fail(store::errc::io, "nested transaction");
  WA_TRY_STATUS(impl_->run(impl_->begin_stmt, "BEGIN IMMEDIATE"));
  impl_->in_tx = true;
  Status st = body();
  impl_->in_tx = false;
  if (!st) {
    (void)impl_->run(impl_->rollback_stmt, "ROLLBACK");
    return st;
  }
  if (auto c = impl_->run(impl_->commit_stmt, "COMMIT"); !c) {
    (void)impl_->run(impl_->rollback_stmt, "ROLLBACK");
    return c;
  }
  return ok();
}

}  // namespace wa::store_sqlite
