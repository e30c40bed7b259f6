// SPDX-License-Identifier: MIT
#include "qr_decode.hpp"

#include <png.h>
#include <zbar.h>

#include <cstring>
#include <memory>

#include "wa/core/errc.hpp"

// zbar.h puts its C API in namespace zbar when compiled as C++.
using namespace zbar;  // NOLINT(google-build-using-namespace)

namespace wa::sim::detail {

Result<std::string> decode_qr_png(ByteView png) {
  constexpr std::size_t kMaxPixels = 4096u * 4096u;  // a camera frame, not a memory bomb
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_memory(&image, png.data(), png.size()) == 0) {
    return fail(core::errc::invalid_argument, "not a PNG");
  }
  if (std::size_t{image.width} * image.height > kMaxPixels) {
    png_image_free(&image);
    return fail(core::errc::invalid_argument, "picture too large");
  }
  image.format = PNG_FORMAT_GRAY;  // zbar reads 8-bit luminance ("Y800")
  Bytes gray(PNG_IMAGE_SIZE(image));
  if (png_image_finish_read(&image, nullptr, gray.data(), 0, nullptr) == 0) {
    png_image_free(&image);
    return fail(core::errc::invalid_argument, "PNG does not decode");
  }
  std::unique_ptr<zbar_image_scanner_t, decltype(&zbar_image_scanner_destroy)> scanner(zbar_image_scanner_create(),
                                                                                       &zbar_image_scanner_destroy);
  zbar_image_scanner_set_config(scanner.get(), ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(scanner.get(), ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  std::unique_ptr<zbar_image_t, decltype(&zbar_image_destroy)> img(zbar_image_create(), &zbar_image_destroy);
  zbar_image_set_format(img.get(), zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(img.get(), image.width, image.height);
  zbar_image_set_data(img.get(), gray.data(), gray.size(), nullptr);
  if (zbar_scan_image(scanner.get(), img.get()) <= 0) return fail(core::errc::invalid_argument, "no QR code found");
  const zbar_symbol_t* sym = zbar_image_first_symbol(img.get());
  if (sym == nullptr) return fail(core::errc::invalid_argument, "no QR code found");
  return std::string(zbar_symbol_get_data(sym), zbar_symbol_get_data_length(sym));
}

}  // namespace wa::sim::detail
