// SPDX-License-Identifier: MIT
// The pure media helpers: data: URIs, sniffing, image dimensions, extensions. Inputs are hostile: every
// truncation of a valid header must be refused (or parsed) without reading past the end.
#include "wa/service/media.hpp"

#include <gtest/gtest.h>

#include <png.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <jpeglib.h>

namespace {

using namespace wa::service::media;

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s += static_cast<char>(b);
  return s;
}

// A minimal baseline JPEG header: SOI, an APP0 segment, then SOF0 with height 480 and width 640.
std::string jpeg_header() {
  return bytes({0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
                0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1});
}

std::string png_header(std::uint32_t w, std::uint32_t h) {
  std::string s = "\x89PNG\r\n\x1A\n";
  s += bytes({0, 0, 0, 13});
  s += "IHDR";
  for (int i = 3; i >= 0; --i) s += static_cast<char>((w >> (8 * i)) & 0xFF);
  for (int i = 3; i >= 0; --i) s += static_cast<char>((h >> (8 * i)) & 0xFF);
  s += bytes({8, 6, 0, 0, 0});
  return s;
}

TEST(DataUri, DecodesBase64WithMimetypeAndParameters) {
  auto d = parse_data_uri("data:image/PNG;name=x.png;base64,aGVsbG8=");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->mimetype, "image/png");
  EXPECT_EQ(d->bytes, "hello");
}

TEST(DataUri, AcceptsUnpaddedUrlSafeAndWrappedBase64) {
  auto d = parse_data_uri("data:application/octet-stream;base64,+/+/\n_-_-");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->bytes, bytes({0xFB, 0xFF, 0xBF, 0xFF, 0xEF, 0xFE}));
  auto e = parse_data_uri("data:;base64,aGk");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->bytes, "hi");
  EXPECT_EQ(e->mimetype, "");
}

TEST(DataUri, DecodesPercentEncoding) {
  auto d = parse_data_uri("data:text/plain,a%20b%2Cc");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->bytes, "a b,c");
  EXPECT_EQ(d->mimetype, "text/plain");
}

TEST(DataUri, RefusesWhatIsNotOne) {
  EXPECT_FALSE(parse_data_uri("https://example.com/a.png"));
  EXPECT_FALSE(parse_data_uri("data:image/png;base64"));        // no comma
  EXPECT_FALSE(parse_data_uri("data:image/png;base64,@@@@"));   // not base64
  EXPECT_FALSE(parse_data_uri("data:text/plain,100%"));         // truncated escape
  EXPECT_FALSE(parse_data_uri("data:text/plain,%zz"));
}

TEST(Sniff, KnowsTheCommonFormats) {
  EXPECT_EQ(sniff_mimetype(jpeg_header()), "image/jpeg");
  EXPECT_EQ(sniff_mimetype(png_header(1, 1)), "image/png");
  EXPECT_EQ(sniff_mimetype("GIF89a......"), "image/gif");
  EXPECT_EQ(sniff_mimetype("RIFF" + bytes({0x10, 0, 0, 0}) + "WEBPVP8 "), "image/webp");
  EXPECT_EQ(sniff_mimetype("%PDF-1.7\n"), "application/pdf");
  EXPECT_EQ(sniff_mimetype("OggS" + bytes({0, 2})), "audio/ogg; codecs=opus");
  EXPECT_EQ(sniff_mimetype(bytes({0, 0, 0, 0x20}) + "ftypisom"), "video/mp4");
  EXPECT_EQ(sniff_mimetype(bytes({0, 0, 0, 0x20}) + "ftypM4A "), "audio/mp4");
  EXPECT_EQ(sniff_mimetype("ID3\x04"), "audio/mpeg");
  EXPECT_EQ(sniff_mimetype("plain words"), "");
  EXPECT_EQ(sniff_mimetype(""), "");
}

