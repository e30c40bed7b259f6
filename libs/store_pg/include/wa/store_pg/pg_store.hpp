// SPDX-License-Identifier: MIT
// PostgreSQL implementation of wa::store::Store (libpq): the same tables as the SQLite store, in one
// schema per store (zapd uses "zapd" for the gateway and "zapd_keys" for the engine, so that wiping a
// device's keys never touches its queue), numbered migrations under an advisory lock (several zapd nodes
// may start at once), device ids and keys as BYTEA (bytewise order, as queues need). Synchronous; one
// connection guarded by a mutex.
#pragma once

#include <memory>
#include <string>

#include "wa/store/store.hpp"

namespace wa::store_pg {

class PgStore final : public store::Store {
 public:
  /// url: a libpq connection URI (postgres://user:pw@host:port/db?...); schema: created when missing.
  [[nodiscard]] static Result<std::unique_ptr<PgStore>> open(const std::string& url, const std::string& schema);
  ~PgStore() override;

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

  struct Impl;

 private:
  explicit PgStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::store_pg
