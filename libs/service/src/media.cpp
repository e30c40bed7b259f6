// SPDX-License-Identifier: MIT
#include "wa/service/media.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "wa/core/bytes.hpp"

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
