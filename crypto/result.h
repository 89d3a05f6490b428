// Expected errors as values. The crypto library never throws on bad input.
#pragma once

#include <cassert>
#include <optional>
#include <utility>

namespace athm {

// Why an operation failed. These never say anything about a secret: in
// particular no error distinguishes one hidden bucket from another.
enum class errc {
  bad_length = 1,      // input has the wrong size
  bad_encoding,        // wrong token type, bad prefix, trailing bytes
  bad_point,           // not a valid non-identity P-256 point
  bad_scalar,          // scalar not below the group order
  bad_params,          // n_buckets or deployment id out of range
  bad_bucket,          // bucket >= n_buckets
  proof_invalid,       // a zero-knowledge proof did not verify
  token_invalid,       // token does not verify under this key
  key_mismatch,        // private and public halves disagree
  unknown_key,         // no key with this id
  rng_failure,         // the random source failed
  internal,            // BoringSSL failed unexpectedly (allocation, ...)
};

// Short, stable, log-safe description of |e|.
const char* to_string(errc e) noexcept;

// Holds either a T or an errc. Check ok() before value().
template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::move(v)) {}  // NOLINT: implicit by design
  result(errc e) : e_(e) {}          // NOLINT: implicit by design

  bool ok() const noexcept { return v_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  errc error() const noexcept { return e_; }

  T& value() & { assert(ok()); return *v_; }
  const T& value() const& { assert(ok()); return *v_; }
  T&& value() && { assert(ok()); return std::move(*v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::optional<T> v_;
  errc e_ = errc::internal;
};

// result<void>: success or an errc.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(errc e) : failed_(true), e_(e) {}  // NOLINT
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  errc error() const noexcept { return e_; }

 private:
  bool failed_ = false;
  errc e_ = errc::internal;
};

}  // namespace athm
