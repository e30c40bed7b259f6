// SPDX-License-Identifier: MIT
// Private to wa_service: the RGB picture the thumbnail makers share (media.cpp for images, video.cpp for
// the first frame of a video), its downscale and its JPEG encoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wa::service::media::detail {

struct Rgb {
  std::uint32_t width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // 3 bytes a pixel, rows top to bottom
};

/// Area-averaging downscale so that the longest side is max_side (never up).
Rgb shrink(const Rgb& in, unsigned max_side);
/// Baseline JPEG at quality (1-100); nullopt if libjpeg fails.
std::optional<std::string> encode_jpeg(const Rgb& img, int quality);

}  // namespace wa::service::media::detail
