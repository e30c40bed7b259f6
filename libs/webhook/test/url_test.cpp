// SPDX-License-Identifier: MIT
#include "wa/webhook/url.hpp"

#include <gtest/gtest.h>

using wa::webhook::parse_url;

TEST(WebhookUrl, ParsesHttpAndHttps) {
  auto a = parse_url("https://example.com/hook?x=1");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->host, "example.com");
  EXPECT_EQ(a->port, "443");
  EXPECT_EQ(a->target, "/hook?x=1");
  auto b = parse_url("http://127.0.0.1:8081");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->tls);
  EXPECT_EQ(b->port, "8081");
  EXPECT_EQ(b->target, "/");
  auto c = parse_url("http://[::1]:9/p");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, "9");
  auto d = parse_url("https://h?q");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->target, "/?q");
}

TEST(WebhookUrl, RejectsWhatIsNotAPlainHttpUrl) {
  for (const char* bad : {"", "ftp://x/", "https://", "https://user:pw@host/", "https://host:0/", "https://host:70000/",
                          "https://host:/", "https://ho st/", "https://host/#frag", "http://[::1/", "javascript:alert(1)",
                          "https://host/\n"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
  EXPECT_FALSE(parse_url("https://h/" + std::string(3000, 'a')));
}