TEST(Dimensions, ReadsJpegPngGifWebp) {
  auto j = image_dimensions(jpeg_header());
  ASSERT_TRUE(j);
  EXPECT_EQ(j->width, 640u);
  EXPECT_EQ(j->height, 480u);
  auto p = image_dimensions(png_header(1920, 1080));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->width, 1920u);
  EXPECT_EQ(p->height, 1080u);
  auto g = image_dimensions("GIF89a" + bytes({0x2C, 0x01, 0xC8, 0x00}));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->width, 300u);
  EXPECT_EQ(g->height, 200u);
  // VP8X: 24-bit width-1 and height-1 at offsets 24 and 27.
  std::string webp = "RIFF" + bytes({0, 0, 0, 0}) + "WEBPVP8X" + bytes({10, 0, 0, 0, 0, 0, 0, 0}) +
                     bytes({0x1F, 0x03, 0x00, 0xDF, 0x01, 0x00});
  auto w = image_dimensions(webp);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->width, 800u);
  EXPECT_EQ(w->height, 480u);
}

TEST(Dimensions, EveryTruncationIsSafe) {
  for (const std::string& full : {jpeg_header(), png_header(10, 20)}) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      auto d = image_dimensions(full.substr(0, n));
      if (d) {
        EXPECT_GT(d->width, 0u);
        EXPECT_GT(d->height, 0u);
      }
    }
  }
  EXPECT_FALSE(image_dimensions(png_header(0, 5)));
  EXPECT_FALSE(image_dimensions(bytes({0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00})));  // a zero-length segment
}

// A real picture: a w x h colour gradient, as JPEG (libjpeg) or PNG (libpng).
std::vector<std::uint8_t> gradient(unsigned w, unsigned h) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 3);
  for (unsigned y = 0; y < h; ++y) {
    for (unsigned x = 0; x < w; ++x) {
      auto* p = &px[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(x * 255 / w);
      p[1] = static_cast<std::uint8_t>(y * 255 / h);
      p[2] = 128;
    }
  }
  return px;
}

std::string make_jpeg(unsigned w, unsigned h) {
  auto px = gradient(w, h);
  jpeg_compress_struct c{};
  jpeg_error_mgr e{};
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < h) {
    JSAMPROW row = &px[static_cast<std::size_t>(c.next_scanline) * w * 3];
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

std::string make_png(unsigned w, unsigned h) {
  auto px = gradient(w, h);
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr);
  std::string out(size, '\0');
  png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr);
  out.resize(size);
  return out;
}

TEST(Thumbnail, JpegAndPngBecomeSmallJpegsKeepingTheirShape) {
  for (const auto& [source, w, h] : {std::tuple{make_jpeg(640, 480), 640u, 480u}, std::tuple{make_png(300, 600), 300u, 600u},
                                     std::tuple{make_jpeg(40, 20), 40u, 20u}}) {
    auto t = jpeg_thumbnail(source);
    ASSERT_TRUE(t) << w << "x" << h;
    EXPECT_EQ(sniff_mimetype(*t), "image/jpeg");
    auto d = image_dimensions(*t);
    ASSERT_TRUE(d);
    if (w >= 72 || h >= 72) {
      EXPECT_EQ(std::max(d->width, d->height), 72u);
    } else {
      EXPECT_EQ(d->width, w);  // never enlarged
    }
    EXPECT_NEAR(static_cast<double>(d->width) / d->height, static_cast<double>(w) / h, 0.05);
    EXPECT_LT(t->size(), 4000u);
  }
}

TEST(Thumbnail, RefusesWhatIsNotAPictureAndSurvivesCorruption) {
  EXPECT_FALSE(jpeg_thumbnail("plain text"));
  EXPECT_FALSE(jpeg_thumbnail(""));
  EXPECT_FALSE(jpeg_thumbnail("RIFF\x10\0\0\0WEBPVP8X"));
  const std::string jpg = make_jpeg(200, 100);
  const std::string png = make_png(200, 100);
  for (const std::string* src : {&jpg, &png}) {
    for (std::size_t n : {std::size_t{3}, std::size_t{20}, src->size() / 3, src->size() / 2, src->size() - 3}) {
      (void)jpeg_thumbnail(src->substr(0, n));  // a truncated file: a thumbnail of what is there, or none
    }
    std::string flipped = *src;
    for (std::size_t i = 30; i < flipped.size(); i += 17) flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
    (void)jpeg_thumbnail(flipped);
  }
  // A header announcing a giant picture is refused before decoding.
  std::string giant = make_png(10, 10);
  giant[16] = 0x00; giant[17] = 0x01; giant[18] = 0x00; giant[19] = 0x00;  // width 65536
  giant[20] = 0x00; giant[21] = 0x01; giant[22] = 0x00; giant[23] = 0x00;  // height 65536
  EXPECT_FALSE(jpeg_thumbnail(giant));
}

