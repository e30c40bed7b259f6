#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "wa/wire/codec.hpp"
#include "wa/wire/errc.hpp"
#include "wa/wire/frame.hpp"

namespace wa::wire {
namespace {

Jid J(std::string_view s) {
  auto j = Jid::parse(s);
  EXPECT_TRUE(j) << s;
  return *j;
}


// Vectors produced by Baileys 6.17.16's own encoder (protocol/README.md §3).
TEST(Codec, Dict2VectorsFromBaileys) {
  Node ping{"iq", {{"id", "1"}, {"to", Jid::server_jid()}, {"type", "get"}, {"xmlns", "w:p"}}, NodeList{Node{"ping", {}, {}}}};
  EXPECT_EQ(to_hex(*encode_payload(ping, Dict::v2)), "00f80a1e08350efa000304311" "95ff801f80150");
  Node receipt{"receipt", {{"id", "3EB0AB"}, {"to", J("15550001111:1@s.whatsapp.net")}}, {}};
  EXPECT_EQ(to_hex(*encode_payload(receipt, Dict::v2)), "00f8050708fb033eb0ab0ef70001ff86155500011" "11f");
  Node enc{"enc", {{"v", "2"}, {"type", "pkmsg"}}, Bytes{1, 2, 3}};
  EXPECT_EQ(to_hex(*encode_payload(enc, Dict::v2)), "00f806163633046" "0fc03010203");
  Node ack{"ack", {{"to", J("123@g.us")}, {"class", "message"}}, {}};
  EXPECT_EQ(to_hex(*encode_payload(ack, Dict::v2)), "00f8051c0efaff82123f13110b");
  for (const Node* n : {&ping, &receipt, &enc, &ack}) {
    auto bytes = encode_payload(*n, Dict::v2);
    auto back = decode_payload(*bytes, Dict::v2);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, *n) << to_debug_string(*back);
  }
}

TEST(Codec, RoundTripsAllForms) {
  std::string big(70000, 'x');
  Bytes huge(1u << 20, 0xAB);
  Node n{"message",
         {{"from", J("120363025246125486@g.us")},
          {"participant", J("123456789012345:7@lid")},
          {"hosted", J("15550001111:9@hosted")},
          {"hl", J("8888:2@hosted.lid")},
          {"packed", "12-34.5"},
          {"hex", "DEADBEEF1"},
          {"lower", "deadbeef"},
          {"empty", ""},
          {"utf8", "olá 👋"},
          {"long", big}},
         NodeList{Node{"enc", {{"type", "msg"}}, huge}, Node{"body", {}, std::string("hello")},
                  Node{"jid", {}, J("status@broadcast")}, Node{"list", {}, NodeList{}}}};
  for (Dict d : {Dict::v2, Dict::v3}) {
    auto bytes = encode_payload(n, d);
    ASSERT_TRUE(bytes);
    auto back = decode_payload(*bytes, d);
    ASSERT_TRUE(back) << back.error().message();
    // "hello" is not a token: it comes back as raw bytes written as text; compare data.
    EXPECT_EQ(back->attrs, n.attrs);
    ASSERT_EQ(back->children().size(), 4u);
    EXPECT_EQ(back->children()[0], n.children()[0]);
    EXPECT_EQ(as_chars(*back->children()[1].data()), "hello");
    EXPECT_EQ(back->children()[2], n.children()[2]);
    EXPECT_EQ(back->children()[3].children().size(), 0u);
  }
}

TEST(Codec, FbAndInteropJidsOnlyInDict3) {
  Node n{"x", {{"a", J("100099:2@msgr")}, {"b", J("7-100099:3@interop")}}, {}};
  auto b3 = encode_payload(n, Dict::v3);
  ASSERT_TRUE(b3);
  auto back = decode_payload(*b3, Dict::v3);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, n);
  auto b2 = encode_payload(n, Dict::v2);
  ASSERT_FALSE(b2);
  EXPECT_EQ(b2.error().code(), errc::not_encodable);
  // The same bytes are not valid in dictionary 2.
  EXPECT_FALSE(decode_payload(*b3, Dict::v2));
}

TEST(Codec, DictionariesDiffer) {
  Node n{"receipt", {{"type", "read"}}, {}};
  EXPECT_NE(*encode_payload(n, Dict::v2), *encode_payload(n, Dict::v3));
  EXPECT_EQ(*decode_payload(*encode_payload(n, Dict::v3), Dict::v3), n);
}

TEST(Codec, ZlibPayload) {
  Node n{"iq", {{"id", "abc"}}, NodeList{Node{"ping", {}, {}}}};
  Bytes plain;
  ASSERT_TRUE(encode_node(n, Dict::v3, plain));
  uLongf cap = compressBound(static_cast<uLong>(plain.size()));
  Bytes z(cap + 1);
  z[0] = 0x02;
  ASSERT_EQ(compress(z.data() + 1, &cap, plain.data(), static_cast<uLong>(plain.size())), Z_OK);
  z.resize(cap + 1);
  auto back = decode_payload(z, Dict::v3);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, n);
  // A zlib bomb beyond the limit is refused.
  Bytes zeros(1u << 20, 0);
  uLongf cap2 = compressBound(static_cast<uLong>(zeros.size()));
  Bytes bomb(cap2 + 1);
  bomb[0] = 0x02;
  ASSERT_EQ(compress(bomb.data() + 1, &cap2, zeros.data(), static_cast<uLong>(zeros.size())), Z_OK);
  bomb.resize(cap2 + 1);
  DecodeLimits small;
  small.max_inflated = 4096;
  auto r = decode_payload(bomb, Dict::v3, small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::too_large);
  Bytes garbage{0x02, 1, 2, 3};
  EXPECT_EQ(decode_payload(garbage, Dict::v3).error().code(), errc::inflate_failed);
  Bytes bad_flags{0x04, 0xf8, 0x01, 0x1e};
  EXPECT_EQ(decode_payload(bad_flags, Dict::v3).error().code(), errc::bad_flags);
}

