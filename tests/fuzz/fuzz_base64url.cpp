// base64url (RFC 4648 §5) as the wire decoder sees it: arbitrary text in.
// - decode succeeds only on a canonical encoding: re-encoding the result
//   gives back the input without its trailing padding;
// - the input read as bytes round-trips through encode then decode;
// - with the key module built, the constant-time key-file codec
//   (athm::keys::base64url_*_secret) agrees with the wire codec on every
//   unpadded input and on every encoding.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/privacypass.h"
#include "tests/fuzz/fuzz_check.h"
#if defined(ATHM_FUZZ_WITH_KEYS)
#include "server/keys/secret_base64.h"
#endif

using athm::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view s(reinterpret_cast<const char*>(data), size);
  const std::span<const uint8_t> bytes(data, size);

  auto d = athm::pp::base64url_decode(s);
  std::string_view unpadded = s;
  while (!unpadded.empty() && unpadded.back() == '=') {
    unpadded.remove_suffix(1);
  }
  if (d.ok()) {
    check(athm::pp::base64url_encode(*d) == unpadded);
    check(d->size() == unpadded.size() * 3 / 4);
  } else {
    check(d.error() == athm::errc::bad_encoding);
  }

  const std::string enc = athm::pp::base64url_encode(bytes);
  check(enc.find('=') == std::string::npos);
  auto back = athm::pp::base64url_decode(enc);
  check(back.ok() && athm::fuzz::same_bytes(*back, bytes));

#if defined(ATHM_FUZZ_WITH_KEYS)
  const auto secret_enc = athm::keys::base64url_encode_secret(bytes);
  check(secret_enc.size() == athm::keys::base64url_length(size));
  check(athm::fuzz::same_bytes(secret_enc.span(),
                               std::span<const uint8_t>(
                                   reinterpret_cast<const uint8_t*>(enc.data()), enc.size())));
  auto secret_back = athm::keys::base64url_decode_secret(enc, size);
  check(secret_back.has_value() && athm::fuzz::same_bytes(secret_back->span(), bytes));

  if (s.find('=') == std::string_view::npos) {
    const size_t expected = size * 3 / 4;
    auto sd = athm::keys::base64url_decode_secret(s, expected);
    if (athm::keys::base64url_length(expected) != size) {
      check(!d.ok() && !sd.has_value());
    } else {
      check(sd.has_value() == d.ok());
      if (d.ok()) {
        check(athm::fuzz::same_bytes(sd->span(), *d));
      }
    }
    // Any other expected length is refused.
    check(!athm::keys::base64url_decode_secret(s, expected + 1).has_value());
  } else {
    check(!athm::keys::base64url_decode_secret(s, size * 3 / 4).has_value());
  }
#endif
  return 0;
}
