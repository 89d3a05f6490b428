// Point and scalar decoding against BoringSSL.
// - Each of the first kMaxWindows 33-byte windows of the input goes through
//   athm::point::decode. It must succeed exactly when BoringSSL's
//   EC_POINT_oct2point accepts a compressed (02/03) encoding, and a decoded
//   point must encode back to the same bytes (and to BoringSSL's encoding).
// - The whole input, when not 33 bytes long, must be refused.
// - Each of the first kMaxWindows 32-byte windows goes through
//   athm::scalar::from_bytes: ok exactly when the value is below n (BIGNUM
//   compare), and the encoding round-trips; from_bytes_ct agrees with it.
#include <openssl/err.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/group.h"
#include "crypto/scalar.h"
#include "tests/fuzz/fuzz_bn.h"
#include "tests/fuzz/fuzz_check.h"

using athm::fuzz::check;

namespace {

constexpr size_t kMaxWindows = 4;

void check_point(std::span<const uint8_t> w) {
  auto p = athm::point::decode(w);

  bssl::UniquePtr<EC_POINT> ref(EC_POINT_new(athm::fuzz::bssl_p256()));
  check(ref != nullptr);
  const bool compressed = w.size() == 33 && (w[0] == 0x02 || w[0] == 0x03);
  const bool ref_ok = compressed && EC_POINT_oct2point(athm::fuzz::bssl_p256(), ref.get(),
                                                       w.data(), w.size(),
                                                       athm::fuzz::bn_ctx()) == 1;
  ERR_clear_error();
  check(p.ok() == ref_ok);
  if (!p.ok()) {
    check(p.error() == athm::errc::bad_point || p.error() == athm::errc::bad_length);
    return;
  }
  check(!p->is_identity());
  const auto enc = p->encode();
  check(athm::fuzz::same_bytes(enc, w));
  uint8_t ref_enc[33];
  check(EC_POINT_point2oct(athm::fuzz::bssl_p256(), ref.get(), POINT_CONVERSION_COMPRESSED,
                           ref_enc, sizeof ref_enc, athm::fuzz::bn_ctx()) == sizeof ref_enc);
  check(athm::fuzz::same_bytes(enc, std::span<const uint8_t>(ref_enc)));
}

void check_scalar(std::span<const uint8_t, 32> w) {
  auto v = athm::fuzz::bn_from(w);
  const bool below_n = BN_cmp(v.get(), athm::fuzz::order_n()) < 0;

  auto s = athm::scalar::from_bytes(w);
  check(s.ok() == below_n);
  uint64_t mask = 0x5a5a5a5a5a5a5a5a;
  const athm::scalar ct = athm::scalar::from_bytes_ct(w, &mask);
  check(mask == (below_n ? ~uint64_t{0} : 0));
  if (!s.ok()) {
    check(s.error() == athm::errc::bad_scalar);
    check(ct.is_zero_mask() == ~uint64_t{0});
    return;
  }
  check(athm::fuzz::same_bytes(s->to_bytes(), w));
  check(athm::fuzz::same_bytes(ct.to_bytes(), w));
  check(eq_mask(*s, ct) == ~uint64_t{0});
  check(s->is_zero_mask() == (BN_is_zero(v.get()) ? ~uint64_t{0} : 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  if (size != 33) {
    check(!athm::point::decode(in).ok());
  }
  for (size_t i = 0; i < kMaxWindows && (i + 1) * 33 <= size; ++i) {
    check_point(in.subspan(i * 33, 33));
  }
  for (size_t i = 0; i < kMaxWindows && (i + 1) * 32 <= size; ++i) {
    check_scalar(in.subspan(i * 32).first<32>());
  }
  return 0;
}
