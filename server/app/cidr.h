// Address ranges for trusting upstream headers ("10.0.0.0/8", "::1/128").
#pragma once

#include <utility>  // before Asio: awaitable.hpp in Boost 1.74 needs std::exchange

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace athm::app {

class cidr {
 public:
  // Parses "address/prefix" (IPv4 or IPv6, prefix 0..32 or 0..128). Bits
  // after the prefix must be zero. nullopt on anything else.
  static std::optional<cidr> parse(std::string_view text);

  // True if |a| lies in the range. An IPv4-mapped IPv6 address
  // (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers) is matched
  // as the IPv4 address a.b.c.d. Thread-safe (const).
  bool contains(const boost::asio::ip::address& a) const noexcept;

  std::string to_string() const;

 private:
  cidr() = default;
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};
  unsigned prefix_ = 0;
};

}  // namespace athm::app
