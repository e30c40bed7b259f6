// SPDX-License-Identifier: MIT
// The PNG's decodability by an independent reader (zbar, in wasim) is proven end to end by the
// engine's interop test (a wasim phone scans the picture); here: shape and input checks.
#include "wa/qr/qr.hpp"

#include <gtest/gtest.h>

namespace {

std::uint32_t be32(const wa::Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

TEST(Qr, RendersAPngWithQuietZoneAndScale) {
  const std::string text = "2@abcdefghijklmnopqrstuvwxyz,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,BBBB=,CCCC=";
  auto png = wa::qr::render_png(text, {4, 2});
  ASSERT_TRUE(png);
  ASSERT_GT(png->size(), 33u);
  const wa::Bytes sig{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  EXPECT_TRUE(std::equal(sig.begin(), sig.end(), png->begin()));
  const auto width = be32(*png, 16);
  EXPECT_EQ(width, be32(*png, 20));
  // QR versions have 21 + 4k modules; side = (modules + 2 * margin) * scale.
  ASSERT_EQ(width % 4, 0u);
  const auto modules = width / 4 - 4;
  EXPECT_EQ((modules - 21) % 4, 0u);
  EXPECT_GE(modules, 21u);
}

TEST(Qr, RejectsEmptyOversizedAndBadOptions) {
  EXPECT_FALSE(wa::qr::render_png(""));
  EXPECT_FALSE(wa::qr::render_png(std::string(5000, 'a')));
  EXPECT_FALSE(wa::qr::render_png("x", {0, 4}));
  EXPECT_FALSE(wa::qr::render_png("x", {8, -1}));
}

}  // namespace
