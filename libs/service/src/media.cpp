// SPDX-License-Identifier: MIT
#include "wa/service/media.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <vector>

#include "wa/core/bytes.hpp"
#include "image.hpp"

#include <png.h>
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>

namespace wa::service::media {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::uint32_t be16(std::string_view b, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) << 8) | static_cast<unsigned char>(b[at + 1]);
}
std::uint32_t be32(std::string_view b, std::size_t at) { return (be16(b, at) << 16) | be16(b, at + 2); }
std::uint32_t le16(std::string_view b, std::size_t at) {
  return static_cast<unsigned char>(b[at]) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8);
}
std::uint32_t le24(std::string_view b, std::size_t at) {
  return le16(b, at) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Dimensions> jpeg_dimensions(std::string_view b) {
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (static_cast<unsigned char>(b[i]) != 0xFF) return std::nullopt;
    const unsigned marker = static_cast<unsigned char>(b[i + 1]);
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      i += 2;
      continue;
    }
    const std::uint32_t len = be16(b, i + 2);
    if (len < 2) return std::nullopt;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) return std::nullopt;
      Dimensions d{be16(b, i + 7), be16(b, i + 5)};
      if (d.width == 0 || d.height == 0) return std::nullopt;
      return d;
    }
    if (marker == 0xDA || marker == 0xD9) return std::nullopt;  // scan data before any frame header
    i += 2 + len;
  }
  return std::nullopt;
}

}  // namespace

