#include "server/keys/secret_base64.h"

namespace athm::keys {
namespace {

// All-ones (0xFF) when the condition holds, else 0. Operands are 0..255, so
// the differences fit an int; >> on a negative int is arithmetic in C++20.
uint8_t mask_lt(int x, int y) { return static_cast<uint8_t>((x - y) >> 8); }
uint8_t mask_ge(int x, int y) { return static_cast<uint8_t>(~mask_lt(x, y)); }
uint8_t mask_le(int x, int y) { return mask_ge(y, x); }
uint8_t mask_eq(int x, int y) { return static_cast<uint8_t>(mask_le(x, y) & mask_ge(x, y)); }

// 6-bit value -> alphabet character, without a table.
char encode6(uint8_t v) {
  const int x = v;
  const uint8_t c = static_cast<uint8_t>(
      (mask_lt(x, 26) & (x + 'A')) |
      (mask_ge(x, 26) & mask_lt(x, 52) & (x - 26 + 'a')) |
      (mask_ge(x, 52) & mask_lt(x, 62) & (x - 52 + '0')) |
      (mask_eq(x, 62) & '-') | (mask_eq(x, 63) & '_'));
  return static_cast<char>(c);
}

// Character -> 6-bit value; |bad| collects 0xFF for characters outside the
// alphabet.
uint8_t decode6(char ch, uint8_t& bad) {
  const int c = static_cast<uint8_t>(ch);
  const uint8_t upper = static_cast<uint8_t>(mask_ge(c, 'A') & mask_le(c, 'Z'));
  const uint8_t lower = static_cast<uint8_t>(mask_ge(c, 'a') & mask_le(c, 'z'));
  const uint8_t digit = static_cast<uint8_t>(mask_ge(c, '0') & mask_le(c, '9'));
  const uint8_t dash = mask_eq(c, '-');
  const uint8_t under = mask_eq(c, '_');
  bad |= static_cast<uint8_t>(~(upper | lower | digit | dash | under));
  return static_cast<uint8_t>((upper & (c - 'A')) | (lower & (c - 'a' + 26)) |
                              (digit & (c - '0' + 52)) | (dash & 62) | (under & 63));
}

}  // namespace

athm::secret_buffer base64url_encode_secret(std::span<const uint8_t> in) {
  athm::secret_buffer out(base64url_length(in.size()));
  uint8_t* o = out.data();
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint8_t a = in[i], b = in[i + 1], c = in[i + 2];
    *o++ = static_cast<uint8_t>(encode6(a >> 2));
    *o++ = static_cast<uint8_t>(encode6(static_cast<uint8_t>(((a & 3) << 4) | (b >> 4))));
    *o++ = static_cast<uint8_t>(encode6(static_cast<uint8_t>(((b & 15) << 2) | (c >> 6))));
    *o++ = static_cast<uint8_t>(encode6(c & 63));
  }
  const size_t rest = in.size() - i;
  if (rest == 1) {
    const uint8_t a = in[i];
    *o++ = static_cast<uint8_t>(encode6(a >> 2));
    *o++ = static_cast<uint8_t>(encode6(static_cast<uint8_t>((a & 3) << 4)));
  } else if (rest == 2) {
    const uint8_t a = in[i], b = in[i + 1];
    *o++ = static_cast<uint8_t>(encode6(a >> 2));
    *o++ = static_cast<uint8_t>(encode6(static_cast<uint8_t>(((a & 3) << 4) | (b >> 4))));
    *o++ = static_cast<uint8_t>(encode6(static_cast<uint8_t>((b & 15) << 2)));
  }
  return out;
}

std::optional<athm::secret_buffer> base64url_decode_secret(std::string_view in,
                                                           size_t expected_bytes) {
  if (in.size() != base64url_length(expected_bytes)) {
    return std::nullopt;
  }
  athm::secret_buffer out(expected_bytes);
  uint8_t* o = out.data();
  uint8_t bad = 0;
  size_t i = 0;
  for (; i + 4 <= in.size(); i += 4) {
    const uint8_t a = decode6(in[i], bad), b = decode6(in[i + 1], bad);
    const uint8_t c = decode6(in[i + 2], bad), d = decode6(in[i + 3], bad);
    *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
    *o++ = static_cast<uint8_t>((b << 4) | (c >> 2));
    *o++ = static_cast<uint8_t>((c << 6) | d);
  }
  const size_t rest = in.size() - i;  // 0, 2 or 3 (1 is impossible: see length check)
  if (rest == 2) {
    const uint8_t a = decode6(in[i], bad), b = decode6(in[i + 1], bad);
    *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
    bad |= static_cast<uint8_t>(~mask_eq(b & 15, 0));  // canonical: unused bits are zero
  } else if (rest == 3) {
    const uint8_t a = decode6(in[i], bad), b = decode6(in[i + 1], bad);
    const uint8_t c = decode6(in[i + 2], bad);
    *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
    *o++ = static_cast<uint8_t>((b << 4) | (c >> 2));
    bad |= static_cast<uint8_t>(~mask_eq(c & 3, 0));
  }
  // Only the overall verdict is revealed, and only after all the work.
  if (bad != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace athm::keys
