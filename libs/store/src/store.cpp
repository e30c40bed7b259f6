// SPDX-License-Identifier: MIT
#include "wa/store/store.hpp"

namespace wa::store {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "wa.store"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::io: return "database error";
      case errc::corrupt: return "stored value is corrupt";
      case errc::not_found: return "no such device";
      case errc::schema_too_new: return "database schema is newer than this program";
    }
    return "unknown store error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

}  // namespace wa::store
