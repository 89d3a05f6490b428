#include "server/app/cidr.h"

#include <charconv>

namespace athm::app {
namespace {

namespace ip = boost::asio::ip;

ip::address unmap(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  return a;
}

}  // namespace

std::optional<cidr> cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string addr_text(text.substr(0, slash));
  const std::string_view len_text = text.substr(slash + 1);
  if (len_text.empty() || len_text.size() > 3 || addr_text.find('%') != std::string::npos) {
    return std::nullopt;
  }
  unsigned len = 0;
  const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || end != len_text.data() + len_text.size()) {
    return std::nullopt;
  }
  boost::system::error_code bec;
  const ip::address a = ip::make_address(addr_text, bec);
  if (bec) {
    return std::nullopt;
  }
  cidr c;
  size_t n = 0;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), c.bytes_.begin());
    n = 4;
  } else {
    const auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), c.bytes_.begin());
    c.v6_ = true;
    n = 16;
  }
  if (len > n * 8) {
    return std::nullopt;
  }
  for (size_t bit = len; bit < n * 8; ++bit) {
    if ((c.bytes_[bit / 8] >> (7 - bit % 8)) & 1) {
      return std::nullopt;
    }
  }
  c.prefix_ = len;
  return c;
}

bool cidr::contains(const ip::address& addr) const noexcept {
  const ip::address a = unmap(addr);
  std::array<uint8_t, 16> b{};
  if (a.is_v4()) {
    if (v6_) {
      return false;
    }
    const auto v = a.to_v4().to_bytes();
    std::copy(v.begin(), v.end(), b.begin());
  } else {
    if (!v6_) {
      return false;
    }
    b = a.to_v6().to_bytes();
  }
  const unsigned full = prefix_ / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (b[i] != bytes_[i]) {
      return false;
    }
  }
  const unsigned rest = prefix_ % 8;
  if (rest != 0) {
    const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    if ((b[full] & mask) != bytes_[full]) {
      return false;
    }
  }
  return true;
}

std::string cidr::to_string() const {
  ip::address a;
  if (v6_) {
    a = ip::address_v6(bytes_);
  } else {
    a = ip::address_v4(ip::address_v4::bytes_type{bytes_[0], bytes_[1], bytes_[2], bytes_[3]});
  }
  return a.to_string() + "/" + std::to_string(prefix_);
}

}  // namespace athm::app
