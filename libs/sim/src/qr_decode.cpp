// SPDX-License-Identifier: MIT
// zbar is opened with dlopen at the first picture, not linked: it brings X11, D-Bus, systemd and video4linux
// libraries (about 1.7 MB of resident memory) to every process that links this library, zapd's sandbox
// included, where most never scan a picture. The function types come from zbar's own header.
#include "qr_decode.hpp"

#include <dlfcn.h>
#include <png.h>
#include <zbar.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>

#include "wa/core/errc.hpp"

// zbar.h puts its C API in namespace zbar when compiled as C++.
using namespace zbar;  // NOLINT(google-build-using-namespace)

namespace wa::sim::detail {
namespace {

#define WA_ZBAR_FUNCTIONS(X)                                                                                 \
  X(zbar_image_scanner_create) X(zbar_image_scanner_destroy) X(zbar_image_scanner_set_config)                 \
  X(zbar_image_create) X(zbar_image_destroy) X(zbar_image_set_format) X(zbar_image_set_size)                  \
  X(zbar_image_set_data) X(zbar_scan_image) X(zbar_image_first_symbol) X(zbar_symbol_get_data)                \
  X(zbar_symbol_get_data_length)

struct Zbar {
#define WA_ZBAR_POINTER(name) decltype(&::zbar::name) name = nullptr;
  WA_ZBAR_FUNCTIONS(WA_ZBAR_POINTER)
#undef WA_ZBAR_POINTER
  std::string error;  // why it could not be loaded; empty once loaded
};

// Loads libzbar once (it stays loaded).
const Zbar& zbar_lib() {
  static Zbar lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* so = dlopen("libzbar.so.0", RTLD_NOW | RTLD_LOCAL);
    if (so == nullptr) {
      const char* e = dlerror();
      lib.error = std::string("cannot load zbar (Debian package libzbar0): ") + (e != nullptr ? e : "not found");
      return;
    }
#define WA_ZBAR_LOAD(name)                                                  \
  lib.name = reinterpret_cast<decltype(&::zbar::name)>(dlsym(so, #name));          \
  if (lib.name == nullptr && lib.error.empty()) lib.error = "libzbar.so.0 lacks " #name;
    WA_ZBAR_FUNCTIONS(WA_ZBAR_LOAD)
#undef WA_ZBAR_LOAD
  });
  return lib;
}

}  // namespace

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
  const Zbar& z = zbar_lib();
  if (!z.error.empty()) return fail(std::make_error_code(std::errc::not_supported), z.error);
  std::unique_ptr<zbar_image_scanner_t, decltype(&zbar_image_scanner_destroy)> scanner(z.zbar_image_scanner_create(),
                                                                                       z.zbar_image_scanner_destroy);
  z.zbar_image_scanner_set_config(scanner.get(), ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
  z.zbar_image_scanner_set_config(scanner.get(), ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  std::unique_ptr<zbar_image_t, decltype(&zbar_image_destroy)> img(z.zbar_image_create(), z.zbar_image_destroy);
  z.zbar_image_set_format(img.get(), zbar_fourcc('Y', '8', '0', '0'));
  z.zbar_image_set_size(img.get(), image.width, image.height);
  z.zbar_image_set_data(img.get(), gray.data(), gray.size(), nullptr);
  if (z.zbar_scan_image(scanner.get(), img.get()) <= 0) return fail(core::errc::invalid_argument, "no QR code found");
  const zbar_symbol_t* sym = z.zbar_image_first_symbol(img.get());
  if (sym == nullptr) return fail(core::errc::invalid_argument, "no QR code found");
  return std::string(z.zbar_symbol_get_data(sym), z.zbar_symbol_get_data_length(sym));
}

}  // namespace wa::sim::detail
