// SPDX-License-Identifier: MIT
// The behaviour every store::Store implementation must have, written once and run against each of them
// (libs/store_sqlite/test, libs/store_pg/test). Plain functions over a fresh, empty store; GoogleTest asserts.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "wa/store/store.hpp"

namespace wa::store::contract {

inline Credentials sample(const std::string& id) {
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
  c.uploaded_prekey_id = 4000000000u;  // above INT32_MAX: unsigned values must survive
  c.jid = "15550001111:3@s.whatsapp.net";
  c.lid = "123456789:3@lid";
  c.platform = "android";
  c.push_name = "Shop ✓";
  c.account = {1, 0, 3};
  return c;
}

inline void expect_sample(const Credentials& got, const std::string& id) {
  const Credentials want = sample(id);
  EXPECT_EQ(got.device_id, id);
  EXPECT_EQ(got.noise_pub, want.noise_pub);
  EXPECT_TRUE(std::equal(got.noise_priv.view().begin(), got.noise_priv.view().end(), want.noise_priv.view().begin()));
  EXPECT_TRUE(std::equal(got.identity_priv.view().begin(), got.identity_priv.view().end(), want.identity_priv.view().begin()));
  EXPECT_TRUE(std::equal(got.adv_secret.view().begin(), got.adv_secret.view().end(), want.adv_secret.view().begin()));
  EXPECT_EQ(got.identity_pub, want.identity_pub);
  EXPECT_EQ(got.signed_prekey_pub, want.signed_prekey_pub);
  EXPECT_EQ(got.signed_prekey_sig, want.signed_prekey_sig);
  EXPECT_EQ(got.registration_id, want.registration_id);
  EXPECT_EQ(got.signed_prekey_id, want.signed_prekey_id);
  EXPECT_EQ(got.next_prekey_id, want.next_prekey_id);
  EXPECT_EQ(got.uploaded_prekey_id, want.uploaded_prekey_id);
  EXPECT_EQ(got.signed_prekey_created, want.signed_prekey_created);
  EXPECT_EQ(got.jid, want.jid);
  EXPECT_EQ(got.lid, want.lid);
  EXPECT_EQ(got.platform, want.platform);
  EXPECT_EQ(got.push_name, want.push_name);
  EXPECT_EQ(got.account, want.account);
  EXPECT_TRUE(got.registered());
}

inline void credentials_round_trip(Store& st) {
  auto none = st.load_credentials("a");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(st.save_credentials(sample("b")));
  ASSERT_TRUE(st.save_credentials(sample("a")));
  ASSERT_TRUE(st.save_credentials(sample("a")));  // an overwrite, not a second row
  auto c = st.load_credentials("a");
  ASSERT_TRUE(c && c->has_value());
  expect_sample(**c, "a");
  auto ids = st.device_ids();
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<std::string>{"a", "b"}));
}

inline void keyed_by_device_and_prefix(Store& st) {
  const Bytes v1{1}, v2{2}, v3{3};
  ASSERT_TRUE(st.put("a", Table::session, "155.0", v1));
  ASSERT_TRUE(st.put("a", Table::session, "155.2", v2));
  ASSERT_TRUE(st.put("a", Table::session, "1556.0", v3));
  ASSERT_TRUE(st.put("b", Table::session, "155.0", v3));
  ASSERT_TRUE(st.put("a", Table::prekey, "155.0", v3));
  auto got = st.get("a", Table::session, "155.2");
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(**got, v2);
  auto k = st.keys("a", Table::session, "155.");
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, (std::vector<std::string>{"155.0", "155.2"}));
  ASSERT_TRUE(st.remove_prefix("a", Table::session, "155."));
  EXPECT_EQ(*st.count("a", Table::session), 1u);
  EXPECT_EQ(*st.count("b", Table::session), 1u);
  EXPECT_EQ(*st.count("a", Table::prekey), 1u);
  ASSERT_TRUE(st.remove("a", Table::prekey, "155.0"));
  EXPECT_FALSE(st.get("a", Table::prekey, "155.0")->has_value());
  ASSERT_TRUE(st.put("b", Table::session, "155.0", v1));
  EXPECT_EQ(**st.get("b", Table::session, "155.0"), v1);
  EXPECT_EQ(*st.count("b", Table::session), 1u);
  // Values are bytes: NUL, 0xff and the empty value survive.
  const Bytes odd{0, 255, 0, 10};
  ASSERT_TRUE(st.put("a", Table::inbox, "odd", odd));
  ASSERT_TRUE(st.put("a", Table::inbox, "empty", Bytes{}));
  EXPECT_EQ(**st.get("a", Table::inbox, "odd"), odd);
  ASSERT_TRUE(st.get("a", Table::inbox, "empty")->has_value());
  EXPECT_TRUE(st.get("a", Table::inbox, "empty")->value().empty());
}