std::string box(std::string_view type, const std::string& body) {
  const std::uint32_t n = static_cast<std::uint32_t>(body.size() + 8);
  return bytes({static_cast<int>(n >> 24), static_cast<int>((n >> 16) & 255), static_cast<int>((n >> 8) & 255), static_cast<int>(n & 255)}) +
         std::string(type) + body;
}
std::string be32s(std::uint32_t v) {
  return bytes({static_cast<int>(v >> 24), static_cast<int>((v >> 16) & 255), static_cast<int>((v >> 8) & 255), static_cast<int>(v & 255)});
}
// ftyp, mdat, then moov (as a camera writes it): mvhd v0 with timescale 1000 and 12.5 s; a sound track
// without size, then a 1280x720 video track.
std::string make_mp4() {
  const std::string mvhd = std::string(4, '\0') + be32s(0) + be32s(0) + be32s(1000) + be32s(12500) + std::string(80, '\0');
  auto tkhd = [](std::uint32_t w, std::uint32_t h) {
    return std::string(4, '\0') + std::string(20, '\0') + std::string(16, '\0') + std::string(36, '\0') + be32s(w << 16) + be32s(h << 16);
  };
  return box("ftyp", "isom" + be32s(512) + "isomiso2mp41") + box("mdat", std::string(5000, 'x')) +
         box("moov", box("mvhd", mvhd) + box("trak", box("tkhd", tkhd(0, 0))) + box("trak", box("tkhd", tkhd(1280, 720)) + box("mdia", "")));
}

TEST(Mp4, ReadsSizeAndLengthWhereverTheMoovIs) {
  auto v = mp4_info(make_mp4());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->width, 1280u);
  EXPECT_EQ(v->height, 720u);
  EXPECT_EQ(v->seconds, 13u);
  EXPECT_EQ(sniff_mimetype(make_mp4()), "video/mp4");
}

TEST(Mp4, HostileBoxesAreSafe) {
  const std::string full = make_mp4();
  for (std::size_t n = 0; n < full.size(); n += 7) (void)mp4_info(full.substr(0, n));
  EXPECT_FALSE(mp4_info("not a video at all"));
  EXPECT_FALSE(mp4_info(be32s(1) + "moov" + be32s(0) + be32s(4)));      // a 64-bit size smaller than its header
  EXPECT_FALSE(mp4_info(be32s(0xFFFFFFF0u) + "moov"));                  // larger than the file
  EXPECT_FALSE(mp4_info(box("moov", box("mvhd", std::string(3, '\1')))));  // too short to read
}

TEST(Extensions, MapBothWays) {
  EXPECT_EQ(extension_for("image/jpeg"), "jpeg");
  EXPECT_EQ(extension_for("Image/JPG"), "jpeg");
  EXPECT_EQ(extension_for("audio/ogg; codecs=opus"), "ogg");
  EXPECT_EQ(extension_for("application/x-unknown"), "bin");
  EXPECT_EQ(mimetype_for_extension("PDF"), "application/pdf");
  EXPECT_EQ(mimetype_for_extension("jpg"), "image/jpeg");
  EXPECT_EQ(mimetype_for_extension("docx"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  EXPECT_EQ(mimetype_for_extension("xyz"), "application/octet-stream");
  EXPECT_EQ(bare_mimetype(" Text/Plain ; charset=utf-8"), "text/plain");
}

}  // namespace
