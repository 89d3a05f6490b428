// A value or a log-safe error message: how the key loader reports expected
// failures (a bad file, a reload that must not replace the current keys).
#pragma once

#include <cassert>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace athm::keys {

// Thrown only by the start-up entry points (load_key_file,
// load_key_directory, the key_store constructor). The message names the file
// and the field and never contains key material.
class key_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Holds either a T or an error message. Check ok() before value(). The
// message is safe to log: it never contains key material.
template <class T>
class [[nodiscard]] outcome {
 public:
  outcome(T v) : v_(std::move(v)) {}  // NOLINT: implicit by design
  static outcome failure(std::string message) {
    outcome o;
    o.error_ = std::move(message);
    return o;
  }

  bool ok() const noexcept { return v_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  // Empty when ok().
  const std::string& error() const noexcept { return error_; }

  T& value() & { assert(ok()); return *v_; }
  const T& value() const& { assert(ok()); return *v_; }
  T&& value() && { assert(ok()); return std::move(*v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  outcome() = default;
  std::optional<T> v_;
  std::string error_;
};

// outcome<void>: success or an error message.
template <>
class [[nodiscard]] outcome<void> {
 public:
  outcome() = default;
  static outcome failure(std::string message) {
    outcome o;
    o.failed_ = true;
    o.error_ = std::move(message);
    return o;
  }
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& error() const noexcept { return error_; }

 private:
  bool failed_ = false;
  std::string error_;
};

}  // namespace athm::keys
