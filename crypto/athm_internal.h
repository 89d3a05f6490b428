// Internal state behind the public classes of athm.h, shared with the
// engine's tests (the spec-literal oracle compares against these values).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "crypto/athm.h"
#include "crypto/group.h"
#include "crypto/scalar.h"

namespace athm {

struct suite::impl {
  uint32_t n = 0;
  std::string deployment_id;
  std::string context;
  point h;
  element_bytes g_bytes{};
  element_bytes h_bytes{};
  std::string dst_key_commitments;  // "HashToScalar-" || context || "KeyCommitments"
  std::string dst_response_proof;   // "HashToScalar-" || context || "TokenResponseProof"
};

struct public_key::impl {
  std::shared_ptr<const suite> s;
  point z, c_x, c_y;
  std::array<uint8_t, kPublicKeyBytes> bytes{};
  token_key_bytes token_key{};
  key_id id{};
};

struct private_key::impl {
  explicit impl(public_key p) : pub(std::move(p)) {}
  std::shared_ptr<const suite> s;
  scalar x, y, z, r_x, r_y;
  public_key pub;
  // len || G || len || H || len || C_x || len || C_y || len || Z
  std::vector<uint8_t> transcript_prefix;
};

struct client_context::impl {
  scalar r, tc;
  request_bytes request{};
  point t;
};

// Appends I2OSP(len(bytes), 2) || bytes.
void append_framed(std::vector<uint8_t>& out, std::span<const uint8_t> bytes);

}  // namespace athm
