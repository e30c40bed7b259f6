// SPDX-License-Identifier: MIT
// Pure helpers for media sends and received media (docs/api.md "Media"): data: URIs, mimetype sniffing,
// image dimensions from the file header, and the file extensions zapd serves received media under.
// No I/O; every input is untrusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wa::service::media {

struct DataUri {
  std::string mimetype;  ///< "" when the URI names none
  std::string bytes;     ///< decoded payload
};
/// "data:[<mimetype>][;param=value]*[;base64],<payload>". nullopt when s is not a data: URI or its payload
/// does not decode (base64, or percent-encoding without ;base64).
std::optional<DataUri> parse_data_uri(std::string_view s);
inline bool is_data_uri(std::string_view s) { return s.size() >= 5 && (s.substr(0, 5) == "data:" || s.substr(0, 5) == "DATA:"); }

/// The mimetype the first bytes announce (JPEG, PNG, GIF, WebP, PDF, OGG, MP3, MP4/3GP/MOV, WAV, ZIP); "" otherwise.
std::string sniff_mimetype(std::string_view bytes);

struct Dimensions {
  std::uint32_t width = 0, height = 0;
};
/// Width and height from a JPEG (SOFn), PNG (IHDR), GIF or WebP (VP8, VP8L, VP8X) header.
std::optional<Dimensions> image_dimensions(std::string_view bytes);

/// Width, height (of the first track that has them) and length in whole seconds (rounded up) of an MP4 or
/// QuickTime file, from its moov box (mvhd, trak/tkhd), wherever in the file it is.
struct VideoInfo {
  std::uint32_t width = 0, height = 0, seconds = 0;
};
std::optional<VideoInfo> mp4_info(std::string_view bytes);

/// A JPEG thumbnail (longest side max_side pixels, quality 50) of a JPEG or PNG image, as WhatsApp shows
/// before the download; nullopt for other formats, corrupt files and pictures over 50 megapixels.
std::optional<std::string> jpeg_thumbnail(std::string_view image, unsigned max_side = 72);

/// A JPEG thumbnail (longest side max_side, quality 50) of the first picture of an MP4/QuickTime/3GP video,
/// decoded with FFmpeg's libraries from memory: only the mov demuxer and the usual video decoders (H.264,
/// HEVC, MPEG-4, H.263, VP9, AV1) are allowed, one thread, at most 16 megapixels and 500 packets read.
/// nullopt for anything else, including corrupt files.
std::optional<std::string> video_thumbnail(std::string_view video, unsigned max_side = 72);

/// "image/jpeg" -> "jpeg", "application/pdf" -> "pdf", ...; parameters ignored; "bin" when unknown.
std::string extension_for(std::string_view mimetype);
/// The inverse for the extensions zapd writes and common document ones; "application/octet-stream" otherwise.
std::string mimetype_for_extension(std::string_view ext);
/// The mimetype without parameters, lower case ("Image/JPEG; q=1" -> "image/jpeg").
std::string bare_mimetype(std::string_view mimetype);

}  // namespace wa::service::media
