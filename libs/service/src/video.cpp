// SPDX-License-Identifier: MIT
// The first frame of a video as a JPEG thumbnail, through FFmpeg's libraries reading from memory. The file
// is hostile: the demuxer and decoders are limited to what WhatsApp videos use, decoding runs on one
// thread, and the picture size and the packets read are capped.
//
// FFmpeg's libraries are opened with dlopen at the first thumbnail, not linked: they bring about 130 shared
// libraries with them (codecs, X11, GLib, ...), which cost every zapd start about 80 ms of dynamic linking
// and 20 MB of mappings, while most gateways never send a video. The function types come from FFmpeg's own
// headers, so a mismatch is a compile error; the sonames from the same headers' major versions.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

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

#define WA_AV_FUNCTIONS(X)                                                                                        \
  X(util, av_malloc) X(util, av_free) X(util, av_freep) X(util, av_dict_set) X(util, av_dict_free)                 \
  X(util, av_frame_alloc) X(util, av_frame_free) X(util, av_log_set_level)                                         \
  X(format, avio_alloc_context) X(format, avio_context_free) X(format, avformat_alloc_context)                     \
  X(format, avformat_open_input) X(format, av_find_input_format) X(format, av_find_best_stream)                    \
  X(format, av_read_frame) X(format, avformat_close_input)                                                         \
  X(codec, avcodec_alloc_context3) X(codec, avcodec_parameters_to_context) X(codec, avcodec_open2)                 \
  X(codec, av_packet_alloc) X(codec, av_packet_free) X(codec, av_packet_unref) X(codec, avcodec_send_packet)       \
  X(codec, avcodec_receive_frame) X(codec, avcodec_free_context)                                                   \
  X(scale, sws_getContext) X(scale, sws_scale) X(scale, sws_freeContext)

struct Av {
#define WA_AV_POINTER(lib, name) decltype(&::name) name = nullptr;
  WA_AV_FUNCTIONS(WA_AV_POINTER)
#undef WA_AV_POINTER
  bool ok = false;
};