TEST(Codec, RejectsMalformed) {
  struct Case {
    const char* hex;
    errc code;
  } cases[] = {
      {"", errc::truncated},
      {"f8", errc::truncated},
      {"00", errc::invalid_node},                // empty list as node
      {"f801fc00", errc::invalid_node},          // empty tag
      {"f80100", errc::invalid_node},            // tag "" via LIST_EMPTY
      {"f801fa0003", errc::invalid_node},        // JID as tag
      {"f802ec", errc::truncated},               // double token without index
      {"f801f0", errc::invalid_tag},             // 240 is not a tag
      {"f801fc05414243", errc::truncated},       // binary longer than input
      {"f801fe7fffffff", errc::truncated},       // 2 GiB binary claimed
      {"f8011e00", errc::trailing_bytes},
      {"f801ff81ab", errc::invalid_packed},      // odd nibble string whose padding is not 15
      {"f801ff01cd", errc::invalid_packed},      // nibble 12
      {"f801ff80", errc::invalid_packed},        // odd flag, zero bytes
      {"f8031e04fa0334", errc::invalid_jid},     // JID_PAIR whose server is not a server name ("to"... token)
      {"f8031e04f70501ff811f", errc::invalid_jid},  // AD_JID domain 5
      {"f8021ef9ffff", errc::truncated},         // 65535 children claimed
      {"f8031e04fa4103", errc::invalid_jid},     // user "ACK"-ish token with s.whatsapp.net: letters in a phone JID
  };
  for (const auto& c : cases) {
    auto r = decode_node(*from_hex(c.hex), Dict::v2);
    ASSERT_FALSE(r) << c.hex;
    EXPECT_EQ(r.error().code(), c.code) << c.hex << " -> " << r.error().message();
  }
}

TEST(Codec, DepthIsCapped) {
  Node n{"a", {}, {}};
  for (int i = 0; i < 70; ++i) n = Node{"a", {}, NodeList{std::move(n)}};
  EXPECT_EQ(encode_payload(n, Dict::v3).error().code(), errc::too_deep);
  Bytes deep;
  for (int i = 0; i < 100; ++i) deep.insert(deep.end(), {0xf8, 0x02, 0x30, 0xf8, 0x01});
  deep.insert(deep.end(), {0xf8, 0x01, 0x30});
  auto r = decode_node(deep, Dict::v2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), errc::too_deep);
  // JID_PAIR whose user is a JID_PAIR whose user is...: refused at the first nesting, without recursion
  // (found by fuzz_node_decoder as a stack overflow).
  Bytes jids{0xf8, 0x02, 0x30};
  for (int i = 0; i < 200000; ++i) jids.push_back(0xfa);
  auto j = decode_node(jids, Dict::v2);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code(), errc::invalid_jid);
}

TEST(Codec, RandomBytesNeverCrash) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 64);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (!b.empty() && rng() % 2) b[0] = 0xf8;
    (void)decode_node(b, i % 2 ? Dict::v2 : Dict::v3);
  }
}

TEST(Frame, ReassemblesAcrossAnySplit) {
  Bytes stream;
  auto h = connection_header(Dict::v3);
  stream.insert(stream.end(), h.begin(), h.end());
  std::vector<Bytes> frames = {Bytes{1}, Bytes(300, 7), Bytes(70000, 9)};
  for (const auto& f : frames) ASSERT_TRUE(append_frame(stream, f));
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 1000u, 1u << 20}) {
    FrameReader r(FrameReader::Role::server);
    std::vector<Bytes> got;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      ASSERT_TRUE(r.feed(ByteView(stream).subspan(off, std::min(chunk, stream.size() - off))));
      while (true) {
        auto f = r.next();
        ASSERT_TRUE(f);
        if (!*f) break;
        got.push_back(std::move(**f));
      }
    }
    EXPECT_EQ(got, frames) << chunk;
    EXPECT_EQ(r.dict(), Dict::v3);
    EXPECT_EQ(r.held_bytes(), 0u) << chunk;  // nothing buffered, nothing held
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(Frame, RoutingIntroAndBadHeaders) {
  FrameReader r(FrameReader::Role::server);
  Bytes s{'E', 'D', 0, 1, 0, 0, 2, 0xAA, 0xBB, 'W', 'A', 6, 2, 0, 0, 1, 0x42};
  ASSERT_TRUE(r.feed(s));
  EXPECT_EQ(r.dict(), Dict::v2);
  auto f = r.next();
  ASSERT_TRUE(f && *f);
  EXPECT_EQ(**f, Bytes{0x42});
  FrameReader bad(FrameReader::Role::server);
  EXPECT_EQ(bad.feed(Bytes{'W', 'B'}).error().code(), errc::bad_header);
  EXPECT_FALSE(bad.next());  // sticky error
  FrameReader v9(FrameReader::Role::server);
  EXPECT_EQ(v9.feed(Bytes{'W', 'A', 6, 9}).error().code(), errc::unsupported_dictionary);
  Bytes out;
  EXPECT_FALSE(append_frame(out, Bytes{}));
  EXPECT_EQ(append_frame(out, Bytes(kMaxFrameSize + 1)).error().code(), errc::too_large);
  EXPECT_TRUE(append_frame(out, Bytes(kMaxFrameSize)));
}

}  // namespace
}  // namespace wa::wire
