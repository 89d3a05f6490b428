// ATHM(P-256, SHA-256): Anonymous Tokens with Hidden Metadata
// (draft-yun-cfrg-athm), issuer and client sides.
//
// Timing contract:
//  - Issuer operations on secrets (private_key::generate, token_response,
//    verify_token) run in time independent of the private key and of the
//    hidden bucket. Their errors depend only on public inputs.
//  - Client operations that touch client secrets (token_request,
//    finalize_token's unblinding) are constant time in those secrets. Proof
//    verification (public_key::from_token_key, verify_issuance_proof_public)
//    sees public data only and may be variable time.
//
// Thread safety: suite, public_key and private_key are immutable after
// creation and safe to share across threads. random_source implementations
// must be thread-safe if shared (system_random() is).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/random.h"
#include "crypto/result.h"
#include "crypto/secret.h"

namespace athm {

inline constexpr size_t kScalarBytes = 32;
inline constexpr size_t kElementBytes = 33;
inline constexpr size_t kPrivateKeyBytes = 160;       // x || y || z || r_x || r_y
inline constexpr size_t kPublicKeyBytes = 99;         // Z || C_x || C_y (verified)
inline constexpr size_t kPublicKeyProofBytes = 64;    // e || a_z
inline constexpr size_t kTokenKeyBytes = 163;         // public key || proof
inline constexpr size_t kKeyIdBytes = 32;             // SHA-256(public key)
inline constexpr size_t kRequestBytes = 33;           // T
inline constexpr size_t kClientContextBytes = 64;     // r || tc
inline constexpr size_t kTokenBytes = 98;             // t || P || Q
inline constexpr uint32_t kMaxBuckets = 256;
// Largest DST is "HashToScalar-" || context || "TokenResponseProof".
inline constexpr size_t kMaxDstBytes = 255;

constexpr size_t response_bytes(uint32_t n_buckets) { return 227 + 64 * size_t{n_buckets}; }

using key_id = std::array<uint8_t, kKeyIdBytes>;
using token_key_bytes = std::array<uint8_t, kTokenKeyBytes>;
using request_bytes = std::array<uint8_t, kRequestBytes>;
using token_bytes = std::array<uint8_t, kTokenBytes>;

// Ciphersuite parameters: n buckets and a deployment id. Holds the derived
// context string and generator H. Immutable.
class suite {
 public:
  // Fails with errc::bad_params unless 1 <= n_buckets <= kMaxBuckets and every
  // DST built from the context fits in 255 bytes.
  static result<std::shared_ptr<const suite>> create(uint32_t n_buckets,
                                                      std::string_view deployment_id);
  ~suite();

  uint32_t n_buckets() const noexcept;
  const std::string& deployment_id() const noexcept;
  // "ATHMV1-P256-<n>-<deployment id>"
  const std::string& context() const noexcept;
  size_t response_size() const noexcept { return response_bytes(n_buckets()); }
  std::array<uint8_t, kElementBytes> generator_h() const noexcept;

  struct impl;
  const impl& internals() const noexcept { return *impl_; }

