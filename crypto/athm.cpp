#include "crypto/athm.h"

#include <openssl/sha.h>

#include <algorithm>
#include <string>

#include "crypto/athm_internal.h"
#include "crypto/hash_to_curve.h"

namespace athm {

void append_framed(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.push_back(static_cast<uint8_t>(bytes.size() >> 8));
  out.push_back(static_cast<uint8_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

namespace {

constexpr std::string_view kKeyCommitments = "KeyCommitments";
constexpr std::string_view kTokenResponseProof = "TokenResponseProof";
constexpr std::string_view kGeneratorH = "generatorH";

void append(std::vector<uint8_t>& out, const element_bytes& e) { out.insert(out.end(), e.begin(), e.end()); }
void append(std::vector<uint8_t>& out, const scalar& s) {
  auto b = s.to_bytes();
  out.insert(out.end(), b.begin(), b.end());
}
void append_framed_scalar(std::vector<uint8_t>& out, const scalar& s) {
  auto b = s.to_bytes();
  append_framed(out, b);
}

// Reads a canonical scalar from a cursor position.
result<scalar> read_scalar(std::span<const uint8_t> in, size_t off) {
  return scalar::from_bytes(std::span<const uint8_t, 32>(in.data() + off, 32));
}

// Challenge of the public-key proof: H2S(G || Z || gamma_z, "KeyCommitments").
result<scalar> key_challenge(const suite::impl& s, const element_bytes& z,
                             const element_bytes& gamma_z) {
  std::vector<uint8_t> tr;
  tr.reserve(3 * (2 + kElementBytes));
  append_framed(tr, s.g_bytes);
  append_framed(tr, z);
  append_framed(tr, gamma_z);
  return hash_to_scalar_p256(tr, s.dst_key_commitments);
}

key_id sha256_id(std::span<const uint8_t> in) {
  key_id id;
  SHA256(in.data(), in.size(), id.data());
  return id;
}

// A decoded TokenResponse. All fields are public.
struct decoded_response {
  point u, v, c;
  scalar ts;
  std::vector<scalar> e, a;
  scalar a_d, a_rho, a_w;
};

result<decoded_response> decode_response(const suite::impl& s, std::span<const uint8_t> in) {
  if (in.size() != response_bytes(s.n)) {
    return errc::bad_length;
  }
  decoded_response r;
  size_t off = 0;
  auto next_point = [&](point& out) -> errc {
    auto p = point::decode(in.subspan(off, kElementBytes));
    off += kElementBytes;
    if (!p) {
      return p.error();
    }
    out = std::move(*p);
    return errc{};
  };
  auto next_scalar = [&](scalar& out) -> errc {
    auto v = read_scalar(in, off);
    off += kScalarBytes;
    if (!v) {
      return v.error();
    }
    out = *v;
    return errc{};
  };
  errc e{};
  if ((e = next_point(r.u)) != errc{} || (e = next_point(r.v)) != errc{} ||
      (e = next_scalar(r.ts)) != errc{} || (e = next_point(r.c)) != errc{}) {
    return e;
  }
  r.e.resize(s.n);
  r.a.resize(s.n);
  for (auto& v : r.e) {
    if ((e = next_scalar(v)) != errc{}) {
      return e;
    }
  }
  for (auto& v : r.a) {
    if ((e = next_scalar(v)) != errc{}) {
      return e;
    }
  }
  if ((e = next_scalar(r.a_d)) != errc{} || (e = next_scalar(r.a_rho)) != errc{} ||
      (e = next_scalar(r.a_w)) != errc{}) {
    return e;
  }
  return r;
}

}  // namespace

// ---------------------------------------------------------------- suite

suite::suite(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
suite::~suite() = default;
uint32_t suite::n_buckets() const noexcept { return impl_->n; }
const std::string& suite::deployment_id() const noexcept { return impl_->deployment_id; }
const std::string& suite::context() const noexcept { return impl_->context; }
std::array<uint8_t, kElementBytes> suite::generator_h() const noexcept { return impl_->h_bytes; }

result<std::shared_ptr<const suite>> suite::create(uint32_t n_buckets,
                                                   std::string_view deployment_id) {
  if (n_buckets < 1 || n_buckets > kMaxBuckets) {
    return errc::bad_params;
  }
  auto i = std::make_unique<impl>();
  i->n = n_buckets;
  i->deployment_id = std::string(deployment_id);
  i->context = "ATHMV1-P256-" + std::to_string(n_buckets) + "-" + i->deployment_id;
  i->dst_key_commitments = "HashToScalar-" + i->context + std::string(kKeyCommitments);
  i->dst_response_proof = "HashToScalar-" + i->context + std::string(kTokenResponseProof);
  const std::string dst_h = "HashToGroup-" + i->context + std::string(kGeneratorH);
  if (i->dst_response_proof.size() > kMaxDstBytes || i->dst_key_commitments.size() > kMaxDstBytes ||
      dst_h.size() > kMaxDstBytes) {
    return errc::bad_params;
  }
  i->g_bytes = point::generator().encode();
  auto h = hash_to_curve_p256_public(i->g_bytes, dst_h);
  if (!h) {
    return h.error();
  }
  i->h = std::move(*h);
  i->h_bytes = i->h.encode();
  return std::shared_ptr<const suite>(new suite(std::move(i)));
}

// ---------------------------------------------------------------- public_key

public_key::public_key(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
public_key::public_key(const public_key& o) : impl_(std::make_unique<impl>(*o.impl_)) {}
public_key& public_key::operator=(const public_key& o) {
  if (this != &o) {
    impl_ = std::make_unique<impl>(*o.impl_);
  }
  return *this;
}
public_key::public_key(public_key&&) noexcept = default;
public_key& public_key::operator=(public_key&&) noexcept = default;
public_key::~public_key() = default;

const suite& public_key::params() const noexcept { return *impl_->s; }
const std::shared_ptr<const suite>& public_key::params_ptr() const noexcept { return impl_->s; }
const std::array<uint8_t, kPublicKeyBytes>& public_key::bytes() const noexcept { return impl_->bytes; }
const token_key_bytes& public_key::token_key() const noexcept { return impl_->token_key; }
const key_id& public_key::id() const noexcept { return impl_->id; }

result<public_key> public_key::from_token_key(std::shared_ptr<const suite> s,
                                              std::span<const uint8_t> token_key) {
  if (!s) {
    return errc::bad_params;
  }
  if (token_key.size() != kTokenKeyBytes) {
    return errc::bad_length;
  }
  auto z = point::decode(token_key.subspan(0, kElementBytes));
  auto c_x = point::decode(token_key.subspan(33, kElementBytes));
  auto c_y = point::decode(token_key.subspan(66, kElementBytes));
  if (!z || !c_x || !c_y) {
    return errc::bad_point;
  }
  auto e = read_scalar(token_key, 99);
  auto a_z = read_scalar(token_key, 131);
  if (!e || !a_z) {
    return errc::bad_scalar;
  }
  // gamma_z = e*Z + a_z*G
  point gamma = z->mul2_ct(*a_z, *e);
  element_bytes z_bytes;
  std::copy_n(token_key.begin(), kElementBytes, z_bytes.begin());
  auto e_verify = key_challenge(s->internals(), z_bytes, gamma.encode());
  if (!e_verify) {
    return e_verify.error();
  }
  if (!(*e_verify == *e)) {
    return errc::proof_invalid;
  }
  auto i = std::make_unique<impl>();
  i->s = std::move(s);
  i->z = std::move(*z);
  i->c_x = std::move(*c_x);
  i->c_y = std::move(*c_y);
  std::copy_n(token_key.begin(), kPublicKeyBytes, i->bytes.begin());
  std::copy_n(token_key.begin(), kTokenKeyBytes, i->token_key.begin());
  i->id = sha256_id(i->bytes);
  return public_key(std::move(i));
}

// ---------------------------------------------------------------- private_key

namespace {

// Rebuilds (Z, C_x, C_y) and the transcript prefix from the scalars.
void derive_public(const suite::impl& s, const scalar& x, const scalar& y, const scalar& z,
                   const scalar& r_x, const scalar& r_y, element_bytes& z_b, element_bytes& cx_b,
                   element_bytes& cy_b) {
  z_b = point::mul_base_ct(z).encode();
  cx_b = s.h.mul2_ct(x, r_x).encode();  // x*G + r_x*H
  cy_b = s.h.mul2_ct(y, r_y).encode();  // y*G + r_y*H
}

std::vector<uint8_t> make_prefix(const suite::impl& s, const public_key& pub) {
  std::vector<uint8_t> p;
  const auto& b = pub.bytes();
  append_framed(p, s.g_bytes);
  append_framed(p, s.h_bytes);
  append_framed(p, std::span<const uint8_t>(b.data() + 33, 33));  // C_x
  append_framed(p, std::span<const uint8_t>(b.data() + 66, 33));  // C_y
  append_framed(p, std::span<const uint8_t>(b.data(), 33));       // Z
  return p;
}

}  // namespace

private_key::private_key(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
private_key::private_key(private_key&&) noexcept = default;
private_key& private_key::operator=(private_key&&) noexcept = default;
private_key::~private_key() = default;  // scalars wipe themselves

const public_key& private_key::public_part() const noexcept { return impl_->pub; }
const suite& private_key::params() const noexcept { return *impl_->s; }

secret_array<kPrivateKeyBytes> private_key::to_bytes() const {
  secret_array<kPrivateKeyBytes> out;
  const scalar* parts[5] = {&impl_->x, &impl_->y, &impl_->z, &impl_->r_x, &impl_->r_y};
  for (int k = 0; k < 5; ++k) {
    parts[k]->to_bytes(std::span<uint8_t, 32>(out.data() + 32 * k, 32));
  }
  return out;
}

result<private_key> private_key::generate(std::shared_ptr<const suite> s, random_source& rng) {
  if (!s) {
    return errc::bad_params;
  }
  const suite::impl& si = s->internals();
  auto x = random_scalar(rng);
  auto y = random_nonzero_scalar(rng);
  auto z = random_nonzero_scalar(rng);
  auto r_x = random_scalar(rng);
  auto r_y = random_scalar(rng);
  auto rho_z = random_scalar(rng);
  if (!x || !y || !z || !r_x || !r_y || !rho_z) {
    return errc::rng_failure;
  }
  element_bytes z_b, cx_b, cy_b;
  derive_public(si, *x, *y, *z, *r_x, *r_y, z_b, cx_b, cy_b);
  // CreatePublicKeyProof: gamma_z = rho_z*G, e = H2S(G, Z, gamma_z), a_z = rho_z - e*z
  auto e = key_challenge(si, z_b, point::mul_base_ct(*rho_z).encode());
  if (!e) {
    return e.error();
  }
  scalar a_z = *rho_z - *e * *z;

  token_key_bytes tk;
  std::copy(z_b.begin(), z_b.end(), tk.begin());
  std::copy(cx_b.begin(), cx_b.end(), tk.begin() + 33);
  std::copy(cy_b.begin(), cy_b.end(), tk.begin() + 66);
  e->to_bytes(std::span<uint8_t, 32>(tk.data() + 99, 32));
  a_z.to_bytes(std::span<uint8_t, 32>(tk.data() + 131, 32));
  auto pub = public_key::from_token_key(s, tk);
  if (!pub) {
    return errc::internal;  // our own proof must verify
  }
  auto i = std::make_unique<impl>(std::move(*pub));
  i->s = s;
  i->x = *x;
  i->y = *y;
  i->z = *z;
  i->r_x = *r_x;
  i->r_y = *r_y;
  i->transcript_prefix = make_prefix(si, i->pub);
  return private_key(std::move(i));
}

result<private_key> private_key::from_bytes(std::shared_ptr<const suite> s,
                                            std::span<const uint8_t> private_bytes,
                                            std::span<const uint8_t> token_key) {
  if (!s) {
    return errc::bad_params;
  }
  if (private_bytes.size() != kPrivateKeyBytes) {
    return errc::bad_length;
  }
  scalar parts[5];
  for (int k = 0; k < 5; ++k) {
    auto v = read_scalar(private_bytes, 32 * k);
    if (!v) {
      return errc::bad_scalar;
    }
    parts[k] = *v;
  }
  // KeyGen draws y and z non-zero; a zero z would make Z the identity.
  if ((parts[1].is_zero_mask() | parts[2].is_zero_mask()) != 0) {
    return errc::bad_scalar;
  }
  auto pub = public_key::from_token_key(s, token_key);
  if (!pub) {
    return pub.error();
  }
  element_bytes z_b, cx_b, cy_b;
  derive_public(s->internals(), parts[0], parts[1], parts[2], parts[3], parts[4], z_b, cx_b, cy_b);
  std::array<uint8_t, kPublicKeyBytes> rebuilt;
  std::copy(z_b.begin(), z_b.end(), rebuilt.begin());
  std::copy(cx_b.begin(), cx_b.end(), rebuilt.begin() + 33);
  std::copy(cy_b.begin(), cy_b.end(), rebuilt.begin() + 66);
  if (!ct_equal(rebuilt, pub->bytes())) {
    return errc::key_mismatch;
  }
  auto i = std::make_unique<impl>(std::move(*pub));
  i->s = std::move(s);
  i->x = parts[0];
  i->y = parts[1];
  i->z = parts[2];
  i->r_x = parts[3];
  i->r_y = parts[4];
  i->transcript_prefix = make_prefix(i->s->internals(), i->pub);
  return private_key(std::move(i));
}

result<std::vector<uint8_t>> private_key::token_response(std::span<const uint8_t> request,
                                                         uint32_t bucket,
                                                         random_source& rng) const {
  const impl& k = *impl_;
  const suite::impl& s = k.s->internals();
  const uint32_t n = s.n;
  if (request.size() != kRequestBytes) {
    return errc::bad_length;
  }
  auto t_point = point::decode(request);
  if (!t_point) {
    return t_point.error();
  }
  if (bucket >= n) {
    return errc::bad_bucket;
  }

  // Draw order fixed by the reference: ts, d, e_0..e_{n-1}, a_0..a_{n-1},
  // r_mu, r_d, r_rho, r_w, mu.
  auto ts = random_scalar(rng);
  auto d = random_nonzero_scalar(rng);
  if (!ts || !d) {
    return errc::rng_failure;
  }
  std::vector<scalar> e_vec(n), a_vec(n);
  for (auto* vec : {&e_vec, &a_vec}) {
    for (auto& v : *vec) {
      auto r = random_scalar(rng);
      if (!r) {
        return errc::rng_failure;
      }
      v = *r;
    }
  }
  auto r_mu = random_scalar(rng);
  auto r_d = random_scalar(rng);
  auto r_rho = random_scalar(rng);
  auto r_w = random_scalar(rng);
  auto mu = random_scalar(rng);
  if (!r_mu || !r_d || !r_rho || !r_w || !mu) {
    return errc::rng_failure;
  }

  const scalar b = scalar::from_u64(bucket);
  // w = x + b*y + ts*z: V = d*(X + b*Y + ts*Z + T) = (d*w)*G + d*T
  const scalar w = k.x + b * k.y + *ts * k.z;
  const point u = point::mul_base_ct(*d);
  const point v = t_point->mul2_ct(*d * w, *d);
  // C = b*C_y + mu*H = (b*y)*G + (b*r_y + mu)*H
  const point c = s.h.mul2_ct(b * k.y, b * k.r_y + *mu);

  // Every slot i takes the same path. For a simulated slot
  //   C_i = a_i*H - e_i*(C - i*C_y) = (-e_i*delta*y)*G + (a_i - e_i*(delta*r_y + mu))*H
  // with delta = b - i; for the real slot (delta = 0) e_i is replaced by 0 and
  // a_i by r_mu, giving C_b = r_mu*H.
  std::vector<uint64_t> real(n);
  std::vector<element_bytes> c_vec(n);
  for (uint32_t i = 0; i < n; ++i) {
    real[i] = u64_eq_mask(i, bucket);
    const scalar delta = b - scalar::from_u64(i);
    const scalar e_i = scalar::select(real[i], scalar(), e_vec[i]);
    const scalar a_i = scalar::select(real[i], *r_mu, a_vec[i]);
    const scalar g_coef = -(e_i * delta * k.y);
    const scalar h_coef = a_i - e_i * (delta * k.r_y + *mu);
    c_vec[i] = s.h.mul2_ct(g_coef, h_coef).encode();
  }
  // C_d = r_d*U = (r_d*d)*G; C_rho = r_d*V + r_rho*H; C_w = r_d*V + r_w*G
  const point c_d = point::mul_base_ct(*r_d * *d);
  const point rd_v = v.mul_ct(*r_d);
  const point c_rho = rd_v + s.h.mul_ct(*r_rho);
  const point c_w = rd_v + point::mul_base_ct(*r_w);

  const element_bytes u_b = u.encode(), v_b = v.encode(), c_b = c.encode();
  std::vector<uint8_t> tr;
  tr.reserve(k.transcript_prefix.size() + (9 + n) * 35);
  tr = k.transcript_prefix;
  append_framed(tr, u_b);
  append_framed(tr, v_b);
  append_framed_scalar(tr, *ts);
  append_framed(tr, request);
  append_framed(tr, c_b);
  for (const auto& ci : c_vec) {
    append_framed(tr, ci);
  }
  append_framed(tr, c_d.encode());
  append_framed(tr, c_rho.encode());
  append_framed(tr, c_w.encode());
  auto e = hash_to_scalar_p256(tr, s.dst_response_proof);
  if (!e) {
    return e.error();
  }

  // e_b = e - sum of the simulated challenges
  scalar sum_sim;
  for (uint32_t i = 0; i < n; ++i) {
    sum_sim += scalar::select(real[i], scalar(), e_vec[i]);
  }
  const scalar e_b = *e - sum_sim;
  const scalar a_b = *r_mu + e_b * *mu;
  const scalar rho = -(k.r_x + b * k.r_y + *mu);
  const scalar a_d = *r_d - *e * d->inverse();
  const scalar a_rho = *r_rho + *e * rho;
  const scalar a_w = *r_w + *e * w;

  std::vector<uint8_t> out;
  out.reserve(response_bytes(n));
  append(out, u_b);
  append(out, v_b);
  append(out, *ts);
  append(out, c_b);
  for (uint32_t i = 0; i < n; ++i) {
    append(out, scalar::select(real[i], e_b, e_vec[i]));
  }
  for (uint32_t i = 0; i < n; ++i) {
    append(out, scalar::select(real[i], a_b, a_vec[i]));
  }
  append(out, a_d);
  append(out, a_rho);
  append(out, a_w);
  return out;
}

result<uint32_t> private_key::verify_token(std::span<const uint8_t> token) const {
  const impl& k = *impl_;
  if (token.size() != kTokenBytes) {
    return errc::bad_length;
  }
  auto t = read_scalar(token, 0);
  if (!t) {
    return t.error();
  }
  auto p = point::decode(token.subspan(32, kElementBytes));
  auto q = point::decode(token.subspan(65, kElementBytes));
  if (!p || !q) {
    return errc::bad_point;  // includes the identity
  }
  // Q_i = (x + t*z + i*y)*P = A + i*B with A = (x + t*z)*P, B = y*P.
  point cand = p->mul_ct(k.x + *t * k.z);
  const point step = p->mul_ct(k.y);
  uint64_t index = 0;
  uint64_t matches = 0;
  for (uint32_t i = 0; i < k.s->internals().n; ++i) {
    const uint64_t m = eq_mask(cand, *q);
    index |= i & m;
    matches += m & 1;
    cand = cand + step;
  }
  if (matches != 1) {
    return errc::token_invalid;
  }
  return static_cast<uint32_t>(index);
}

// ---------------------------------------------------------------- client

client_context::client_context(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
client_context::client_context(client_context&&) noexcept = default;
client_context& client_context::operator=(client_context&&) noexcept = default;
client_context::~client_context() = default;
const request_bytes& client_context::request() const noexcept { return impl_->request; }

secret_array<kClientContextBytes> client_context::to_bytes() const {
  secret_array<kClientContextBytes> out;
  impl_->r.to_bytes(std::span<uint8_t, 32>(out.data(), 32));
  impl_->tc.to_bytes(std::span<uint8_t, 32>(out.data() + 32, 32));
  return out;
}

result<client_context> client_context::from_bytes(std::span<const uint8_t> context,
                                                   std::span<const uint8_t> request) {
  if (context.size() != kClientContextBytes || request.size() != kRequestBytes) {
    return errc::bad_length;
  }
  auto r = read_scalar(context, 0);
  auto tc = read_scalar(context, 32);
  if (!r || !tc) {
    return errc::bad_scalar;
  }
  auto t = point::decode(request);
  if (!t) {
    return t.error();
  }
  auto i = std::make_unique<impl>();
  i->r = *r;
  i->tc = *tc;
  std::copy(request.begin(), request.end(), i->request.begin());
  i->t = std::move(*t);
  return client_context(std::move(i));
}

result<client_context> token_request(const public_key& pk, random_source& rng) {
  auto r = random_scalar(rng);
  auto tc = random_scalar(rng);
  if (!r || !tc) {
    return errc::rng_failure;
  }
  auto i = std::make_unique<client_context::impl>();
  i->r = *r;
  i->tc = *tc;
  i->t = pk.internals().z.mul2_ct(*r, *tc);  // T = r*G + tc*Z
  if (i->t.is_identity()) {
    return errc::internal;  // probability 2^-256
  }
  i->request = i->t.encode();
  return client_context(std::move(i));
}

result<void> verify_issuance_proof_public(const public_key& pk, std::span<const uint8_t> request,
                                          std::span<const uint8_t> response) {
  const public_key::impl& pub = pk.internals();
  const suite::impl& s = pub.s->internals();
  if (request.size() != kRequestBytes) {
    return errc::bad_length;
  }
  auto t = point::decode(request);
  if (!t) {
    return t.error();
  }
  auto rr = decode_response(s, response);
  if (!rr) {
    return rr.error();
  }
  const decoded_response& r = *rr;

  std::vector<uint8_t> tr;
  tr.reserve((10 + s.n + 3) * 35);
  append_framed(tr, s.g_bytes);
  append_framed(tr, s.h_bytes);
  append_framed(tr, std::span<const uint8_t>(pub.bytes.data() + 33, 33));
  append_framed(tr, std::span<const uint8_t>(pub.bytes.data() + 66, 33));
  append_framed(tr, std::span<const uint8_t>(pub.bytes.data(), 33));
  append_framed(tr, response.subspan(0, 33));   // U
  append_framed(tr, response.subspan(33, 33));  // V
  append_framed(tr, response.subspan(66, 32));  // ts
  append_framed(tr, request);                   // T
  append_framed(tr, response.subspan(98, 33));  // C

  // C_i = a_i*H - e_i*(C - i*C_y)
  scalar e;
  point d_i = r.c;
  for (uint32_t i = 0; i < s.n; ++i) {
    const point c_i = s.h.mul_ct(r.a[i]) - d_i.mul_ct(r.e[i]);
    append_framed(tr, c_i.encode());
    e += r.e[i];
    d_i = d_i - pub.c_y;
  }
  // C_d = a_d*U + e*G
  const point c_d = r.u.mul2_ct(e, r.a_d);
  // C_rho = a_d*V + a_rho*H + e*(C_x + C + ts*Z + T)
  const point ad_v = r.v.mul_ct(r.a_d);
  const point c_rho =
      ad_v + s.h.mul_ct(r.a_rho) + (pub.c_x + r.c + pub.z.mul_ct(r.ts) + *t).mul_ct(e);
  // C_w = a_d*V + a_w*G + e*T
  const point c_w = ad_v + t->mul2_ct(r.a_w, e);
  append_framed(tr, c_d.encode());
  append_framed(tr, c_rho.encode());
  append_framed(tr, c_w.encode());
  auto e_verify = hash_to_scalar_p256(tr, s.dst_response_proof);
  if (!e_verify) {
    return e_verify.error();
  }
  if (!(*e_verify == e)) {
    return errc::proof_invalid;
  }
  return {};
}

result<token_bytes> finalize_token(const public_key& pk, const client_context& ctx,
                                   std::span<const uint8_t> response, random_source& rng) {
  auto ok = verify_issuance_proof_public(pk, ctx.request(), response);
  if (!ok) {
    return ok.error();
  }
  auto rr = decode_response(pk.internals().s->internals(), response);
  if (!rr) {
    return rr.error();
  }
  auto c = random_nonzero_scalar(rng);
  if (!c) {
    return errc::rng_failure;
  }
  const client_context::impl& cx = ctx.internals();
  // P = c*U, Q = c*(V - r*U), t = tc + ts
  const point p = rr->u.mul_ct(*c);
  const point q = (rr->v - rr->u.mul_ct(cx.r)).mul_ct(*c);
  if (p.is_identity() || q.is_identity()) {
    return errc::proof_invalid;
  }
  token_bytes out;
  (cx.tc + rr->ts).to_bytes(std::span<uint8_t, 32>(out.data(), 32));
  const element_bytes pb = p.encode(), qb = q.encode();
  std::copy(pb.begin(), pb.end(), out.begin() + 32);
  std::copy(qb.begin(), qb.end(), out.begin() + 65);
  return out;
}

}  // namespace athm
