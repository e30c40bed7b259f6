// SPDX-License-Identifier: MIT
// Video thumbnails: a real MP4 (MPEG-4 Part 2 in an MP4 file, made here with FFmpeg's own encoder and
// muxer, an implementation independent of the decoding path under test) gives a thumbnail with the
// video's shape and colours; corrupt, truncated and foreign files give none and do not crash.
// ZAPD_WRITE_SAMPLE_MP4=<path> also writes the sample (tests/e2e/fixtures/two-colours.mp4 was made so).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "wa/service/media.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

namespace {

using namespace wa::service::media;

// w x h, `frames` frames at 10 fps: the top half red, the bottom half blue (YUV 4:2:0).
std::string make_mp4(int w, int h, int frames) {
  const auto path = std::filesystem::temp_directory_path() / ("zapd-video-test-" + std::to_string(::getpid()) + ".mp4");
  AVFormatContext* oc = nullptr;
  if (avformat_alloc_output_context2(&oc, nullptr, "mp4", path.c_str()) < 0) return {};
  const AVCodec* enc = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  AVStream* st = avformat_new_stream(oc, nullptr);
  AVCodecContext* c = avcodec_alloc_context3(enc);
  c->width = w;
  c->height = h;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = AVRational{1, 10};
  c->framerate = AVRational{10, 1};
  c->bit_rate = 400000;
  c->gop_size = 10;
  if ((oc->oformat->flags & AVFMT_GLOBALHEADER) != 0) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  EXPECT_GE(avcodec_open2(c, enc, nullptr), 0);
  avcodec_parameters_from_context(st->codecpar, c);
  st->time_base = c->time_base;
  EXPECT_GE(avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE), 0);
  EXPECT_GE(avformat_write_header(oc, nullptr), 0);
  AVFrame* f = av_frame_alloc();
  f->format = c->pix_fmt;
  f->width = w;
  f->height = h;
  av_frame_get_buffer(f, 0);
  AVPacket* pkt = av_packet_alloc();
  auto drain = [&] {
    while (avcodec_receive_packet(c, pkt) >= 0) {
      av_packet_rescale_ts(pkt, c->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(oc, pkt);
    }
  };
  for (int i = 0; i < frames; ++i) {
    av_frame_make_writable(f);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) f->data[0][y * f->linesize[0] + x] = y < h / 2 ? 81 : 41;
    }
    for (int y = 0; y < h / 2; ++y) {
      for (int x = 0; x < w / 2; ++x) {
        f->data[1][y * f->linesize[1] + x] = y < h / 4 ? 90 : 240;
        f->data[2][y * f->linesize[2] + x] = y < h / 4 ? 240 : 110;
      }
    }
    f->pts = i;
    avcodec_send_frame(c, f);
    drain();
  }
  avcodec_send_frame(c, nullptr);
  drain();
  av_write_trailer(oc);
  avio_closep(&oc->pb);
  av_packet_free(&pkt);
  av_frame_free(&f);
  avcodec_free_context(&c);
  avformat_free_context(oc);
  std::ifstream in(path, std::ios::binary);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return out;
}

struct Picture {
  unsigned w = 0, h = 0;
  std::vector<unsigned char> px;
  const unsigned char* at(unsigned x, unsigned y) const { return &px[(static_cast<std::size_t>(y) * w + x) * 3]; }
};
Picture decode(const std::string& jpeg) {
  jpeg_decompress_struct d{};
  jpeg_error_mgr e{};
  d.err = jpeg_std_error(&e);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, reinterpret_cast<const unsigned char*>(jpeg.data()), static_cast<unsigned long>(jpeg.size()));
  jpeg_read_header(&d, TRUE);
  d.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d);
  Picture p{d.output_width, d.output_height, std::vector<unsigned char>(static_cast<std::size_t>(d.output_width) * d.output_height * 3)};
  while (d.output_scanline < d.output_height) {
    unsigned char* row = &p.px[static_cast<std::size_t>(d.output_scanline) * p.w * 3];
    jpeg_read_scanlines(&d, &row, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return p;
}

TEST(VideoThumbnail, FirstFrameKeepsShapeAndColours) {
  const std::string mp4 = make_mp4(320, 192, 12);
  ASSERT_GT(mp4.size(), 1000u);
  if (const char* out = std::getenv("ZAPD_WRITE_SAMPLE_MP4")) std::ofstream(out, std::ios::binary) << mp4;
  auto info = mp4_info(mp4);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->width, 320u);
  EXPECT_EQ(info->height, 192u);
  auto t = video_thumbnail(mp4);
  ASSERT_TRUE(t);
  EXPECT_EQ(sniff_mimetype(*t), "image/jpeg");
  const Picture p = decode(*t);
  EXPECT_EQ(p.w, 72u);
  EXPECT_EQ(p.h, 43u);  // 192 * 72 / 320 = 43.2
  const unsigned char* top = p.at(36, 8);
  const unsigned char* bottom = p.at(36, 36);
  EXPECT_GT(top[0], 180);  // red
  EXPECT_LT(top[2], 80);
  EXPECT_GT(bottom[2], 180);  // blue
  EXPECT_LT(bottom[0], 80);
  auto big = video_thumbnail(mp4, 192);
  ASSERT_TRUE(big);
  EXPECT_EQ(decode(*big).w, 192u);
  auto small = video_thumbnail(make_mp4(32, 16, 2));  // never enlarged
  ASSERT_TRUE(small);
  EXPECT_EQ(decode(*small).w, 32u);
}

TEST(VideoThumbnail, HostileInputGivesNoneAndNoCrash) {
  EXPECT_FALSE(video_thumbnail(""));
  EXPECT_FALSE(video_thumbnail("plain text, not a video at all"));
  EXPECT_FALSE(video_thumbnail(std::string(4096, '\0')));
  const std::string mp4 = make_mp4(64, 48, 4);
  ASSERT_FALSE(mp4.empty());
  EXPECT_FALSE(video_thumbnail(mp4, 0));
  for (std::size_t n = 0; n < mp4.size(); n += 97) (void)video_thumbnail(mp4.substr(0, n));
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string bad = mp4;
    for (int k = 0; k < 8; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    (void)video_thumbnail(bad);
  }
  // A PNG or a JPEG is not a video.
  EXPECT_FALSE(video_thumbnail(std::string("\x89PNG\r\n\x1a\n", 8) + std::string(200, 'x')));
}

}  // namespace
