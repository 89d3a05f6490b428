// Secret byte storage: wiped when freed, compared in constant time, never
// printable (there is no operator<< and no implicit conversion to a string).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace athm {

// Overwrites |n| bytes at |p| with zeros in a way the compiler cannot elide.
void secure_wipe(void* p, size_t n) noexcept;

// Constant-time equality of two equal-length byte strings. Returns false at
// once if the lengths differ (lengths are public).
bool ct_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) noexcept;

// Fixed-size secret bytes. Grep for "secret_array" to find key material.
template <size_t N>
class secret_array {
 public:
  secret_array() { bytes_.fill(0); }
  secret_array(const secret_array&) = default;
  secret_array& operator=(const secret_array&) = default;
  ~secret_array() { secure_wipe(bytes_.data(), N); }

  static constexpr size_t size() { return N; }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  std::span<uint8_t, N> span() { return bytes_; }
  std::span<const uint8_t, N> span() const { return bytes_; }

  friend bool operator==(const secret_array& a, const secret_array& b) {
    return ct_equal(a.bytes_, b.bytes_);
  }

 private:
  std::array<uint8_t, N> bytes_;
};

// Variable-size secret bytes, wiped on destruction and on every reallocation
// the class performs itself (it never grows after construction).
class secret_buffer {
 public:
  secret_buffer() = default;
  explicit secret_buffer(size_t n) : bytes_(n, 0) {}
  explicit secret_buffer(std::span<const uint8_t> in) : bytes_(in.begin(), in.end()) {}
  secret_buffer(const secret_buffer&) = default;
  secret_buffer(secret_buffer&& o) noexcept : bytes_(std::move(o.bytes_)) {}
  secret_buffer& operator=(const secret_buffer& o) {
    if (this != &o) { wipe(); bytes_ = o.bytes_; }
    return *this;
  }
  secret_buffer& operator=(secret_buffer&& o) noexcept {
    if (this != &o) { wipe(); bytes_ = std::move(o.bytes_); }
    return *this;
  }
  ~secret_buffer() { wipe(); }

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  std::span<uint8_t> span() { return bytes_; }
  std::span<const uint8_t> span() const { return bytes_; }

  friend bool operator==(const secret_buffer& a, const secret_buffer& b) {
    return ct_equal(a.bytes_, b.bytes_);
  }

 private:
  void wipe() noexcept {
    if (!bytes_.empty()) { secure_wipe(bytes_.data(), bytes_.size()); }
  }
  std::vector<uint8_t> bytes_;
};

}  // namespace athm
