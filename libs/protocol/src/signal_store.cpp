// SPDX-License-Identifier: MIT
#include "signal_store.hpp"

namespace wa::protocol::detail {

using store::Table;

DeviceSignalStore::DeviceSignalStore(store::Store& s, const store::Credentials& c)
    : s_(s), device_(c.device_id), identity_{c.identity_priv, c.identity_pub}, registration_id_(c.registration_id) {}

void DeviceSignalStore::check(Status st) {
  if (!st && !error_) error_ = st.error();
}

std::optional<Bytes> DeviceSignalStore::get(Table t, const std::string& k) {
  auto r = s_.get(device_, t, k);
  if (!r) {
    if (!error_) error_ = r.error();
    return std::nullopt;
  }
  return std::move(*r);
}

// After a store error the job fails (its caller checks failed()): nothing is remembered from then on.
std::optional<Bytes> DeviceSignalStore::load_session(const signal::Address& a) {
  std::string k = key(a);
  if (memo_valid_ && k == memo_key_) return memo_;
  auto r = get(Table::session, k);
  memo_valid_ = !error_;
  if (memo_valid_) {
    memo_key_ = std::move(k);
    memo_ = r;
  }
  return r;
}
void DeviceSignalStore::store_session(const signal::Address& a, ByteView r) {
  std::string k = key(a);
  check(s_.put(device_, Table::session, k, r));
  memo_valid_ = !error_;
  if (memo_valid_) {
    memo_key_ = std::move(k);
    memo_ = Bytes(r.begin(), r.end());
  }
}
void DeviceSignalStore::delete_session(const signal::Address& a) {
  memo_valid_ = false;
  check(s_.remove(device_, Table::session, key(a)));
}
void DeviceSignalStore::delete_all_sessions(const std::string& name) {
  memo_valid_ = false;
  check(s_.remove_prefix(device_, Table::session, name + "."));
}

std::vector<std::uint32_t> DeviceSignalStore::sub_devices(const std::string& name) {
  std::vector<std::uint32_t> out;
  auto keys = s_.keys(device_, Table::session, name + ".");
  if (!keys) {
    if (!error_) error_ = keys.error();
    return out;
  }
  for (const auto& k : *keys) {
    const auto dev = static_cast<std::uint32_t>(std::strtoul(k.c_str() + name.size() + 1, nullptr, 10));
    if (dev != 1) out.push_back(dev);
  }
  return out;
}

std::optional<Bytes> DeviceSignalStore::load_prekey(std::uint32_t id) { return get(Table::prekey, std::to_string(id)); }
void DeviceSignalStore::store_prekey(std::uint32_t id, ByteView r) { check(s_.put(device_, Table::prekey, std::to_string(id), r)); }
void DeviceSignalStore::remove_prekey(std::uint32_t id) { check(s_.remove(device_, Table::prekey, std::to_string(id))); }
std::optional<Bytes> DeviceSignalStore::load_signed_prekey(std::uint32_t id) { return get(Table::signed_prekey, std::to_string(id)); }
void DeviceSignalStore::store_signed_prekey(std::uint32_t id, ByteView r) {
  check(s_.put(device_, Table::signed_prekey, std::to_string(id), r));
}
void DeviceSignalStore::remove_signed_prekey(std::uint32_t id) { check(s_.remove(device_, Table::signed_prekey, std::to_string(id))); }
void DeviceSignalStore::save_identity(const signal::Address& a, ByteView key33) { check(s_.put(device_, Table::identity, key(a), key33)); }

std::optional<Bytes> DeviceSignalStore::load_sender_key(const std::string& group, const signal::Address& sender) {
  return get(Table::sender_key, group + "\n" + key(sender));
}
void DeviceSignalStore::store_sender_key(const std::string& group, const signal::Address& sender, ByteView r) {
  check(s_.put(device_, Table::sender_key, group + "\n" + key(sender), r));
}
void DeviceSignalStore::remove_sender_key(const std::string& group, const signal::Address& sender) {
  check(s_.remove(device_, Table::sender_key, group + "\n" + key(sender)));
}

}  // namespace wa::protocol::detail
