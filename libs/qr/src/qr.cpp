// SPDX-License-Identifier: MIT
#include "wa/qr/qr.hpp"

#include <png.h>
#include <qrencode.h>

#include <memory>

#include "wa/core/errc.hpp"

namespace wa::qr {

Result<Bytes> render_png(std::string_view text, PngOptions opt) {
  if (text.empty() || text.size() > 2048) return fail(core::errc::invalid_argument, "QR text must be 1..2048 bytes");
  if (opt.scale < 1 || opt.scale > 32 || opt.margin < 0 || opt.margin > 16) {
    return fail(core::errc::invalid_argument, "QR scale 1..32 and margin 0..16");
  }
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeData(static_cast<int>(text.size()), reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_L),
      &QRcode_free);
  if (!code) return fail(core::errc::invalid_argument, "QR encoding failed");
  const int modules = code->width;
  const int side = (modules + 2 * opt.margin) * opt.scale;

  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png == nullptr ? nullptr : png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return fail(core::errc::invalid_argument, "libpng allocation failed");
  }
  Bytes out;
  Bytes row(static_cast<std::size_t>(side));
  // libpng reports errors by longjmp: nothing with a destructor may be created between here and the end.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return fail(core::errc::invalid_argument, "libpng failed");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        auto* o = static_cast<Bytes*>(png_get_io_ptr(p));
        o->insert(o->end(), data, data + n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(side), static_cast<png_uint_32>(side), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < side; ++y) {
    const int my = y / opt.scale - opt.margin;
    for (int x = 0; x < side; ++x) {
      const int mx = x / opt.scale - opt.margin;
      const bool dark = my >= 0 && my < modules && mx >= 0 && mx < modules && (code->data[my * modules + mx] & 1) != 0;
      row[static_cast<std::size_t>(x)] = dark ? 0 : 255;
    }
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace wa::qr