std::optional<DataUri> parse_data_uri(std::string_view s) {
  if (!is_data_uri(s)) return std::nullopt;
  s.remove_prefix(5);
  const auto comma = s.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view meta = s.substr(0, comma);
  const std::string_view payload = s.substr(comma + 1);
  DataUri out;
  bool base64 = false;
  std::size_t at = 0;
  bool first = true;
  while (at <= meta.size()) {
    const auto semi = meta.find(';', at);
    const std::string_view part = meta.substr(at, semi == std::string_view::npos ? std::string_view::npos : semi - at);
    if (first) {
      if (part.find('/') != std::string_view::npos) out.mimetype = bare_mimetype(part);
    } else if (lower(part) == "base64") {
      base64 = true;
    }
    first = false;
    if (semi == std::string_view::npos) break;
    at = semi + 1;
  }
  if (base64) {
    // Whitespace and line breaks are common in pasted base64; the URL-safe alphabet is accepted too.
    std::string clean;
    clean.reserve(payload.size());
    for (char c : payload) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      clean += c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (clean.size() % 4 != 0) clean += '=';
    auto decoded = from_base64(clean);
    if (!decoded) return std::nullopt;
    out.bytes.assign(decoded->begin(), decoded->end());
    return out;
  }
  for (std::size_t i = 0; i < payload.size(); ++i) {
    if (payload[i] != '%') {
      out.bytes += payload[i];
      continue;
    }
    if (i + 2 >= payload.size()) return std::nullopt;
    const int hi = hex_value(payload[i + 1]), lo = hex_value(payload[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.bytes += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string sniff_mimetype(std::string_view b) {
  auto starts = [&](std::string_view p, std::size_t at = 0) { return b.size() >= at + p.size() && b.substr(at, p.size()) == p; };
  if (starts("\xFF\xD8\xFF")) return "image/jpeg";
  if (starts("\x89PNG\r\n\x1A\n")) return "image/png";
  if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
  if (starts("RIFF") && starts("WEBP", 8)) return "image/webp";
  if (starts("RIFF") && starts("WAVE", 8)) return "audio/wav";
  if (starts("%PDF-")) return "application/pdf";
  if (starts("OggS")) return "audio/ogg; codecs=opus";
  if (starts("ID3") || (b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0xFF && (static_cast<unsigned char>(b[1]) & 0xE0) == 0xE0)) {
    return "audio/mpeg";
  }
  if (starts("ftyp", 4)) {
    if (starts("M4A ", 8)) return "audio/mp4";
    if (starts("3gp", 8)) return "video/3gpp";
    if (starts("qt  ", 8)) return "video/quicktime";
    return "video/mp4";
  }
  if (starts("PK\x03\x04")) return "application/zip";
  return "";
}

std::optional<Dimensions> image_dimensions(std::string_view b) {
  if (b.size() >= 4 && b.substr(0, 3) == "\xFF\xD8\xFF") return jpeg_dimensions(b);
  if (b.size() >= 24 && b.substr(0, 8) == "\x89PNG\r\n\x1A\n" && b.substr(12, 4) == "IHDR") {
    Dimensions d{be32(b, 16), be32(b, 20)};
    if (d.width == 0 || d.height == 0) return std::nullopt;
    return d;
  }
  if (b.size() >= 10 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a")) {
    Dimensions d{le16(b, 6), le16(b, 8)};
    if (d.width == 0 || d.height == 0) return std::nullopt;
    return d;
  }
  if (b.size() >= 30 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    const std::string_view chunk = b.substr(12, 4);
    if (chunk == "VP8X") return Dimensions{le24(b, 24) + 1, le24(b, 27) + 1};
    if (chunk == "VP8 " && b.substr(23, 3) == "\x9D\x01\x2A") return Dimensions{le16(b, 26) & 0x3FFF, le16(b, 28) & 0x3FFF};
    if (chunk == "VP8L" && static_cast<unsigned char>(b[20]) == 0x2F) {
      const std::uint32_t bits = le16(b, 21) | (le16(b, 23) << 16);
      return Dimensions{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1};
    }
  }
  return std::nullopt;
}

namespace {

constexpr std::uint64_t kMaxPixels = 50'000'000;

using detail::Rgb;

// libjpeg reports errors through a callback that must not return: jump back instead of exit().
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};
void on_jpeg_error(j_common_ptr info) { std::longjmp(reinterpret_cast<JpegError*>(info->err)->jump, 1); }
void on_jpeg_message(j_common_ptr) {}

// Decodes at 1/1, 1/2, 1/4 or 1/8 scale, the smallest that still covers max_side.
bool decode_jpeg(std::string_view bytes, unsigned max_side, Rgb& out) {
  jpeg_decompress_struct info{};
  JpegError err{};
  std::vector<std::uint8_t> row;  // declared before setjmp: longjmp skips no destructor
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_jpeg_error;
  err.mgr.output_message = on_jpeg_message;
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  if (jpeg_read_header(&info, TRUE) != JPEG_HEADER_OK ||
      static_cast<std::uint64_t>(info.image_width) * info.image_height > kMaxPixels) {
    jpeg_destroy_decompress(&info);
    return false;
  }
  unsigned denom = 1;
  while (denom < 8 && info.image_width / (denom * 2) >= max_side && info.image_height / (denom * 2) >= max_side) denom *= 2;
  info.scale_num = 1;
  info.scale_denom = denom;
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  out.width = info.output_width;
  out.height = info.output_height;
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW dst = out.pixels.data() + static_cast<std::size_t>(info.output_scanline) * out.width * 3;
    jpeg_read_scanlines(&info, &dst, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out.width > 0 && out.height > 0;
}

bool decode_png(std::string_view bytes, Rgb& out) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) == 0) return false;
  if (static_cast<std::uint64_t>(image.width) * image.height > kMaxPixels || image.width == 0 || image.height == 0) {
    png_image_free(&image);
    return false;
  }
  image.format = PNG_FORMAT_RGB;
  out.width = image.width;
  out.height = image.height;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  const png_color white{255, 255, 255};  // transparency composited on white, as chat apps show it
  if (png_image_finish_read(&image, &white, out.pixels.data(), 0, nullptr) == 0) {
    png_image_free(&image);
    return false;
  }
  return true;
}

}  // namespace

// Area-averaging downscale so that the longest side is max_side (never up).
Rgb detail::shrink(const Rgb& in, unsigned max_side) {
  const double f = std::min(1.0, static_cast<double>(max_side) / std::max(in.width, in.height));
  Rgb out;
  out.width = std::max(1u, static_cast<std::uint32_t>(in.width * f + 0.5));
  out.height = std::max(1u, static_cast<std::uint32_t>(in.height * f + 0.5));
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 3);
  for (std::uint32_t y = 0; y < out.height; ++y) {
    const std::uint32_t y0 = static_cast<std::uint32_t>(static_cast<std::uint64_t>(y) * in.height / out.height);
    const std::uint32_t y1 = std::max(y0 + 1, static_cast<std::uint32_t>(static_cast<std::uint64_t>(y + 1) * in.height / out.height));
    for (std::uint32_t x = 0; x < out.width; ++x) {
      const std::uint32_t x0 = static_cast<std::uint32_t>(static_cast<std::uint64_t>(x) * in.width / out.width);
      const std::uint32_t x1 = std::max(x0 + 1, static_cast<std::uint32_t>(static_cast<std::uint64_t>(x + 1) * in.width / out.width));
      std::uint64_t sum[3] = {0, 0, 0};
      for (std::uint32_t yy = y0; yy < y1; ++yy) {
        const std::uint8_t* p = in.pixels.data() + (static_cast<std::size_t>(yy) * in.width + x0) * 3;
        for (std::uint32_t xx = x0; xx < x1; ++xx, p += 3) {
          sum[0] += p[0];
          sum[1] += p[1];
          sum[2] += p[2];
        }
      }
      const std::uint64_t n = static_cast<std::uint64_t>(y1 - y0) * (x1 - x0);
      std::uint8_t* q = out.pixels.data() + (static_cast<std::size_t>(y) * out.width + x) * 3;
      for (int c = 0; c < 3; ++c) q[c] = static_cast<std::uint8_t>(sum[c] / n);
    }
  }
  return out;
}

