// SPDX-License-Identifier: MIT
// Housekeeping after start-up. The message index's pruning: a start reads none of it (every instance starts first), then a pass forgets
// what is older than the retention, a bounded slice of entries per turn of the loop.
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "counting_store.hpp"
#include "wa/service/service.hpp"

namespace wa::service {
namespace {

constexpr int kStale = 300, kFresh = 300;

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_text(CountingStore& s, const std::string& dev, const std::string& key, const std::string& text) {
  ASSERT_TRUE(s.put(dev, Table::message_index, key, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
}

TEST(IndexPrune, AStartReadsNoneOfItThenSlicesForgetTheStale) {
  CountingStore gw, keys;
  Options opt;
  opt.spacing = false;
  std::string a, b;
  {
    boost::asio::io_context ioc;
    Service first(ioc.get_executor(), gw, keys, opt);
    ASSERT_TRUE(first.start());
    a = first.create_instance("a", {})->id;
    b = first.create_instance("b", {})->id;
    first.shutdown();
  }
  const std::int64_t old = unix_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(opt.message_retention).count() - 60000;
  for (int i = 0; i < kStale; ++i) put_text(gw, i % 2 ? a : b, "OLD" + std::to_string(i), R"({"chat":"x","t":)" + std::to_string(old) + "}");
  for (int i = 0; i < kFresh; ++i) put_text(gw, i % 2 ? a : b, "NEW" + std::to_string(i), R"({"chat":"x","t":)" + std::to_string(unix_ms()) + "}");
  put_text(gw, a, "BROKEN", "not json");  // unreadable: forgotten too
  put_text(gw, b, "ODD", R"({"t":"yesterday"})");  // a "t" that is not a number: forgotten too
  ASSERT_EQ(gw.rows(a, Table::message_index) + gw.rows(b, Table::message_index), static_cast<std::size_t>(kStale + kFresh + 2));

  boost::asio::io_context ioc;
  Service svc(ioc.get_executor(), gw, keys, opt);
  gw.gets.clear();
  ASSERT_TRUE(svc.start());
  EXPECT_EQ(gw.gets[Table::message_index], 0) << "start() read the message index";
  EXPECT_EQ(gw.scanned, 0) << "start() read the message index";
  EXPECT_EQ(gw.rows(a, Table::message_index) + gw.rows(b, Table::message_index), static_cast<std::size_t>(kStale + kFresh + 2));

  // One handler at a time: none reads more than a slice; the pass ends (bounded here in turns).
  int slices = 0, most = 0;
  for (int turn = 0; turn < 200; ++turn) {
    const int before = gw.scanned;
    if (ioc.poll_one() == 0) break;
    const int read = gw.scanned - before;
    if (read > 0) ++slices;
    most = std::max(most, read);
  }
  EXPECT_LE(most, 256) << "a slice read more than its bound";
  EXPECT_GE(slices, 3) << "the pass was not sliced";
  EXPECT_EQ(gw.scanned, kStale + kFresh + 2) << "every entry read once";
  EXPECT_EQ(gw.gets[Table::message_index], 0) << "entries read one by one";
  EXPECT_EQ(gw.rows(a, Table::message_index) + gw.rows(b, Table::message_index), static_cast<std::size_t>(kFresh));
  svc.shutdown();
  auto fresh = gw.keys(a, Table::message_index, "");
  ASSERT_TRUE(fresh);
  for (const auto& k : *fresh) EXPECT_TRUE(k.starts_with("NEW")) << k;
}

// The index is ordered by message id first, so deleting an instance leaves its entries to a pass, which the
// deletion starts: they go, and no other instance's do.
TEST(IndexPrune, TheEntriesOfADeletedInstanceGoWithThePassItsDeletionStarts) {
  CountingStore gw, keys;
  Options opt;
  opt.spacing = false;
  boost::asio::io_context ioc;
  Service svc(ioc.get_executor(), gw, keys, opt);
  ASSERT_TRUE(svc.start());
  for (int turn = 0; turn < 50 && ioc.poll_one() > 0; ++turn) {
  }
  const std::string a = svc.create_instance("a", {})->id;
  const std::string b = svc.create_instance("b", {})->id;
  for (int i = 0; i < 600; ++i) {
    put_text(gw, i % 3 ? a : b, "ID" + std::to_string(100000 + i), R"({"chat":"x","t":)" + std::to_string(unix_ms()) + "}");
  }
  ASSERT_EQ(gw.rows(b, Table::message_index), 200u);
  ASSERT_TRUE(svc.delete_instance(b));
  for (int turn = 0; turn < 200 && ioc.poll_one() > 0; ++turn) {
  }
  EXPECT_EQ(gw.rows(b, Table::message_index), 0u) << "the deleted instance's entries stayed";
  EXPECT_EQ(gw.rows(a, Table::message_index), 400u) << "another instance's entries went";
  svc.shutdown();
}

TEST(MediaPrune, OldReceivedFilesGoAfterTheStart) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("zapd-media-prune-" + std::to_string(unix_ms()));
  fs::create_directories(dir / "inst");
  const fs::path old_file = dir / "inst" / "old.jpg", new_file = dir / "inst" / "new.jpg";
  std::ofstream(old_file) << "old";
  std::ofstream(new_file) << "new";
  fs::last_write_time(old_file, fs::file_time_type::clock::now() - std::chrono::hours(24 * 31));
  CountingStore gw, keys;
  Options opt;
  opt.media_dir = dir.string();
  boost::asio::io_context ioc;
  Service svc(ioc.get_executor(), gw, keys, opt);
  ASSERT_TRUE(svc.start());
  for (int i = 0; i < 300 && fs::exists(old_file); ++i) {
    ioc.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(fs::exists(old_file)) << "a file past the 30-day retention is still there";
  EXPECT_TRUE(fs::exists(new_file)) << "a young file was deleted";
  svc.shutdown();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wa::service
