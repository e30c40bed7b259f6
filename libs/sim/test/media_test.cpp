// SPDX-License-Identifier: MIT
// wasim's media store: uploads are kept under base64url(SHA-256(body)) only when the token says so, and
// served back by the direct path the upload answered (with or without a client's extra query parameters).
#include <gtest/gtest.h>

#include "wa/core/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/sim/network.hpp"

namespace {
using namespace wa;

std::string token_of(const std::string& body) {
  return to_base64(crypto::sha256(ByteView(reinterpret_cast<const std::uint8_t*>(body.data()), body.size())), true);
}

TEST(SimMedia, StoresByHashAndServesByDirectPath) {
  sim::Network net;
  const std::string body = "encrypted bytes and a mac";
  auto path = net.media_put(token_of(body), body);
  ASSERT_TRUE(path);
  EXPECT_TRUE(path->starts_with("/v/t62.7118-24/" + token_of(body) + "?"));
  ASSERT_NE(net.media_get(*path), nullptr);
  EXPECT_EQ(*net.media_get(*path), body);
  EXPECT_EQ(*net.media_get(*path + "&hash=x&mms-type=image&__wa-mms="), body);
  // whatsmeow keeps the '=' padding of the token: the same blob.
  auto padded = net.media_put(token_of(body) + "=", body);
  ASSERT_TRUE(padded);
  EXPECT_EQ(*padded, *path);
}

TEST(SimMedia, RefusesAWrongTokenAndUnknownPaths) {
  sim::Network net;
  EXPECT_FALSE(net.media_put(token_of("other"), "body"));
  EXPECT_FALSE(net.media_put("", ""));
  EXPECT_EQ(net.media_get("/v/t62.7118-24/" + token_of("body")), nullptr);
  EXPECT_EQ(net.media_get("/mms/image/abc"), nullptr);
  EXPECT_EQ(net.media_get(""), nullptr);
  EXPECT_FALSE(net.media_auth().empty());
}

}  // namespace