std::optional<std::string> detail::encode_jpeg(const Rgb& img, int quality) {
  jpeg_compress_struct info{};
  JpegError err{};
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_jpeg_error;
  err.mgr.output_message = on_jpeg_message;
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_compress(&info);
    std::free(buf);
    return std::nullopt;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buf, &size);
  info.image_width = img.width;
  info.image_height = img.height;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.pixels.data() + static_cast<std::size_t>(info.next_scanline) * img.width * 3);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string out(reinterpret_cast<const char*>(buf), size);
  std::free(buf);
  return out;
}


namespace {
std::uint64_t be64(std::string_view b, std::size_t at) { return (static_cast<std::uint64_t>(be32(b, at)) << 32) | be32(b, at + 4); }

// Calls fn(type, body) for each box in b; false when a box header is malformed.
template <class F>
bool each_box(std::string_view b, F fn) {
  std::size_t at = 0;
  while (at + 8 <= b.size()) {
    std::uint64_t size = be32(b, at);
    std::size_t header = 8;
    if (size == 1) {
      if (at + 16 > b.size()) return false;
      size = be64(b, at + 8);
      header = 16;
    } else if (size == 0) {
      size = b.size() - at;
    }
    if (size < header || size > b.size() - at) return false;
    if (!fn(b.substr(at + 4, 4), b.substr(at + header, static_cast<std::size_t>(size) - header))) return true;
    at += static_cast<std::size_t>(size);
  }
  return true;
}
}  // namespace

std::optional<VideoInfo> mp4_info(std::string_view bytes) {
  std::optional<VideoInfo> out;
  each_box(bytes, [&](std::string_view type, std::string_view moov) {
    if (type != "moov") return true;
    VideoInfo v;
    each_box(moov, [&](std::string_view t, std::string_view body) {
      if (t == "mvhd" && body.size() >= 4) {
        const bool v1 = body[0] == 1;
        const std::size_t need = v1 ? 32 : 20;
        if (body.size() >= need) {
          const std::uint32_t scale = be32(body, v1 ? 20 : 12);
          const std::uint64_t duration = v1 ? be64(body, 24) : be32(body, 16);
          if (scale != 0 && duration != ~std::uint64_t{0}) v.seconds = static_cast<std::uint32_t>(std::min<std::uint64_t>((duration + scale - 1) / scale, 86400 * 7));
        }
      } else if (t == "trak" && v.width == 0) {
        each_box(body, [&](std::string_view tt, std::string_view tkhd) {
          if (tt != "tkhd" || tkhd.size() < 4) return true;
          const std::size_t dims = tkhd[0] == 1 ? 88 : 76;  // after the header fields, the 36-byte matrix
          if (tkhd.size() >= dims + 8) {
            v.width = be32(tkhd, dims) >> 16;
            v.height = be32(tkhd, dims + 4) >> 16;
          }
          return false;
        });
      }
      return true;
    });
    if (v.width != 0 || v.seconds != 0) out = v;
    return false;
  });
  return out;
}

std::optional<std::string> jpeg_thumbnail(std::string_view image, unsigned max_side) {
  if (max_side == 0) return std::nullopt;
  Rgb rgb;
  const std::string type = sniff_mimetype(image);
  const bool decoded = type == "image/jpeg" ? decode_jpeg(image, max_side, rgb) : type == "image/png" ? decode_png(image, rgb) : false;
  if (!decoded) return std::nullopt;
  return detail::encode_jpeg(detail::shrink(rgb, max_side), 50);
}

namespace {
struct ExtMime {
  std::string_view ext, mime;
};
constexpr std::array<ExtMime, 24> kTable{{
    {"jpeg", "image/jpeg"}, {"png", "image/png"}, {"gif", "image/gif"}, {"webp", "image/webp"},
    {"mp4", "video/mp4"}, {"3gp", "video/3gpp"}, {"mov", "video/quicktime"}, {"ogg", "audio/ogg"},
    {"mp3", "audio/mpeg"}, {"m4a", "audio/mp4"}, {"aac", "audio/aac"}, {"wav", "audio/wav"},
    {"amr", "audio/amr"}, {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"txt", "text/plain"},
    {"csv", "text/csv"}, {"json", "application/json"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
}};
}  // namespace

std::string bare_mimetype(std::string_view m) {
  m = m.substr(0, m.find(';'));
  while (!m.empty() && (m.back() == ' ' || m.back() == '\t')) m.remove_suffix(1);
  while (!m.empty() && (m.front() == ' ' || m.front() == '\t')) m.remove_prefix(1);
  return lower(m);
}

std::string extension_for(std::string_view mimetype) {
  const std::string m = bare_mimetype(mimetype);
  if (m == "image/jpg") return "jpeg";
  for (const auto& e : kTable) {
    if (e.mime == m) return std::string(e.ext);
  }
  return "bin";
}

std::string mimetype_for_extension(std::string_view ext) {
  const std::string e = lower(ext);
  if (e == "jpg") return "image/jpeg";
  if (e == "opus") return "audio/ogg";
  for (const auto& x : kTable) {
    if (x.ext == e) return std::string(x.mime);
  }
  return "application/octet-stream";
}

}  // namespace wa::service::media
