// SPDX-License-Identifier: MIT
// The service tests' store: a map that counts transactions and reads, and can be told to fail commits.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "wa/store/store.hpp"

namespace wa::service {

using store::Table;

// A map-backed store that counts transactions and can be told to fail them (a full disk, say). Writes inside a
// transaction go to a scratch copy that replaces the data only when the body succeeds.
class CountingStore final : public store::Store {
 public:
  using Key = std::tuple<std::string, Table, std::string>;
  std::map<Key, Bytes> data;
  int transactions = 0;
  bool fail_commits = false;
  std::map<Table, int> gets;  ///< get() calls per table
  int index_listings = 0;     ///< keys() calls on the message index
  int scanned = 0;            ///< message-index records scan() returned

  Result<std::vector<std::string>> device_ids() override { return std::vector<std::string>{}; }
  Result<std::optional<store::Credentials>> load_credentials(std::string_view) override {
    return std::optional<store::Credentials>{};
  }
  Status save_credentials(const store::Credentials&) override { return ok(); }
  Status delete_device(std::string_view) override { return ok(); }
  Result<std::optional<Bytes>> get(std::string_view d, Table t, std::string_view k) override {
    ++gets[t];
    auto it = live().find(Key{std::string(d), t, std::string(k)});
    if (it == live().end()) return std::optional<Bytes>{};
    return std::optional<Bytes>{it->second};
  }
  Status put(std::string_view d, Table t, std::string_view k, ByteView v) override {
    live()[Key{std::string(d), t, std::string(k)}] = Bytes(v.begin(), v.end());
    return ok();
  }
  Status remove(std::string_view d, Table t, std::string_view k) override {
    live().erase(Key{std::string(d), t, std::string(k)});
    return ok();
  }
  Result<std::vector<std::string>> keys(std::string_view d, Table t, std::string_view prefix) override {
    if (t == Table::message_index) ++index_listings;
    std::vector<std::string> out;
    for (const auto& [k, v] : live()) {
      if (std::get<0>(k) == d && std::get<1>(k) == t && std::get<2>(k).starts_with(prefix)) out.push_back(std::get<2>(k));
    }
    return out;
  }
  Status remove_prefix(std::string_view d, Table t, std::string_view prefix) override {
    std::erase_if(live(), [&](const auto& kv) {
      return std::get<0>(kv.first) == d && std::get<1>(kv.first) == t && std::get<2>(kv.first).starts_with(prefix);
    });
    return ok();
  }
  Result<std::size_t> count(std::string_view d, Table t) override {
    return static_cast<std::size_t>(std::count_if(live().begin(), live().end(), [&](const auto& kv) {
      return std::get<0>(kv.first) == d && std::get<1>(kv.first) == t;
    }));
  }
  Result<std::vector<std::pair<std::string, std::string>>> all_keys(Table t) override {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : live()) {
      if (std::get<1>(k) == t) out.emplace_back(std::get<0>(k), std::get<2>(k));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.second, a.first) < std::tie(b.second, b.first); });
    return out;
  }
  Result<std::vector<store::Record>> scan(Table t, std::string_view after_key, std::string_view after_device,
                                          std::size_t limit) override {
    std::vector<store::Record> out;
    for (const auto& [k, v] : live()) {
      if (std::get<1>(k) != t) continue;
      if (std::tie(std::get<2>(k), std::get<0>(k)) <= std::make_tuple(std::string(after_key), std::string(after_device))) continue;
      out.push_back(store::Record{std::get<0>(k), std::get<2>(k), v});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.key, a.device) < std::tie(b.key, b.device); });
    if (out.size() > limit) out.resize(limit);
    if (t == Table::message_index) scanned += static_cast<int>(out.size());
    return out;
  }
  Status transaction(const std::function<Status()>& body) override {
    ++transactions;
    scratch = data;
    in_tx = true;
    Status st = body();
    in_tx = false;
    if (st && fail_commits) st = fail(store::errc::io, "disk full");
    if (st) data = std::move(scratch);
    return st;
  }

  std::size_t rows(const std::string& device, Table t) { return *count(device, t); }

 private:
  std::map<Key, Bytes>& live() { return in_tx ? scratch : data; }
  std::map<Key, Bytes> scratch;
  bool in_tx = false;
};

}  // namespace wa::service
