// SPDX-License-Identifier: MIT
// The first frame of a video as a JPEG thumbnail, through FFmpeg's libraries reading from memory. The file
// is hostile: the demuxer and decoders are limited to what WhatsApp videos use, decoding runs on one
// thread, and the picture size and the packets read are capped.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "image.hpp"
#include "wa/service/media.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace wa::service::media {
namespace {

constexpr std::int64_t kMaxVideoPixels = 16'000'000;
constexpr int kMaxPackets = 500;
constexpr int kIoBuffer = 32 * 1024;

struct Memory {
  std::string_view data;
  std::int64_t at = 0;
};

int read_memory(void* opaque, std::uint8_t* buf, int size) {
  auto* m = static_cast<Memory*>(opaque);
  const std::int64_t left = static_cast<std::int64_t>(m->data.size()) - m->at;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<std::int64_t>(left, size));
  std::memcpy(buf, m->data.data() + m->at, static_cast<std::size_t>(n));
  m->at += n;
  return n;
}

std::int64_t seek_memory(void* opaque, std::int64_t offset, int whence) {
  auto* m = static_cast<Memory*>(opaque);
  const auto size = static_cast<std::int64_t>(m->data.size());
  if ((whence & AVSEEK_SIZE) != 0) return size;
  std::int64_t to = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: to = offset; break;
    case SEEK_CUR: to = m->at + offset; break;
    case SEEK_END: to = size + offset; break;
    default: return AVERROR(EINVAL);
  }
  if (to < 0 || to > size) return AVERROR(EINVAL);
  m->at = to;
  return to;
}

struct IoFree {
  void operator()(AVIOContext* io) const {
    if (io == nullptr) return;
    av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
struct FormatFree {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

bool allowed_decoder(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_H263:
    case AV_CODEC_ID_VP9:
    case AV_CODEC_ID_AV1: return true;
    default: return false;
  }
}

// The first decodable picture of the best video stream, or nullptr.
std::unique_ptr<AVFrame, FrameFree> first_frame(Memory& mem) {
  std::unique_ptr<AVIOContext, IoFree> io;
  {
    auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBuffer));
    if (buffer == nullptr) return nullptr;
    io.reset(avio_alloc_context(buffer, kIoBuffer, 0, &mem, read_memory, nullptr, seek_memory));
    if (!io) {
      av_free(buffer);
      return nullptr;
    }
  }
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return nullptr;
  raw->pb = io.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2", 0);
  const int opened = avformat_open_input(&raw, nullptr, av_find_input_format("mov"), &opts);  // frees raw on failure
  av_dict_free(&opts);
  if (opened < 0) return nullptr;
  std::unique_ptr<AVFormatContext, FormatFree> fmt(raw);

  const AVCodec* decoder = nullptr;
  const int stream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream < 0 || decoder == nullptr) return nullptr;
  const AVCodecParameters* par = fmt->streams[stream]->codecpar;
  // The container's size may be absent (0) or lie: the decoder enforces the cap on what it decodes.
  if (!allowed_decoder(par->codec_id) || par->width < 0 || par->height < 0 ||
      static_cast<std::int64_t>(par->width) * par->height > kMaxVideoPixels) {
    return nullptr;
  }
  std::unique_ptr<AVCodecContext, CodecFree> codec(avcodec_alloc_context3(decoder));
  if (!codec || avcodec_parameters_to_context(codec.get(), par) < 0) return nullptr;
  codec->thread_count = 1;
  codec->max_pixels = kMaxVideoPixels;
  if (avcodec_open2(codec.get(), decoder, nullptr) < 0) return nullptr;

  std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
  if (!packet || !frame) return nullptr;
  auto receive = [&]() -> bool {
    const int r = avcodec_receive_frame(codec.get(), frame.get());
    return r >= 0 && frame->width > 0 && frame->height > 0 &&
           static_cast<std::int64_t>(frame->width) * frame->height <= kMaxVideoPixels;
  };
  for (int n = 0; n < kMaxPackets && av_read_frame(fmt.get(), packet.get()) >= 0; ++n) {
    const bool ours = packet->stream_index == stream;
    const int sent = ours ? avcodec_send_packet(codec.get(), packet.get()) : 0;
    av_packet_unref(packet.get());
    if (ours && sent < 0 && sent != AVERROR(EAGAIN)) continue;  // a broken packet: try the next
    if (ours && receive()) return frame;
  }
  avcodec_send_packet(codec.get(), nullptr);  // drain what the decoder holds
  if (receive()) return frame;
  return nullptr;
}

void quiet_once() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(std::getenv("ZAPD_AV_DEBUG") != nullptr ? AV_LOG_DEBUG : AV_LOG_QUIET); });
}

}  // namespace

std::optional<std::string> video_thumbnail(std::string_view video, unsigned max_side) {
  if (max_side == 0 || video.size() < 8) return std::nullopt;
  quiet_once();
  Memory mem{video, 0};
  auto frame = first_frame(mem);
  if (!frame) return std::nullopt;
  const int w = frame->width, h = frame->height;
  const double f = std::min(1.0, static_cast<double>(max_side) / std::max(w, h));
  detail::Rgb out;
  out.width = std::max(1u, static_cast<std::uint32_t>(w * f + 0.5));
  out.height = std::max(1u, static_cast<std::uint32_t>(h * f + 0.5));
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 3);
  std::unique_ptr<SwsContext, SwsFree> sws(sws_getContext(w, h, static_cast<AVPixelFormat>(frame->format), static_cast<int>(out.width),
                                                          static_cast<int>(out.height), AV_PIX_FMT_RGB24, SWS_AREA, nullptr, nullptr, nullptr));
  if (!sws) return std::nullopt;
  std::uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(out.width) * 3, 0, 0, 0};
  if (sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride) != static_cast<int>(out.height)) return std::nullopt;
  return detail::encode_jpeg(out, 50);
}

}  // namespace wa::service::media
