// P-256 base-field helpers for point decompression. Inputs are public
// (points on the wire); the code is nonetheless branch-free except for the
// final validity result.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace athm::field {

// Given x < p (32 bytes big-endian) and the wanted parity of y, returns y
// with y^2 = x^3 - 3x + b mod p, or nullopt if x is not on the curve.
std::optional<std::array<uint8_t, 32>> decompress_y_public(std::span<const uint8_t, 32> x,
                                                           bool y_odd);

}  // namespace athm::field
