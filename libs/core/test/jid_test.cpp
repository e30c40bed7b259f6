#include "wa/core/jid.hpp"

#include <gtest/gtest.h>

#include "wa/core/bytes.hpp"
#include "wa/core/errc.hpp"

namespace wa {
namespace {

TEST(Jid, ParsesAndFormatsEveryForm) {
  const char* forms[] = {
      "15550001111@s.whatsapp.net", "15550001111:3@s.whatsapp.net", "15550001111:0@s.whatsapp.net",
      "15550001111_1:2@s.whatsapp.net", "123456789012345@lid", "123456789012345:7@lid",
      "120363025246125486@g.us", "15550001111-1600000000@g.us", "status@broadcast", "1234567@broadcast",
      "120363142711111111@newsletter", "15550001111@hosted", "15550001111:99@hosted", "8888@hosted.lid",
      "8888:1@hosted.lid", "100099@msgr", "100099:2@msgr", "7-100099:3@interop", "13135550002@bot",
      "server@c.us", "@s.whatsapp.net", "@g.us", "abc@call",
  };
  for (const char* f : forms) {
    auto j = Jid::parse(f);
    ASSERT_TRUE(j.has_value()) << f << ": " << j.error().message();
    EXPECT_EQ(j->to_string(), f);
  }
}

TEST(Jid, Components) {
  auto j = Jid::parse("15550001111_1:2@s.whatsapp.net");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->user(), "15550001111");
  EXPECT_EQ(j->agent(), 1);
  EXPECT_EQ(j->device(), 2);
  EXPECT_TRUE(j->has_device());
  EXPECT_EQ(j->server(), Server::user);
  EXPECT_EQ(j->to_user().to_string(), "15550001111@s.whatsapp.net");
  auto i = Jid::parse("7-100099:3@interop");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->integrator(), 7);
  EXPECT_EQ(i->user(), "100099");
  auto s = Jid::parse("s.whatsapp.net");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->is_server_jid());
  EXPECT_EQ(*s, Jid::server_jid());
}

TEST(Jid, RejectsMalformed) {
  const char* bad[] = {
      "", "15550001111", "1@2@s.whatsapp.net", "155@example.com", "15a@s.whatsapp.net", "155:@s.whatsapp.net",
      "155:x@s.whatsapp.net", "155:65536@s.whatsapp.net", "155:01@s.whatsapp.net", ":1@s.whatsapp.net",
      "155_0:1@s.whatsapp.net", "155_1@s.whatsapp.net", "155_300:1@s.whatsapp.net", "120363:1@g.us",
      "status:1@broadcast", "100099:1@interop", "0-100099:1@interop", "155_1:1@lid", "a b@g.us",
      "1234567890123456789012345678901234567890123456789012345678901234567890@s.whatsapp.net", "x@",
  };
  for (const char* f : bad) {
    auto j = Jid::parse(f);
    EXPECT_FALSE(j.has_value()) << f;
    if (!j) {
      EXPECT_EQ(j.error().code(), core::errc::invalid_jid) << f;
    }
  }
}

TEST(Jid, MakeValidates) {
  EXPECT_FALSE(Jid::make("12ab", Server::user));
  EXPECT_FALSE(Jid::make_device("123", Server::group, 1));
  EXPECT_TRUE(Jid::make_device("123", Server::lid, 0));
  EXPECT_EQ(Jid::make_device("123", Server::lid, 0)->to_string(), "123:0@lid");
}

TEST(Bytes, HexRoundTrip) {
  auto b = from_hex("00ff10Ab");
  ASSERT_TRUE(b);
  EXPECT_EQ(to_hex(*b), "00ff10ab");
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
}

TEST(Bytes, Base64Rfc4648) {
  const char* vectors[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto& v : vectors) {
    EXPECT_EQ(to_base64(as_bytes(v[0])), v[1]);
    EXPECT_EQ(as_chars(*from_base64(v[1])), v[0]);
  }
  Bytes b{0xfb, 0xff, 0xfe};
  EXPECT_EQ(to_base64(b), "+//+");
  EXPECT_EQ(to_base64(b, true), "-__-");
  EXPECT_EQ(*from_base64("-__-"), b);
  EXPECT_EQ(*from_base64("Zm8"), to_bytes("fo"));  // unpadded, as Baileys writes upload tokens
  EXPECT_FALSE(from_base64("Zm9v!"));
  EXPECT_FALSE(from_base64("Z"));
  EXPECT_FALSE(from_base64("Zm9=v"));
}

TEST(Result, TryPropagatesAndWraps) {
  auto inner = []() -> Result<int> { return fail(core::errc::invalid_argument, "deep"); };
  auto outer = [&]() -> Result<int> {
    WA_TRY(int v, inner());
    return v + 1;
  };
  auto r = outer();
  ASSERT_FALSE(r);
  Error e = r.error();
  e.wrap("outer");
  EXPECT_EQ(e.context(), "outer: deep");
  EXPECT_NE(e.message().find("core"), std::string::npos);
  auto good = []() -> Result<int> { return 41; };
  auto outer2 = [&]() -> Result<int> {
    WA_TRY(int v, good());
    return v + 1;
  };
  EXPECT_EQ(*outer2(), 42);
}

TEST(SecretBytes, ZeroesOnDestroyAndCopies) {
  SecretBytes a(as_bytes("key"));
  SecretBytes b = a;
  EXPECT_EQ(as_chars(b.view()), "key");
  SecretArray<4> s(as_bytes("abcd"));
  EXPECT_EQ(s[3], 'd');
}

}  // namespace
}  // namespace wa
