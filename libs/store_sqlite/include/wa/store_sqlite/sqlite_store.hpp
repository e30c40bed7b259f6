// SPDX-License-Identifier: MIT
// SQLite implementation of wa::store::Store: one database file for many devices, WAL journal,
// numbered schema migrations applied in transactions (PRAGMA user_version). Synchronous; one
// connection guarded by a mutex, meant to be called from the engine's single database executor.
#pragma once

#include <memory>
#include <string>

#include "wa/store/store.hpp"

namespace wa::store_sqlite {

/// The schema version this build writes (the number of migrations).
int schema_version() noexcept;

class SqliteStore final : public store::Store {
 public:
  /// Opens or creates path (":memory:" for a private in-memory database) and migrates it.
  [[nodiscard]] static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;

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
  Status transaction(const std::function<Status()>& body) override;

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::store_sqlite
