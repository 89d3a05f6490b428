// RFC 9380 for P-256 with SHA-256: expand_message_xmd, hash_to_field,
// the simplified SWU map and hash_to_curve (suite P256_XMD:SHA-256_SSWU_RO_),
// plus hash-to-scalar (hash_to_field mod the group order, L = 48).
//
// Timing: every input here is public (generators, proof transcripts), so the
// field arithmetic is variable-time (_public).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "crypto/group.h"
#include "crypto/result.h"
#include "crypto/scalar.h"

namespace athm {

// RFC 9380 §5.3.1. Fails with errc::bad_params if |dst| is longer than 255
// bytes, |len_in_bytes| exceeds 255 * 32 or 65535, or is zero.
result<std::vector<uint8_t>> expand_message_xmd_sha256(std::span<const uint8_t> msg,
                                                        std::string_view dst,
                                                        size_t len_in_bytes);

// hash_to_curve(msg) with suite P256_XMD:SHA-256_SSWU_RO_ and domain
// separation tag |dst|. Errors only on a bad DST.
result<point> hash_to_curve_p256_public(std::span<const uint8_t> msg, std::string_view dst);

// encode_to_curve's map only (RFC 9380 §6.6.2, simplified SWU, Z = -10) for a
// field element given as 32 big-endian bytes already reduced mod p. For tests.
result<point> map_to_curve_sswu_public(std::span<const uint8_t, 32> u);

// hash_to_field(msg, 1) reduced mod the P-256 group order, L = 48.
result<scalar> hash_to_scalar_p256(std::span<const uint8_t> msg, std::string_view dst);

}  // namespace athm