 private:
  explicit suite(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// A verified public key (Z, C_x, C_y): its proof has been checked.
class public_key {
 public:
  // VerifyPublicKeyProof on the 163-byte published key. Fails with
  // errc::bad_length, errc::bad_point, errc::bad_scalar or
  // errc::proof_invalid. Variable time (public data).
  static result<public_key> from_token_key(std::shared_ptr<const suite> s,
                                           std::span<const uint8_t> token_key);

  public_key(const public_key&);
  public_key& operator=(const public_key&);
  public_key(public_key&&) noexcept;
  public_key& operator=(public_key&&) noexcept;
  ~public_key();

  const suite& params() const noexcept;
  const std::shared_ptr<const suite>& params_ptr() const noexcept;
  // The 99-byte verified encoding Z || C_x || C_y.
  const std::array<uint8_t, kPublicKeyBytes>& bytes() const noexcept;
  // The 163-byte published encoding (with its proof), as given or generated.
  const token_key_bytes& token_key() const noexcept;
  // SHA-256 of bytes().
  const key_id& id() const noexcept;
  uint8_t truncated_id() const noexcept { return id()[kKeyIdBytes - 1]; }

  struct impl;
  const impl& internals() const noexcept { return *impl_; }

 private:
  friend class private_key;
  explicit public_key(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// An issuer private key, always paired with its verified public key.
// The scalars are wiped when the object is destroyed.
class private_key {
 public:
  // KeyGen plus the public-key proof.
  static result<private_key> generate(std::shared_ptr<const suite> s,
                                      random_source& rng = system_random());

  // Loads a 160-byte private key and its 163-byte token key. Rebuilds the
  // public key from the private scalars and fails with errc::key_mismatch
  // unless it equals the given one; verifies the proof (errc::proof_invalid).
  static result<private_key> from_bytes(std::shared_ptr<const suite> s,
                                        std::span<const uint8_t> private_bytes,
                                        std::span<const uint8_t> token_key);

  private_key(private_key&&) noexcept;
  private_key& operator=(private_key&&) noexcept;
  private_key(const private_key&) = delete;
  private_key& operator=(const private_key&) = delete;
  ~private_key();

  const public_key& public_part() const noexcept;
  const suite& params() const noexcept;

  // The 160-byte encoding, for writing key files. Wiped when freed.
  secret_array<kPrivateKeyBytes> to_bytes() const;

  // TokenResponse: returns the serialized response (response_bytes(n)).
  // |request| is the 33-byte T. Fails with errc::bad_length/errc::bad_point
  // for a bad request, errc::bad_bucket if bucket >= n (bucket is compared
  // without branching on its value beyond this range check), errc::rng_failure.
  // Constant time in the key and in |bucket|: every slot of the OR-proof runs
  // the same code path.
  result<std::vector<uint8_t>> token_response(std::span<const uint8_t> request,
                                              uint32_t bucket,
                                              random_source& rng = system_random()) const;

  // VerifyToken on a 98-byte ATHM token (not the Privacy Pass wrapper).
  // Returns the hidden bucket. Evaluates all n candidates every time and
  // selects the match without branching; constant time in the key and the
  // bucket. Fails with errc::bad_length/bad_scalar/bad_point for a malformed
  // token and errc::token_invalid otherwise; the failure never depends on the
  // bucket.
  result<uint32_t> verify_token(std::span<const uint8_t> token) const;

  struct impl;
  const impl& internals() const noexcept { return *impl_; }

 private:
  explicit private_key(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// Client state between TokenRequest and FinalizeToken. Holds the secrets
// r and tc (wiped when freed) and the request T.
class client_context {
 public:
  client_context(client_context&&) noexcept;
  client_context& operator=(client_context&&) noexcept;
  client_context(const client_context&) = delete;
  client_context& operator=(const client_context&) = delete;
  ~client_context();

  // The 33-byte serialized request T.
  const request_bytes& request() const noexcept;
  // r || tc (64 bytes). For tests and persistence; secret.
  secret_array<kClientContextBytes> to_bytes() const;
  // Restores a context saved by to_bytes() for |request|.
  static result<client_context> from_bytes(std::span<const uint8_t> context,
                                           std::span<const uint8_t> request);

  struct impl;
  const impl& internals() const noexcept { return *impl_; }

 private:
  friend result<client_context> token_request(const public_key&, random_source&);
  explicit client_context(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// TokenRequest: draws r and tc and computes T = r*G + tc*Z in constant time.
result<client_context> token_request(const public_key& pk,
                                     random_source& rng = system_random());

// VerifyIssuanceProof on a serialized response for request T. Public data;
// variable time. Fails with a decoding error or errc::proof_invalid.
result<void> verify_issuance_proof_public(const public_key& pk,
                                          std::span<const uint8_t> request,
                                          std::span<const uint8_t> response);

// FinalizeToken: verifies the issuance proof, then unblinds with a fresh
// non-zero c. Returns the 98-byte token t || P || Q.
result<token_bytes> finalize_token(const public_key& pk, const client_context& ctx,
                                   std::span<const uint8_t> response,
                                   random_source& rng = system_random());

}  // namespace athm
