// Result<T>: the value-or-error type every fallible operation returns.
//
// Expected failures are values, not exceptions. An Error carries a kind that callers
// (the work queue, the CLI's exit code, Ansible's failed_when) act on:
//   Invalid    the input is wrong; retrying the same input cannot help (exit 2)
//   Refused    a guard said no to protect data (path escape, empty source, breaker) (exit 3)
//   Retryable  a transient failure: network, 429/5xx, rsync 23/24, lock busy (exit 4)
//   Terminal   a failure that will not go away by itself (exit 5)
//   Conflict   optimistic-concurrency or already-exists; re-read and decide (exit 6)
//   NotFound   the thing asked for does not exist (exit 7)
// Exceptions are for startup and programming errors only.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ocpvdr {

enum class ErrorKind { Invalid, Refused, Retryable, Terminal, Conflict, NotFound };

std::string_view toString(ErrorKind kind);
// Stable process exit code for an error kind (see README "Exit codes").
int exitCodeFor(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::Terminal;
  std::string message;

  // Prefixes context ("syncing pv-a: " + message) keeping the kind.
  [[nodiscard]] Error wrap(std::string_view context) const;
  [[nodiscard]] std::string describe() const;  // "<kind>: <message>"
};

inline Error invalidError(std::string m) {
  return {ErrorKind::Invalid, std::move(m)};
}
inline Error refusedError(std::string m) {
  return {ErrorKind::Refused, std::move(m)};
}
inline Error retryableError(std::string m) {
  return {ErrorKind::Retryable, std::move(m)};
}
inline Error terminalError(std::string m) {
  return {ErrorKind::Terminal, std::move(m)};
}
inline Error conflictError(std::string m) {
  return {ErrorKind::Conflict, std::move(m)};
}
inline Error notFoundError(std::string m) {
  return {ErrorKind::NotFound, std::move(m)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  T valueOr(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  static Status success() { return {}; }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return err_;
  }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace ocpvdr

// Propagate an error from a Status or Result expression; usable in functions returning
// Status or any Result<U>.
#define OCPVDR_TRY(expr)                                   \
  do {                                                     \
    auto ocpvdr_try_r_ = (expr);                           \
    if (!ocpvdr_try_r_.ok()) return ocpvdr_try_r_.error(); \
  } while (0)

#define OCPVDR_CONCAT_INNER_(a, b) a##b
#define OCPVDR_CONCAT_(a, b) OCPVDR_CONCAT_INNER_(a, b)
// OCPVDR_ASSIGN_OR_RETURN(auto x, makeX()); binds the value or returns the error.
#define OCPVDR_ASSIGN_OR_RETURN(lhs, expr) \
  OCPVDR_ASSIGN_OR_RETURN_IMPL_(OCPVDR_CONCAT_(ocpvdr_r_, __LINE__), lhs, expr)
#define OCPVDR_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.error();                  \
  lhs = std::move(tmp).value()