// Opens the four libraries once (they stay loaded); nullptr when one of them or a symbol is missing.
const Av* av() {
  static Av table;
  static std::once_flag once;
  std::call_once(once, [] {
    auto open = [](const char* base, int major) {
      const std::string soname = std::string("lib") + base + ".so." + std::to_string(major);
      return dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    };
    void* util = open("avutil", LIBAVUTIL_VERSION_MAJOR);
    void* format = open("avformat", LIBAVFORMAT_VERSION_MAJOR);
    void* codec = open("avcodec", LIBAVCODEC_VERSION_MAJOR);
    void* scale = open("swscale", LIBSWSCALE_VERSION_MAJOR);
    if (util == nullptr || format == nullptr || codec == nullptr || scale == nullptr) return;
    bool all = true;
#define WA_AV_LOAD(lib, name)                                               \
  table.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name)); \
  all = all && table.name != nullptr;
    WA_AV_FUNCTIONS(WA_AV_LOAD)
#undef WA_AV_LOAD
    if (!all) return;
    table.av_log_set_level(std::getenv("ZAPD_AV_DEBUG") != nullptr ? AV_LOG_DEBUG : AV_LOG_QUIET);
    table.ok = true;
  });
  return table.ok ? &table : nullptr;
}

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
    av()->av_freep(&io->buffer);
    av()->avio_context_free(&io);
  }
};
struct FormatFree {
  void operator()(AVFormatContext* f) const { av()->avformat_close_input(&f); }
};
struct CodecFree {
  void operator()(AVCodecContext* c) const { av()->avcodec_free_context(&c); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av()->av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av()->av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { av()->sws_freeContext(s); }
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
std::unique_ptr<AVFrame, FrameFree> first_frame(const Av& a, Memory& mem) {
  std::unique_ptr<AVIOContext, IoFree> io;
  {
    auto* buffer = static_cast<unsigned char*>(a.av_malloc(kIoBuffer));
    if (buffer == nullptr) return nullptr;
    io.reset(a.avio_alloc_context(buffer, kIoBuffer, 0, &mem, read_memory, nullptr, seek_memory));
    if (!io) {
      a.av_free(buffer);
      return nullptr;
    }
  }
  AVFormatContext* raw = a.avformat_alloc_context();
  if (raw == nullptr) return nullptr;
  raw->pb = io.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  AVDictionary* opts = nullptr;
  a.av_dict_set(&opts, "format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2", 0);
  const int opened = a.avformat_open_input(&raw, nullptr, a.av_find_input_format("mov"), &opts);  // frees raw on failure
  a.av_dict_free(&opts);
  if (opened < 0) return nullptr;
  std::unique_ptr<AVFormatContext, FormatFree> fmt(raw);

  const AVCodec* decoder = nullptr;
  const int stream = a.av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream < 0 || decoder == nullptr) return nullptr;
  const AVCodecParameters* par = fmt->streams[stream]->codecpar;
  // The container's size may be absent (0) or lie: the decoder enforces the cap on what it decodes.
  if (!allowed_decoder(par->codec_id) || par->width < 0 || par->height < 0 ||
      static_cast<std::int64_t>(par->width) * par->height > kMaxVideoPixels) {
    return nullptr;
  }
  std::unique_ptr<AVCodecContext, CodecFree> codec(a.avcodec_alloc_context3(decoder));
  if (!codec || a.avcodec_parameters_to_context(codec.get(), par) < 0) return nullptr;
  codec->thread_count = 1;
  codec->max_pixels = kMaxVideoPixels;
  if (a.avcodec_open2(codec.get(), decoder, nullptr) < 0) return nullptr;

  std::unique_ptr<AVPacket, PacketFree> packet(a.av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFree> frame(a.av_frame_alloc());
  if (!packet || !frame) return nullptr;
  auto receive = [&]() -> bool {
    const int r = a.avcodec_receive_frame(codec.get(), frame.get());
    return r >= 0 && frame->width > 0 && frame->height > 0 &&
           static_cast<std::int64_t>(frame->width) * frame->height <= kMaxVideoPixels;
  };
  for (int n = 0; n < kMaxPackets && a.av_read_frame(fmt.get(), packet.get()) >= 0; ++n) {
    const bool ours = packet->stream_index == stream;
    const int sent = ours ? a.avcodec_send_packet(codec.get(), packet.get()) : 0;
    a.av_packet_unref(packet.get());
    if (ours && sent < 0 && sent != AVERROR(EAGAIN)) continue;  // a broken packet: try the next
    if (ours && receive()) return frame;
  }
  a.avcodec_send_packet(codec.get(), nullptr);  // drain what the decoder holds
  if (receive()) return frame;
  return nullptr;
}

}  // namespace

std::optional<std::string> video_thumbnail(std::string_view video, unsigned max_side) {
  if (max_side == 0 || video.size() < 8) return std::nullopt;
  const Av* a = av();
  if (a == nullptr) return std::nullopt;  // FFmpeg's libraries are not installed
  Memory mem{video, 0};
  auto frame = first_frame(*a, mem);
  if (!frame) return std::nullopt;
  const int w = frame->width, h = frame->height;
  const double f = std::min(1.0, static_cast<double>(max_side) / std::max(w, h));
  detail::Rgb out;
  out.width = std::max(1u, static_cast<std::uint32_t>(w * f + 0.5));
  out.height = std::max(1u, static_cast<std::uint32_t>(h * f + 0.5));
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 3);
  std::unique_ptr<SwsContext, SwsFree> sws(a->sws_getContext(w, h, static_cast<AVPixelFormat>(frame->format), static_cast<int>(out.width),
                                                          static_cast<int>(out.height), AV_PIX_FMT_RGB24, SWS_AREA, nullptr, nullptr, nullptr));
  if (!sws) return std::nullopt;
  std::uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(out.width) * 3, 0, 0, 0};
  if (a->sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride) != static_cast<int>(out.height)) return std::nullopt;
  return detail::encode_jpeg(out, 50);
}

}  // namespace wa::service::media
