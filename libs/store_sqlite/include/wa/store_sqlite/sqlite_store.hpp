// SPDX-License-Identifier: MIT
// SQLite implementation of wa::store::Store: one database file for many devices, WAL journal,
// numbered schema migrations applied in transactions (PRAGMA user_version). Synchronous; one
// connection guarded by a mutex, meant to be called from one thread (the engine's database executor, the
// service thread); WAL checkpoints run on a thread of the store's own with a second connection. A database
// file is open in one store of one process at a time (flock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "wa/store/store.hpp"

namespace wa::store_sqlite {

/// The schema version this build writes (the number of migrations).
int schema_version() noexcept;

class SqliteStore final : public store::Store {
 public:
  /// Opens or creates path (":memory:" for a private in-memory database) and migrates it. cache_kib: the
  /// page cache's bound (SQLite's default, 2 MB, unless given).
  [[nodiscard]] static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, std::size_t cache_kib = 2000);
  ~SqliteStore() override;
  /// The SQLite this process runs ("3.40.1"): with a static build, the one it was linked with.
  static std::string library_version();

  Result<std::vector<std::string>> device_ids() override;
  Result<std::optional<store::Credentials>> load_credentials(std::string_view device) override;
  Status save_credentials(const store::Credentials& c) override;
  Status delete_device(std::string_view device) override;
  Result<std::optional<Bytes>> get(std::string_view device, store::Table t, std::string_view key) override;
  Status put(std::string_view device, store::Table t, std::string_view key, ByteView value) override;
  Status remove(std::string_view device, store::Table t, std::string_view key) override;
  Result<std::vector<std::string>> keys(std::string_view device, store::Table t, std::string_view prefix) override;
  Status remove_prefix(std::string_view device, store::Table t, std::string_view prefix) override;
  Result<std::size_t> count(std::string_view device, store::Table t) override;
  Result<std::vector<std::pair<std::string, std::string>>> all_keys(store::Table t) override;
  Result<std::vector<store::Record>> scan(store::Table t, std::string_view after_key, std::string_view after_device,
                                          std::size_t limit) override;
  Status transaction(const std::function<Status()>& body) override;

  /// WAL checkpoints so far: by the checkpointer thread, and by committing threads because the WAL grew past its
  /// hard bound (the checkpointer fell behind). Both 0 for an in-memory database.
  struct CheckpointStats {
    std::uint64_t background = 0;
    std::uint64_t inline_ = 0;
  };
  [[nodiscard]] CheckpointStats checkpoint_stats() const noexcept;
  /// Bytes the connection's page cache holds now (bounded by open()'s cache_kib).
  [[nodiscard]] std::int64_t page_cache_bytes() const noexcept;

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::store_sqlite