// Keys sort bytewise (not by a locale): queues and outboxes rely on zero-padded sequence keys.
inline void keys_sort_bytewise(Store& st) {
  const std::vector<std::string> keys{"00000000000000000009", "00000000000000000010", "A", "B", "a", "b", "z", "\xc3\xa9"};
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) ASSERT_TRUE(st.put("q", Table::send_queue, *it, Bytes{1}));
  auto k = st.keys("q", Table::send_queue, "");
  ASSERT_TRUE(k);
  EXPECT_EQ(*k, keys);
  auto p = st.keys("q", Table::send_queue, "\xc3");  // a prefix that is not even valid UTF-8
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (std::vector<std::string>{"\xc3\xa9"}));
  ASSERT_TRUE(st.put("q", Table::send_queue, std::string("\xff\xff", 2), Bytes{2}));
  auto all = st.keys("q", Table::send_queue, std::string("\xff", 1));  // no upper bound exists for this prefix
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<std::string>{std::string("\xff\xff", 2)}));
}

inline void failed_transaction_rolls_back(Store& st) {
  auto r = st.transaction([&]() -> Status {
    WA_TRY_STATUS(st.put("a", Table::session, "x", Bytes{1}));
    WA_TRY_STATUS(st.save_credentials(sample("a")));
    return fail(errc::io, "simulated failure after two writes");
  });
  EXPECT_FALSE(r);
  EXPECT_FALSE(st.get("a", Table::session, "x")->has_value());
  EXPECT_FALSE(st.load_credentials("a")->has_value());
  ASSERT_TRUE(st.transaction([&]() -> Status { return st.put("a", Table::session, "x", Bytes{1}); }));
  EXPECT_TRUE(st.get("a", Table::session, "x")->has_value());
  auto nested = st.transaction([&]() -> Status { return st.transaction([] { return ok(); }); });
  EXPECT_FALSE(nested);
  // The store is still usable after the refused nesting.
  ASSERT_TRUE(st.put("a", Table::session, "y", Bytes{2}));
}

inline void delete_device_wipes_only_that_device(Store& st) {
  for (const char* d : {"a", "b"}) {
    ASSERT_TRUE(st.save_credentials(sample(d)));
    for (int t = 0; t < kTableCount; ++t) ASSERT_TRUE(st.put(d, static_cast<Table>(t), "k", Bytes{9}));
  }
  ASSERT_TRUE(st.delete_device("a"));
  EXPECT_FALSE(st.load_credentials("a")->has_value());
  EXPECT_TRUE(st.load_credentials("b")->has_value());
  for (int t = 0; t < kTableCount; ++t) {
    EXPECT_EQ(*st.count("a", static_cast<Table>(t)), 0u);
    EXPECT_EQ(*st.count("b", static_cast<Table>(t)), 1u);
  }
}

// The key-first tables (send queue, outbox, message index) listed across devices: by key, then device, all at
// once or in slices after a (key, device) position; per-device operations still see only their device.
inline void scans_across_devices_in_key_order(Store& st) {
  ASSERT_TRUE(key_first(Table::send_queue) && key_first(Table::outbox) && key_first(Table::message_index));
  ASSERT_FALSE(key_first(Table::session) || key_first(Table::dead_letter) || key_first(Table::instance));
  for (Table t : {Table::send_queue, Table::message_index, Table::session}) {
    ASSERT_TRUE(st.put("b", t, "002", Bytes{1}));
    ASSERT_TRUE(st.put("a", t, "003", Bytes{2}));
    ASSERT_TRUE(st.put("a", t, "001", Bytes{3}));
    ASSERT_TRUE(st.put("c", t, "002", Bytes{4}));
    ASSERT_TRUE(st.put("b", t, "\xff", Bytes{}));
    using P = std::pair<std::string, std::string>;
    auto all = st.all_keys(t);
    ASSERT_TRUE(all);
    EXPECT_EQ(*all, (std::vector<P>{{"a", "001"}, {"b", "002"}, {"c", "002"}, {"a", "003"}, {"b", "\xff"}}));
    std::vector<P> walked;
    std::string after_key, after_device;
    for (int slice = 0; slice < 10; ++slice) {
      auto recs = st.scan(t, after_key, after_device, 2);
      ASSERT_TRUE(recs);
      EXPECT_LE(recs->size(), 2u);
      for (const auto& r : *recs) walked.emplace_back(r.device, r.key);
      if (recs->size() < 2) break;
      after_key = recs->back().key;
      after_device = recs->back().device;
    }
    EXPECT_EQ(walked, *all);
    auto from_b = st.scan(t, "002", "b", 10);
    ASSERT_TRUE(from_b);
    ASSERT_EQ(from_b->size(), 3u);
    EXPECT_EQ(from_b->front().device, "c");
    EXPECT_EQ(from_b->front().value, Bytes{4});
    EXPECT_TRUE(from_b->back().value.empty());
    EXPECT_EQ(*st.keys("a", t, ""), (std::vector<std::string>{"001", "003"}));
    EXPECT_EQ(*st.count("b", t), 2u);
    ASSERT_TRUE(st.remove_prefix("a", t, ""));
    EXPECT_EQ(st.all_keys(t)->size(), 3u);
  }
  auto none = st.scan(Table::outbox, "", "", 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace wa::store::contract
