// SPDX-License-Identifier: MIT
// Errors as values: wa::Error, wa::Result<T> (shaped like std::expected) and the WA_TRY macros.
// See docs/architecture.md, "Errors".
#pragma once

#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace wa {

/// An error code plus human context ("decode attrs of <iq>: truncated at 17"). Context never reaches API clients.
class [[nodiscard]] Error final {
 public:
  Error() = default;
  Error(std::error_code code, std::string context = {}) : code_(code), context_(std::move(context)) {}

  const std::error_code& code() const noexcept { return code_; }
  const std::string& context() const noexcept { return context_; }
  /// Prepends "what: " to the context, the C++ form of Go's fmt.Errorf("what: %w").
  Error& wrap(std::string_view what);
  /// "category: message (context)".
  std::string message() const;

 private:
  std::error_code code_;
  std::string context_;
};

template <class T>
class [[nodiscard]] Result;

namespace detail {
struct Unexpected {
  Error error;
};
}  // namespace detail

/// Builds the error alternative of any Result: `return wa::fail(errc::truncated, "at 3")`.
inline detail::Unexpected fail(std::error_code code, std::string context = {}) {
  return detail::Unexpected{Error{code, std::move(context)}};
}
inline detail::Unexpected fail(Error e) { return detail::Unexpected{std::move(e)}; }

template <class T>
class [[nodiscard]] Result final {
 public:
  using value_type = T;
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <class U>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, Result> &&
             !std::is_same_v<std::remove_cvref_t<U>, detail::Unexpected> &&
             !std::is_same_v<std::remove_cvref_t<U>, Error>)
  Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT
  Result(detail::Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}                     // NOLINT

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> final {
 public:
  using value_type = void;
  Result() = default;
  Result(detail::Unexpected u) : err_(std::move(u.error)), ok_(false) {}  // NOLINT
  Result(Error e) : err_(std::move(e)), ok_(false) {}                     // NOLINT
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok() { return {}; }

}  // namespace wa

#define WA_CONCAT_INNER(a, b) a##b
#define WA_CONCAT(a, b) WA_CONCAT_INNER(a, b)

/// WA_TRY(auto x, expr): evaluates expr (a Result); on error returns the error from the enclosing function.
#define WA_TRY(decl, expr) WA_TRY_IMPL(WA_CONCAT(r_try_, __LINE__), decl, expr)
#define WA_TRY_IMPL(tmp, decl, expr)            \
  auto tmp = (expr);                            \
  if (!tmp) return ::wa::fail(std::move(tmp).error()); \
  decl = std::move(tmp).value()

/// WA_TRY_STATUS(expr): propagates the error of a Status.
#define WA_TRY_STATUS(expr)                                              \
  do {                                                                   \
    auto WA_CONCAT(r_st_, __LINE__) = (expr);                            \
    if (!WA_CONCAT(r_st_, __LINE__)) return ::wa::fail(std::move(WA_CONCAT(r_st_, __LINE__)).error()); \
  } while (false)

/// WA_CHECK(cond): a broken invariant is a bug, not an error: log and abort.
#define WA_CHECK(cond)                                          \
  do {                                                          \
    if (!(cond)) ::wa::detail_check_failed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace wa {
[[noreturn]] void detail_check_failed(const char* what, const char* file, int line);
}
